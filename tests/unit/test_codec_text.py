"""Plain text codec and the shared text forms in lwm2m.codec.values."""

from __future__ import annotations

import pytest

from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.text import TextCodec
from lwm2m.codec.values import base64_to_opaque, opaque_to_base64
from lwm2m.model import MultipleResource, Path, ResourceInstance, SingleResource
from tests.codec_fixtures import example_models

CODEC = TextCodec()
MODELS = example_models()


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((3, 0, 9), b"1.5"),
        ((3, 0, 9), b" 100"),
        ((3, 0, 9), b"99999999999999999999"),  # beyond int64
        ((9999, 0, 2), b"-1"),
        ((9999, 0, 3), b"1e999"),
        ((9999, 0, 3), b"nan"),
        ((1, 0, 6), b"true"),
        ((9999, 0, 7), b"66"),
        ((9999, 0, 7), b"70000:0"),
        ((5, 0, 0), b"AQ!D"),
        ((3, 0, 4), b""),  # executable
        ((3, 0, 6), b"1"),  # multiple resource needs an instance path
        ((3, 0), b"x"),
        ((3, 0, 0), b"\xff"),
    ],
)
def test_bad_text_is_a_decode_error_naming_the_path(path: tuple[int, ...], text: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode(text, Path(path), MODELS)
    assert info.value.path == Path(path)


def test_unknown_resource_decodes_as_string_and_instances_work() -> None:
    assert CODEC.decode(b"42", Path.of(3, 0, 99), MODELS) == SingleResource(99, "42")
    assert CODEC.decode(b"3800", Path.of(3, 0, 7, 0), MODELS) == ResourceInstance(0, 3800)
    assert CODEC.encode(Path.of(3, 0, 7, 0), ResourceInstance(0, 3800), MODELS) == b"3800"


def test_float_text_accepts_decimal_forms() -> None:
    for text, value in ((b"1", 1.0), (b"-0.5", -0.5), (b"2.5E3", 2500.0), (b".5", 0.5)):
        assert CODEC.decode(text, Path.of(9999, 0, 3), MODELS) == SingleResource(3, value)


@pytest.mark.parametrize(
    ("path", "node"),
    [
        ((9999, 0, 3), SingleResource(3, float("inf"))),
        ((3, 0, 9), SingleResource(9, True)),
        ((3, 0, 9), MultipleResource(9, {})),
        ((3, 0, 9), SingleResource(8, 1)),
        ((3, 0, 0), SingleResource(0, "\udc80")),
        ((3, 0, 5), SingleResource(5, "")),
    ],
)
def test_encode_errors(path: tuple[int, ...], node: object) -> None:
    with pytest.raises(EncodeError):
        CODEC.encode(Path(path), node, MODELS)  # type: ignore[arg-type]


def test_base64_variants() -> None:
    data = b"\xfb\xff\x00"
    assert opaque_to_base64(data) == "+/8A"
    assert opaque_to_base64(data, urlsafe=True) == "-_8A"
    assert base64_to_opaque("-_8A", Path(()), urlsafe=True) == data
    assert base64_to_opaque("AQ", Path(()), urlsafe=True) == b"\x01"
    for bad in ("+/8A", "A", "AQ===", "é"):
        with pytest.raises(DecodeError):
            base64_to_opaque(bad, Path(()), urlsafe=True)
    with pytest.raises(DecodeError):
        base64_to_opaque("AQ", Path(()))
