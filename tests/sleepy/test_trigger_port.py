"""The client's SMS inbox: the binding's SMS carry no ports; T8 device triggers come to the
LwM2M trigger port (5683) from the network's number and are told apart by their origin."""

from __future__ import annotations

from lwm2m.transport.sms.binding import LWM2M_TRIGGER_PORT, SmsInbox, SmsPeer, SmsPortPeer
from lwm2m.transport.sms.concat import Part
from lwm2m.transport.sms.udh import Ports, UserDataHeader

NETWORK = SmsPeer("491700000000")


def _to(port: int, source: int = 0) -> Part:
    return Part(UserDataHeader((Ports(port, source),)), b"\x50\x02\x00\x01")


def test_the_trigger_port_is_taken_besides_the_binding_and_named_in_the_origin() -> None:
    inbox = SmsInbox(trigger_ports=(LWM2M_TRIGGER_PORT,))
    trigger = _to(LWM2M_TRIGGER_PORT)
    assert inbox.receive(NETWORK, trigger, 0.0) == b"\x50\x02\x00\x01"
    assert inbox.origin(NETWORK, trigger) == SmsPortPeer(NETWORK.msisdn, LWM2M_TRIGGER_PORT)
    assert inbox.origin(NETWORK, trigger) != NETWORK
    plain = Part(None, b"\x40\x01\x00\x01")
    assert inbox.receive(NETWORK, plain, 0.0) == b"\x40\x01\x00\x01"
    assert inbox.origin(NETWORK, plain) == NETWORK
    assert inbox.receive(NETWORK, _to(2948), 0.0) is None  # another application's (WAP push)
    assert inbox.foreign == 1
    assert SmsInbox().receive(NETWORK, trigger, 0.0) is None  # not taken unless configured
