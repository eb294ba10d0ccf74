"""The caller's timeout, kept by the server core, and requests encoded once but sent right."""

from __future__ import annotations

from lwm2m.coap.codes import Code
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.model import Path, SingleResource
from lwm2m.operations import Observe, Read
from lwm2m.server import (
    QueueDrained,
    RequestAborted,
    RequestCompleted,
    RequestTimeoutError,
    ServerConfig,
)
from tests.protocol.test_server_harness import FAST, Client, World

BATTERY = Path.of(3, 0, 9)
CONFIG = ServerConfig(coap=FAST, awake_window=10.0, queue_ttl=600.0)
ALTERNATE = b'</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>'


def battery(world: World, peer: tuple[str, int] = ("10.0.0.1", 40000)) -> Client:
    def handler(_: object) -> tuple[Code, Options, bytes]:
        body = world.codecs.get(112).encode(BATTERY, SingleResource(9, 50), world.models)
        return Code.CONTENT, Options.build(content_format=112), body

    return world.client(peer, handler=handler)


def outcomes_of(world: World, request_id: int) -> list[object]:
    return [
        e
        for e in world.of_type(RequestCompleted) + world.of_type(RequestAborted)
        if e.request_id == request_id
    ]


def test_the_timeout_aborts_the_request_and_stops_its_retransmissions() -> None:
    world = World(CONFIG)
    client = battery(world)
    client.register("ep")
    client.listening = False
    request_id = world.core.send("ep", Read(BATTERY), now=world.now, timeout=0.5)
    world.run(0.45)
    assert request_id not in world.outcomes
    world.run(0.1)
    outcome = world.outcomes[request_id]
    assert isinstance(outcome, RequestAborted)
    assert isinstance(outcome.error, RequestTimeoutError)
    assert str(outcome.error) == "no answer within 0.5 s"
    client.listening = True
    world.run(60.0)  # ACK_TIMEOUT is 1 s: a retransmission would have reached it by now
    assert client.requests == []
    assert outcomes_of(world, request_id) == [outcome]


def test_an_answer_in_time_leaves_no_timeout_behind() -> None:
    world = World(CONFIG)
    battery(world).register("ep")
    request_id = world.core.send("ep", Read(BATTERY), now=world.now, timeout=5.0)
    assert isinstance(world.outcome(request_id), RequestCompleted)
    world.run(30.0)
    assert len(outcomes_of(world, request_id)) == 1


def test_a_queued_request_times_out_and_leaves_the_queue() -> None:
    world = World(CONFIG)
    client = battery(world)
    client.register("ep", ("lt=3600", "lwm2m=1.1", "Q"))
    world.run(20.0)  # asleep
    request_id = world.core.send("ep", Read(BATTERY), now=world.now, timeout=30.0)
    world.run(29.0)
    assert request_id not in world.outcomes
    world.run(2.0)
    outcome = world.outcomes[request_id]
    assert isinstance(outcome, RequestAborted) and isinstance(outcome.error, RequestTimeoutError)
    client.update()  # it wakes up: nothing is left for it
    world.run(10.0)
    assert client.requests == [] and world.of_type(QueueDrained) == []


def test_an_active_cancel_times_out_too() -> None:
    world = World(CONFIG)
    client = battery(world)
    client.register("ep")
    assert isinstance(
        world.outcome(world.core.send("ep", Observe(BATTERY), now=world.now)), RequestCompleted
    )
    client.listening = False
    request_id = world.core.cancel_observation(
        "ep", BATTERY, active=True, now=world.now, timeout=0.5
    )
    world.run(1.0)
    outcome = world.outcomes[request_id]
    assert isinstance(outcome, RequestAborted) and isinstance(outcome.error, RequestTimeoutError)


def test_a_queued_request_goes_under_the_path_the_client_has_when_it_wakes() -> None:
    world = World(CONFIG)
    client = battery(world)
    client.register("ep", ("lt=3600", "lwm2m=1.1", "Q"))
    world.run(20.0)
    request_id = world.core.send("ep", Read(BATTERY), now=world.now)
    client.update(payload=ALTERNATE)  # wakes up with an alternate path
    assert isinstance(world.outcome(request_id), RequestCompleted)
    assert [r.options.uri_path for r in client.requests] == [("lwm2m", "3", "0", "9")]


def test_the_same_read_goes_under_each_clients_own_path() -> None:
    world = World(CONFIG)
    plain, alternate = battery(world), battery(world, ("10.0.0.2", 40000))
    plain.register("plain")
    alternate.register("alternate", payload=ALTERNATE)
    for endpoint in ("plain", "alternate", "plain", "alternate"):
        outcome = world.outcome(world.core.send(endpoint, Read(BATTERY), now=world.now))
        assert isinstance(outcome, RequestCompleted)
    assert [r.options.uri_path for r in plain.requests] == [("3", "0", "9")] * 2
    assert [r.options.uri_path for r in alternate.requests] == [("lwm2m", "3", "0", "9")] * 2
    assert {r.options.accept for r in plain.requests + alternate.requests} == {
        ContentFormat.SENML_CBOR
    }
