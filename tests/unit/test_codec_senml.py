"""SenML JSON/CBOR: typing against the model, error reporting and encoder rules."""

from __future__ import annotations

import json
from typing import Any

import cbor2
import pytest

from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.senml_cbor import SenmlCborCodec, load_cbor
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.model import (
    MultipleResource,
    ObjectInstance,
    ObjectLink,
    Path,
    SingleResource,
    TimestampedValues,
)
from tests.codec_fixtures import example_models

MODELS = example_models()
JSON = SenmlJsonCodec(clock=lambda: 1_700_000_000.0)
CBOR = SenmlCborCodec(clock=lambda: 1_700_000_000.0)
ALL = Path.of(9999, 0)


def _json(pack: Any) -> bytes:
    return json.dumps(pack).encode()


def _decode_one(record: dict[str, Any], path: Path = ALL) -> Any:
    return JSON.decode_values(_json([{"bn": f"{path}/", **record}]), MODELS)


@pytest.mark.parametrize(
    ("record", "value"),
    [
        ({"n": "0", "vs": "text"}, "text"),
        ({"n": "1", "v": -5}, -5),
        ({"n": "1", "v": 7.0}, 7),
        ({"n": "2", "v": 2**64 - 1}, 2**64 - 1),
        ({"n": "3", "v": 1}, 1.0),
        ({"n": "4", "vb": True}, True),
        ({"n": "5", "vd": "AQL_"}, b"\x01\x02\xff"),
        ({"n": "5", "vd": "AQL_=="}, b"\x01\x02\xff"),
        ({"n": "6", "v": 1367491215}, 1367491215),
        ({"n": "7", "vlo": "3:0"}, ObjectLink(3, 0)),
        ({"n": "8", "vs": "</3/0>"}, "</3/0>"),
        ({"n": "10/3", "vs": "a"}, "a"),
    ],
)
def test_values_take_the_model_type(record: dict[str, Any], value: Any) -> None:
    decoded = _decode_one(record)
    assert list(decoded.values()) == [value]
    assert type(next(iter(decoded.values()))) is type(value)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"n": "0", "v": 1}, "no 'vs'"),
        ({"n": "1", "vs": "1"}, "no 'v'"),
        ({"n": "1", "v": 1.5}, "expected an integer"),
        ({"n": "1", "v": True}, "expected an integer"),
        ({"n": "1", "v": 2**63}, "64 bits"),
        ({"n": "2", "v": -1}, "is outside 0"),
        ({"n": "4", "vb": 1}, "expected a boolean"),
        ({"n": "5", "vd": "AQ+/"}, "base64url"),
        ({"n": "5", "vd": "A"}, "base64url"),
        ({"n": "7", "vlo": "3"}, "object link"),
        ({"n": "9", "v": 1}, "executable"),
        ({"n": "10", "vs": "a"}, "needs instance IDs"),
        ({"n": "0/0", "vs": "a"}, "has no instances"),
        ({"n": "0", "vs": "a", "v": 1}, "unexpected value field"),
        ({"n": "0", "vs": "a", "x_": 1}, "must be understood"),
    ],
)
def test_values_that_do_not_fit_name_the_path(record: dict[str, Any], message: str) -> None:
    with pytest.raises(DecodeError, match=message) as caught:
        _decode_one(record)
    assert caught.value.path is not None and caught.value.path.startswith(ALL)


def test_unmodelled_resources_decode_by_senml_type() -> None:
    pack = [
        {"bn": "/30000/0/", "n": "0", "v": 3},
        {"n": "1", "v": 2.5},
        {"n": "2", "vs": "s"},
        {"n": "3", "vb": False},
        {"n": "4", "vd": "AA"},
        {"n": "5/7", "vlo": "1:2"},
    ]
    assert list(JSON.decode_values(_json(pack), MODELS).values()) == [
        3,
        2.5,
        "s",
        False,
        b"\x00",
        ObjectLink(1, 2),
    ]
    with pytest.raises(DecodeError, match="several values"):
        JSON.decode_values(_json([{"n": "/30000/0/0", "v": 1, "vs": "x"}]), MODELS)
    with pytest.raises(DecodeError, match="no value"):
        JSON.decode_values(_json([{"n": "/30000/0/0", "u": "m"}]), MODELS)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"n": "/3/0/0"}', "array of records"),
        (b"[1]", "record 0 is not a map"),
        (b'[{"n": 5, "v": 1}]', "name is not a string"),
        (b'[{"bn": 5, "n": "/3/0/9", "v": 1}]', "base name is not a string"),
        (b'[{"n": "3/0/9", "v": 1}]', "not an LwM2M path"),
        (b'[{"n": "/3/0", "v": 1}]', "names no resource"),
        (b'[{"n": "/3/0/9", "v": 1, "bt": "x"}]', "base time is not a finite number"),
        (b'[{"n": "/3/0/9", "v": NaN}]', "NaN is not JSON"),
        (b'[{"n": "/3/0/9", "v": 1e999}]', "out of range"),
        (b'[{"n": "/3/0/9", "v": 1', "malformed JSON"),
        (b"\xff", "not UTF-8"),
        (b"[" * 100_000, "malformed JSON"),
    ],
)
def test_malformed_json(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        JSON.decode_values(payload, MODELS)


def test_json_error_offset_is_in_bytes() -> None:
    with pytest.raises(DecodeError) as caught:
        JSON.decode_values('[{"vs": "ü"} x'.encode(), MODELS)
    assert caught.value.offset == len('[{"vs": "ü"} '.encode())


def test_cbor_input_is_one_whole_item() -> None:
    good = cbor2.dumps([{0: "/3/0/9", 2: 5}])
    assert CBOR.decode_values(good, MODELS) == {Path.of(3, 0, 9): 5}
    with pytest.raises(DecodeError, match="bytes after") as caught:
        CBOR.decode_values(good + b"\x00", MODELS)
    assert caught.value.offset == len(good)
    with pytest.raises(DecodeError, match="malformed CBOR"):
        CBOR.decode_values(good[:-1], MODELS)
    with pytest.raises(DecodeError, match="reserved"):
        load_cbor(b"\x9a\x00\x00\x00\x01\x1c")


def test_cbor_time_may_carry_tag_1() -> None:
    payload = cbor2.dumps([{0: "/3/0/13", 2: cbor2.CBORTag(1, 1367491215)}])
    assert CBOR.decode_values(payload, MODELS) == {Path.of(3, 0, 13): 1367491215}


def test_decode_node_checks_the_target() -> None:
    pack = _json([{"bn": "/3/0/", "n": "9", "v": 1}])
    with pytest.raises(DecodeError, match="outside the target"):
        JSON.decode(pack, Path.of(3, 1), MODELS)
    with pytest.raises(DecodeError, match="no value for the target"):
        JSON.decode(b"[]", Path.of(3, 0, 9), MODELS)
    with pytest.raises(DecodeError, match="root"):
        JSON.decode(pack, Path(), MODELS)
    assert JSON.decode(b"[]", Path.of(3, 0), MODELS) == ObjectInstance(0, {})
    assert JSON.decode(b"[]", Path.of(3, 0, 7), MODELS) == MultipleResource(7, {})
    twice = _json([{"n": "/3/0/9", "v": 1}, {"n": "/3/0/9", "v": 2}])
    with pytest.raises(DecodeError, match="given twice"):
        JSON.decode(twice, Path.of(3, 0), MODELS)
    with pytest.raises(DecodeError, match="given twice"):
        JSON.decode_values(twice, MODELS)


def test_path_lists_carry_no_values() -> None:
    assert JSON.decode_paths(b'[{"n": "/"}, {"n": "/3"}, {"bn": "/3/0/", "n": "7/1"}]') == [
        Path(),
        Path.of(3),
        Path.of(3, 0, 7, 1),
    ]
    with pytest.raises(DecodeError, match="carries no values"):
        JSON.decode_paths(b'[{"n": "/3/0/9", "v": 1}]')
    assert CBOR.decode_paths(CBOR.encode_paths([Path.of(5)])) == [Path.of(5)]


def test_encoders_check_the_model() -> None:
    with pytest.raises(EncodeError, match="expected integer"):
        JSON.encode(Path.of(3, 0, 9), SingleResource(9, "x"), MODELS)
    with pytest.raises(EncodeError, match="needs instance IDs"):
        JSON.encode_values({Path.of(3, 0, 7): 1}, MODELS)
    with pytest.raises(EncodeError, match="only resources"):
        JSON.encode_values({Path.of(3, 0): 1}, MODELS)
    with pytest.raises(EncodeError, match="JSON cannot carry"):
        JSON.encode_values({Path.of(9999, 0, 3): float("nan")}, MODELS)
    assert cbor2.loads(CBOR.encode_values({Path.of(9999, 0, 3): float("inf")}, MODELS)) == [
        {-2: "/9999/0/", 0: "3", 2: float("inf")}
    ]


def test_timestamps_must_be_absolute() -> None:
    for bad in (0.0, 12.0, -1.0, float("inf")):
        with pytest.raises(EncodeError, match="absolute time"):
            JSON.encode_timestamped([TimestampedValues(bad, {Path.of(3, 0, 9): 1})], MODELS)
    with pytest.raises(EncodeError, match="at least one value"):
        JSON.encode_timestamped([TimestampedValues(None, {})], MODELS)


def test_untimed_batch_after_timed_resets_base_time() -> None:
    batches = [
        TimestampedValues(1_600_000_000, {Path.of(3, 0, 9): 1}),
        TimestampedValues(None, {Path.of(3, 0, 9): 2}),
        TimestampedValues(1_600_000_001, {Path.of(3, 0, 9): 3}),
    ]
    payload = JSON.encode_timestamped(batches, MODELS)
    assert [r.get("bt") for r in json.loads(payload)] == [1600000000, 0, 1600000001]
    assert JSON.decode_timestamped(payload, MODELS) == batches
