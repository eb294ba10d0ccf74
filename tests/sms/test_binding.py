"""The LwM2M SMS binding: datagrams to binary SMS and back, bounded reassembly, triggers."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.sms.binding import (
    SmsInbox,
    SmsOutbox,
    SmsPeer,
    Trigger,
    parse_trigger,
    trigger_datagram,
)
from lwm2m.transport.sms.concat import Part, Reassembler, parts_needed, split
from lwm2m.transport.sms.errors import SmsEncodeError
from lwm2m.transport.sms.tpdu import MAX_USER_DATA
from lwm2m.transport.sms.udh import Concatenation, Ports, UserDataHeader

PEER = SmsPeer("491701234567")


def test_peer_is_its_own_kind() -> None:
    assert SmsPeer.parse("+491701234567") == PEER
    assert NiddPeer("msisdn", "491701234567") != PEER
    assert PEER != ("491701234567", 0)
    assert str(PEER) == "sms:491701234567"
    with pytest.raises(ValueError):
        SmsPeer("49-170")
    with pytest.raises((AttributeError, TypeError)):
        PEER.extra = 1  # type: ignore[attr-defined]  # slotted


def test_trigger_is_a_non_execute_of_the_server_object() -> None:
    datagram = trigger_datagram(Trigger.REGISTRATION_UPDATE, 0, 0x1234, b"\x01")
    message = Message.decode(datagram)
    assert message.type == Type.NON and message.code == Code.POST
    assert message.options.uri_path == ("1", "0", "8")
    assert message.payload == b""
    assert datagram == bytes.fromhex("5102123401b13101300138")
    assert parse_trigger(datagram) == (Trigger.REGISTRATION_UPDATE, 0)
    bootstrap = trigger_datagram(Trigger.BOOTSTRAP_REQUEST, 3, 7)
    assert parse_trigger(bootstrap) == (Trigger.BOOTSTRAP_REQUEST, 3)
    assert len(split(datagram, 0)) == 1


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x40",
        Message(Type.NON, Code.POST, 1, options=Options.build(uri_path=("1", "0", "4"))).encode(),
        Message(Type.NON, Code.POST, 1, options=Options.build(uri_path=("3", "0", "8"))).encode(),
        Message(Type.NON, Code.GET, 1, options=Options.build(uri_path=("1", "0", "8"))).encode(),
    ],
)
def test_other_datagrams_are_not_triggers(datagram: bytes) -> None:
    assert parse_trigger(datagram) is None


def test_split_sizes() -> None:
    assert len(split(bytes(140), 0)) == 1
    parts = split(bytes(141), 9)
    assert [len(p.payload) for p in parts] == [134, 7]  # 140 less a 6-octet 8-bit-ref header
    assert parts[0].header == UserDataHeader((Concatenation(9, 2, 1),))
    wide = split(bytes(141), 0x1234, wide_reference=True)
    assert [len(p.payload) for p in wide] == [133, 8]
    ports = Ports(5683, 5683)
    assert len(split(bytes(133), 0, ports=ports)) == 1  # 140 less UDHL and a 6-octet IE
    assert parts_needed(134, ports=ports) == 2
    assert all(len(p.user_data) <= MAX_USER_DATA for p in split(bytes(1000), 1, ports=ports))
    with pytest.raises(SmsEncodeError):
        split(bytes(134 * 255 + 1), 0)


def test_outbox_references_advance_only_for_long_datagrams() -> None:
    outbox = SmsOutbox(random.Random(1))
    first = outbox.parts(bytes(200))[0].header
    assert outbox.parts(b"short")[0].header is None
    second = outbox.parts(bytes(200))[0].header
    assert first is not None and second is not None
    assert first.concatenation is not None and second.concatenation is not None
    assert second.concatenation.reference == (first.concatenation.reference + 1) % 256


@given(
    st.binary(min_size=1, max_size=3000),
    st.booleans(),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_any_order_reassembles(
    payload: bytes, wide: bool, rng: random.Random, duplicate: bool
) -> None:
    parts = split(payload, 77, wide_reference=wide)
    order = parts + ([rng.choice(parts)] if duplicate else [])
    rng.shuffle(order)
    reassembler = Reassembler()
    results = [reassembler.add(PEER, part, 0.0) for part in order]
    done = [r for r in results if r is not None]
    assert done[0] == payload
    if not duplicate:
        assert done == [payload]
        assert len(reassembler) == 0 and reassembler.held_bytes == 0
    elif len(parts) > 1:
        assert len(done) == 1  # a repeated part never completes a message twice


def test_parts_of_different_senders_and_references_stay_apart() -> None:
    other = SmsPeer("491709999999")
    reassembler = Reassembler()
    a, b = split(bytes(range(200)), 5), split(bytes(200), 5)
    assert reassembler.add(PEER, a[0], 0) is None
    assert reassembler.add(other, b[1], 0) is None
    assert reassembler.add(other, b[0], 0) == bytes(200)
    assert reassembler.add(PEER, a[1], 0) == bytes(range(200))


def test_incomplete_messages_expire_on_now() -> None:
    reassembler = Reassembler(timeout=60)
    parts = split(bytes(300), 1)
    reassembler.add(PEER, parts[0], 10.0)
    assert reassembler.get_timer() == 70.0
    reassembler.handle_timer(69.9)
    assert len(reassembler) == 1
    reassembler.handle_timer(70.0)
    assert len(reassembler) == 0 and reassembler.stats.expired == 1
    assert reassembler.get_timer() is None
    # the late parts start a new message, which cannot complete without the first
    assert reassembler.add(PEER, parts[1], 71.0) is None


def test_memory_is_bounded_per_sender_and_overall() -> None:
    reassembler = Reassembler(max_messages=4, max_per_sender=2, max_bytes=10_000)
    for reference in range(10):
        reassembler.add(PEER, split(bytes(300), reference)[0], 0)
    assert len(reassembler) == 2 and reassembler.stats.evicted == 8
    for index in range(10):
        reassembler.add(SmsPeer(f"4917000000{index:02}"), split(bytes(300), 0)[0], 0)
    assert len(reassembler) == 4
    small = Reassembler(max_bytes=300)
    for reference in range(5):
        small.add(PEER, split(bytes(300), reference)[0], 0)
    assert small.held_bytes <= 300


def test_inbox_keeps_other_applications_ports_out() -> None:
    ports = Ports(5683, 5683)
    inbox = SmsInbox(ports=ports)
    assert inbox.receive(PEER, Part(UserDataHeader((ports,)), b"coap"), 0) == b"coap"
    assert inbox.receive(PEER, Part(UserDataHeader((Ports(2948, 9200),)), b"wap"), 0) is None
    assert inbox.receive(PEER, Part(None, b"no ports"), 0) is None
    plain = SmsInbox()
    assert plain.receive(PEER, Part(None, b"coap"), 0) == b"coap"
    assert plain.receive(PEER, Part(UserDataHeader((ports,)), b"x"), 0) is None
    assert plain.foreign == 1 and inbox.foreign == 2


def test_outbox_with_ports_round_trips_through_inbox() -> None:
    ports = Ports(5683, 5683)
    outbox, inbox = SmsOutbox(random.Random(2), ports=ports), SmsInbox(ports=ports)
    datagram = bytes(range(256)) * 2
    results = [inbox.receive(PEER, part, 0) for part in outbox.parts(datagram)]
    assert results[-1] == datagram
