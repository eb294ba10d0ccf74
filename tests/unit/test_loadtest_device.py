"""The bench's simulated devices against the real server core, sans-I/O: what they send is what
an LwM2M 1.1 client sends, and they answer Read and Observe the way the server expects."""

from __future__ import annotations

import random

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.loadtest.device import BATTERY, Fleet, endpoint_name
from lwm2m.loadtest.fleet import device_address
from lwm2m.model import Path, SingleResource
from lwm2m.operations import ErrorResponse, NodeResponse, Observe, Read
from lwm2m.server import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.events import (
    CoreEvent,
    NotificationReceived,
    Registered,
    RequestCompleted,
)

FIRST = 7


class Loop:
    """A server core and three devices wired back to back."""

    def __init__(self) -> None:
        self.core = ServerCore(ServerConfig(), random.Random(1), lambda: 1_700_000_000.0)
        self.fleet = Fleet(FIRST, 3)
        self.peers = [(device_address(FIRST + i), 40_000 + i) for i in range(3)]
        self.now = 0.0

    def deliver(self, i: int, data: bytes) -> None:
        """``data`` from device ``i`` to the server, and every answer back and forth."""
        self.core.receive(data, self.peers[i], self.now)
        self.pump()

    def pump(self) -> None:
        for data, peer in self.core.datagrams_to_send():
            i = self.peers.index(peer)
            reply = self.fleet.receive(i, data)
            if reply is not None:
                self.deliver(i, reply)

    def send(self, i: int, op: Read | Observe) -> None:
        self.core.send(endpoint_name(FIRST + i), op, now=self.now)
        self.pump()

    def events(self) -> list[CoreEvent]:
        events = []
        while (event := self.core.next_event()) is not None:
            events.append(event)
        return events

    def register_all(self) -> None:
        for i in range(3):
            self.deliver(i, self.fleet.register(i))


def test_devices_register_as_lwm2m_1_1_clients_with_the_telekom_object_list() -> None:
    loop = Loop()
    loop.register_all()
    registered = [e for e in loop.events() if isinstance(e, Registered)]
    assert [e.registration.endpoint for e in registered] == [
        endpoint_name(FIRST + i) for i in range(3)
    ]
    registration = registered[0].registration
    assert (registration.lwm2m_version, registration.binding) == ("1.1", "U")
    assert registration.endpoint == "urn:imei:350000000000007"
    targets = {link.target for link in registration.object_links}
    assert {"/3/0", "/4/0", "/3353/0"} <= targets
    assert loop.fleet.registered == 3
    assert all(loop.fleet.is_registered(i) for i in range(3))


def test_a_retransmitted_register_is_answered_without_registering_again() -> None:
    loop = Loop()
    loop.register_all()
    loop.events()
    loop.deliver(0, loop.fleet.register(0))
    assert loop.events() == []
    assert loop.fleet.registered == 3


def test_reads_are_answered_in_senml_cbor_and_unknown_paths_with_4_04() -> None:
    loop = Loop()
    loop.register_all()
    loop.events()
    loop.send(1, Read(BATTERY))
    loop.send(1, Read(Path.of(3, 0, 0)))
    first, second = (e.response for e in loop.events() if isinstance(e, RequestCompleted))
    assert isinstance(first, NodeResponse)
    assert first.content_format == 112
    assert isinstance(first.node, SingleResource)
    assert 0 <= first.node.value <= 100
    assert isinstance(second, ErrorResponse)
    assert second.code is Code.NOT_FOUND


def test_notifications_of_each_round_reach_the_server_fresh() -> None:
    loop = Loop()
    loop.register_all()
    for i in range(3):
        loop.send(i, Observe(BATTERY))
    loop.events()
    assert loop.fleet.observed == 3
    sequences = []
    for _ in range(2):
        loop.fleet.next_round()
        for i in range(3):
            data = loop.fleet.notification(i)
            assert data is not None
            assert Message.decode(data).type is Type.NON
            loop.deliver(i, data)
        notes = [e for e in loop.events() if isinstance(e, NotificationReceived)]
        assert [n.endpoint for n in notes] == [endpoint_name(FIRST + i) for i in range(3)]
        assert all(set(n.values) == {BATTERY} for n in notes)
        sequences.append(notes[0].sequence)
    assert sequences[0] is not None and sequences[1] == sequences[0] + 1


def test_a_reset_or_a_cancel_ends_the_observation() -> None:
    loop = Loop()
    loop.register_all()
    loop.send(0, Observe(BATTERY))
    loop.send(1, Observe(BATTERY))
    loop.events()
    loop.core.cancel_observation(endpoint_name(FIRST), BATTERY, active=False, now=0.0)
    loop.fleet.next_round()
    loop.deliver(0, loop.fleet.notification(0) or b"")  # the server answers RST
    loop.core.cancel_observation(endpoint_name(FIRST + 1), BATTERY, active=True, now=0.0)
    loop.pump()
    assert loop.fleet.observed == 0
    assert loop.fleet.notification(0) is None
    assert loop.fleet.notification(1) is None


def test_devices_are_spread_over_loopback_addresses() -> None:
    assert device_address(0) == device_address(9_999) == "127.77.0.1"
    assert device_address(10_000) == "127.77.0.2"
    assert device_address(2_500_000) == "127.77.1.1"
