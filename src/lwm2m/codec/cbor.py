"""CBOR (content format 60, LwM2M Core 1.1 §7.4.6): one resource or resource instance value.

One CBOR data item per payload (RFC 8949), typed by Appendix C:

========================  ====================================  ============================
LwM2M type                decoded from                           encoded as
========================  ====================================  ============================
string, corelnk           text string                            text string
integer                   unsigned/negative integer (64 bits)    the shortest integer
unsigned integer          unsigned integer                       the shortest integer
float                     float16/32/64, or an integer           the shortest exact float
boolean                   true / false                           true / false
opaque                    byte string                            byte string
time                      integer, or tag 1 on an integer        integer seconds
objlnk                    text string ``"o:i"``                  text string
========================  ====================================  ============================

Definite and indefinite-length strings are read; arrays, maps, other tags and other simple
values are refused.  An unknown resource takes the type its item implies.  The decoder is a
small hand-written reader so that every length is checked against the bytes present before
anything is sliced: a header claiming 16 MiB costs nothing.
"""

from __future__ import annotations

import math
import struct

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.values import (
    check_decoded,
    encode_type,
    leaf_node,
    leaf_value,
    require_single_value_path,
)
from lwm2m.model import ModelRegistry, Node, ObjectLink, Path, ResourceType, Value
from lwm2m.model.values import INT64_MAX

_HALF = struct.Struct(">e")
_SINGLE = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")
_EPOCH_TAG = 1


class _Item:
    """A decoded CBOR item: its major type (7: simple or float) and its Python value."""

    __slots__ = ("major", "tagged", "value")

    def __init__(self, major: int, value: int | bytes | str | float | bool, tagged: bool) -> None:
        self.major = major
        self.value = value
        self.tagged = tagged


class CborCodec(Codec):
    content_format = ContentFormat.CBOR

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        require_single_value_path(models, path, DecodeError)
        model = models.resource(path)
        if model is not None and model.type is ResourceType.NONE:
            raise DecodeError("executable resource carries no value", path=path)
        data = bytes(payload)
        item, end = _read_item(data, 0, path)
        if end != len(data):
            raise DecodeError("bytes after the CBOR item", path=path, offset=end)
        resource_type = _implied_type(item, path) if model is None else model.type
        return leaf_node(path, _convert(item, resource_type, path))

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        require_single_value_path(models, path, EncodeError)
        value = leaf_value(path, node)
        resource_type = encode_type(models, path, value)
        if resource_type is ResourceType.FLOAT:
            assert isinstance(value, (int, float))
            try:
                return _float(float(value))
            except OverflowError:
                raise EncodeError(f"{value} is too large for a float", path=path) from None
        if isinstance(value, bool):
            return b"\xf5" if value else b"\xf4"
        if isinstance(value, int):
            return _head(0, value) if value >= 0 else _head(1, -1 - value)
        if isinstance(value, bytes):
            return _head(2, len(value)) + value
        text = str(value).encode("utf-8")  # string, corelnk (checked: no lone surrogate), objlnk
        return _head(3, len(text)) + text


# -- reading ------------------------------------------------------------------------------


def _read_head(data: bytes, pos: int, path: Path) -> tuple[int, int, int, int]:
    """``(major, additional info, argument, next offset)``; argument -1 for indefinite."""
    if pos >= len(data):
        raise DecodeError("CBOR item missing or cut short", path=path, offset=pos)
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    if info < 24:
        return major, info, info, pos + 1
    if info == 31:
        return major, info, -1, pos + 1
    if info > 27:
        raise DecodeError(f"reserved CBOR additional info {info}", path=path, offset=pos)
    size = 1 << (info - 24)
    if pos + 1 + size > len(data):
        raise DecodeError("CBOR head cut short", path=path, offset=pos)
    return major, info, int.from_bytes(data[pos + 1 : pos + 1 + size], "big"), pos + 1 + size


def _read_item(data: bytes, pos: int, path: Path, *, tagged: bool = False) -> tuple[_Item, int]:
    major, info, argument, pos = _read_head(data, pos, path)
    if major <= 1:
        if argument < 0:
            raise DecodeError("integer cannot be indefinite", path=path, offset=pos - 1)
        return _Item(major, argument if major == 0 else -1 - argument, tagged), pos
    if major in (2, 3):
        raw, pos = _read_string(data, pos, major, argument, path)
        if major == 2:
            return _Item(2, raw, tagged), pos
        try:
            return _Item(3, raw.decode("utf-8"), tagged), pos
        except UnicodeDecodeError:
            raise DecodeError("CBOR text string is not UTF-8", path=path, offset=pos) from None
    if major == 6:
        if argument != _EPOCH_TAG or tagged:
            raise DecodeError(f"unsupported CBOR tag {argument}", path=path, offset=pos)
        return _read_item(data, pos, path, tagged=True)
    if major == 7:
        return _Item(7, _simple(data, pos, info, argument, path), tagged), pos
    raise DecodeError("a CBOR array or map is not a single value", path=path, offset=pos - 1)


_FLOAT_SIZE = {25: 2, 26: 4, 27: 8}


def _simple(data: bytes, end: int, info: int, argument: int, path: Path) -> float | bool:
    """A boolean or float whose head (float bytes included) ends at ``end``."""
    if info in (20, 21):
        return info == 21
    if info in _FLOAT_SIZE:
        start = end - _FLOAT_SIZE[info]
        codec = _HALF if info == 25 else _SINGLE if info == 26 else _DOUBLE
        return float(codec.unpack_from(data, start)[0])
    raise DecodeError(f"unsupported CBOR simple value {argument}", path=path, offset=end - 1)


def _read_string(data: bytes, pos: int, major: int, length: int, path: Path) -> tuple[bytes, int]:
    if length >= 0:
        if length > len(data) - pos:
            left = len(data) - pos
            raise DecodeError(
                f"CBOR string claims {length} bytes, {left} left", path=path, offset=pos
            )
        return data[pos : pos + length], pos + length
    chunks: list[bytes] = []
    while True:
        if pos < len(data) and data[pos] == 0xFF:
            return b"".join(chunks), pos + 1
        chunk_major, _, chunk_length, pos = _read_head(data, pos, path)
        if chunk_major != major or chunk_length < 0:
            raise DecodeError("bad chunk in indefinite-length string", path=path, offset=pos - 1)
        chunk, pos = _read_string(data, pos, major, chunk_length, path)
        chunks.append(chunk)


def _implied_type(item: _Item, path: Path) -> ResourceType:
    """The type an item implies when the model does not know the resource."""
    if item.tagged:
        return ResourceType.TIME
    if item.major <= 1:
        value = item.value
        assert isinstance(value, int)
        return ResourceType.UNSIGNED_INTEGER if value > INT64_MAX else ResourceType.INTEGER
    if item.major == 2:
        return ResourceType.OPAQUE
    if item.major == 3:
        return ResourceType.STRING
    return ResourceType.BOOLEAN if isinstance(item.value, bool) else ResourceType.FLOAT


_MAJORS: dict[ResourceType, tuple[int, ...]] = {
    ResourceType.STRING: (3,),
    ResourceType.CORELNK: (3,),
    ResourceType.OBJLNK: (3,),
    ResourceType.OPAQUE: (2,),
    ResourceType.INTEGER: (0, 1),
    ResourceType.UNSIGNED_INTEGER: (0,),
    ResourceType.TIME: (0, 1),
    ResourceType.FLOAT: (0, 1, 7),
    ResourceType.BOOLEAN: (7,),
}


def _convert(item: _Item, resource_type: ResourceType, path: Path) -> Value:
    value = item.value
    if item.major not in _MAJORS[resource_type] or (
        item.tagged and resource_type is not ResourceType.TIME
    ):
        raise DecodeError(f"CBOR item does not fit a {resource_type.value}", path=path)
    if resource_type is ResourceType.FLOAT:
        if isinstance(value, bool):
            raise DecodeError("CBOR boolean does not fit a float", path=path)
        assert isinstance(value, (int, float))
        return float(value)
    if resource_type is ResourceType.BOOLEAN and not isinstance(value, bool):
        raise DecodeError("CBOR float does not fit a boolean", path=path)
    if resource_type is ResourceType.OBJLNK:
        assert isinstance(value, str)
        try:
            return ObjectLink.parse(value)
        except ValueError as exc:
            raise DecodeError(str(exc), path=path) from None
    assert not isinstance(value, float)
    return check_decoded(resource_type, value, path)


# -- writing ------------------------------------------------------------------------------


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes((major << 5 | argument,))
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * size):
            return bytes((major << 5 | info,)) + argument.to_bytes(size, "big")
    raise OverflowError(argument)


def _float(value: float) -> bytes:
    """The shortest IEEE form that holds ``value`` exactly (RFC 8949 preferred serialization)."""
    if math.isnan(value):
        return b"\xf9\x7e\x00"
    for prefix, codec in ((b"\xf9", _HALF), (b"\xfa", _SINGLE)):
        try:
            packed = codec.pack(value)
        except OverflowError:
            continue
        if codec.unpack(packed)[0] == value:
            return prefix + packed
    return b"\xfb" + _DOUBLE.pack(value)
