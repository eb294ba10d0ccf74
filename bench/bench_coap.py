"""CoAP message layer throughput: the typical LwM2M Read request through both framings.

The headline is the honest server cycle: decode a Read, then build and encode a fresh
2.05 Content ACK (new Options, new Message).  A decoded message keeps its options' wire
bytes, so re-encoding it unchanged only copies them: that figure is labelled as such.
"""

from __future__ import annotations

from bench.common import BenchResult, ops_per_second
from lwm2m.coap import Code, Message, Options, TcpFramer, Type, encode_tcp

READ = Message(
    Type.CON,
    Code.GET,
    0x1234,
    b"\xde\xad\xbe\xef",
    Options.build(uri_path=["3", "0", "0"], accept=11542),
)
NOTIFY = Message(
    Type.NON,
    Code.CONTENT,
    0x4321,
    b"\xde\xad\xbe\xef",
    Options.build(observe=42, content_format=11543),
    bytes(120),
)
CONTENT = bytes(30)
"""A typical single-resource TLV/CBOR answer."""
ACK, CODE_CONTENT = Type.ACK, Code.CONTENT
"""Held as constants, as a server core holds them: each enum attribute lookup costs ~75 ns."""


def run() -> list[BenchResult]:
    wire = READ.encode()
    notify_wire = NOTIFY.encode()
    frame = encode_tcp(READ)
    stream = frame * 100
    framer = TcpFramer()

    def serve() -> bytes:
        request = Message.decode(wire)
        options = Options.build(content_format=11542)
        response = Message(ACK, CODE_CONTENT, request.message_id, request.token, options, CONTENT)
        return response.encode()

    def fresh_encode() -> bytes:
        # A new Options each time, so the per-instance wire cache never helps.
        options = Options.build(uri_path=["3", "0", "0"], accept=11542)
        return Message(Type.CON, Code.GET, 0x1234, b"\xde\xad\xbe\xef", options).encode()

    def decode_reencode() -> bytes:
        return Message.decode(wire).encode()

    def decode() -> Message:
        return Message.decode(wire)

    def decode_notify() -> Message:
        return Message.decode(notify_wire)

    def tcp_stream() -> list[Message]:
        return framer.feed(stream)

    return [
        BenchResult(
            "coap udp decode request + encode response (2.05 ACK)",
            ops_per_second(serve),
            "msg/s",
            300_000,
        ),
        BenchResult("coap udp decode, LwM2M Read", ops_per_second(decode), "msg/s"),
        BenchResult(
            "coap udp decode, Notify 120 B payload", ops_per_second(decode_notify), "msg/s"
        ),
        BenchResult("coap udp build+encode, LwM2M Read", ops_per_second(fresh_encode), "msg/s"),
        BenchResult(
            "coap udp decode+re-encode, Read (wire cache)",
            ops_per_second(decode_reencode),
            "msg/s",
        ),
        BenchResult(
            "coap tcp framer, 100 Reads per feed", ops_per_second(tcp_stream) * 100, "msg/s"
        ),
    ]
