"""Opaque codec: raw bytes of an opaque resource or resource instance only."""

from __future__ import annotations

import pytest

from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.opaque import OpaqueCodec
from lwm2m.model import Path, ResourceInstance, SingleResource
from tests.codec_fixtures import example_models

CODEC = OpaqueCodec()
MODELS = example_models()


def test_round_trip_and_unknown_resources() -> None:
    node = SingleResource(0, b"\x00firmware\xff")
    assert CODEC.encode(Path.of(5, 0, 0), node, MODELS) == b"\x00firmware\xff"
    assert CODEC.decode(b"\x00firmware\xff", Path.of(5, 0, 0), MODELS) == node
    assert CODEC.decode(b"", Path.of(77, 0, 1, 2), MODELS) == ResourceInstance(2, b"")
    assert CODEC.decode(bytearray(b"ab"), Path.of(9999, 0, 15, 1), MODELS) == ResourceInstance(
        1, b"ab"
    )


@pytest.mark.parametrize("path", [(3, 0, 0), (3, 0), (9999, 0, 15), (3,)])
def test_decode_refuses_what_is_not_one_opaque_value(path: tuple[int, ...]) -> None:
    with pytest.raises(DecodeError):
        CODEC.decode(b"x", Path(path), MODELS)


@pytest.mark.parametrize(
    ("path", "node"),
    [((3, 0, 0), SingleResource(0, b"x")), ((77, 0, 1), SingleResource(1, "x"))],
)
def test_encode_refuses_non_opaque(path: tuple[int, ...], node: SingleResource) -> None:
    with pytest.raises(EncodeError):
        CODEC.encode(Path(path), node, MODELS)
