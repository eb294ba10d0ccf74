"""The LwM2M node tree: object, object instance, resources and resource instances.

Codecs convert between bytes and these nodes; device code and the server API use them too.
A flat mapping from leaf path to value (what composite operations and SenML carry) converts
to and from a node with :func:`node_to_values` and :func:`values_to_node`.  A flat mapping has
no place for an empty multiple resource or an empty instance inside a larger node, so those
do not survive the trip (an empty node at the requested path itself does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lwm2m.model.path import Path, PathError
from lwm2m.model.values import Value


@dataclass(frozen=True, slots=True)
class ResourceInstance:
    id: int
    value: Value


@dataclass(frozen=True, slots=True)
class SingleResource:
    id: int
    value: Value


@dataclass(frozen=True, slots=True)
class MultipleResource:
    id: int
    instances: Mapping[int, Value] = field(default_factory=dict)


Resource = SingleResource | MultipleResource


@dataclass(frozen=True, slots=True)
class ObjectInstance:
    id: int
    resources: Mapping[int, Resource] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectNode:
    id: int
    instances: Mapping[int, ObjectInstance] = field(default_factory=dict)


Node = ObjectNode | ObjectInstance | SingleResource | MultipleResource | ResourceInstance

MultipleLookup = Callable[[int, int], bool]
"""``(object_id, resource_id) -> bool``: whether the model makes that resource multi-instance."""


@dataclass(frozen=True, slots=True)
class TimestampedValues:
    """Leaf values that share one timestamp (seconds since the Unix epoch; None: no time)."""

    timestamp: float | None
    values: Mapping[Path, Value]


def node_to_values(path: Path, node: Node) -> dict[Path, Value]:
    """Flatten ``node`` found at ``path`` into leaf paths (resources and resource instances)."""
    out: dict[Path, Value] = {}
    _flatten(path, node, out)
    return out


def _flatten(path: Path, node: Node, out: dict[Path, Value]) -> None:
    if isinstance(node, (SingleResource, ResourceInstance)):
        out[path] = node.value
    elif isinstance(node, MultipleResource):
        for ri, value in node.instances.items():
            out[path.child(ri)] = value
    elif isinstance(node, ObjectInstance):
        for rid, resource in node.resources.items():
            _flatten(path.child(rid), resource, out)
    else:
        for iid, instance in node.instances.items():
            _flatten(path.child(iid), instance, out)


def values_to_node(
    path: Path, values: Mapping[Path, Value], is_multiple: MultipleLookup | None = None
) -> Node:
    """Build the node at ``path`` from leaf values under it.

    ``is_multiple(object_id, resource_id)`` tells whether a resource is multi-instance; a
    resource addressed with a resource-instance ID is multiple regardless.  Raises
    :class:`PathError` for a leaf outside ``path`` or one that clashes with another.
    """
    if path.is_root:
        raise PathError("the root is not a single node")
    builder = _TreeBuilder(is_multiple)
    for leaf, value in values.items():
        if not leaf.startswith(path) or leaf.depth < 3:
            raise PathError(f"{leaf} is not a resource under {path}")
        builder.add(leaf, value)
    return builder.node_at(path)


class _TreeBuilder:
    __slots__ = ("_is_multiple", "_objects")

    def __init__(self, is_multiple: MultipleLookup | None) -> None:
        self._is_multiple = is_multiple
        # object -> instance -> resource -> single value, or {resource instance: value}
        self._objects: dict[int, dict[int, dict[int, Value | dict[int, Value]]]] = {}

    def add(self, leaf: Path, value: Value) -> None:
        oid, iid, rid = leaf.ids[0], leaf.ids[1], leaf.ids[2]
        resources = self._objects.setdefault(oid, {}).setdefault(iid, {})
        if leaf.depth == 4:
            existing = resources.setdefault(rid, {})
            if not isinstance(existing, dict):
                raise PathError(f"{leaf} clashes with single resource {leaf.parent}")
            if leaf.ids[3] in existing:
                raise PathError(f"{leaf} given twice")
            existing[leaf.ids[3]] = value
            return
        multiple = self._is_multiple is not None and self._is_multiple(oid, rid)
        if rid in resources:
            raise PathError(f"{leaf} given twice")
        if multiple:
            raise PathError(f"{leaf} is a multiple resource: give its instances")
        resources[rid] = value

    def node_at(self, path: Path) -> Node:
        oid = path.ids[0]
        instances = self._objects.get(oid, {})
        if path.is_object:
            return ObjectNode(
                oid, {iid: self._instance(iid, res) for iid, res in sorted(instances.items())}
            )
        iid = path.ids[1]
        resources = instances.get(iid, {})
        if path.is_instance:
            return self._instance(iid, resources)
        rid = path.ids[2]
        if rid not in resources:
            multiple = self._is_multiple is not None and self._is_multiple(oid, rid)
            if path.is_resource and multiple:
                return MultipleResource(rid, {})
            raise PathError(f"no value for {path}")
        entry = resources[rid]
        if path.is_resource:
            return self._resource(rid, entry)
        # A leaf under a resource-instance path is that path itself, so entry holds it.
        assert isinstance(entry, dict)
        return ResourceInstance(path.ids[3], entry[path.ids[3]])

    def _instance(self, iid: int, resources: dict[int, Value | dict[int, Value]]) -> ObjectInstance:
        return ObjectInstance(
            iid, {rid: self._resource(rid, entry) for rid, entry in sorted(resources.items())}
        )

    @staticmethod
    def _resource(rid: int, entry: Value | dict[int, Value]) -> Resource:
        if isinstance(entry, dict):
            return MultipleResource(rid, dict(sorted(entry.items())))
        return SingleResource(rid, entry)
