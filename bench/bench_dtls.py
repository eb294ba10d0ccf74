"""DTLS 1.2 PSK cost on one core, in memory: our server and client cores, no sockets.

- handshakes/s: a full handshake including the HelloVerifyRequest cookie round, CCM_8, server
  and client side both counted in the same time (one core does the work of both);
- secured requests/s: over an established session, the client encrypts a CoAP Read, the server
  decrypts it, encrypts a 2.05 answer, the client decrypts it;
- memory per server session: RSS growth over 1,000 established sessions (mbed TLS allocates
  its record buffers in C, out of tracemalloc's sight).
"""

from __future__ import annotations

import gc
import time

from bench.common import BenchResult, ops_per_second
from lwm2m.coap import Code, Message, Options, Type
from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, Secret
from lwm2m.security.dtls import DtlsClient, DtlsServer

SERVER = ("192.0.2.1", 5684)
PSK = Psk(b"bench-device", Secret(bytes(range(16))))
READ = Message(
    Type.CON, Code.GET, 0x1234, b"\xde\xad\xbe\xef", Options.build(uri_path=["3", "0", "0"])
).encode()
CONTENT = Message(
    Type.ACK,
    Code.CONTENT,
    0x1234,
    b"\xde\xad\xbe\xef",
    Options.build(content_format=11542),
    bytes(30),
).encode()


def _handshake(server: DtlsServer, client: DtlsClient, peer: tuple[str, int]) -> None:
    client.connect(SERVER, 0.0)
    for _ in range(10):
        out = client.datagrams_to_send()
        for data, _ in out:
            server.receive(data, peer, 0.0)
        back = server.datagrams_to_send()
        for data, _ in back:
            client.receive(data, SERVER, 0.0)
        if not out and not back:
            return
    raise AssertionError("handshake did not settle")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def run() -> list[BenchResult]:
    store = MemoryPskStore((PskCredential("urn:bench", PSK),))
    server = DtlsServer(store)
    client = DtlsClient(PSK)
    peer = ("198.51.100.1", 40000)

    def handshake() -> None:
        client.close(SERVER)
        client.datagrams_to_send()
        _handshake(server, client, peer)

    handshakes = ops_per_second(handshake)
    handshake()

    def exchange() -> None:
        client.send(READ, SERVER, 0.0)
        [(record, _)] = client.datagrams_to_send()
        [_request] = server.receive(record, peer, 0.0)
        server.send(CONTENT, peer, 0.0)
        [(record, _)] = server.datagrams_to_send()
        client.receive(record, SERVER, 0.0)

    requests = ops_per_second(exchange)

    count = 1000
    fleet = DtlsServer(store)
    gc.collect()
    before = _rss()
    start = time.perf_counter()
    for port in range(count):
        device = DtlsClient(PSK)
        _handshake(fleet, device, ("198.51.100.2", port))
    elapsed = time.perf_counter() - start
    del device
    gc.collect()
    per_session = (_rss() - before) / count
    assert fleet.established == count
    return [
        BenchResult("dtls handshakes (cookie round, CCM_8, both sides)", handshakes, "/s", 2_000),
        BenchResult("dtls secured request+response", requests, "/s", 20_000),
        BenchResult("dtls server memory per session", per_session / 1024, "KiB", None, False),
        BenchResult("dtls handshakes into 1,000 sessions", count / elapsed, "/s"),
    ]
