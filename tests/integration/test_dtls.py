"""DTLS over real loopback UDP: our client and server with CoAP on top, libcoap's OpenSSL and
GnuTLS clients against our server, libcoap's OpenSSL server for our client, and what an
attacker can send to the DTLS port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import Peer, RequestFailed, RequestReceived, ResponseReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, Secret
from lwm2m.security.dtls import (
    DEFAULT_DTLS,
    CipherSuite,
    DtlsClient,
    DtlsConfig,
    DtlsEvent,
    DtlsServer,
    EndReason,
    MbedtlsClientBackend,
    SessionEnded,
    SessionEstablished,
)
from lwm2m.transport.dtls import DtlsCore, open_dtls
from lwm2m.transport.udp import UdpTransport

pytestmark = pytest.mark.timeout(60)

KEY = b"secretPSK-0123"  # libcoap takes the key as text
PSK = Psk(b"device-1", Secret(KEY))
BIG = random.Random(3).randbytes(5000)
CONFIG = EndpointConfig(ack_timeout=0.5, max_latency=1.0, preferred_block_szx=6)
LOGGER = "lwm2m.security.dtls"


def peer_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} missing: `make peers` installs Debian's libcoap3-bin")
    return path


class OurServer:
    """CoAP over DTLS: /small, /big (Block2), /store (PUT, Block1), /whoami (the endpoint
    the PSK identity is bound to)."""

    def __init__(self) -> None:
        self.endpoint = Endpoint(CONFIG, random.Random(7))
        self.transport: UdpTransport[DtlsCore[Endpoint]] | None = None
        self.sessions: list[DtlsEvent] = []
        self.stored = b""

    @property
    def dtls(self) -> DtlsServer:
        assert self.transport is not None and isinstance(self.transport.core.dtls, DtlsServer)
        return self.transport.core.dtls

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.local_address[1]

    def drain(self) -> None:
        assert self.transport is not None
        endpoint, now = self.endpoint, self.transport.now()
        while (event := endpoint.next_event()) is not None:
            if not isinstance(event, RequestReceived):
                continue
            path = event.request.options.uri_path
            if path == ("whoami",):
                identity = self.transport.core.peer_identity(event.exchange.peer)
                assert identity is not None  # plaintext only comes from authenticated peers
                payload = identity.endpoint.encode()
                endpoint.respond(event.exchange, Code.CONTENT, payload=payload, now=now)
            elif path == ("big",):
                endpoint.respond(event.exchange, Code.CONTENT, payload=BIG, now=now)
            elif path == ("store",):
                self.stored = event.request.payload
                endpoint.respond(event.exchange, Code.CHANGED, now=now)
            else:
                endpoint.respond(event.exchange, Code.CONTENT, payload=b"hello", now=now)

    def established(self) -> list[SessionEstablished]:
        return [e for e in self.sessions if isinstance(e, SessionEstablished)]


async def start_server(config: DtlsConfig = DEFAULT_DTLS) -> OurServer:
    store = MemoryPskStore((PskCredential("urn:dev:1", PSK),))
    server = OurServer()
    server.transport = await open_dtls(
        server.endpoint,
        server.drain,
        DtlsServer(store, config),
        on_session=server.sessions.append,
    )
    return server


@pytest.fixture
async def our_server() -> AsyncIterator[OurServer]:
    server = await start_server()
    yield server
    assert server.transport is not None
    server.transport.close()


class OurClient:
    def __init__(self, psk: Psk) -> None:
        self.psk = psk
        self.endpoint = Endpoint(CONFIG, random.Random(11))
        self.transport: UdpTransport[DtlsCore[Endpoint]] | None = None
        self.sessions: list[DtlsEvent] = []
        self.waiting: dict[int, asyncio.Future[Message | None]] = {}

    async def start(self) -> None:
        self.transport = await open_dtls(
            self.endpoint, self.drain, DtlsClient(self.psk), on_session=self.sessions.append
        )

    def drain(self) -> None:
        while (event := self.endpoint.next_event()) is not None:
            if isinstance(event, ResponseReceived | RequestFailed):
                future = self.waiting.pop(event.handle)
                future.set_result(event.response if isinstance(event, ResponseReceived) else None)

    async def request(
        self, peer: Peer, code: Code, path: tuple[str, ...], payload: bytes = b""
    ) -> Message | None:
        assert self.transport is not None
        options = Options().replace(uri_path=path)
        handle = self.endpoint.send_request(
            peer, code, options=options, payload=payload, now=self.transport.now()
        )
        future = self.waiting[handle] = asyncio.get_running_loop().create_future()
        self.transport.pump()
        return await asyncio.wait_for(future, 20)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@contextlib.contextmanager
def our_client(psk: Psk = PSK) -> Iterator[OurClient]:
    client = OurClient(psk)
    try:
        yield client
    finally:
        client.close()


async def libcoap_client(binary: str, *args: str) -> tuple[bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        peer_binary(binary),
        "-B",
        "5",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    return stdout, stderr


# -- our client and our server ----------------------------------------------------------------


async def test_our_client_and_server_get_block2_block1_and_identity(our_server: OurServer) -> None:
    peer = ("127.0.0.1", our_server.port)
    with our_client() as client:
        await client.start()
        response = await client.request(peer, Code.GET, ("whoami",))
        assert response is not None and response.payload == b"urn:dev:1"
        response = await client.request(peer, Code.GET, ("big",))
        assert response is not None and response.payload == BIG
        response = await client.request(peer, Code.PUT, ("store",), BIG)
        assert response is not None and response.code is Code.CHANGED
        assert our_server.stored == BIG
    [established] = our_server.established()
    assert established.identity is not None and established.identity.endpoint == "urn:dev:1"
    assert established.cipher_suite is CipherSuite.PSK_WITH_AES_128_CCM_8
    assert isinstance(client.sessions[0], SessionEstablished)


async def test_our_client_with_a_wrong_key_gets_nothing(
    our_server: OurServer, caplog: pytest.LogCaptureFixture
) -> None:
    peer = ("127.0.0.1", our_server.port)
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        our_client(Psk(b"device-1", Secret(b"wrong"))) as client,
    ):
        await client.start()
        request = asyncio.create_task(client.request(peer, Code.GET, ("whoami",)))
        for _ in range(100):  # the handshake fails at once; CoAP would retry for longer
            if client.sessions:
                break
            await asyncio.sleep(0.02)
        request.cancel()
    [ended] = client.sessions
    assert isinstance(ended, SessionEnded) and ended.reason is EndReason.FAILED
    assert our_server.established() == [] and our_server.dtls.established == 0
    assert "refused" in caplog.text


# -- libcoap clients against our server ---------------------------------------------------------


async def test_libcoap_openssl_client_with_ccm8_only() -> None:
    server = await start_server(DtlsConfig(cipher_suites=(CipherSuite.PSK_WITH_AES_128_CCM_8,)))
    try:
        uri = f"coaps://127.0.0.1:{server.port}/whoami"
        stdout, stderr = await libcoap_client(
            "coap-client-openssl", "-u", "device-1", "-k", KEY.decode(), uri
        )
        assert stdout.strip() == b"urn:dev:1", stderr
        [established] = server.established()
        assert established.cipher_suite is CipherSuite.PSK_WITH_AES_128_CCM_8
    finally:
        assert server.transport is not None
        server.transport.close()


async def test_libcoap_gnutls_client_block2(our_server: OurServer) -> None:
    uri = f"coaps://127.0.0.1:{our_server.port}/big"
    stdout, stderr = await libcoap_client(
        "coap-client-gnutls", "-u", "device-1", "-k", KEY.decode(), "-b", "512", uri
    )
    assert stdout.rstrip(b"\n") == BIG or stdout == BIG, stderr
    [established] = our_server.established()
    assert established.identity is not None and established.identity.identity == b"device-1"


@pytest.mark.parametrize(
    ("identity", "key", "why"),
    [("device-1", "wrong key", "MAC"), ("stranger", KEY.decode(), "unknown PSK identity")],
)
async def test_libcoap_client_refused_then_a_good_one_served(
    our_server: OurServer, caplog: pytest.LogCaptureFixture, identity: str, key: str, why: str
) -> None:
    uri = f"coaps://127.0.0.1:{our_server.port}/small"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        stdout, _ = await libcoap_client("coap-client-openssl", "-u", identity, "-k", key, uri)
    assert b"hello" not in stdout
    assert our_server.established() == []
    assert why in caplog.text and KEY.decode() not in caplog.text
    stdout, _ = await libcoap_client(
        "coap-client-gnutls", "-u", "device-1", "-k", KEY.decode(), uri
    )
    assert stdout.strip() == b"hello"


# -- libcoap server for our client ----------------------------------------------------------------


def free_port_pair() -> int:
    """A port p with p and p + 1 free (libcoap's server takes p for UDP/TCP, p + 1 for DTLS)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port >= 65535:
            continue
        with contextlib.ExitStack() as stack:
            try:
                for p in (port, port + 1):
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        s = stack.enter_context(socket.socket(socket.AF_INET, kind))
                        s.bind(("127.0.0.1", p))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair")


async def test_our_client_against_libcoap_openssl_server() -> None:
    port = free_port_pair()
    server = await asyncio.create_subprocess_exec(
        peer_binary("coap-server-openssl"),
        *("-A", "127.0.0.1", "-p", str(port), "-k", KEY.decode(), "-h", "hint"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        with our_client() as client:
            await client.start()
            response = None
            for _ in range(20):  # until the server is listening
                response = await client.request(("127.0.0.1", port + 1), Code.GET, ())
                if response is not None:
                    break
                await asyncio.sleep(0.1)
            assert response is not None and response.code is Code.CONTENT
            assert b"libcoap" in response.payload
        [established, *_] = client.sessions
        assert isinstance(established, SessionEstablished)
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 10)


# -- what an attacker sends -----------------------------------------------------------------------


async def test_garbage_and_handshake_flood_leave_a_client_served(
    our_server: OurServer, caplog: pytest.LogCaptureFixture
) -> None:
    address = ("127.0.0.1", our_server.port)
    hello = MbedtlsClientBackend(PSK).connect(0.0).datagrams_to_send()[0]
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(100)]
    try:
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            for n, sender in enumerate(senders):  # one port each, never answering the cookie
                sender.sendto(hello, address)
                sender.sendto(b"\x17\xfe\xfd" + bytes(30), address)
                sender.sendto(random.Random(n).randbytes(200), address)
                if n % 10 == 9:
                    await asyncio.sleep(0.005)  # one event loop, one socket buffer
            with our_client() as client:
                await client.start()
                response = await client.request(address, Code.GET, ("whoami",))
            stats = our_server.dtls.stats
            for _ in range(100):  # until the server has seen the whole flood
                if stats.hello_verify_requests >= 101 and stats.dropped_datagrams >= 200:
                    break
                await asyncio.sleep(0.02)
        assert response is not None and response.payload == b"urn:dev:1"
        assert stats.hello_verify_requests == 101 and stats.dropped_datagrams == 200
        assert our_server.dtls.half_open == 0 and our_server.dtls.established == 1
        assert "dropped" in caplog.text
    finally:
        for sender in senders:
            sender.close()
