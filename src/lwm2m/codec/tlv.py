"""OMA TLV (content format 11542, LwM2M Core 1.1 §7.4.3), legacy but still what many devices speak.

Layout choices, all from the spec text and its examples:

- Read of ``/o`` answers Object Instance TLVs, one per instance (the spec makes them mandatory
  when no instance ID is in the request).  Read of ``/o/i`` answers the resource TLVs bare, as in
  the "Single Object Instance Request Example"; decoding ``/o/i`` also accepts them wrapped in
  one Object Instance TLV with that ID ("the Object Instance TLV is optional").
- A multiple resource is always a Multiple Resource TLV holding Resource Instance TLVs, even
  with zero or one instance.  Decoding ``/o/i/r`` of a multiple resource also accepts bare
  Resource Instance TLVs, which some clients send.
- Integers (and time) take the fewest of 1, 2, 4 or 8 bytes, two's complement; unsigned
  integers the fewest of 1, 2, 4 or 8 bytes.  A float is 4 bytes when binary32 holds it
  exactly, else 8 (the spec allows both; the short form saves radio time).  Decoding accepts
  exactly those lengths.
- Unknown resources decode as opaque bytes (see :mod:`lwm2m.codec.values` for the policy).

Decoding never allocates more than the payload: each length is checked against the bytes left
in its container before anything is sliced.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import cast

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.values import checked_type
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    Resource,
    ResourceInstance,
    ResourceModel,
    ResourceType,
    SingleResource,
    Value,
)
from lwm2m.model.nodes import multiple_resource, single_resource

OBJECT_INSTANCE = 0
RESOURCE_INSTANCE = 1
MULTIPLE_RESOURCE = 2
RESOURCE = 3

MAX_VALUE_LENGTH = 0xFFFFFF
"""The 24-bit length field's limit (the spec's "16.7 MB")."""

_KIND_NAMES = ("object instance", "resource instance", "multiple resource", "resource")

# -- framing ------------------------------------------------------------------------------


def _header(kind: int, ident: int, length: int) -> bytes:
    type_byte = kind << 6
    if ident > 0xFF:
        type_byte |= 0x20
        id_bytes = ident.to_bytes(2, "big")
    else:
        id_bytes = bytes((ident,))
    if length < 8:
        return bytes((type_byte | length,)) + id_bytes
    if length <= 0xFF:
        return bytes((type_byte | 0x08,)) + id_bytes + bytes((length,))
    if length <= 0xFFFF:
        return bytes((type_byte | 0x10,)) + id_bytes + length.to_bytes(2, "big")
    return bytes((type_byte | 0x18,)) + id_bytes + length.to_bytes(3, "big")


# -- values -------------------------------------------------------------------------------

_FLOAT32 = struct.Struct(">f")
_FLOAT64 = struct.Struct(">d")
_OBJLNK = struct.Struct(">HH")

Decoder = Callable[[bytes, int, int], Value]
"""Decodes ``data[start:end]``; ValueError when the bytes do not fit the type."""


_UnpackFrom = Callable[[bytes, int], tuple[int]]
_SIGNED: dict[int, _UnpackFrom] = {
    size: struct.Struct(">" + code).unpack_from
    for size, code in ((1, "b"), (2, "h"), (4, "i"), (8, "q"))
}
_UNSIGNED: dict[int, _UnpackFrom] = {
    size: struct.Struct(">" + code).unpack_from
    for size, code in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))
}


def _decode_integer(data: bytes, start: int, end: int) -> Value:
    unpack = _SIGNED.get(end - start)
    if unpack is None:
        raise ValueError(f"integer of {end - start} bytes (1, 2, 4 or 8 allowed)")
    return unpack(data, start)[0]


def _decode_unsigned(data: bytes, start: int, end: int) -> Value:
    unpack = _UNSIGNED.get(end - start)
    if unpack is None:
        raise ValueError(f"unsigned integer of {end - start} bytes (1, 2, 4 or 8 allowed)")
    return unpack(data, start)[0]


def _decode_float(data: bytes, start: int, end: int) -> Value:
    if end - start == 8:
        return float(_FLOAT64.unpack_from(data, start)[0])
    if end - start == 4:
        return float(_FLOAT32.unpack_from(data, start)[0])
    raise ValueError(f"float of {end - start} bytes (4 or 8 allowed)")


def _decode_boolean(data: bytes, start: int, end: int) -> Value:
    if end - start != 1 or data[start] > 1:
        raise ValueError(f"boolean must be one byte 0 or 1, got {data[start:end].hex()!r:.40}")
    return data[start] == 1


def _decode_opaque(data: bytes, start: int, end: int) -> Value:
    return data[start:end]


def _decode_objlnk(data: bytes, start: int, end: int) -> Value:
    if end - start != 4:
        raise ValueError(f"object link of {end - start} bytes (4 required)")
    return ObjectLink(*_OBJLNK.unpack_from(data, start))


def _decode_none(data: bytes, start: int, end: int) -> Value:
    raise ValueError("executable resource carries no value")


Reader = tuple[dict[int, _UnpackFrom] | None, Decoder]
"""How the walk reads a value: unpackers by value length that read it whole (None: a UTF-8
string, decoded inline), else the decoder, which also explains a length that does not fit."""

_NO_UNPACKERS: dict[int, _UnpackFrom] = {}
_FLOATS: dict[int, _UnpackFrom] = {4: _FLOAT32.unpack_from, 8: _FLOAT64.unpack_from}
_OPAQUE: Reader = (_NO_UNPACKERS, _decode_opaque)
_READERS: dict[ResourceType, Reader] = {
    ResourceType.STRING: (None, _decode_opaque),
    ResourceType.CORELNK: (None, _decode_opaque),
    ResourceType.INTEGER: (_SIGNED, _decode_integer),
    ResourceType.TIME: (_SIGNED, _decode_integer),
    ResourceType.UNSIGNED_INTEGER: (_UNSIGNED, _decode_unsigned),
    ResourceType.FLOAT: (_FLOATS, _decode_float),
    ResourceType.BOOLEAN: (_NO_UNPACKERS, _decode_boolean),
    ResourceType.OPAQUE: _OPAQUE,
    ResourceType.OBJLNK: (_NO_UNPACKERS, _decode_objlnk),
    ResourceType.NONE: (_NO_UNPACKERS, _decode_none),
}


def _encode_integer(value: int) -> bytes:
    if -0x80 <= value <= 0x7F:
        size = 1
    elif -0x8000 <= value <= 0x7FFF:
        size = 2
    elif -0x8000_0000 <= value <= 0x7FFF_FFFF:
        size = 4
    else:
        size = 8
    return value.to_bytes(size, "big", signed=True)


def _encode_unsigned(value: int) -> bytes:
    size = 1 if value <= 0xFF else 2 if value <= 0xFFFF else 4 if value <= 0xFFFF_FFFF else 8
    return value.to_bytes(size, "big")


def _encode_float(value: float) -> bytes:
    try:
        short = _FLOAT32.pack(value)
    except OverflowError:
        return _FLOAT64.pack(value)
    return short if _FLOAT32.unpack(short)[0] == value else _FLOAT64.pack(value)


def _encode_value(resource_type: ResourceType, value: Value) -> bytes:
    """The TLV value bytes of a value already checked against ``resource_type``."""
    if resource_type in (ResourceType.STRING, ResourceType.CORELNK):
        assert isinstance(value, str)
        return value.encode("utf-8")
    if resource_type in (ResourceType.INTEGER, ResourceType.TIME):
        assert isinstance(value, int)
        return _encode_integer(value)
    if resource_type is ResourceType.UNSIGNED_INTEGER:
        assert isinstance(value, int)
        return _encode_unsigned(value)
    if resource_type is ResourceType.FLOAT:
        assert isinstance(value, (int, float))
        return _encode_float(float(value))
    if resource_type is ResourceType.BOOLEAN:
        return b"\x01" if value else b"\x00"
    if resource_type is ResourceType.OBJLNK:
        assert isinstance(value, ObjectLink)
        return _OBJLNK.pack(value.object_id, value.instance_id)
    assert isinstance(value, bytes)
    return value


# -- the codec ----------------------------------------------------------------------------


class TlvCodec(Codec):
    """Single nodes at any depth below the root; no composite or timestamped values."""

    content_format = ContentFormat.TLV

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        data = payload if type(payload) is bytes else bytes(payload)
        ids = path.ids
        depth = len(ids)
        if depth == 0:
            raise DecodeError("TLV carries an object or a node below one, not the root", path=path)
        singles, multiples = _table(models, ids[0])
        rid = ids[2] if depth >= 3 else -1
        # The first TLV's kind says what the payload holds; the walk holds the rest to it.
        first = data[0] >> 6 if data else None
        if first not in _KINDS_AT_DEPTH[depth]:
            found = "nothing" if first is None else f"a {_KIND_NAMES[first]} TLV"
            raise DecodeError(f"found {found} where the path needs a node", path=path, offset=0)
        if first == RESOURCE_INSTANCE and rid in singles:
            raise DecodeError("a single resource has no instances", path=path)
        top = _walk(data, ids, singles, multiples, multiples.get(rid, _OPAQUE))
        if depth == 1:
            return ObjectNode(ids[0], cast("dict[int, ObjectInstance]", top))
        if first == OBJECT_INSTANCE:
            return cast(ObjectInstance, _the_one(top, ids[1], path))
        if depth == 2:
            return ObjectInstance(ids[1], top)  # type: ignore[arg-type]  # resources, no cast call
        if depth == 4:
            return ResourceInstance(ids[3], cast(Value, _the_one(top, ids[3], path)))
        if first == RESOURCE_INSTANCE:
            return MultipleResource(ids[2], cast("dict[int, Value]", top))
        return cast(Resource, _the_one(top, ids[2], path))

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        if path.is_root or node.id != path.ids[-1]:
            raise EncodeError(f"{type(node).__name__} {node.id} cannot be encoded at", path=path)
        obj = models.get(path.ids[0])
        resource_models: Mapping[int, ResourceModel] = obj.resources if obj is not None else {}
        ids = path.ids
        if path.is_object and isinstance(node, ObjectNode):
            return b"".join(
                _framed(
                    OBJECT_INSTANCE, iid, _encode_resources((ids[0], iid), inst, resource_models)
                )
                for iid, inst in _checked_items(node.instances, path)
            )
        if path.is_instance and isinstance(node, ObjectInstance):
            return _encode_resources(ids, node, resource_models)
        if path.is_resource and isinstance(node, (SingleResource, MultipleResource)):
            return _encode_resource(ids[:2], node, resource_models.get(ids[2]))
        if path.is_resource_instance and isinstance(node, ResourceInstance):
            model = resource_models.get(ids[2])
            if model is not None and not model.multiple:
                raise EncodeError("single resource has no instances", path=path)
            return _framed(RESOURCE_INSTANCE, node.id, _value_bytes(model, node.value, ids))
        raise EncodeError(f"{type(node).__name__} does not belong at this depth", path=path)


# -- decoding helpers ---------------------------------------------------------------------

Table = tuple[dict[int, Reader], dict[int, Reader]]
"""An object's value readers by resource ID: its single resources', its multiple ones'."""

_NO_TABLE: Table = ({}, {})
_tables: dict[int, tuple[Mapping[int, ResourceModel], Table]] = {}
_MAX_TABLES = 1024


def _table(models: ModelRegistry, oid: int) -> Table:
    """The object's readers, cached per object model (models are immutable once used)."""
    obj = models.get(oid)
    if obj is None:
        return _NO_TABLE
    resources = obj.resources
    cached = _tables.get(id(resources))
    if cached is not None and cached[0] is resources:
        return cached[1]
    table: Table = ({}, {})
    for rid, model in resources.items():
        table[model.multiple][rid] = _READERS[model.type]
    if len(_tables) >= _MAX_TABLES:
        _tables.clear()
    _tables[id(resources)] = (resources, table)
    return table


_Item = ObjectInstance | SingleResource | MultipleResource | Value
"""A decoded TLV: object instance, resource, or (bare) resource instance value."""
_Frame = tuple[dict[int, _Item], int, int, int, Reader]
"""An open object instance: (parent's items, its ID, parent's end, parent's allowed kinds,
parent's resource-instance reader)."""


class _TlvError(Exception):
    """A malformed TLV: (message, offset, (kind, ID) or None when unparsed); the walk turns
    it into a DecodeError at the path of the containers it was in."""


_IN_INSTANCE = (1 << RESOURCE) | (1 << MULTIPLE_RESOURCE)
_IN_MULTIPLE = 1 << RESOURCE_INSTANCE
_SIBLINGS = (1 << OBJECT_INSTANCE, _IN_MULTIPLE, _IN_INSTANCE, _IN_INSTANCE)
"""By a TLV's kind: the kinds that may stand beside it."""
_KINDS_AT_DEPTH: tuple[frozenset[int | None], ...] = (
    frozenset(),
    frozenset((None, OBJECT_INSTANCE)),  # /o: instances (or none)
    frozenset((None, OBJECT_INSTANCE, RESOURCE, MULTIPLE_RESOURCE)),  # /o/i: bare or wrapped
    frozenset((RESOURCE, MULTIPLE_RESOURCE, RESOURCE_INSTANCE)),  # /o/i/r: bare instances too
    frozenset((RESOURCE_INSTANCE,)),  # /o/i/r/ri
)
"""By path depth: the kinds the payload's first TLV may have."""

_TYPE_BYTES = tuple(
    (t >> 6, 1 << (t >> 6), t & 0x20, (t >> 3) & 3, 2 + (t >> 5 & 1) + (t >> 3 & 3), t & 7)
    for t in range(256)
)
"""By type byte (§7.4.3.1): kind, its bit, wide-ID flag, length-field size, header size and
the 3-bit length, unpacked at once instead of shifted out per TLV."""


def _walk(
    data: bytes,
    ids: tuple[int, ...],
    singles: dict[int, Reader],
    multiples: dict[int, Reader],
    read_top: Reader,
) -> dict[int, _Item]:
    """Every TLV of the payload, nesting checked, as the top level's items by ID.

    One loop over the whole payload (no call per TLV where a struct unpacks the value): this
    is the hot path of reading a device.  ``read_top`` reads bare resource-instance TLVs.
    A multiple resource, which holds nothing but values, is opened in locals instead of on
    the stack of object instances: most containers in a read are multiple resources.
    """
    top: dict[int, _Item] = {}
    items = top
    stack: list[_Frame] = []
    allowed = _SIBLINGS[data[0] >> 6] if data else 0
    read_ri = read_top
    # The open multiple resource's parent (None: none open) and what to restore at its end.
    outer: dict[int, _Item] | None = None
    outer_ident = outer_limit = outer_allowed = 0
    outer_read = read_top
    pos = 0
    limit = len(data)
    try:
        while True:
            if pos == limit:
                if outer is not None:
                    outer[outer_ident] = multiple_resource(outer_ident, items)  # type: ignore[arg-type]
                    items, limit, allowed, read_ri = outer, outer_limit, outer_allowed, outer_read
                    outer = None
                    continue
                if not stack:
                    return top
                parent, ident, limit, allowed, read_ri = stack.pop()
                parent[ident] = ObjectInstance(ident, items)  # type: ignore[arg-type]
                items = parent
                continue
            kind, bit, wide, length_size, header, end = _TYPE_BYTES[data[pos]]
            start = pos + header
            # A header past the container reads its neighbour's bytes (or runs off the data:
            # IndexError); either way it then fails the check on ``end``.
            ident = (data[pos + 1] << 8) | data[pos + 2] if wide else data[pos + 1]
            if not length_size:
                end += start
            elif length_size == 1:
                end = start + data[start - 1]
            else:
                end = start + int.from_bytes(data[start - length_size : start], "big")
            if end > limit:
                if start > limit:
                    raise _TlvError("truncated TLV header", pos, None)
                message = f"TLV claims {end - start} bytes, {limit - start} left"
                raise _TlvError(message, pos, (kind, ident))
            if not allowed & bit or ident in items:
                problem = "given twice" if ident in items else "not allowed here"
                raise _TlvError(f"{_KIND_NAMES[kind]} TLV {problem}", pos, (kind, ident))
            if kind == RESOURCE:
                reader = singles.get(ident) or _unlisted(multiples, pos, (kind, ident))
            elif kind == RESOURCE_INSTANCE:
                reader = read_ri
            elif kind == MULTIPLE_RESOURCE:
                inner_read = multiples.get(ident) or _unlisted(singles, pos, (kind, ident))
                outer, outer_ident, outer_limit, outer_allowed = items, ident, limit, allowed
                outer_read = read_ri
                items, limit, allowed, read_ri = {}, end, _IN_MULTIPLE, inner_read
                pos = start
                continue
            else:
                stack.append((items, ident, limit, allowed, read_ri))
                items, limit, allowed, read_ri = {}, end, _IN_INSTANCE, _OPAQUE
                pos = start
                continue
            unpackers, decode = reader
            try:
                # Strings and numbers are most of a read; reading them here saves a call each.
                if unpackers is None:
                    value: Value = data[start:end].decode()
                elif (unpack := unpackers.get(end - start)) is not None:
                    value = unpack(data, start)[0]
                else:
                    value = decode(data, start, end)
            except ValueError as exc:  # UnicodeDecodeError too
                raise _TlvError(str(exc), pos, (kind, ident)) from None
            items[ident] = single_resource(ident, value) if kind == RESOURCE else value
            pos = end
    except IndexError:
        failure = _TlvError("truncated TLV header", pos, None)
    except _TlvError as raised:
        failure = raised
    containers = [(OBJECT_INSTANCE, frame[1]) for frame in stack]
    if outer is not None:
        containers.append((MULTIPLE_RESOURCE, outer_ident))
    raise _error(failure, ids, containers)


def _unlisted(others: dict[int, Reader], offset: int, tlv: tuple[int, int]) -> Reader:
    """The reader of a resource missing from its kind's table: opaque, unless the model lists
    it in ``others``, the table of the other multiplicity."""
    if tlv[1] in others:
        raise _TlvError(_CLASHES[tlv[0]], offset, tlv)
    return _OPAQUE


_CLASHES = {
    RESOURCE: "multiple resource sent as a single one",
    MULTIPLE_RESOURCE: "single resource sent as a multiple one",
}


_DEPTH_OF_KIND = (2, 4, 3, 3)


def _error(
    failure: _TlvError, ids: tuple[int, ...], containers: list[tuple[int, int]]
) -> DecodeError:
    """The DecodeError of ``failure`` at the path of its TLV (or of the innermost container
    when the TLV is unparsed), given the open containers as (kind, ID), outermost first."""
    message, offset, tlv = failure.args
    nested = [ident for _, ident in containers] + ([tlv[1]] if tlv is not None else [])
    outer_kind = containers[0][0] if containers else tlv[0] if tlv is not None else None
    if outer_kind is None:
        return DecodeError(message, path=Path(ids), offset=offset)
    prefix = ids[: _DEPTH_OF_KIND[outer_kind] - 1]
    return DecodeError(message, path=Path((*prefix, *nested)[:4]), offset=offset)


def _the_one(found: dict[int, _Item], ident: int, path: Path) -> _Item:
    """The item of a payload addressed to ``path``, which must hold ``ident`` and nothing else."""
    if len(found) != 1 or ident not in found:
        raise DecodeError(
            f"expected one TLV with ID {ident}, found IDs {list(found)[:8]}", path=path
        )
    return found[ident]


# -- encoding helpers ---------------------------------------------------------------------


def _framed(kind: int, ident: int, value: bytes) -> bytes:
    if len(value) > MAX_VALUE_LENGTH:
        raise EncodeError(f"TLV value of {len(value)} bytes exceeds {MAX_VALUE_LENGTH}")
    return _header(kind, ident, len(value)) + value


def _checked_items(
    mapping: Mapping[int, ObjectInstance], path: Path
) -> list[tuple[int, ObjectInstance]]:
    for key, child in mapping.items():
        if child.id != key:
            raise EncodeError(f"instance keyed {key} has ID {child.id}", path=path)
    return list(mapping.items())


def _encode_resources(
    ids: tuple[int, ...], instance: ObjectInstance, resource_models: Mapping[int, ResourceModel]
) -> bytes:
    parts = []
    for rid, resource in instance.resources.items():
        if resource.id != rid:
            raise EncodeError(f"resource keyed {rid} has ID {resource.id}", path=Path(ids))
        parts.append(_encode_resource(ids, resource, resource_models.get(rid)))
    return b"".join(parts)


def _encode_resource(
    instance_ids: tuple[int, ...], resource: Resource, model: ResourceModel | None
) -> bytes:
    ids = (*instance_ids, resource.id)
    if isinstance(resource, SingleResource):
        if model is not None and model.multiple:
            raise EncodeError("multiple resource given a single value", path=Path(ids))
        return _framed(RESOURCE, resource.id, _value_bytes(model, resource.value, ids))
    if model is not None and not model.multiple:
        raise EncodeError("single resource given instances", path=Path(ids))
    inner = b"".join(
        _framed(RESOURCE_INSTANCE, riid, _value_bytes(model, value, (*ids, riid)))
        for riid, value in resource.instances.items()
    )
    return _framed(MULTIPLE_RESOURCE, resource.id, inner)


def _value_bytes(model: ResourceModel | None, value: Value, ids: tuple[int, ...]) -> bytes:
    try:
        return _encode_value(checked_type(model, value), value)
    except (ValueError, OverflowError) as exc:  # UnicodeEncodeError is a ValueError
        raise EncodeError(str(exc), path=Path(ids)) from None
