"""TLV codec: framing, levels, model policy and errors."""

from __future__ import annotations

import dataclasses

import pytest

from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.tlv import TlvCodec
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    ObjectInstance,
    ObjectLink,
    Path,
    ResourceInstance,
    SingleResource,
)
from tests.codec_fixtures import DEVICE_INSTANCE, example_models

CODEC = TlvCodec()
MODELS = example_models()


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_decoded_nodes_are_ordinary_nodes() -> None:
    # The decoder fills slots directly; that is only equivalent while nodes validate nothing.
    for cls in (SingleResource, MultipleResource, ObjectInstance):
        assert not hasattr(cls, "__post_init__")
        assert [f.name for f in dataclasses.fields(cls)] in (
            ["id", "value"],
            ["id", "instances"],
            ["id", "resources"],
        )
    decoded = CODEC.decode(
        CODEC.encode(Path.of(3, 0), DEVICE_INSTANCE, MODELS), Path.of(3, 0), MODELS
    )
    assert decoded == DEVICE_INSTANCE and hash(decoded.resources[0]) == hash(
        SingleResource(0, "Open Mobile Alliance")
    )


@pytest.mark.parametrize(
    ("path", "value", "payload"),
    [
        ((9999, 0, 1), 127, "C1 01 7F"),
        ((9999, 0, 1), 128, "C2 01 00 80"),
        ((9999, 0, 1), -129, "C2 01 FF 7F"),
        ((9999, 0, 1), 2**31, "C8 01 08 00 00 00 00 80 00 00 00"),
        ((9999, 0, 1), -(2**63), "C8 01 08 80 00 00 00 00 00 00 00"),
        ((9999, 0, 2), 255, "C1 02 FF"),
        ((9999, 0, 2), 2**64 - 1, "C8 02 08 FF FF FF FF FF FF FF FF"),
        ((9999, 0, 3), 1.5, "C4 03 3F C0 00 00"),
        ((9999, 0, 3), 0.1, "C8 03 08 3F B9 99 99 99 99 99 9A"),
        ((9999, 0, 4), False, "C1 04 00"),
        ((9999, 0, 7), ObjectLink(1, 65535), "C4 07 00 01 FF FF"),
        ((9999, 0, 0), "", "C0 00"),
    ],
)
def test_value_encodings(path: tuple[int, ...], value: object, payload: str) -> None:
    node = SingleResource(path[2], value)  # type: ignore[arg-type]
    assert CODEC.encode(Path(path), node, MODELS) == h(payload)
    assert CODEC.decode(h(payload), Path(path), MODELS) == node


def test_lengths_and_16_bit_ids() -> None:
    long_value = "x" * 300
    payload = CODEC.encode(Path.of(9999, 0, 0), SingleResource(0, long_value), MODELS)
    assert payload[:4] == h("D0 00 01 2C")
    node = MultipleResource(10, {300: "a" * 70000})
    payload = CODEC.encode(Path.of(9999, 0, 10), node, MODELS)
    assert payload[:5] == h("98 0A 01 11 76") and payload[5:11] == h("78 01 2C 01 11 70")
    assert CODEC.decode(payload, Path.of(9999, 0, 10), MODELS) == node


def test_unknown_resources_decode_as_opaque() -> None:
    assert CODEC.decode(h("C1 63 05"), Path.of(3, 0, 99), MODELS) == SingleResource(99, b"\x05")
    assert CODEC.decode(h("08 00 03 C1 00 07"), Path.of(4242), ModelRegistry()).instances[
        0
    ].resources == {0: SingleResource(0, b"\x07")}


def test_bare_resource_instances_are_accepted_for_a_multiple_resource() -> None:
    assert CODEC.decode(h("41 00 01 41 01 05"), Path.of(3, 0, 6), MODELS) == MultipleResource(
        6, {0: 1, 1: 5}
    )


def test_resource_instance_level() -> None:
    node = ResourceInstance(1, 5000)
    assert CODEC.encode(Path.of(3, 0, 7, 1), node, MODELS) == h("42 01 13 88")
    assert CODEC.decode(h("42 01 13 88"), Path.of(3, 0, 7, 1), MODELS) == node


@pytest.mark.parametrize(
    ("path", "payload", "where", "offset"),
    [
        ((3, 0), "C8 00 14 4F", "/3/0/0", 0),  # value overruns the payload
        ((3, 0), "C1 09 64 C8", "/3/0", 3),  # truncated header
        ((3, 0), "C1 09 64 C1 09 64", "/3/0/9", 3),  # resource given twice
        ((3, 0), "C3 09 00 00 01", "/3/0/9", 0),  # 3-byte integer
        ((3, 0), "C1 06 01", "/3/0/6", 0),  # multiple resource sent as single
        ((3, 0), "81 09 41 00 01", "/3/0/9", 0),  # single resource sent as multiple
        ((3, 0), "86 06 C1 00 01 C1 01 05", "/3/0/6/0", 2),  # resource inside a multiple
        ((3, 0), "C2 00 FF FE", "/3/0/0", 0),  # not UTF-8
        ((1, 0), "C1 06 02", "/1/0/6", 0),  # boolean 2
        ((3, 0), "C0 04", "/3/0/4", 0),  # executable resource with a value
        ((3,), "C1 09 64", "/3", 0),  # object level without instance TLVs
        ((3, 0, 9), "C1 0A 0F", "/3/0/9", None),  # wrong resource ID
        ((3, 0, 9), "", "/3/0/9", 0),  # nothing
        ((3, 0), "08 01 03 C1 09 64", "/3/0", None),  # wrapper with another instance ID
        ((3, 0), "08 00 03 C1 09 64 C1 0A 0F", "/3/0/10", 6),  # wrapper beside resources
        ((3, 0, 9, 0), "41 00 64", "/3/0/9/0", None),  # single resource has no instances
        ((65, 0), "88 00 04 43 00 00 42", "/65/0/0/0", 3),  # objlnk of 3 bytes
    ],
)
def test_decode_errors_name_path_and_offset(
    path: tuple[int, ...], payload: str, where: str, offset: int | None
) -> None:
    with pytest.raises(DecodeError) as info:
        CODEC.decode(h(payload), Path(path), MODELS)
    assert str(info.value.path) == where
    if offset is not None:
        assert info.value.offset == offset


def test_16_mib_claim_is_refused_before_anything_is_read() -> None:
    with pytest.raises(DecodeError, match="16777215 bytes"):
        CODEC.decode(h("D8 00 FF FF FF") + b"x" * 10, Path.of(3, 0), MODELS)


@pytest.mark.parametrize(
    ("path", "node", "problem"),
    [
        ((3, 0, 9), SingleResource(9, "100"), "expected integer"),
        ((3, 0, 6), SingleResource(6, 1), "multiple resource"),
        ((3, 0, 9), MultipleResource(9, {0: 1}), "single resource"),
        ((3, 0, 4), SingleResource(4, b""), "executable"),
        ((3, 0, 9), SingleResource(8, 1), "cannot be encoded"),
        ((3, 0), SingleResource(0, "x"), "does not belong"),
        ((3, 0, 0), SingleResource(0, "\ud800"), "surrogate"),
        ((9999, 0, 3), SingleResource(3, 10**400), "too large|int too large|OverflowError|float"),
        ((3, 0, 0, 0), ResourceInstance(0, "x"), "no instances"),
        ((3,), ObjectInstance(0), "cannot be encoded"),
    ],
)
def test_encode_errors(path: tuple[int, ...], node: object, problem: str) -> None:
    with pytest.raises(EncodeError, match=problem):
        CODEC.encode(Path(path), node, MODELS)  # type: ignore[arg-type]


def test_root_path_is_refused() -> None:
    with pytest.raises(DecodeError):
        CODEC.decode(b"", Path(()), MODELS)
    with pytest.raises(EncodeError):
        CODEC.encode(Path(()), ObjectInstance(0), MODELS)
