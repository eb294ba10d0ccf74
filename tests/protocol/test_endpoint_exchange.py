"""Request/response between two in-memory endpoints: piggybacked and separate responses,
deduplication, ping, RST for strays, and a seeded lossy/duplicating/reordering soak."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.events import (
    Event,
    FailureReason,
    PongReceived,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from tests.protocol.harness import Network, Node

FAST = EndpointConfig(ack_timeout=1.0, max_latency=5.0, empty_ack_delay=None)


def echo(node: Node, event: Event) -> None:
    if isinstance(event, RequestReceived):
        body = event.request.code.name.encode() + b":" + event.request.payload
        node.endpoint.respond(event.exchange, Code.CONTENT, payload=body, now=node.now)


def pair(net: Network, handler=echo, config: EndpointConfig = FAST) -> tuple[Node, Node]:  # type: ignore[no-untyped-def]
    return net.add(("client", 1), config), net.add(("server", 1), config, handler)


def wire_types(net: Network, source: object) -> list[tuple[Type, Code]]:
    out = []
    for _, src, _, data in net.sent:
        if src == source:
            message = Message.decode(data)
            out.append((message.type, message.code))
    return out


def test_piggybacked_response() -> None:
    net = Network(1)
    client, server = pair(net)
    handle = client.endpoint.send_request(
        server.address, Code.POST, options=Options.build(uri_path=("x",)), payload=b"hi", now=0
    )
    net.run()
    (event,) = client.events
    assert isinstance(event, ResponseReceived) and event.handle == handle
    assert event.response.payload == b"POST:hi" and event.response.type is Type.ACK
    assert wire_types(net, server.address) == [(Type.ACK, Code.CONTENT)]
    assert client.endpoint.get_timer() is None and server.endpoint.get_timer() is None


def test_separate_response_after_empty_ack() -> None:
    net = Network(2)
    pending: list[RequestReceived] = []
    client, server = pair(
        net,
        lambda node, event: pending.append(event) if isinstance(event, RequestReceived) else None,
        EndpointConfig(ack_timeout=2.0, max_latency=5.0, empty_ack_delay=0.5),
    )
    client.endpoint.send_request(server.address, Code.GET, now=0)
    net.run(until=30.0)  # well past the ACK timeout: the empty ACK stopped retransmission
    assert wire_types(net, server.address) == [(Type.ACK, Code.EMPTY)]
    assert wire_types(net, client.address) == [(Type.CON, Code.GET)]
    server.endpoint.respond(pending[0].exchange, Code.CONTENT, payload=b"late", now=net.now)
    net.run()
    assert wire_types(net, server.address)[1] == (Type.CON, Code.CONTENT)
    assert wire_types(net, client.address)[1] == (Type.ACK, Code.EMPTY)
    (event,) = client.events
    assert isinstance(event, ResponseReceived) and event.response.payload == b"late"


def test_explicit_accept_then_separate_response_and_duplicate_replays_ack() -> None:
    net = Network(3)
    pending: list[RequestReceived] = []
    client, server = pair(
        net,
        lambda node, event: pending.append(event) if isinstance(event, RequestReceived) else None,
    )
    client.endpoint.send_request(server.address, Code.GET, now=0)
    net.run(until=0.2)
    server.endpoint.accept(pending[0].exchange, net.now)
    net.flush()
    request = next(data for _, src, _, data in net.sent if src == client.address)
    net.inject(request, client.address, server.address)  # a late duplicate
    assert wire_types(net, server.address) == [(Type.ACK, Code.EMPTY)] * 2
    assert len(pending) == 1
    server.endpoint.respond(pending[0].exchange, Code.CONTENT, now=net.now)
    net.run()
    assert isinstance(client.events[0], ResponseReceived)


def test_duplicate_con_replays_cached_response_and_handler_runs_once() -> None:
    net = Network(4)
    client, server = pair(net)
    client.endpoint.send_request(server.address, Code.GET, now=0)
    net.run()
    request = next(data for _, src, _, data in net.sent if src == client.address)
    for _ in range(3):
        net.inject(request, client.address, server.address)
    assert len(server.of_type(RequestReceived)) == 1
    replies = [data for _, src, _, data in net.sent if src == server.address]
    assert len(replies) == 4 and len(set(replies)) == 1


def test_non_request_gets_non_response_and_duplicate_non_is_ignored() -> None:
    net = Network(5)
    client, server = pair(net)
    client.endpoint.send_request(server.address, Code.GET, confirmable=False, now=0)
    net.run()
    assert wire_types(net, server.address) == [(Type.NON, Code.CONTENT)]
    request = next(data for _, src, _, data in net.sent if src == client.address)
    net.inject(request, client.address, server.address)
    assert len(server.of_type(RequestReceived)) == 1
    assert len(client.of_type(ResponseReceived)) == 1


def test_non_request_without_response_times_out() -> None:
    net = Network(6)
    client, server = pair(net, handler=lambda node, event: None)
    handle = client.endpoint.send_request(server.address, Code.GET, confirmable=False, now=0)
    net.run(until=10_000)
    assert client.events == [RequestFailed(handle, FailureReason.TIMEOUT)]
    assert net.now >= FAST.effective_response_timeout


def test_ping_gets_rst_and_pong() -> None:
    net = Network(7)
    client, server = pair(net)
    handle = client.endpoint.ping(server.address, now=0)
    net.run()
    assert client.events == [PongReceived(handle)]
    assert wire_types(net, server.address) == [(Type.RST, Code.EMPTY)]


def test_unexpected_responses_get_rst() -> None:
    net = Network(8)
    client, server = pair(net)
    for type_ in (Type.CON, Type.NON):
        stray = Message(type_, Code.CONTENT, 4242 + type_, b"nobody", payload=b"?")
        net.inject(stray.encode(), server.address, client.address)
    assert wire_types(net, client.address) == [(Type.RST, Code.EMPTY)] * 2
    assert client.events == []
    # A stray ACK or RST is ignored silently.
    net.inject(Message(Type.ACK, Code.CONTENT, 7, b"x").encode(), server.address, client.address)
    net.inject(Message(Type.RST, Code.EMPTY, 8).encode(), server.address, client.address)
    assert len(net.sent) == 2


def test_rst_fails_the_request() -> None:
    net = Network(9)
    client, server = pair(net)
    handle = client.endpoint.send_request(server.address, Code.GET, now=0)
    request = Message.decode(client.endpoint.datagrams_to_send()[0][0])
    net.inject(
        Message(Type.RST, Code.EMPTY, request.message_id).encode(), server.address, client.address
    )
    assert client.events == [RequestFailed(handle, FailureReason.RESET)]
    net.run()
    assert client.endpoint.get_timer() is None


def test_cancel_request() -> None:
    net = Network(10)
    client, server = pair(net, handler=lambda node, event: None)
    handle = client.endpoint.send_request(server.address, Code.GET, now=0)
    client.endpoint.cancel(handle, now=0)
    net.run()
    assert client.events == [RequestFailed(handle, FailureReason.CANCELLED)]


@pytest.mark.parametrize("seed", range(40))
def test_soak_every_request_ends_exactly_once(seed: int) -> None:
    """Loss, duplication and reordering: one terminal event per request, no stuck state."""
    net = Network(seed, loss=0.25, duplicate=0.2, reorder=2.0)
    seen: list[bytes] = []

    def handler(node: Node, event: Event) -> None:
        if isinstance(event, RequestReceived):
            seen.append(event.request.payload)
            if net.rng.random() < 0.3:
                node.endpoint.accept(event.exchange, node.now)
            node.endpoint.respond(
                event.exchange, Code.CHANGED, payload=event.request.payload, now=node.now
            )

    config = EndpointConfig(ack_timeout=1.0, max_latency=3.0, nstart=2, empty_ack_delay=0.5)
    client, server = pair(net, handler, config)
    handles = {}
    for i in range(30):
        confirmable = i % 5 != 0
        body = f"req-{i}".encode()
        handle = client.endpoint.send_request(
            server.address, Code.POST, payload=body, confirmable=confirmable, now=net.now
        )
        handles[handle] = body
        net.run(until=net.now + net.rng.uniform(0, 1.5))
    net.run()
    terminal = {}
    for event in client.events:
        assert isinstance(event, ResponseReceived | RequestFailed)
        assert event.handle not in terminal, "two terminal events for one request"
        terminal[event.handle] = event
        if isinstance(event, ResponseReceived):
            assert event.response.payload == handles[event.handle]
    assert terminal.keys() == handles.keys()
    assert len(seen) == len(set(seen)), "the handler saw a request twice"
    assert client.endpoint.get_timer() is None and server.endpoint.get_timer() is None
    assert not client.endpoint._by_token and not client.endpoint._by_mid
