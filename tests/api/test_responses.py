"""Every response answers ``ok``, ``raise_for_status()``, ``value`` and ``values`` without the
caller matching on its type; an error response raises ResponseError with the device's code."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code
from lwm2m.model import (
    MultipleResource,
    ObjectInstance,
    Path,
    ResourceInstance,
    SingleResource,
)
from lwm2m.operations import (
    CreatedResponse,
    EmptyResponse,
    ErrorResponse,
    LinksResponse,
    NodeResponse,
    Response,
    ResponseError,
    ValuesResponse,
)

UTC_OFFSET = Path.parse("/3/0/14")


def test_a_resource_read_has_its_value() -> None:
    response: Response = NodeResponse(SingleResource(14, "+02:00"), 11542).at(UTC_OFFSET)
    assert response.ok and response.raise_for_status() is response
    assert response.value == "+02:00"
    assert response.values == {UTC_OFFSET: "+02:00"}


def test_a_multiple_resource_value_is_by_instance() -> None:
    response = NodeResponse(MultipleResource(7, {0: 3800, 1: 5000})).at(Path.parse("/3/0/7"))
    assert response.value == {0: 3800, 1: 5000}
    assert response.values == {Path.parse("/3/0/7/0"): 3800, Path.parse("/3/0/7/1"): 5000}
    assert NodeResponse(ResourceInstance(1, 5000)).value == 5000


def test_an_instance_has_values_not_one_value() -> None:
    node = ObjectInstance(0, {0: SingleResource(0, "ACME"), 9: SingleResource(9, 80)})
    response = NodeResponse(node).at(Path.parse("/3/0"))
    assert response.values == {Path.parse("/3/0/0"): "ACME", Path.parse("/3/0/9"): 80}
    with pytest.raises(ValueError, match=r"use \.values"):
        _ = response.value
    with pytest.raises(ValueError, match="path"):
        _ = NodeResponse(node).values  # made without the server's API: no path known


def test_the_path_does_not_change_equality() -> None:
    node = SingleResource(14, "+02:00")
    assert NodeResponse(node).at(UTC_OFFSET) == NodeResponse(node)


def test_composite_values() -> None:
    values = {UTC_OFFSET: "+02:00", Path.parse("/3/0/9"): 80}
    assert ValuesResponse(values).values == values
    assert ValuesResponse({UTC_OFFSET: "Z"}).value == "Z"
    with pytest.raises(ValueError, match="2 values"):
        _ = ValuesResponse(values).value


@pytest.mark.parametrize(
    "response", [EmptyResponse(), CreatedResponse(Path.parse("/3303/1")), LinksResponse(())]
)
def test_responses_without_values(response: Response) -> None:
    assert response.ok and response.raise_for_status() is response
    with pytest.raises(TypeError, match="carries no value"):
        _ = response.value
    with pytest.raises(TypeError, match="carries no values"):
        _ = response.values


def test_an_error_raises_with_the_devices_code_and_message() -> None:
    response: Response = ErrorResponse(Code.METHOD_NOT_ALLOWED, "resource is not writable")
    assert not response.ok
    with pytest.raises(ResponseError, match=r"4\.05 Method Not Allowed: resource is not") as err:
        response.raise_for_status()
    assert (err.value.code, err.value.message) == (Code.METHOD_NOT_ALLOWED, response.message)
    assert err.value.response is response
    for attribute in ("value", "values"):
        with pytest.raises(ResponseError):
            getattr(response, attribute)
