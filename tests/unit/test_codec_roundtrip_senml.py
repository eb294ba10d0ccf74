"""Round trips: any node the model allows, composite values and timestamped batches come back
equal through SenML JSON, SenML CBOR, LwM2M JSON and LwM2M CBOR."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m.codec.base import Codec
from lwm2m.codec.lwm2m_cbor import LwM2mCborCodec
from lwm2m.codec.lwm2m_json import LwM2mJsonCodec
from lwm2m.codec.senml import RELATIVE_TIME_LIMIT
from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.model import (
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    ResourceInstance,
    ResourceType,
    SingleResource,
    TimestampedValues,
    Value,
)
from tests.codec_fixtures import ALL_TYPES, example_models

MODELS = example_models()
OID = ALL_TYPES.id
CODECS = [
    SenmlJsonCodec(time.time),
    SenmlCborCodec(time.time),
    LwM2mJsonCodec(time.time),
    LwM2mCborCodec(),
]
COMPOSITE = [c for c in CODECS if not isinstance(c, LwM2mJsonCodec)]
TIMESTAMPED = [c for c in CODECS if not isinstance(c, LwM2mCborCodec)]
IDS = st.integers(0, 65535)

VALUES: dict[ResourceType, st.SearchStrategy[Value]] = {
    ResourceType.STRING: st.text(max_size=20),
    ResourceType.CORELNK: st.text(max_size=20),
    ResourceType.INTEGER: st.integers(-(2**63), 2**63 - 1),
    ResourceType.TIME: st.integers(-(2**63), 2**63 - 1),
    ResourceType.UNSIGNED_INTEGER: st.integers(0, 2**64 - 1),
    ResourceType.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    ResourceType.BOOLEAN: st.booleans(),
    ResourceType.OPAQUE: st.binary(max_size=20),
    ResourceType.OBJLNK: st.builds(ObjectLink, IDS, IDS),
}
VALUED = [r for r in ALL_TYPES.resources.values() if r.type in VALUES]


def _resource(rid: int, min_instances: int) -> st.SearchStrategy[SingleResource | MultipleResource]:
    model = ALL_TYPES.resources[rid]
    values = VALUES[model.type]
    if model.multiple:
        instances = st.dictionaries(IDS, values, min_size=min_instances, max_size=3)
        return st.builds(MultipleResource, st.just(rid), instances)
    return st.builds(SingleResource, st.just(rid), values)


def _instance(iid: int, min_resources: int) -> st.SearchStrategy[ObjectInstance]:
    rids = st.lists(st.sampled_from(VALUED), min_size=min_resources, max_size=4, unique=True)
    return rids.flatmap(
        lambda models: st.fixed_dictionaries({r.id: _resource(r.id, 1) for r in models}).map(
            lambda resources: ObjectInstance(iid, resources)
        )
    )


@st.composite
def nodes(draw: Callable[..., object]) -> tuple[Path, Node]:
    """A node at a path: object, instance, resource or resource instance of ALL_TYPES."""
    depth = draw(st.integers(1, 4))
    iid = draw(IDS)
    if depth == 1:
        iids = draw(st.lists(IDS, min_size=0, max_size=3, unique=True))
        instances = {i: draw(_instance(i, 1)) for i in iids}
        return Path.of(OID), ObjectNode(OID, instances)
    if depth == 2:
        return Path.of(OID, iid), draw(_instance(iid, 0))
    model = draw(st.sampled_from(VALUED))
    if depth == 3 or not model.multiple:
        resource = draw(_resource(model.id, 0))
        return Path.of(OID, iid, model.id), resource
    ri = draw(IDS)
    value = draw(VALUES[model.type])
    return Path.of(OID, iid, model.id, ri), ResourceInstance(ri, value)


def _leaf_values() -> st.SearchStrategy[dict[Path, Value]]:
    def leaf(model: object) -> st.SearchStrategy[tuple[Path, Value]]:
        assert model in VALUED
        ids = st.tuples(IDS, IDS) if model.multiple else st.tuples(IDS)
        return st.tuples(
            ids.map(lambda t: Path.of(OID, t[0], model.id, *t[1:])),
            VALUES[model.type],
        )

    pairs = st.lists(st.sampled_from(VALUED).flatmap(leaf), min_size=1, max_size=6)
    return pairs.map(dict)


def _batches() -> st.SearchStrategy[list[TimestampedValues]]:
    times = st.none() | st.floats(RELATIVE_TIME_LIMIT, 2.0**33, allow_nan=False)
    batch = st.builds(TimestampedValues, times, _leaf_values())
    return st.lists(batch, min_size=1, max_size=4).filter(
        lambda bs: all(a.timestamp != b.timestamp for a, b in itertools.pairwise(bs))
    )


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: type(c).__name__)
@settings(max_examples=150)
@given(case=nodes())
def test_node_round_trip(codec: Codec, case: tuple[Path, Node]) -> None:
    path, node = case
    assert codec.decode(codec.encode(path, node, MODELS), path, MODELS) == node


@pytest.mark.parametrize("codec", COMPOSITE, ids=lambda c: type(c).__name__)
@settings(max_examples=100)
@given(values=_leaf_values())
def test_composite_round_trip(codec: Codec, values: dict[Path, Value]) -> None:
    assert codec.decode_values(codec.encode_values(values, MODELS), MODELS) == values


@pytest.mark.parametrize("codec", TIMESTAMPED, ids=lambda c: type(c).__name__)
@settings(max_examples=100)
@given(batches=_batches())
def test_timestamped_round_trip(codec: Codec, batches: list[TimestampedValues]) -> None:
    assert codec.decode_timestamped(codec.encode_timestamped(batches, MODELS), MODELS) == batches


@pytest.mark.parametrize("codec", COMPOSITE[:2], ids=lambda c: type(c).__name__)
@settings(max_examples=50)
@given(paths=st.lists(st.lists(IDS, max_size=4).map(lambda ids: Path(tuple(ids))), max_size=5))
def test_path_list_round_trip(codec: Codec, paths: list[Path]) -> None:
    assert codec.decode_paths(codec.encode_paths(paths)) == paths
