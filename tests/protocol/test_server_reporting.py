"""Information Reporting at the server core: Observe, cancel, Observe-Composite, Send."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.events import FailureReason
from lwm2m.coap.events import ObservationCancelled as CoapObservationCancelled
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.model import Path, SingleResource, TimestampedValues
from lwm2m.operations import (
    EmptyResponse,
    NodeResponse,
    Observe,
    ObserveComposite,
    OperationUsageError,
    ValuesResponse,
)
from lwm2m.server import (
    NotificationReceived,
    ObservationCancelled,
    RequestCompleted,
    SendReceived,
)
from tests.protocol.test_server_harness import Answer, Client, World

BATTERY = Path.of(3, 0, 9)
SENML = ContentFormat.SENML_CBOR


def battery(world: World, level: int) -> bytes:
    return world.codecs.get(SENML).encode(BATTERY, SingleResource(9, level), world.models)


def composite(world: World, level: int) -> bytes:
    values = {BATTERY: level, Path.of(3, 0, 0): "Telekom"}
    return world.codecs.get(SENML).encode_values(values, world.models)


def observed(world: World) -> Client:
    def handler(request: Message) -> Answer:
        if request.code is Code.FETCH:
            return Code.CONTENT, Options.build(content_format=SENML), composite(world, 80)
        return Code.CONTENT, Options.build(content_format=SENML), battery(world, 80)

    client = world.client(handler=handler)
    client.register("ep")
    return client


def start(world: World, op: Observe | ObserveComposite) -> object:
    outcome = world.outcome(world.core.send("ep", op, now=world.now))
    assert isinstance(outcome, RequestCompleted)
    return outcome.response


def test_observe_then_notifications_become_events() -> None:
    world = World()
    client = observed(world)
    first = start(world, Observe(BATTERY))
    assert isinstance(first, NodeResponse) and first.observe is not None
    assert first.node == SingleResource(9, 80)
    assert client.requests[0].options.observe == 0
    client.notify(battery(world, 79), SENML)
    world.run(1.0)
    client.notify(battery(world, 78), SENML)
    world.run(1.0)
    events = world.of_type(NotificationReceived)
    assert [e.values for e in events] == [{BATTERY: 79}, {BATTERY: 78}]
    assert events[0].endpoint == "ep" and events[0].path == BATTERY
    assert events[0].content_format == SENML
    assert events[1].sequence > events[0].sequence  # type: ignore[operator]


def test_passive_cancel_forgets_and_the_next_notification_gets_rst() -> None:
    world = World()
    client = observed(world)
    start(world, Observe(BATTERY))
    outcome = world.outcome(
        world.core.cancel_observation("ep", BATTERY, active=False, now=world.now)
    )
    assert isinstance(outcome, RequestCompleted) and outcome.response == EmptyResponse()
    (cancelled,) = world.of_type(ObservationCancelled)
    assert (cancelled.paths, cancelled.reason) == (BATTERY, "cancelled")
    client.notify(battery(world, 70), SENML)
    assert world.of_type(NotificationReceived) == []
    (ended,) = [e for e in client.events if isinstance(e, CoapObservationCancelled)]
    assert ended.reason is FailureReason.RESET  # the server answered the notification with RST


def test_active_cancel_sends_observe_1_and_returns_the_answer() -> None:
    world = World()
    client = observed(world)
    start(world, Observe(BATTERY))
    outcome = world.outcome(
        world.core.cancel_observation("ep", BATTERY, active=True, now=world.now)
    )
    assert isinstance(outcome, RequestCompleted)
    assert isinstance(outcome.response, NodeResponse)
    cancel_request = client.requests[-1]
    assert cancel_request.options.observe == 1
    assert cancel_request.token == client.requests[0].token
    (cancelled,) = world.of_type(ObservationCancelled)
    assert cancelled.reason == "cancelled"
    with pytest.raises(OperationUsageError):
        world.core.cancel_observation("ep", BATTERY, active=True, now=world.now)


def test_observe_composite_notifications_carry_all_values() -> None:
    world = World()
    client = observed(world)
    paths = (BATTERY, Path.of(3, 0, 0))
    first = start(world, ObserveComposite(paths))
    assert isinstance(first, ValuesResponse) and first.values[BATTERY] == 80
    assert client.requests[0].code is Code.FETCH and client.requests[0].options.observe == 0
    client.notify(composite(world, 50), SENML)
    (event,) = world.of_type(NotificationReceived)
    assert event.path == paths and event.values[BATTERY] == 50
    assert event.to_json()["paths"] == ["/3/0/9", "/3/0/0"]


def test_an_error_notification_ends_the_observation() -> None:
    world = World()
    client = observed(world)
    start(world, Observe(BATTERY))
    client.notify(b"", SENML, code=Code.NOT_FOUND)
    (cancelled,) = world.of_type(ObservationCancelled)
    assert cancelled.reason == "ended"


def test_observing_the_same_path_again_replaces_the_old_observation() -> None:
    world = World()
    observed(world)
    start(world, Observe(BATTERY))
    start(world, Observe(BATTERY))
    assert [e.reason for e in world.of_type(ObservationCancelled)] == ["replaced"]


def test_deregistration_and_re_registration_end_observations() -> None:
    world = World()
    client = observed(world)
    start(world, Observe(BATTERY))
    client.register("ep")
    start(world, Observe(BATTERY))
    client.deregister()
    reasons = [e.reason for e in world.of_type(ObservationCancelled)]
    assert reasons == ["replaced", "deregistered"]


def test_send_is_acknowledged_and_delivered() -> None:
    world = World()
    client = world.client()
    client.register("ep")
    batches = [
        TimestampedValues(1_700_000_000.0, {BATTERY: 80}),
        TimestampedValues(1_700_000_060.0, {BATTERY: 79}),
    ]
    payload = world.codecs.get(SENML).encode_timestamped(batches, world.models)
    response = client.ask(Code.POST, ("dp",), (), payload, SENML)
    assert response.code is Code.CHANGED
    (event,) = world.of_type(SendReceived)
    assert event.endpoint == "ep" and list(event.batches) == batches
    assert event.to_json()["batches"] == [
        {"timestamp": 1_700_000_000.0, "values": {"/3/0/9": 80}},
        {"timestamp": 1_700_000_060.0, "values": {"/3/0/9": 79}},
    ]


def test_send_from_an_unknown_address_or_with_garbage_is_refused() -> None:
    world = World()
    stranger = world.client(("192.0.2.1", 9))
    payload = world.codecs.get(SENML).encode_timestamped(
        [TimestampedValues(None, {BATTERY: 1})], world.models
    )
    assert stranger.ask(Code.POST, ("dp",), (), payload, SENML).code is Code.FORBIDDEN
    client = world.client()
    client.register("ep")
    assert client.ask(Code.POST, ("dp",), (), b"\xff\xfe", SENML).code is Code.BAD_REQUEST
    assert client.ask(Code.POST, ("dp",), (), payload).code is Code.BAD_REQUEST  # no format
    assert world.of_type(SendReceived) == []
