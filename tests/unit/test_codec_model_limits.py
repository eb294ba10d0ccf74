"""Every decoder refuses what the model cannot hold, naming the path (answered with 4.00).

Strings must be Unicode scalar values (JSON's ``\\uD800`` escapes can make lone surrogates,
which UTF-8 cannot carry), integers fit int64 (integer, time) or uint64 (unsigned integer, or
either where there is no model), and SenML times fit int64 seconds.  NaN and infinities are
floats the model holds: the binary formats carry them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import cbor2
import pytest

from lwm2m.codec import DecodeError, EncodeError, default_codecs
from lwm2m.codec.flat_json import values_from_json, values_to_json
from lwm2m.model import Path, SingleResource, Value
from lwm2m.model.values import INT64_MAX, INT64_MIN, UINT64_MAX, text_problem
from tests.codec_fixtures import example_models

MODELS = example_models()
CODECS = default_codecs(lambda: 1.7e9)
STRING = Path.of(9999, 0, 0)
INTEGER = Path.of(9999, 0, 1)
UNSIGNED = Path.of(9999, 0, 2)
FLOAT = Path.of(9999, 0, 3)
TIME = Path.of(9999, 0, 6)
UNMODELLED = Path.of(9998, 0, 1)

Decode = Callable[[], object]


def _node(fmt: int, payload: bytes, path: Path) -> Decode:
    return lambda: CODECS.get(fmt).decode(payload, path, MODELS)


def _batches(fmt: int, payload: bytes) -> Decode:
    return lambda: CODECS.get(fmt).decode_timestamped(payload, MODELS)


def _senml_json(path: Path, field: str, raw: str) -> bytes:
    return f'[{{"n":"{path}","{field}":{raw}}}]'.encode()


def _lwm2m_json(path: Path, field: str, raw: str) -> bytes:
    return f'{{"bn":"/","e":[{{"n":"{str(path)[1:]}","{field}":{raw}}}]}}'.encode()


def _senml_cbor(path: Path, label: int, raw: object) -> bytes:
    return cbor2.dumps([{0: str(path), label: raw}])


def _lwm2m_cbor(path: Path, raw: object) -> bytes:
    return cbor2.dumps({path.ids: raw})


REFUSED: dict[str, tuple[Decode, Path]] = {
    "senml-json lone surrogate": (
        _node(110, _senml_json(STRING, "vs", '"\\ud800"'), STRING),
        STRING,
    ),
    "senml-json low surrogate, no model": (
        _node(110, _senml_json(UNMODELLED, "vs", '"a\\udfff"'), UNMODELLED),
        UNMODELLED,
    ),
    "lwm2m-json lone surrogate": (
        _node(11543, _lwm2m_json(STRING, "sv", '"\\uDBFF"'), STRING),
        STRING,
    ),
    "senml-json unsigned above 2^64-1": (
        _node(110, _senml_json(UNSIGNED, "v", str(UINT64_MAX + 1)), UNSIGNED),
        UNSIGNED,
    ),
    "senml-json integer above int64": (
        _node(110, _senml_json(INTEGER, "v", str(INT64_MAX + 1)), INTEGER),
        INTEGER,
    ),
    "senml-json no model, beyond uint64": (
        _node(110, _senml_json(UNMODELLED, "v", str(UINT64_MAX + 1)), UNMODELLED),
        UNMODELLED,
    ),
    "senml-json time below int64": (
        _node(110, _senml_json(TIME, "v", str(INT64_MIN - 1)), TIME),
        TIME,
    ),
    "senml-cbor unsigned above 2^64-1": (
        _node(112, _senml_cbor(UNSIGNED, 2, UINT64_MAX + 1), UNSIGNED),
        UNSIGNED,
    ),
    "senml-cbor negative unsigned": (_node(112, _senml_cbor(UNSIGNED, 2, -1), UNSIGNED), UNSIGNED),
    "lwm2m-cbor integer below int64": (
        _node(11544, _lwm2m_cbor(INTEGER, INT64_MIN - 1), INTEGER),
        INTEGER,
    ),
    "lwm2m-cbor no model, beyond uint64": (
        _node(11544, _lwm2m_cbor(UNMODELLED, UINT64_MAX + 1), UNMODELLED),
        UNMODELLED,
    ),
    "cbor integer above int64": (_node(60, b"\x1b" + b"\xff" * 8, INTEGER), INTEGER),
    "cbor negative unsigned": (_node(60, b"\x20", UNSIGNED), UNSIGNED),
    "cbor no model, below int64": (_node(60, b"\x3b" + b"\xff" * 8, UNMODELLED), UNMODELLED),
    "text integer above int64": (_node(0, str(INT64_MAX + 1).encode(), INTEGER), INTEGER),
    "text unsigned above 2^64-1": (_node(0, str(UINT64_MAX + 1).encode(), UNSIGNED), UNSIGNED),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_decoders_refuse_values_the_model_cannot_hold(case: str) -> None:
    decode, path = REFUSED[case]
    with pytest.raises(DecodeError) as caught:
        decode()
    assert caught.value.path == path
    assert caught.value.coap_code == "4.00"


@pytest.mark.parametrize(
    "decode",
    [
        _batches(110, b'[{"n":"/9999/0/1","v":1,"t":1e300}]'),
        _batches(110, b'[{"bt":1e308,"n":"/9999/0/1","v":1,"t":1e308}]'),
        _batches(110, b'[{"n":"/9999/0/1","v":1,"t":1' + b"0" * 400 + b"}]"),
        _batches(112, cbor2.dumps([{-3: 2**1100, 0: "/9999/0/1", 2: 1}])),
        _batches(11543, b'{"bt":1e200,"e":[{"n":"/9999/0/1","v":1}]}'),
    ],
)
def test_times_outside_int64_seconds_are_refused(decode: Decode) -> None:
    with pytest.raises(DecodeError, match="time"):
        decode()


@pytest.mark.parametrize(
    ("fmt", "payload", "path", "value"),
    [
        (110, _senml_json(UNSIGNED, "v", str(UINT64_MAX)), UNSIGNED, UINT64_MAX),
        (110, _senml_json(UNMODELLED, "v", str(UINT64_MAX)), UNMODELLED, UINT64_MAX),
        (110, _senml_json(INTEGER, "v", str(INT64_MIN)), INTEGER, INT64_MIN),
        (110, _senml_json(STRING, "vs", '"\\ud83d\\ude00"'), STRING, "\U0001f600"),
        (11544, _lwm2m_cbor(UNMODELLED, UINT64_MAX), UNMODELLED, UINT64_MAX),
        (60, b"\x1b" + b"\xff" * 8, UNSIGNED, UINT64_MAX),
        (11542, b"\xc8\x02\x08" + b"\xff" * 8, UNSIGNED, UINT64_MAX),
        (0, str(INT64_MIN).encode(), TIME, INT64_MIN),
    ],
)
def test_the_edges_of_each_range_decode(fmt: int, payload: bytes, path: Path, value: Value) -> None:
    assert CODECS.get(fmt).decode(payload, path, MODELS) == SingleResource(path.ids[2], value)


@pytest.mark.parametrize(
    ("fmt", "payload"),
    [
        (11542, b"\xc8\x03\x08" + struct.pack(">d", math.nan)),
        (60, b"\xf9\x7c\x00"),
        (112, _senml_cbor(FLOAT, 2, math.inf)),
        (11544, _lwm2m_cbor(FLOAT, -math.inf)),
    ],
)
def test_non_finite_floats_decode_where_the_format_carries_them(fmt: int, payload: bytes) -> None:
    node = CODECS.get(fmt).decode(payload, FLOAT, MODELS)
    assert isinstance(node, SingleResource)
    assert isinstance(node.value, float)
    assert not math.isfinite(node.value)


@pytest.mark.parametrize("fmt", [0, 110, 11543])
def test_text_formats_refuse_to_encode_non_finite_floats(fmt: int) -> None:
    with pytest.raises(EncodeError):
        CODECS.get(fmt).encode(FLOAT, SingleResource(3, math.nan), MODELS)


@pytest.mark.parametrize("fmt", [0, 60, 110, 112, 11542, 11543, 11544])
def test_encoders_refuse_lone_surrogates(fmt: int) -> None:
    with pytest.raises(EncodeError) as caught:
        CODECS.get(fmt).encode(STRING, SingleResource(0, "a\ud800"), MODELS)
    assert caught.value.path == STRING


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"/9999/0/0": "\udc00"}, STRING),
        ({"/9998/0/1": "\ud800x"}, UNMODELLED),
        ({"/9999/0/1": INT64_MAX + 1}, INTEGER),
        ({"/9999/0/2": UINT64_MAX + 1}, UNSIGNED),
        ({"/9999/0/2": -1}, UNSIGNED),
        ({"/9999/0/6": INT64_MIN - 1}, TIME),
        ({"/9999/0/3": 10**400}, FLOAT),
        ({"/9998/0/1": UINT64_MAX + 1}, UNMODELLED),
    ],
)
def test_the_flat_json_view_refuses_what_the_model_cannot_hold(
    values: dict[str, object], path: Path
) -> None:
    with pytest.raises(DecodeError) as caught:
        values_from_json(values, MODELS)
    assert caught.value.path == path


def test_the_flat_json_view_round_trips_non_finite_floats() -> None:
    values: dict[Path, Value] = {FLOAT: math.inf, Path.of(9999, 0, 13, 0): -math.inf}
    assert values_from_json(values_to_json(values), MODELS) == values
    nan = values_from_json(values_to_json({FLOAT: math.nan}), MODELS)[FLOAT]
    assert isinstance(nan, float) and math.isnan(nan)


def test_text_problem_accepts_pairs_and_refuses_lone_surrogates() -> None:
    assert text_problem("plain") is None
    assert text_problem("\U0001f600 é") is None
    assert text_problem("ab\ud800") == "string holds the lone surrogate U+D800 at character 2"
