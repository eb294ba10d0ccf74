"""LwM2M CBOR (content format 11544, LwM2M Core 1.2 §7.4.7).

Nested CBOR maps keyed by object, instance, resource and resource-instance IDs, always from
the root; a key may be an array of IDs standing for a chain of single-entry maps
(``{[3, 0]: {0: "Open Mobile Alliance", 6: {0: 1, 1: 5}}}``).  Values are plain CBOR items;
an object link travels as text ``"o:i"``.  No names and no times: single nodes and composite
values only.
"""

from __future__ import annotations

from collections.abc import Mapping

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.senml import (
    CONVERSION_ERRORS,
    Leaf,
    build_node,
    check_value,
    leaves_to_values,
    multiplicity_problem,
    typed_value,
)
from lwm2m.codec.senml_cbor import bytes_in, dump_cbor, load_cbor
from lwm2m.model import ROOT, ModelRegistry, Node, ObjectLink, Path, Value, node_to_values
from lwm2m.model.path import MAX_DEPTH, MAX_ID
from lwm2m.model.values import INT64_MIN, UINT64_MAX

_NATIVE = (str, int, float, bool, bytes)
"""Python types of the CBOR items a value of an unmodelled resource may be."""

Tree = dict[object, object]


class LwM2mCborCodec(Codec):
    content_format = ContentFormat.LWM2M_CBOR

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        return dump_cbor(_tree(path, node_to_values(path, node), models))

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        return build_node(path, _leaves(load_cbor(payload), models), models)

    def encode_values(self, values: Mapping[Path, Value], models: ModelRegistry) -> bytes:
        return dump_cbor(_tree(ROOT, values, models))

    def decode_values(self, payload: bytes, models: ModelRegistry) -> dict[Path, Value]:
        return leaves_to_values(_leaves(load_cbor(payload), models))


def _tree(path: Path, values: Mapping[Path, Value], models: ModelRegistry) -> Tree:
    """Nested maps from the root; the chain of single-entry maps at the top becomes one key."""
    root: Tree = {}
    branch = root
    for node_id in path.ids:  # the target itself appears even when it holds nothing
        branch = branch.setdefault(node_id, {})  # type: ignore[assignment]
    for leaf, value in values.items():
        if leaf.depth < 3:
            raise EncodeError("only resources and resource instances carry values", path=leaf)
        check_value(leaf, value, models)
        branch = root
        for node_id in leaf.ids[:-1]:
            branch = branch.setdefault(node_id, {})  # type: ignore[assignment]
        branch[leaf.ids[-1]] = str(value) if isinstance(value, ObjectLink) else value
    if len(root) != 1:
        return root
    ((key, inner),) = root.items()
    chain = [key]
    while type(inner) is dict and len(inner) == 1 and len(chain) < MAX_DEPTH:
        ((key, inner),) = inner.items()
        chain.append(key)
    return {chain[0] if len(chain) == 1 else tuple(chain): inner}


def _leaves(tree: object, models: ModelRegistry) -> list[Leaf]:
    if type(tree) is not dict:
        raise DecodeError(f"LwM2M CBOR is a map, got {type(tree).__name__}", offset=0)
    leaves: list[Leaf] = []
    _walk(tree, (), models, leaves)
    return leaves


def _walk(tree: Tree, prefix: tuple[int, ...], models: ModelRegistry, leaves: list[Leaf]) -> None:
    for key, item in tree.items():
        if type(key) is int:
            ids = (*prefix, key)
        elif type(key) is tuple and key and all(type(k) is int for k in key):
            ids = prefix + key
        else:
            raise DecodeError(f"map key {key!r:.40} is not an ID or an array of IDs")
        if len(ids) > MAX_DEPTH or not all(0 <= i <= MAX_ID for i in ids):
            raise DecodeError(f"IDs {ids!r:.60} do not make an LwM2M path")
        if type(item) is dict:
            _walk(item, ids, models, leaves)
            continue
        path = Path(ids)
        if len(ids) < 3:
            raise DecodeError("a value above resource level", path=path)
        leaves.append((path, None, _value(item, path, models)))


def _value(raw: object, path: Path, models: ModelRegistry) -> Value:
    resource = models.resource(path)
    try:
        if resource is None:
            if not isinstance(raw, _NATIVE):
                raise TypeError(f"{type(raw).__name__} is not an LwM2M value")
            if type(raw) is int and not INT64_MIN <= raw <= UINT64_MAX:
                raise ValueError(f"integer {raw} does not fit in 64 bits")
            return raw
        problem = multiplicity_problem(resource.multiple, path.depth)
        if problem:
            raise ValueError(problem)
        return typed_value(raw, resource, bytes_in)
    except CONVERSION_ERRORS as exc:
        raise DecodeError(str(exc), path=path) from None
