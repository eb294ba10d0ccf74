"""Nodes to leaf values and back, at every level, and the clashes values_to_node refuses."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.model import (
    ROOT,
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    PathError,
    ResourceInstance,
    SingleResource,
    Value,
    node_to_values,
    values_to_node,
)
from lwm2m.model.nodes import MultipleLookup, leaves_to_node, multiple_resource, single_resource
from lwm2m.model.path import MAX_ID
from lwm2m.model.values import INT64_MAX, INT64_MIN

ids = st.integers(0, MAX_ID)
small_ids = st.integers(0, 12)  # so that resource IDs repeat across instances
values: st.SearchStrategy[Value] = st.one_of(
    st.text(max_size=8),
    st.integers(INT64_MIN, INT64_MAX),
    st.floats(allow_nan=False),
    st.booleans(),
    st.binary(max_size=8),
    st.builds(ObjectLink, ids, ids),
)


@st.composite
def objects(draw: st.DrawFn) -> tuple[ObjectNode, frozenset[int]]:
    """An object node and the IDs of its multiple resources, consistent across instances.

    Nested empty containers are left out: a flat value mapping cannot carry them.
    """
    multiple = draw(st.frozensets(small_ids))

    def resource(rid: int) -> SingleResource | MultipleResource:
        if rid in multiple:
            return MultipleResource(rid, draw(st.dictionaries(ids, values, min_size=1, max_size=3)))
        return SingleResource(rid, draw(values))

    instances = {
        iid: ObjectInstance(
            iid, {rid: resource(rid) for rid in draw(st.sets(small_ids, min_size=1))}
        )
        for iid in draw(st.sets(ids, max_size=3))
    }
    return ObjectNode(draw(ids), instances), multiple


def lookup(oid: int, multiple: frozenset[int]) -> MultipleLookup:
    return lambda object_id, resource_id: object_id == oid and resource_id in multiple


def assert_roundtrip(path: Path, node: Node, is_multiple: MultipleLookup | None) -> None:
    flat = node_to_values(path, node)
    assert all(leaf.startswith(path) and leaf.depth >= 3 for leaf in flat)
    rebuilt = values_to_node(path, flat, is_multiple)
    assert rebuilt == node
    assert node_to_values(path, rebuilt) == flat


@given(objects())
def test_object_roundtrip(drawn: tuple[ObjectNode, frozenset[int]]) -> None:
    obj, multiple = drawn
    assert_roundtrip(Path.of(obj.id), obj, lookup(obj.id, multiple))


@given(objects())
def test_instance_roundtrip(drawn: tuple[ObjectNode, frozenset[int]]) -> None:
    obj, multiple = drawn
    for instance in obj.instances.values():
        assert_roundtrip(Path.of(obj.id, instance.id), instance, lookup(obj.id, multiple))


@given(objects())
def test_resource_roundtrip(drawn: tuple[ObjectNode, frozenset[int]]) -> None:
    obj, multiple = drawn
    for instance in obj.instances.values():
        for resource in instance.resources.values():
            path = Path.of(obj.id, instance.id, resource.id)
            assert_roundtrip(path, resource, lookup(obj.id, multiple))
            # Without a model, instances still mark a resource as multiple.
            assert_roundtrip(path, resource, None)


@given(objects())
def test_resource_instance_roundtrip(drawn: tuple[ObjectNode, frozenset[int]]) -> None:
    obj, multiple = drawn
    for instance in obj.instances.values():
        for resource in instance.resources.values():
            if isinstance(resource, MultipleResource):
                for ri, value in resource.instances.items():
                    node = ResourceInstance(ri, value)
                    path = Path.of(obj.id, instance.id, resource.id, ri)
                    assert_roundtrip(path, node, lookup(obj.id, multiple))


@given(objects())
def test_object_roundtrip_without_model(drawn: tuple[ObjectNode, frozenset[int]]) -> None:
    obj, _ = drawn
    assert_roundtrip(Path.of(obj.id), obj, None)


def test_node_to_values_examples() -> None:
    device = ObjectInstance(
        0,
        {
            0: SingleResource(0, "ACME"),
            11: MultipleResource(11, {0: 0, 3: 5}),
            22: MultipleResource(22, {}),
        },
    )
    expected: dict[Path, Value] = {
        Path.of(3, 0, 0): "ACME",
        Path.of(3, 0, 11, 0): 0,
        Path.of(3, 0, 11, 3): 5,
    }
    assert node_to_values(Path.of(3), ObjectNode(3, {0: device})) == expected
    assert node_to_values(Path.of(3, 0), device) == expected
    assert node_to_values(Path.of(3, 0, 11), device.resources[11]) == {
        Path.of(3, 0, 11, 0): 0,
        Path.of(3, 0, 11, 3): 5,
    }
    link = ObjectLink(3, 0)
    assert node_to_values(Path.of(1, 0, 11, 7), ResourceInstance(7, link)) == {
        Path.of(1, 0, 11, 7): link
    }
    assert node_to_values(Path.of(3, 0, 22), device.resources[22]) == {}


def test_values_to_node_sorts_and_fills_from_the_model() -> None:
    leaves: dict[Path, Value] = {
        Path.of(3, 1, 0): "b",
        Path.of(3, 0, 11, 5): 2,
        Path.of(3, 0, 11, 1): 1,
        Path.of(3, 0, 0): "a",
    }
    node = values_to_node(Path.of(3), leaves)
    assert isinstance(node, ObjectNode)
    assert list(node.instances) == [0, 1]
    assert list(node.instances[0].resources) == [0, 11]
    assert node.instances[0].resources[11] == MultipleResource(11, {1: 1, 5: 2})
    # A multiple resource with no instances exists only if the model says it is multiple.
    is_multiple = lookup(3, frozenset({11}))
    assert values_to_node(Path.of(3, 0, 11), {}, is_multiple) == MultipleResource(11, {})
    with pytest.raises(PathError, match="no value"):
        values_to_node(Path.of(3, 0, 11), {})
    assert values_to_node(Path.of(3, 0), {}) == ObjectInstance(0, {})
    assert values_to_node(Path.of(3), {}) == ObjectNode(3, {})


@pytest.mark.parametrize(
    ("path", "leaves", "problem"),
    [
        (ROOT, {Path.of(3, 0, 0): 1}, "not a single node"),
        (Path.of(3), {Path.of(4, 0, 0): 1}, "not a resource under /3"),
        (Path.of(3, 0), {Path.of(3, 1, 0): 1}, "not a resource under /3/0"),
        (Path.of(3, 0, 0), {Path.of(3, 0, 1): 1}, "not a resource under"),
        (Path.of(3, 0, 11, 0), {Path.of(3, 0, 11, 1): 1}, "not a resource under"),
        (Path.of(3), {Path.of(3, 0): 1}, "/3/0 is not a resource"),
        (Path.of(3, 0, 0), {}, "no value for /3/0/0"),
        (Path.of(3, 0, 11, 0), {Path.of(3, 0, 11): 1}, "not a resource under"),
        (Path.of(3, 0, 11, 0), {}, "no value for /3/0/11/0"),
        (Path.of(3, 0), {Path.of(3, 0, 11): 1}, "multiple resource: give its instances"),
        (
            Path.of(3, 0),
            {Path.of(3, 0, 0): "x", Path.of(3, 0, 0, 1): "y"},
            "/3/0/0/1 clashes with single resource /3/0/0",
        ),
        (Path.of(3, 0), {Path.of(3, 0, 0, 1): "y", Path.of(3, 0, 0): "x"}, "/3/0/0"),
    ],
)
def test_values_to_node_refuses(path: Path, leaves: dict[Path, Value], problem: str) -> None:
    with pytest.raises(PathError, match=problem):
        values_to_node(path, leaves, lookup(3, frozenset({11})))


def test_leaves_to_node_keeps_leaf_order_and_refuses_repeats() -> None:
    leaves = [
        (Path.of(3, 0, 9), 1.0e9, 5),
        (Path.of(3, 0, 7, 1), None, 2),
        (Path.of(3, 0, 0), None, "x"),
    ]
    node = leaves_to_node(Path.of(3, 0), leaves)
    assert node == ObjectInstance(
        0, {0: SingleResource(0, "x"), 7: MultipleResource(7, {1: 2}), 9: SingleResource(9, 5)}
    )
    assert isinstance(node, ObjectInstance) and list(node.resources) == [9, 7, 0]
    with pytest.raises(PathError, match="given twice"):
        leaves_to_node(Path.of(3, 0), [*leaves, (Path.of(3, 0, 9), None, 6)])
    with pytest.raises(PathError, match="given twice"):
        leaves_to_node(Path.of(3, 0), [*leaves, (Path.of(3, 0, 7, 1), None, 6)])


def test_values_to_node_orders_every_level_by_id() -> None:
    values: dict[Path, Value] = {
        Path.of(3, 1, 7, 2): 1,
        Path.of(3, 0, 9): 2,
        Path.of(3, 1, 7, 0): 3,
    }
    node = values_to_node(Path.of(3), values)
    assert isinstance(node, ObjectNode) and list(node.instances) == [0, 1]
    multiple = node.instances[1].resources[7]
    assert isinstance(multiple, MultipleResource) and list(multiple.instances) == [0, 2]


def test_fast_builders_make_the_class_built_nodes() -> None:
    single, multiple = single_resource(5, "x"), multiple_resource(6, {0: 1})
    assert type(single) is SingleResource and single == SingleResource(5, "x")
    assert type(multiple) is MultipleResource and multiple == MultipleResource(6, {0: 1})
    assert hash(single) == hash(SingleResource(5, "x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        single.value = "y"  # type: ignore[misc]
