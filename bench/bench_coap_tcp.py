"""CoAP over TCP (RFC 8323) throughput: requests through two StreamConnections in memory.

A round trip is the whole cycle both cores do per request: the client builds and frames a
Read, the server reassembles it from the byte stream, the application answers 2.05, and the
client matches the response by token. Batches of 100 pipelined requests share one write,
as on a busy connection; the single figure sends each request alone.
"""

from __future__ import annotations

import random

from bench.common import BenchResult, ops_per_second
from lwm2m.coap.codes import Code
from lwm2m.coap.events import RequestReceived, ResponseReceived
from lwm2m.coap.options import Options
from lwm2m.coap.stream import StreamConnection

READ = Options.build(uri_path=["3", "0", "0"], accept=11542)
CONTENT_FORMAT = Options.build(content_format=11542)
CONTENT = bytes(30)
"""A typical single-resource TLV/CBOR answer."""
BATCH = 100


def _pair() -> tuple[StreamConnection, StreamConnection]:
    client = StreamConnection("server", 0.0, rng=random.Random(1))
    server = StreamConnection("client", 0.0, rng=random.Random(2))
    server.receive_data(client.data_to_send(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    for side in (client, server):
        while side.next_event() is not None:
            pass
    return client, server


def _round_trip(client: StreamConnection, server: StreamConnection, count: int) -> int:
    for _ in range(count):
        client.send_request(Code.GET, options=READ, now=0.0)
    server.receive_data(client.data_to_send(), 0.0)
    while (event := server.next_event()) is not None:
        assert isinstance(event, RequestReceived)
        server.respond(
            event.exchange, Code.CONTENT, options=CONTENT_FORMAT, payload=CONTENT, now=0.0
        )
    client.receive_data(server.data_to_send(), 0.0)
    answered = 0
    while (event := client.next_event()) is not None:
        assert isinstance(event, ResponseReceived)
        answered += 1
    assert answered == count
    return answered


def run() -> list[BenchResult]:
    client, server = _pair()
    single = ops_per_second(lambda: _round_trip(client, server, 1))
    pipelined = ops_per_second(lambda: _round_trip(client, server, BATCH)) * BATCH
    return [
        BenchResult("coap+tcp request/response, one at a time (in memory)", single, "req/s"),
        BenchResult(
            f"coap+tcp request/response, {BATCH} pipelined (in memory)", pipelined, "req/s"
        ),
    ]
