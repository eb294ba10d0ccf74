"""Notification attributes: Uri-Query form, the Core 5.1.2 rules and inheritance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code
from lwm2m.model import ModelRegistry, ObjectModel, Operations, Path, ResourceModel, ResourceType
from lwm2m.operations import (
    UNSET,
    NotificationAttributes,
    OperationError,
    effective_attributes,
)

MODELS = ModelRegistry(
    [
        ObjectModel(
            3303,
            "Temperature",
            multiple=True,
            mandatory=False,
            resources={
                5700: ResourceModel(
                    5700, "Sensor Value", Operations.R, False, True, ResourceType.FLOAT
                ),
                5701: ResourceModel(5701, "Units", Operations.R, False, False, ResourceType.STRING),
            },
        )
    ]
)


def test_parse_and_format() -> None:
    attrs = NotificationAttributes.from_query(["pmin=10", "pmax=60", "gt=30.5"])
    assert attrs == NotificationAttributes(pmin=10, pmax=60, gt=30.5)
    assert attrs.to_query() == ("pmin=10", "pmax=60", "gt=30.5")


def test_attribute_without_value_means_unset() -> None:
    attrs = NotificationAttributes.from_query(["pmin", "st"])
    assert attrs == NotificationAttributes(pmin=UNSET, st=UNSET)
    assert attrs.to_query() == ("pmin", "st")


def test_lwm2m_1_2_attributes() -> None:
    attrs = NotificationAttributes.from_query(["edge=1", "con=0", "hqmax=5"])
    assert attrs == NotificationAttributes(edge=True, con=False, hqmax=5)
    assert attrs.to_query() == ("edge=1", "con=0", "hqmax=5")


@pytest.mark.parametrize(
    "query",
    [
        ["pmin=abc"],
        ["pmin=-1"],
        ["pmin=1.5"],
        ["pmin=99999999999"],
        ["gt=nan"],
        ["gt=inf"],
        ["gt=1e999"],
        ["gt="],
        ["gt=1_0"],
        ["edge=2"],
        ["dim=3"],  # a property, not writable
        ["ver=1.1"],
        ["foo=1"],
        ["pmin=1", "pmin=2"],
    ],
)
def test_bad_queries_are_4_00(query: list[str]) -> None:
    with pytest.raises(OperationError) as info:
        NotificationAttributes.from_query(query)
    assert info.value.code == Code.BAD_REQUEST


@pytest.mark.parametrize(
    ("attrs", "path"),
    [
        (NotificationAttributes(pmin=60, pmax=10), "/3303/0/5700"),
        (NotificationAttributes(epmin=60, epmax=10), "/3303/0"),
        (NotificationAttributes(gt=10.0, lt=20.0), "/3303/0/5700"),
        (NotificationAttributes(gt=10.0, lt=5.0, st=3.0), "/3303/0/5700"),  # 5 + 2*3 >= 10
        (NotificationAttributes(st=-1.0), "/3303/0/5700"),
        (NotificationAttributes(gt=1.0), "/3303/0"),  # value attributes need a resource
        (NotificationAttributes(gt=1.0), "/3303/0/5701"),  # ...a numerical one
        (NotificationAttributes(pmin=1), "/"),
    ],
)
def test_rule_violations_are_4_00(attrs: NotificationAttributes, path: str) -> None:
    with pytest.raises(OperationError) as info:
        attrs.check(Path.parse(path), MODELS)
    assert info.value.code == Code.BAD_REQUEST


@pytest.mark.parametrize(
    ("attrs", "path"),
    [
        (NotificationAttributes(pmin=10, pmax=10), "/3303"),
        (NotificationAttributes(gt=10.0, lt=5.0, st=2.0), "/3303/0/5700"),
        (NotificationAttributes(gt=10.0), "/3303/0/5700/1"),
        (NotificationAttributes(gt=UNSET, lt=UNSET), "/3303/0"),  # removal is always fine
        (NotificationAttributes(gt=1.0), "/9999/0/1"),  # unknown model: cannot tell
    ],
)
def test_valid_attributes_pass(attrs: NotificationAttributes, path: str) -> None:
    attrs.check(Path.parse(path), MODELS)


def test_updated_applies_a_write() -> None:
    stored = NotificationAttributes(pmin=10, pmax=60, gt=5.0)
    change = NotificationAttributes(pmin=UNSET, pmax=120, st=1.0)
    assert stored.updated(change) == NotificationAttributes(pmax=120, gt=5.0, st=1.0)


def test_inheritance_most_specific_wins() -> None:
    # Core 5.1.1: resource instance < resource < instance < object < server default.
    assigned = {
        Path.parse("/3303"): NotificationAttributes(pmin=5, pmax=100),
        Path.parse("/3303/0"): NotificationAttributes(pmax=50, epmin=1),
        Path.parse("/3303/0/5700"): NotificationAttributes(gt=30.0),
        Path.parse("/3303/1"): NotificationAttributes(pmin=99),
        Path.parse("/3303/0/5700/2"): NotificationAttributes(pmin=7),
    }
    defaults = NotificationAttributes(pmin=1, pmax=300)
    got = effective_attributes(Path.parse("/3303/0/5700"), assigned, defaults)
    assert got == NotificationAttributes(pmin=5, pmax=50, gt=30.0, epmin=1)
    deepest = effective_attributes(Path.parse("/3303/0/5700/2"), assigned, defaults)
    assert deepest.pmin == 7
    assert effective_attributes(Path.parse("/1/0"), assigned, defaults) == defaults
    assert effective_attributes(Path.parse("/3303/2/5700"), assigned) == NotificationAttributes(
        pmin=5, pmax=100
    )


_periods = st.none() | st.just(UNSET) | st.integers(0, 2**31 - 1)
_floats = st.none() | st.just(UNSET) | st.floats(allow_nan=False, allow_infinity=False)
_flags = st.none() | st.just(UNSET) | st.booleans()


@given(
    st.builds(
        NotificationAttributes,
        pmin=_periods,
        pmax=_periods,
        gt=_floats,
        lt=_floats,
        st=_floats,
        epmin=_periods,
        epmax=_periods,
        edge=_flags,
        con=_flags,
        hqmax=_periods,
    )
)
def test_query_round_trip(attrs: NotificationAttributes) -> None:
    assert NotificationAttributes.from_query(attrs.to_query()) == attrs


@given(st.lists(st.text(max_size=30), max_size=6))
def test_arbitrary_queries_parse_or_give_4_00(query: list[str]) -> None:
    try:
        attrs = NotificationAttributes.from_query(query)
    except OperationError as exc:
        assert exc.code == Code.BAD_REQUEST
    else:
        assert NotificationAttributes.from_query(attrs.to_query()) == attrs
