"""Observe (RFC 7641) on both sides: registration, ordered delivery, freshness, cancellation."""

from __future__ import annotations

import random

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import (
    Event,
    FailureReason,
    NotificationReceived,
    ObservationCancelled,
    ObservationEnded,
    ObservationKey,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.observe import is_fresh
from lwm2m.coap.options import Options
from tests.protocol.harness import Network, Node

CFG = EndpointConfig(ack_timeout=1.0, max_latency=3.0, preferred_block_szx=2)
OBSERVE = Options.build(uri_path=("3", "0", "9"), observe=0)


class Server:
    """Answers GETs with the current value and remembers observations."""

    def __init__(self) -> None:
        self.value = b"v0"
        self.observations: list[ObservationKey] = []

    def __call__(self, node: Node, event: Event) -> None:
        if isinstance(event, RequestReceived):
            key = node.endpoint.respond(
                event.exchange, Code.CONTENT, payload=self.value, now=node.now
            )
            if key is not None:
                self.observations.append(key)


def setup(seed: int = 0, **network: float) -> tuple[Network, Node, Node, Server, int]:
    net = Network(seed, **network)
    app = Server()
    client = net.add("client", CFG)
    server = net.add("server", CFG, app)
    handle = client.endpoint.send_request(server.address, Code.GET, options=OBSERVE, now=0)
    net.run()
    return net, client, server, app, handle


def notify_all(net: Network, node: Node, app: Server, values: list[bytes], **kw: bool) -> None:
    for value in values:
        app.value = value
        node.endpoint.notify(app.observations[0], Code.CONTENT, payload=value, now=net.now, **kw)
        net.run(until=net.now + 0.5)


def test_fresh_rule_wraps_and_ages() -> None:
    assert is_fresh(1, 0.0, 2, 0.0)
    assert not is_fresh(2, 0.0, 1, 0.0)
    assert not is_fresh(5, 0.0, 5, 0.0)
    assert is_fresh((1 << 24) - 1, 0.0, 0, 0.0)  # wrapped around
    assert not is_fresh(0, 0.0, (1 << 24) - 1, 0.0)
    assert not is_fresh(0, 0.0, 1 << 23, 0.0)  # exactly half-way is not newer
    assert is_fresh(10, 0.0, 3, 128.5)  # after 128 s anything goes


def test_register_and_receive_notifications_in_order() -> None:
    net, client, server, app, handle = setup()
    assert client.events == [ResponseReceived(handle, client.events[0].response)]  # type: ignore[union-attr]
    assert len(app.observations) == 1
    values = [f"v{i}".encode() for i in range(1, 6)]
    notify_all(net, server, app, values)
    notify_all(net, server, app, [b"c1", b"c2"], confirmable=True)
    net.run()
    got = [e.notification.payload for e in client.of_type(NotificationReceived)]
    assert got == [*values, b"c1", b"c2"]
    sequence = [e.notification.options.observe for e in client.of_type(NotificationReceived)]
    assert sequence == sorted(sequence)


def test_stale_reordered_notification_is_dropped() -> None:
    net, client, server, app, _handle = setup()
    token = app.observations[0].token

    def notification(seq: int, value: bytes, mid: int) -> bytes:
        options = Options.build(observe=seq)
        return Message(Type.NON, Code.CONTENT, mid, token, options, value).encode()

    net.inject(notification(7, b"new", 1000), server.address, client.address)
    net.inject(notification(6, b"old", 1001), server.address, client.address)
    net.now += 129  # 128-second rule: an "older" number is news after that long
    net.inject(notification(5, b"restart", 1002), server.address, client.address)
    got = [e.notification.payload for e in client.of_type(NotificationReceived)]
    assert got == [b"new", b"restart"]


def test_con_notification_is_retransmitted_until_acked() -> None:
    net, client, server, app, _ = setup()
    lost = [0]

    def drop_first_two(data: bytes, source: object, destination: object) -> list[bytes] | None:
        if source == server.address and lost[0] < 2:
            lost[0] += 1
            return []
        return None

    net.intercept = drop_first_two
    notify_all(net, server, app, [b"important"], confirmable=True)
    net.run()
    assert [e.notification.payload for e in client.of_type(NotificationReceived)] == [b"important"]
    notifications = [
        data for _, src, _, data in net.sent if src == server.address and b"important" in data
    ]
    assert len(notifications) == 3 and len(set(notifications)) == 1


def test_con_notification_timeout_cancels_observation() -> None:
    net, _client, server, app, _ = setup()
    net.intercept = lambda data, source, destination: [] if source == server.address else None
    notify_all(net, server, app, [b"x"], confirmable=True)
    net.run()
    assert server.events[-1] == ObservationCancelled(app.observations[0], FailureReason.TIMEOUT)
    with pytest.raises(StaleHandleError):
        server.endpoint.notify(app.observations[0], Code.CONTENT, now=net.now)


def test_cancel_by_rst_on_next_notification() -> None:
    net, client, server, app, handle = setup()
    client.endpoint.cancel(handle, now=net.now)
    net.flush()
    assert client.events[-1] == ObservationEnded(handle, None)
    notify_all(net, server, app, [b"unwanted"], confirmable=True)
    net.run()
    assert server.events[-1] == ObservationCancelled(app.observations[0], FailureReason.RESET)
    assert not client.of_type(NotificationReceived)


def test_cancel_by_rst_to_non_notification() -> None:
    net, client, server, app, handle = setup()
    client.endpoint.cancel(handle, now=net.now)
    notify_all(net, server, app, [b"unwanted"])
    assert server.events[-1] == ObservationCancelled(app.observations[0], FailureReason.RESET)


def test_cancel_by_get_observe_1() -> None:
    net, client, server, app, handle = setup()
    client.endpoint.cancel_observation(handle, now=net.now)
    net.run()
    ended = client.events[-1]
    assert isinstance(ended, ObservationEnded) and ended.response is not None
    assert ended.response.code is Code.CONTENT and ended.response.options.observe is None
    assert ObservationCancelled(app.observations[0], FailureReason.CANCELLED) in server.events
    with pytest.raises(StaleHandleError):
        server.endpoint.notify(app.observations[0], Code.CONTENT, now=net.now)
    with pytest.raises(StaleHandleError):
        client.endpoint.cancel_observation(handle, now=net.now)


def test_error_notification_ends_observation() -> None:
    net, client, server, app, _handle = setup()
    server.endpoint.notify(app.observations[0], Code.NOT_FOUND, now=net.now)
    net.run()
    ended = client.events[-1]
    assert isinstance(ended, ObservationEnded) and ended.response is not None
    assert ended.response.code is Code.NOT_FOUND


def test_large_notifications_are_fetched_block_wise() -> None:
    net, client, server, app, _handle = setup()
    big = [bytes([48 + i]) * 300 for i in range(3)]  # 64-byte blocks: 5 each
    notify_all(net, server, app, big)
    net.run()
    got = [e.notification.payload for e in client.of_type(NotificationReceived)]
    assert got == big
    follow_ups = [
        Message.decode(data)
        for _, src, _, data in net.sent
        if src == client.address and Message.decode(data).options.block2 is not None
    ]
    assert follow_ups and all(m.options.observe is None for m in follow_ups)
    assert all(m.token != app.observations[0].token for m in follow_ups)


def test_observe_not_registered_when_server_declines() -> None:
    net = Network(3)

    def decline(node: Node, event: Event) -> None:
        if isinstance(event, RequestReceived):
            node.endpoint.respond(event.exchange, Code.CONTENT, now=node.now, observe=False)

    client = net.add("client", CFG)
    server = net.add("server", CFG, decline)
    handle = client.endpoint.send_request(server.address, Code.GET, options=OBSERVE, now=0)
    net.run()
    (event,) = client.events
    assert isinstance(event, ResponseReceived) and event.response.options.observe is None
    with pytest.raises(StaleHandleError):
        client.endpoint.cancel(handle, now=net.now)


@pytest.mark.parametrize("seed", range(10))
def test_notifications_under_loss_and_reordering_arrive_fresh_in_order(seed: int) -> None:
    net, client, server, app, _handle = setup(seed, loss=0.2, duplicate=0.2, reorder=3.0)
    assert isinstance(client.events[0], ResponseReceived)
    values = [f"n{i}".encode() for i in range(20)]
    for i, value in enumerate(values):
        server.endpoint.notify(
            app.observations[0], Code.CONTENT, payload=value, now=net.now, confirmable=i % 4 == 0
        )
        net.run(until=net.now + 0.3)
    net.run()
    got = [e.notification.payload for e in client.of_type(NotificationReceived)]
    assert got == sorted(set(got), key=values.index), "stale or duplicate notification delivered"
    assert client.endpoint.get_timer() is None and server.endpoint.get_timer() is None


def test_restored_observation_takes_the_next_notification_after_a_restart() -> None:
    net, client, server, app, handle = setup()
    key = client.endpoint.observation_key(handle)
    assert key == ObservationKey(server.address, app.observations[0].token)
    notify_all(net, server, app, [b"v1", b"v2"])
    client.endpoint = Endpoint(CFG, random.Random(7))  # the process restarted: all forgotten
    client.events.clear()
    restored = client.endpoint.restore_observation(key, Code.GET, options=OBSERVE)
    with pytest.raises(ValueError, match="in use"):
        client.endpoint.restore_observation(key, Code.GET, options=OBSERVE)
    notify_all(net, server, app, [b"v3"])
    assert client.events == [NotificationReceived(restored, client.events[0].notification)]  # type: ignore[union-attr]
    assert client.events[0].notification.payload == b"v3"  # type: ignore[union-attr]
    client.endpoint.cancel_observation(restored, net.now)  # deregisters with the old token
    net.run()
    assert ObservationCancelled(app.observations[0], FailureReason.CANCELLED) in server.events
    assert isinstance(client.events[-1], ObservationEnded) and client.events[-1].handle == restored
