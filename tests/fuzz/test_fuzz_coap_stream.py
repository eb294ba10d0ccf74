"""Seeded fuzzing of the RFC 8323 connection core: mutated and random byte streams, cut at
random places, never make it raise; it serves them, answers 4.02 or aborts, and once closed it
has said so with its last event and goes quiet. Deterministic (fixed seeds) to reproduce."""

from __future__ import annotations

import contextlib
import random

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import RequestReceived
from lwm2m.coap.options import Options
from lwm2m.coap.stream import ConnectionClosed, StreamConfig, StreamConnection
from lwm2m.coap.tcp import Abort, Csm, TcpFramer, encode_tcp
from tests.unit.test_coap_stream import Observed, Pair, _changed, _session_stream

CASES = 10_000
CONFIG = StreamConfig(max_message_size=1152)


def _seed_streams() -> list[bytes]:
    """What real clients write: a busy session, and an observer answering notifications."""
    stream, _ = _session_stream()
    app = Observed()
    pair = Pair(CONFIG, CONFIG, responder=app)
    pair.client.send_request(Code.GET, options=Options.build(observe=0), now=0)
    pair.flush()
    assert app.keys
    for key in app.keys:
        pair.server.notify(key, Code.CONTENT, payload=bytes(3000), now=0)
    pair.flush()
    return [stream, b"".join(pair.wire["client"]), b"".join(pair.wire["server"])]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randrange(len(buffer) + 1)
        if choice < 0.5 and buffer:
            buffer[min(position, len(buffer) - 1)] = rng.randrange(256)
        elif choice < 0.7:
            buffer[position:position] = rng.randbytes(rng.randint(1, 8))
        elif choice < 0.9:
            del buffer[position : position + rng.randint(1, 16)]
        else:
            buffer[position:position] = buffer[: rng.randint(1, 64)]  # a repeated head
    return bytes(buffer)


def _run(stream: bytes, rng: random.Random) -> None:
    connection = StreamConnection("peer", 0.0, CONFIG, random.Random(0))
    position, now = 0, 0.0
    while position < len(stream):
        step = rng.randint(1, 400)
        connection.receive_data(stream[position : position + step], now)
        position += step
        now += rng.random()
        connection.handle_timer(now)
        while (event := connection.next_event()) is not None:
            if isinstance(event, RequestReceived) and rng.random() < 0.9:
                # Closed later in the same bytes: the request is stale, as owners expect.
                with contextlib.suppress(StaleHandleError):
                    _changed(connection, event, now)
            last = event
        written = connection.data_to_send()
        TcpFramer(1 << 20).feed(written)  # what we write is always well-framed
        if connection.closed:
            assert isinstance(last, ConnectionClosed)
            if last.reason.value == "aborted":
                assert Abort.from_message(TcpFramer(1 << 20).feed(written)[-1]) is not None
            connection.receive_data(stream[position:], now)
            assert connection.data_to_send() == b"" and connection.next_event() is None
            return


def test_mutated_streams() -> None:
    rng = random.Random(8323)
    seeds = _seed_streams()
    for _ in range(CASES):
        _run(_mutate(rng, rng.choice(seeds)), rng)


def test_random_streams_after_a_csm() -> None:
    rng = random.Random(7)
    csm = encode_tcp(Csm().to_message())
    for _ in range(CASES):
        _run(csm + rng.randbytes(rng.randint(1, 600)), rng)
