"""Queue mode: requests wait for a sleeping client and go out, in order, when it speaks."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.model import Path, SingleResource, TimestampedValues
from lwm2m.operations import Delete, EmptyResponse, Observe, Read
from lwm2m.server import (
    NotificationReceived,
    QueueDrained,
    QueueFullError,
    RequestAborted,
    RequestCompleted,
    RequestQueued,
    RequestTimeoutError,
    ServerConfig,
    UnknownEndpointError,
)
from tests.protocol.test_server_harness import FAST, Client, World

CONFIG = ServerConfig(coap=FAST, awake_window=10.0, queue_size=3, queue_ttl=600.0)
BATTERY = Path.of(3, 0, 9)


def sleeper(world: World, query: tuple[str, ...] = ("lt=3600", "lwm2m=1.1", "Q")) -> Client:
    def handler(request: object) -> tuple[Code, Options, bytes]:
        body = world.codecs.get(112).encode(BATTERY, SingleResource(9, 50), world.models)
        return Code.CONTENT, Options.build(content_format=112), body

    client = world.client(handler=handler)
    client.register("ep", query)
    world.run(20.0)  # past the awake window
    client.listening = False
    return client


def test_awake_client_gets_requests_at_once() -> None:
    world = World(CONFIG)
    client = world.client(handler=lambda _: (Code.DELETED, Options(), b""))
    client.register("ep", ("lwm2m=1.1", "Q"))
    outcome = world.outcome(world.core.send("ep", Delete(Path.of(1, 0)), now=world.now))
    assert isinstance(outcome, RequestCompleted)
    assert world.of_type(RequestQueued) == []


def test_requests_wait_and_go_out_in_order_on_update() -> None:
    world = World(CONFIG)
    client = sleeper(world)
    ids = [world.core.send("ep", Read(Path.of(3, 0, r)), now=world.now) for r in (9, 1, 2)]
    world.run(100.0)
    assert client.requests == [] and world.outcomes == {}
    assert [e.operation for e in world.of_type(RequestQueued)] == ["Read"] * 3
    client.listening = True
    client.update()
    world.run(10.0)
    assert [r.options.uri_path[-1] for r in client.requests] == ["9", "1", "2"]
    assert all(i in world.outcomes for i in ids)
    assert world.of_type(QueueDrained)[0].count == 3


@pytest.mark.parametrize("wake", ["register", "send", "notification"])
def test_register_send_and_notifications_wake_the_queue(wake: str) -> None:
    world = World(CONFIG)
    client = sleeper(world)
    if wake == "notification":  # observe while it is awake, then let it fall asleep again
        client.listening = True
        client.update()
        observe = world.core.send("ep", Observe(BATTERY), now=world.now)
        assert isinstance(world.outcome(observe), RequestCompleted)
        world.run(20.0)
        client.listening = False
    request_id = world.core.send("ep", Read(Path.of(3, 0, 9)), now=world.now)
    assert world.of_type(RequestQueued)
    client.listening = True
    if wake == "register":
        client.register("ep", ("lt=3600", "lwm2m=1.1", "Q"))
    elif wake == "send":
        batch = [TimestampedValues(None, {BATTERY: 10})]
        payload = world.codecs.get(112).encode_timestamped(batch, world.models)
        assert client.ask(Code.POST, ("dp",), (), payload, 112).code is Code.CHANGED
    else:
        body = world.codecs.get(112).encode(BATTERY, SingleResource(9, 1), world.models)
        client.notify(body, ContentFormat.SENML_CBOR)
        assert world.of_type(NotificationReceived)
    assert isinstance(world.outcome(request_id), RequestCompleted)


def test_full_queue_refuses_and_ttl_times_out() -> None:
    world = World(CONFIG)
    sleeper(world)
    ids = [world.core.send("ep", Read(BATTERY), now=world.now) for _ in range(3)]
    with pytest.raises(QueueFullError):
        world.core.send("ep", Read(BATTERY), now=world.now)
    world.run(599.0)
    assert world.outcomes == {}
    world.run(2.0)
    for request_id in ids:
        outcome = world.outcomes[request_id]
        assert isinstance(outcome, RequestAborted)
        assert isinstance(outcome.error, RequestTimeoutError)
    world.core.send("ep", Read(BATTERY), now=world.now)  # room again


def test_cancelled_requests_leave_the_queue() -> None:
    world = World(CONFIG)
    client = sleeper(world)
    first = world.core.send("ep", Read(Path.of(3, 0, 1)), now=world.now)
    second = world.core.send("ep", Read(Path.of(3, 0, 2)), now=world.now)
    world.core.cancel(first, world.now)
    client.listening = True
    client.update()
    world.run(5.0)
    assert [r.options.uri_path for r in client.requests] == [("3", "0", "2")]
    assert first not in world.outcomes and second in world.outcomes


def test_deregistration_fails_what_waits() -> None:
    world = World(CONFIG)
    client = sleeper(world)
    request_id = world.core.send("ep", Read(BATTERY), now=world.now)
    client.listening = True
    client.deregister()
    outcome = world.outcomes[request_id]
    assert isinstance(outcome, RequestAborted)
    assert isinstance(outcome.error, UnknownEndpointError)


def test_active_cancel_waits_too() -> None:
    world = World(CONFIG)
    client = sleeper(world)
    client.listening = True
    client.update()
    assert isinstance(
        world.outcome(world.core.send("ep", Observe(BATTERY), now=world.now)), RequestCompleted
    )
    world.run(20.0)
    client.listening = False
    cancel = world.core.cancel_observation("ep", BATTERY, active=True, now=world.now)
    assert world.of_type(RequestQueued)[-1].operation == "Observe"
    client.listening = True
    client.update()
    outcome = world.outcome(cancel)
    assert isinstance(outcome, RequestCompleted) and outcome.response != EmptyResponse()
    assert client.requests[-1].options.observe == 1


def test_1_0_uq_binding_is_queue_mode() -> None:
    world = World(CONFIG)
    sleeper(world, ("lt=3600", "lwm2m=1.0", "b=UQ"))
    world.core.send("ep", Read(BATTERY), now=world.now)
    assert len(world.of_type(RequestQueued)) == 1
