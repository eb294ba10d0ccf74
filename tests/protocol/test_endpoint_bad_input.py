"""Hostile and broken datagrams: answered as RFC 7252 says, never a crash, never stuck."""

from __future__ import annotations

import random

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.events import Event, RequestReceived, ResponseReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from tests.protocol.harness import Network, Node

CFG = EndpointConfig(ack_timeout=1.0, max_latency=3.0)


def echo(node: Node, event: Event) -> None:
    if isinstance(event, RequestReceived):
        node.endpoint.respond(event.exchange, Code.CONTENT, payload=b"ok", now=node.now)


def replies(net: Network, source: str) -> list[Message]:
    return [Message.decode(data) for _, src, _, data in net.sent if src == source]


def still_works(net: Network, client: Node, server: Node) -> None:
    handle = client.endpoint.send_request(server.address, Code.GET, now=net.now)
    net.run()
    assert ResponseReceived in {type(e) for e in client.events if getattr(e, "handle", 0) == handle}


@pytest.fixture
def net() -> Network:
    return Network(5)


@pytest.mark.parametrize(
    ("datagram", "answer"),
    [
        (b"", None),
        (b"\x40", None),
        (b"\x40\x01\x12", None),
        (b"\x80\x01\x12\x34", None),  # version 2: silently ignored
        (b"\x49\x01\x12\x34", (Type.RST, Code.EMPTY)),  # token length 9 in a CON
        (b"\x44\x01\x12\x34\xaa", (Type.RST, Code.EMPTY)),  # token cut short
        (b"\x40\x01\x12\x34\xff", (Type.RST, Code.EMPTY)),  # payload marker, no payload
        (b"\x40\x01\x12\x34\xf0", (Type.RST, Code.EMPTY)),  # reserved delta nibble
        (b"\x40\x00\x12\x34\x01", (Type.RST, Code.EMPTY)),  # Empty with a body
        (b"\x50\x01\x12\x34\xff", None),  # malformed NON: ignored
        (b"\x60\x45\x12\x34\xff", None),  # malformed ACK: ignored
        (b"\x41\x01\x12\x34\x07\x30", (Type.ACK, Code.BAD_OPTION)),  # Uri-Host empty
        (b"\x40\x20\x12\x34", (Type.RST, Code.EMPTY)),  # reserved class 1.00
        (b"\x40\xe2\x12\x34", (Type.RST, Code.EMPTY)),  # a 7.xx signal over UDP
    ],
)
def test_malformed_datagrams(
    net: Network, datagram: bytes, answer: tuple[Type, Code] | None
) -> None:
    client = net.add("client", CFG)
    server = net.add("server", CFG, echo)
    net.inject(datagram, "client", "server")
    got = [(m.type, m.code) for m in replies(net, "server")]
    assert got == ([] if answer is None else [answer])
    if answer is not None:
        assert replies(net, "server")[0].message_id == 0x1234
    assert server.events == []
    still_works(net, client, server)


def test_unknown_critical_option_in_con_request_gets_4_02(net: Network) -> None:
    net.add("client", CFG)
    server = net.add("server", CFG, echo)
    options = Options.build(uri_path=("x",), extra=[(2049, b"?")])
    request = Message(Type.CON, Code.GET, 77, b"tk", options)
    net.inject(request.encode(), "client", "server")
    (reply,) = replies(net, "server")
    assert (reply.type, reply.code, reply.message_id, reply.token) == (
        Type.ACK,
        Code.BAD_OPTION,
        77,
        b"tk",
    )
    net.inject(request.encode(), "client", "server")  # a retransmission gets the same answer
    assert replies(net, "server")[1] == reply
    assert server.events == []


def test_unknown_critical_option_in_non_request_is_rejected(net: Network) -> None:
    net.add("client", CFG)
    server = net.add("server", CFG, echo)
    options = Options.build(extra=[(2049, b"?")])
    net.inject(Message(Type.NON, Code.GET, 78, b"tk", options).encode(), "client", "server")
    assert [(m.type, m.code) for m in replies(net, "server")] == [(Type.RST, Code.EMPTY)]
    assert server.events == []


def test_unknown_elective_option_is_ignored(net: Network) -> None:
    net.add("client", CFG)
    net.add("server", CFG, echo)
    options = Options.build(extra=[(2048, b"?")])
    net.inject(Message(Type.CON, Code.GET, 79, b"tk", options).encode(), "client", "server")
    assert [(m.type, m.code) for m in replies(net, "server")] == [(Type.ACK, Code.CONTENT)]


def test_piggybacked_response_with_wrong_token_is_ignored(net: Network) -> None:
    client = net.add("client", CFG)
    net.add("server", CFG)
    client.endpoint.send_request("server", Code.GET, now=0)
    request = Message.decode(client.endpoint.datagrams_to_send()[0][0])
    forged = Message(Type.ACK, Code.CONTENT, request.message_id, b"wrong", payload=b"evil")
    net.inject(forged.encode(), "server", "client")
    assert client.events == []


@pytest.mark.parametrize("seed", range(5))
def test_random_garbage_never_crashes(seed: int) -> None:
    net = Network(seed)
    client = net.add("client", CFG)
    server = net.add("server", CFG, echo)
    rng = random.Random(seed)
    valid = Message(
        Type.CON, Code.PUT, 1, b"abcd", Options.build(uri_path=("a",), block1=None), b"body"
    ).encode()
    for _ in range(2000):
        if rng.random() < 0.5:
            data = rng.randbytes(rng.randrange(0, 40))
        else:  # mutate a valid message: more likely to get past the header
            mutable = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                mutable[rng.randrange(len(mutable))] = rng.randrange(256)
            data = bytes(mutable[: rng.randrange(1, len(mutable) + 1)])
        net.inject(data, "client", "server")
        net.inject(data, "server", "client")
    for event in server.events:
        assert isinstance(event, RequestReceived)
    net.run()
    still_works(net, client, server)
