"""The LwM2M node tree: object, object instance, resources and resource instances.

Codecs convert between bytes and these nodes; device code and the server API use them too.
A flat mapping from leaf path to value (what composite operations and SenML carry) converts
to and from a node with :func:`node_to_values` and :func:`values_to_node` (or
:func:`leaves_to_node` for the timestamped leaves that decoders resolve).  A flat mapping has
no place for an empty multiple resource or an empty instance inside a larger node, so those
do not survive the trip (an empty node at the requested path itself does).

Nodes are frozen slotted dataclasses whose ``__init__`` fills the slots through their
descriptors instead of the generated frozen ``object.__setattr__`` calls: the same result
at half the cost.  Decoders build one node per resource, so for resources they go further
with :func:`single_resource` and :func:`multiple_resource`, which make the same nodes for
two thirds of a class call's cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lwm2m.model.path import Path, PathError
from lwm2m.model.values import Value


def _slot_setters(cls: type, *names: str) -> list[Callable[[Any, Any], None]]:
    return [cls.__dict__[name].__set__ for name in names]


@dataclass(frozen=True, slots=True, init=False)
class ResourceInstance:
    id: int
    value: Value

    def __init__(self, id: int, value: Value) -> None:
        _set_ri_id(self, id)
        _set_ri_value(self, value)


@dataclass(frozen=True, slots=True, init=False)
class SingleResource:
    id: int
    value: Value

    def __init__(self, id: int, value: Value) -> None:
        _set_single_id(self, id)
        _set_single_value(self, value)


@dataclass(frozen=True, slots=True, init=False)
class MultipleResource:
    id: int
    instances: Mapping[int, Value]

    def __init__(self, id: int, instances: Mapping[int, Value] | None = None) -> None:
        _set_multiple_id(self, id)
        _set_multiple_instances(self, {} if instances is None else instances)


Resource = SingleResource | MultipleResource


@dataclass(frozen=True, slots=True, init=False)
class ObjectInstance:
    id: int
    resources: Mapping[int, Resource]

    def __init__(self, id: int, resources: Mapping[int, Resource] | None = None) -> None:
        _set_instance_id(self, id)
        _set_instance_resources(self, {} if resources is None else resources)


@dataclass(frozen=True, slots=True, init=False)
class ObjectNode:
    id: int
    instances: Mapping[int, ObjectInstance]

    def __init__(self, id: int, instances: Mapping[int, ObjectInstance] | None = None) -> None:
        _set_object_id(self, id)
        _set_object_instances(self, {} if instances is None else instances)


_set_ri_id, _set_ri_value = _slot_setters(ResourceInstance, "id", "value")
_set_single_id, _set_single_value = _slot_setters(SingleResource, "id", "value")
_set_multiple_id, _set_multiple_instances = _slot_setters(MultipleResource, "id", "instances")
_set_instance_id, _set_instance_resources = _slot_setters(ObjectInstance, "id", "resources")
_set_object_id, _set_object_instances = _slot_setters(ObjectNode, "id", "instances")


class _SingleDraft:
    """SingleResource's slot layout without its frozen ``__setattr__``, so that plain stores
    fill the slots; the object then becomes the SingleResource it has the layout of."""

    __slots__ = SingleResource.__slots__


class _MultipleDraft:
    """What :class:`_SingleDraft` is to SingleResource, for MultipleResource."""

    __slots__ = MultipleResource.__slots__


def single_resource(id: int, value: Value) -> SingleResource:
    """``SingleResource(id, value)`` for two thirds of the class call's cost."""
    node: Any = _SingleDraft()
    node.id, node.value = id, value
    node.__class__ = SingleResource
    return node  # type: ignore[no-any-return]


def multiple_resource(id: int, instances: Mapping[int, Value]) -> MultipleResource:
    """``MultipleResource(id, instances)`` for two thirds of the class call's cost."""
    node: Any = _MultipleDraft()
    node.id, node.instances = id, instances
    node.__class__ = MultipleResource
    return node  # type: ignore[no-any-return]


Node = ObjectNode | ObjectInstance | SingleResource | MultipleResource | ResourceInstance

Leaf = tuple[Path, float | None, Value]
"""A leaf value and when it was taken (seconds since the Unix epoch; None: no time), as
timestamped formats such as SenML resolve their records."""

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
    """Build the node at ``path`` from leaf values under it, every level in ID order.

    ``is_multiple(object_id, resource_id)`` tells whether a resource is multi-instance; a
    resource addressed with a resource-instance ID is multiple regardless.  Raises
    :class:`PathError` for a leaf outside ``path`` or one that clashes with another.
    """
    # Sorting by the ID tuples compares in C; Path's own ordering is a Python call per pair.
    ordered = sorted([(leaf.ids, leaf, value) for leaf, value in values.items()])
    return leaves_to_node(path, [(leaf, None, value) for _, leaf, value in ordered], is_multiple)


def leaves_to_node(
    path: Path, leaves: Iterable[Leaf], is_multiple: MultipleLookup | None = None
) -> Node:
    """:func:`values_to_node` for leaves as a decoder yields them; their times are ignored.

    Children keep the order of their first leaf, and a leaf given twice is a
    :class:`PathError`.  Without ``is_multiple`` nothing is checked against the model (a
    decoder that typed the leaves has done so), and an empty resource target has no value.
    """
    prefix = path.ids
    depth = len(prefix)
    if not depth:
        raise PathError("the root is not a single node")
    # object -> instance -> resource ID -> resource; multiple resources fill their dict in place
    objects: dict[int, dict[int, dict[int, Resource]]] = {}
    resources: dict[int, Resource] = {}
    last_object = last_instance = -1
    for leaf, _, value in leaves:
        ids = leaf.ids
        if len(ids) < 3:
            raise PathError(f"{leaf} is not a resource under {path}")
        if ids[1] != last_instance or ids[0] != last_object or depth > 2:
            if ids[:depth] != prefix:
                raise PathError(f"{leaf} is not a resource under {path}")
            last_object, last_instance = ids[0], ids[1]
            resources = objects.setdefault(last_object, {}).setdefault(last_instance, {})
        rid = ids[2]
        resource = resources.get(rid)
        if len(ids) == 3:
            if resource is not None:
                raise PathError(f"{leaf} given twice")
            if is_multiple is not None and is_multiple(ids[0], rid):
                raise PathError(f"{leaf} is a multiple resource: give its instances")
            resources[rid] = single_resource(rid, value)
        elif resource is None:
            resources[rid] = multiple_resource(rid, {ids[3]: value})
        elif isinstance(resource, SingleResource):
            raise PathError(f"{leaf} clashes with single resource {leaf.parent}")
        elif ids[3] in resource.instances:
            raise PathError(f"{leaf} given twice")
        else:
            # Built just above from a dict that nothing else has seen yet.
            resource.instances[ids[3]] = value  # type: ignore[index]
    instances = objects.get(prefix[0], {})
    if depth == 1:
        return ObjectNode(
            prefix[0], {iid: ObjectInstance(iid, found) for iid, found in instances.items()}
        )
    resources = instances.get(prefix[1], {})
    if depth == 2:
        return ObjectInstance(prefix[1], resources)
    resource = resources.get(prefix[2])
    if depth == 3:
        if resource is not None:
            return resource
        if is_multiple is not None and is_multiple(prefix[0], prefix[2]):
            return MultipleResource(prefix[2], {})
    elif isinstance(resource, MultipleResource):  # the target's own leaf is its only one
        return ResourceInstance(prefix[3], resource.instances[prefix[3]])
    raise PathError(f"no value for {path}")
