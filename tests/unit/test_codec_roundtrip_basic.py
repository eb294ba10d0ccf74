"""Hypothesis: any node the model allows encodes and decodes back equal, in every basic format."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lwm2m.codec.base import Codec
from lwm2m.codec.cbor import CborCodec
from lwm2m.codec.link import Link, format_links, parse_links
from lwm2m.codec.opaque import OpaqueCodec
from lwm2m.codec.text import TextCodec
from lwm2m.codec.tlv import TlvCodec
from lwm2m.model import (
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    Resource,
    ResourceInstance,
    ResourceType,
    SingleResource,
)
from lwm2m.model.values import INT64_MAX, INT64_MIN, UINT64_MAX
from tests.codec_fixtures import ALL_TYPES, example_models

MODELS = example_models()
OID = ALL_TYPES.id
VALUES = {
    ResourceType.STRING: st.text(max_size=40),
    ResourceType.CORELNK: st.text(max_size=40),
    ResourceType.INTEGER: st.integers(INT64_MIN, INT64_MAX),
    ResourceType.TIME: st.integers(INT64_MIN, INT64_MAX),
    ResourceType.UNSIGNED_INTEGER: st.integers(0, UINT64_MAX),
    ResourceType.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    ResourceType.BOOLEAN: st.booleans(),
    ResourceType.OPAQUE: st.binary(max_size=40),
    ResourceType.OBJLNK: st.builds(ObjectLink, st.integers(0, 65535), st.integers(0, 65535)),
}
VALUED = [r for r in ALL_TYPES.resources.values() if r.type is not ResourceType.NONE]
IDS = st.integers(0, 65535)


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    model = draw(st.sampled_from(VALUED))
    values = VALUES[model.type]
    if model.multiple:
        return MultipleResource(model.id, draw(st.dictionaries(IDS, values, max_size=4)))
    return SingleResource(model.id, draw(values))


@st.composite
def instances(draw: st.DrawFn) -> ObjectInstance:
    found = draw(st.lists(resources(), max_size=8, unique_by=lambda r: r.id))
    return ObjectInstance(draw(IDS), {r.id: r for r in found})


@st.composite
def tlv_cases(draw: st.DrawFn) -> tuple[Path, Node]:
    level = draw(st.integers(1, 4))
    if level == 1:
        found = draw(st.lists(instances(), max_size=3, unique_by=lambda i: i.id))
        return Path.of(OID), ObjectNode(OID, {i.id: i for i in found})
    if level == 2:
        instance = draw(instances())
        return Path.of(OID, instance.id), instance
    resource = draw(resources())
    iid = draw(IDS)
    if level == 3 or not isinstance(resource, MultipleResource) or not resource.instances:
        return Path.of(OID, iid, resource.id), resource
    riid = draw(st.sampled_from(sorted(resource.instances)))
    return Path.of(OID, iid, resource.id, riid), ResourceInstance(riid, resource.instances[riid])


@st.composite
def single_values(draw: st.DrawFn, *, opaque_only: bool = False) -> tuple[Path, Node]:
    model = draw(
        st.sampled_from([r for r in VALUED if r.type is ResourceType.OPAQUE or not opaque_only])
    )
    value = draw(VALUES[model.type])
    iid = draw(IDS)
    if model.multiple:
        riid = draw(IDS)
        return Path.of(OID, iid, model.id, riid), ResourceInstance(riid, value)
    return Path.of(OID, iid, model.id), SingleResource(model.id, value)


def round_trips(codec: Codec, path: Path, node: Node) -> None:
    assert codec.decode(codec.encode(path, node, MODELS), path, MODELS) == node


@given(tlv_cases())
def test_tlv_round_trip(case: tuple[Path, Node]) -> None:
    round_trips(TlvCodec(), *case)


@given(single_values())
def test_text_round_trip(case: tuple[Path, Node]) -> None:
    round_trips(TextCodec(), *case)


@given(single_values())
def test_cbor_round_trip(case: tuple[Path, Node]) -> None:
    round_trips(CborCodec(), *case)


@given(single_values(opaque_only=True))
def test_opaque_round_trip(case: tuple[Path, Node]) -> None:
    round_trips(OpaqueCodec(), *case)


LINK_TARGETS = st.text(alphabet="abc/019-._~:@!$&'()*+,;=", max_size=12)
LINK_NAMES = st.text(alphabet="abcxyz019!#$&+-.^_`|~", min_size=1, max_size=6)
LINK_VALUES = st.none() | st.text(
    alphabet=st.characters(min_codepoint=0x20, exclude_characters="\x7f"), max_size=12
)


@given(
    st.lists(
        st.builds(Link, LINK_TARGETS, st.lists(st.tuples(LINK_NAMES, LINK_VALUES), max_size=4)),
        max_size=5,
    )
)
def test_link_round_trip(links: list[Link]) -> None:
    assert parse_links(format_links(links)) == links
