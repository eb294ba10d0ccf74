"""OscoreEndpoint back to back with itself: protected on the wire, plain to the application."""

from __future__ import annotations

import random

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    Event,
    FailureReason,
    NotificationReceived,
    ObservationEnded,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.security.oscore import MemorySequenceStore, SecurityContext
from lwm2m.security.oscore_endpoint import FileSequenceStore, OscoreContexts, OscoreEndpoint

SECRET = bytes(range(16))
CLIENT, SERVER = ("10.0.0.1", 5683), ("10.0.0.2", 5683)


def _pair(
    client_store: MemorySequenceStore | None = None, *, synchronized: bool = True
) -> tuple[OscoreEndpoint, OscoreEndpoint]:
    """A client endpoint configured for SERVER, and a server that learns CLIENT."""
    client = OscoreEndpoint(rng=random.Random(1))
    context = SecurityContext(
        SECRET, b"\x01", b"", sequence_store=client_store, replay_synchronized=synchronized
    )
    client.contexts.add(context)
    client.contexts.require(SERVER, context)
    contexts = OscoreContexts()
    contexts.add(SecurityContext(SECRET, b"", b"\x01"))
    return client, OscoreEndpoint(rng=random.Random(2), contexts=contexts)


def _flow(
    a: OscoreEndpoint, b: OscoreEndpoint, wire: list[Message] | None = None
) -> list[tuple[OscoreEndpoint, Event]]:
    """Carry datagrams both ways until quiet; the events each side reported."""
    events: list[tuple[OscoreEndpoint, Event]] = []
    for _ in range(20):
        moved = False
        for source, target, address in ((a, b, CLIENT), (b, a, SERVER)):
            for data, _peer in source.datagrams_to_send():
                moved = True
                if wire is not None:
                    wire.append(Message.decode(data))
                target.receive(data, address, 0.0)
        for side in (a, b):
            while (event := side.next_event()) is not None:
                events.append((side, event))
        if not moved:
            return events
    raise AssertionError("no quiet")


def _serve(server: OscoreEndpoint, events: list[tuple[OscoreEndpoint, Event]], code: Code) -> None:
    for side, event in events:
        if side is server and isinstance(event, RequestReceived):
            server.respond(event.exchange, code, payload=b"plain answer", now=0.0)


def test_request_and_response_are_protected_on_the_wire() -> None:
    client, server = _pair()
    wire: list[Message] = []
    handle = client.send_request(
        SERVER, Code.PUT, options=Options.build(uri_path=("3", "0", "1")), payload=b"x", now=0.0
    )
    events = _flow(client, server, wire)
    received = [e for s, e in events if isinstance(e, RequestReceived)]
    assert received[0].request.code is Code.PUT
    assert received[0].request.options.uri_path == ("3", "0", "1")
    assert server.verified_context(CLIENT) is not None
    _serve(server, events, Code.CHANGED)
    events = _flow(client, server, wire)
    (response,) = [e for s, e in events if isinstance(e, ResponseReceived)]
    assert response.handle == handle
    assert response.response.code is Code.CHANGED
    assert response.response.payload == b"plain answer"
    for message in wire:
        assert message.options.oscore is not None
        assert not message.options.uri_path
        assert b"plain answer" not in message.payload
    assert wire[0].code is Code.POST


def test_observation_notifies_protected_and_cancels_with_a_fresh_request() -> None:
    client, server = _pair()
    handle = client.send_request(
        SERVER, Code.GET, options=Options.build(uri_path=("3", "0"), observe=0), now=0.0
    )
    events = _flow(client, server)
    (request,) = [e for s, e in events if isinstance(e, RequestReceived)]
    assert request.request.code is Code.GET and request.request.options.observe == 0
    key = server.respond(request.exchange, Code.CONTENT, payload=b"v0", now=0.0)
    assert key is not None
    events = _flow(client, server)
    (first,) = [e for s, e in events if isinstance(e, ResponseReceived)]
    assert first.handle == handle and first.response.options.observe is not None
    for value in (b"v1", b"v2"):
        server.notify(key, Code.CONTENT, payload=value, now=0.0)
    notes = [e for s, e in _flow(client, server) if isinstance(e, NotificationReceived)]
    assert [n.notification.payload for n in notes] == [b"v1", b"v2"]
    assert {n.handle for n in notes} == {handle}
    client.cancel_observation(handle, 0.0)
    events = _flow(client, server)
    (cancel,) = [e for s, e in events if isinstance(e, RequestReceived)]
    assert cancel.request.options.observe == 1  # decrypted: not refused as a replay
    server.respond(cancel.exchange, Code.CONTENT, payload=b"bye", now=0.0)
    (ended,) = [e for s, e in _flow(client, server) if isinstance(e, ObservationEnded)]
    assert ended.handle == handle and ended.response is not None
    assert ended.response.payload == b"bye"
    assert server.rejected == client.rejected == 0


def test_error_to_an_observe_registers_nothing() -> None:
    client, server = _pair()
    handle = client.send_request(SERVER, Code.GET, options=Options.build(observe=0), now=0.0)
    events = _flow(client, server)
    _serve(server, events, Code.NOT_FOUND)
    (response,) = [e for s, e in _flow(client, server) if isinstance(e, ResponseReceived)]
    assert response.handle == handle and response.response.code is Code.NOT_FOUND
    assert not server._notifying


def test_wrong_secret_is_refused_unprotected_and_reaches_no_application() -> None:
    client, server = _pair()
    client.contexts.peers[SERVER] = SecurityContext(b"wrong secret", b"\x01", b"")
    handle = client.send_request(SERVER, Code.GET, options=Options.build(uri_path=("1",)), now=0.0)
    events = _flow(client, server)
    assert not [e for s, e in events if s is server]
    (response,) = [e for s, e in events if isinstance(e, ResponseReceived)]
    assert response.handle == handle and response.response.code is Code.UNAUTHORIZED
    assert server.rejected == 1 and server.verified_context(CLIENT) is None


def test_forged_response_fails_the_request() -> None:
    client, server = _pair()
    handle = client.send_request(SERVER, Code.GET, now=0.0)
    (request,) = [e for s, e in _flow(client, server) if isinstance(e, RequestReceived)]
    server.respond(request.exchange, Code.CONTENT, payload=b"genuine", now=0.0)
    ((data, _),) = server.datagrams_to_send()
    client.receive(data[:-1] + bytes((data[-1] ^ 1,)), SERVER, 0.0)  # one bit of the tag
    assert client.next_event() == RequestFailed(handle, FailureReason.PROTOCOL)
    assert client.rejected == 1


def test_restarted_side_asks_for_echo_and_the_request_is_retried_once() -> None:
    """The client restarted with its numbers persisted: its window is lost, so the server's
    request is answered 4.01 + Echo and sent again, transparently."""
    client, server = _pair(MemorySequenceStore(1000), synchronized=False)
    # The server learns the client's address from one request.
    client.send_request(SERVER, Code.POST, options=Options.build(uri_path=("rd",)), now=0.0)
    _serve(server, _flow(client, server), Code.CREATED)
    _flow(client, server)
    wire: list[Message] = []
    handle = server.send_request(CLIENT, Code.GET, options=Options.build(uri_path=("3",)), now=0.0)
    events = _flow(client, server, wire)
    received = [e for s, e in events if s is client and isinstance(e, RequestReceived)]
    assert len(received) == 1 and received[0].request.options.echo is None
    _serve(client, events, Code.CONTENT)
    (response,) = [e for s, e in _flow(client, server, wire) if isinstance(e, ResponseReceived)]
    assert response.handle == handle and response.response.payload == b"plain answer"
    assert client.rejected == 1  # the first, unproven request
    assert len({m.options.oscore for m in wire if m.code.is_request}) == 2


def test_unprotected_traffic_passes_through() -> None:
    client, server = _pair()
    handle = client.send_request(("10.9.9.9", 1), Code.GET, now=0.0)
    ((data, _),) = client.datagrams_to_send()
    assert Message.decode(data).options.oscore is None
    server.receive(data, CLIENT, 0.0)
    event = server.next_event()
    assert isinstance(event, RequestReceived) and server.verified_context(CLIENT) is None
    assert handle > 0


def test_file_sequence_store_survives_and_refuses_garbage(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "seq.json"
    store = FileSequenceStore(path)
    assert store.load() == 0
    context = SecurityContext(SECRET, b"\x01", b"", sequence_store=store)
    context._new_partial_iv()
    assert FileSequenceStore(path).load() == 64
    assert SecurityContext(SECRET, b"\x01", b"", sequence_store=store).sender_sequence_number == 64
    path.write_text("{")
    with pytest.raises(ValueError, match="unreadable"):
        store.load()


def test_unprotected_request_from_an_oscore_server_is_refused() -> None:
    client, _server = _pair()
    plain = Endpoint(rng=random.Random(3))
    plain.send_request(CLIENT, Code.GET, options=Options.build(uri_path=("3",)), now=0.0)
    ((data, _),) = plain.datagrams_to_send()
    client.receive(data, SERVER, 0.0)
    assert client.next_event() is None and client.rejected == 1
    ((answer, _),) = client.datagrams_to_send()
    assert Message.decode(answer).code is Code.UNAUTHORIZED
