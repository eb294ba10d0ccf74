"""CBOR single-value codec: allowed items per type, strictness, bounded reads."""

from __future__ import annotations

import math

import pytest

from lwm2m.codec.cbor import CborCodec
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.model import ObjectLink, Path, ResourceInstance, SingleResource
from tests.codec_fixtures import example_models

CODEC = CborCodec()
MODELS = example_models()


@pytest.mark.parametrize(
    ("cbor", "value"),
    [
        ("05", 5),
        ("3903e7", -1000),
        ("1bffffffffffffffff", 18446744073709551615),
        ("c11a5182428f", 1367491215),
        ("f5", True),
        ("f90001", 5.960464477539063e-08),
        ("fa7f800000", math.inf),
        ("4401020304", b"\x01\x02\x03\x04"),
        ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"),
        ("7f6161626262ff", "abb"),
        ("63613a62", "a:b"),
    ],
)
def test_unknown_resources_take_the_items_type(cbor: str, value: object) -> None:
    assert CODEC.decode(bytes.fromhex(cbor), Path.of(3, 0, 99), MODELS) == SingleResource(99, value)  # type: ignore[arg-type]


def test_known_types_accept_their_items() -> None:
    assert CODEC.decode(b"\x02", Path.of(9999, 0, 3), MODELS) == SingleResource(3, 2.0)
    assert CODEC.decode(bytes.fromhex("63313a32"), Path.of(9999, 0, 17, 4), MODELS) == (
        ResourceInstance(4, ObjectLink(1, 2))
    )
    nan = CODEC.decode(bytes.fromhex("f97e00"), Path.of(9999, 0, 3), MODELS)
    assert isinstance(nan, SingleResource) and math.isnan(nan.value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "cbor"),
    [
        ((3, 0, 9), "f93e00"),  # float for integer
        ((3, 0, 9), "1b8000000000000000"),  # beyond int64
        ((3, 0, 9), "c11864"),  # tag 1 on a plain integer resource
        ((9999, 0, 2), "20"),  # negative for unsigned
        ((1, 0, 6), "01"),  # integer for boolean
        ((9999, 0, 3), "f5"),  # boolean for float
        ((9999, 0, 7), "6131"),  # objlnk without ':'
        ((3, 0, 0), "4161"),  # bytes for string
        ((3, 0, 0), "6180"),  # invalid UTF-8
        ((3, 0, 13), "c0617a"),  # tag 0
        ((3, 0, 13), "c1c101"),  # nested tag 1
        ((3, 0, 9), "8101"),  # array
        ((3, 0, 9), "a0"),  # map
        ((3, 0, 9), "f6"),  # null
        ((3, 0, 9), "f820"),  # simple value 32
        ((3, 0, 9), "1c"),  # reserved additional info
        ((3, 0, 9), "1f"),  # indefinite integer
        ((3, 0, 9), "0101"),  # trailing bytes
        ((3, 0, 9), ""),  # nothing
        ((3, 0, 9), "19"),  # head cut short
        ((3, 0, 0), "7f61"),  # unterminated indefinite string
        ((3, 0, 0), "7f4161ff"),  # byte chunk inside a text string
        ((3, 0, 0), "7f7f"),  # nested indefinite chunk
        ((3, 0, 4), "01"),  # executable
        ((3, 0, 6), "01"),  # multiple resource needs an instance path
        ((3, 0, 9), "ff"),  # lone break
    ],
)
def test_decode_errors(path: tuple[int, ...], cbor: str) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode(bytes.fromhex(cbor), Path(path), MODELS)
    assert info.value.path == Path(path)


def test_string_claiming_16_mib_is_refused_without_reading() -> None:
    with pytest.raises(DecodeError, match="16777216 bytes"):
        CODEC.decode(bytes.fromhex("7a01000000") + b"abc", Path.of(3, 0, 0), MODELS)


@pytest.mark.parametrize(
    ("value", "cbor"),
    [
        (0.0, "f90000"),
        (-0.0, "f98000"),
        (math.inf, "f97c00"),
        (math.nan, "f97e00"),
        (1e300, "fb7e37e43c8800759c"),
    ],
)
def test_floats_take_the_shortest_exact_form(value: float, cbor: str) -> None:
    assert CODEC.encode(Path.of(9999, 0, 3), SingleResource(3, value), MODELS).hex() == cbor


def test_encode_errors() -> None:
    with pytest.raises(EncodeError):
        CODEC.encode(Path.of(9999, 0, 3), SingleResource(3, 10**400), MODELS)
    with pytest.raises(EncodeError):
        CODEC.encode(Path.of(3, 0, 0), SingleResource(0, "\ud800"), MODELS)
    with pytest.raises(EncodeError):
        CODEC.encode(Path.of(3, 0, 9), SingleResource(9, "x"), MODELS)
