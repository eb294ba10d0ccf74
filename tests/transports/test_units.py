"""Small rules of the multi-transport client: b= and the transport picked, registration
datagrams (RAI 0 in queue mode), the wire's handle spaces."""

from __future__ import annotations

import random

from lwm2m.client.device import is_registration
from lwm2m.client.transports import ANY, announced, initial, problem
from lwm2m.client.wire import HANDLE_SPAN, Carrier, ClientWire
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import DEFAULT, SMS
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport.sms.binding import SmsPeer

ROUTES = {"U": ("127.0.0.1", 5683), "N": "nidd"}


def test_announced_binding_is_what_the_routes_reach() -> None:
    assert announced("UNQ", ROUTES) == "UNQ"
    assert announced("USQ", ROUTES) == "UQ"  # no SMS number: S is not announced
    assert announced("S", ROUTES) == ""
    assert announced("SQ", {ANY: "peer"}) == "SQ"  # a bare resolver: as written


def test_initial_transport_follows_preferred_within_the_binding() -> None:
    assert initial(ROUTES, "UN", "N") == "N"
    assert initial(ROUTES, "U", "N") == "U"
    assert initial(ROUTES, "UN", None) == "U"
    assert problem(ROUTES, "S") is not None and "UDP, Non-IP" in str(problem(ROUTES, "S"))
    assert problem(ROUTES, "NS") is None


def test_register_and_update_are_registration_datagrams() -> None:
    register = Message(Type.CON, Code.POST, 1, b"t", Options.build(uri_path=("rd",)))
    update = Message(Type.CON, Code.POST, 2, b"t", Options.build(uri_path=("rd", "x")))
    send = Message(Type.CON, Code.POST, 3, b"t", Options.build(uri_path=("dp",)))
    assert is_registration(register.encode()) and is_registration(update.encode())
    assert not is_registration(send.encode()) and not is_registration(b"\x00")


def test_wire_routes_by_peer_and_keeps_handle_spaces_apart() -> None:
    udp, sms = Endpoint(DEFAULT, random.Random(1)), Endpoint(SMS, random.Random(2))
    wire = ClientWire(
        [
            Carrier("U", lambda p: isinstance(p, tuple), udp),
            Carrier("S", lambda p: isinstance(p, SmsPeer), sms),
        ]
    )
    peer = SmsPeer("491701234567")
    handle = wire.send_request(peer, Code.GET, now=0.0, options=Options.build(), payload=b"")
    assert handle >= HANDLE_SPAN
    assert [p for _, p in wire.datagrams_to_send()] == [peer]
    wire.handle_timer(200.0)  # SMS: no retransmission, the request gives up
    event = wire.next_event()
    assert event is not None and getattr(event, "handle", None) == handle
