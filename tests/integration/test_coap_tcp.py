"""CoAP over TCP and TLS (RFC 8323) on real loopback sockets: our client against our server
(plain and TLS-PSK), and against aiocoap's TCP transports both ways."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable

import aiocoap
import pytest
from aiocoap import resource

from lwm2m.coap.codes import Code
from lwm2m.coap.events import (
    FailureReason,
    NotificationReceived,
    ObservationCancelled,
    ObservationKey,
    PongReceived,
    RequestReceived,
)
from lwm2m.coap.options import Options
from lwm2m.coap.stream import (
    DEFAULT_STREAM,
    CloseReason,
    ConnectionClosed,
    ReleaseReceived,
    StreamConfig,
    StreamEndpoint,
    StreamEvent,
)
from lwm2m.transport.awaited import RequestError
from lwm2m.transport.tcp import Psk, StreamEndpointTransport, StreamPeer

pytestmark = pytest.mark.timeout(30)

BIG = random.Random(1).randbytes(20_000)
KEYS = {"device-1": bytes.fromhex("00112233445566778899aabbccddeeff")}
WAIT = 10


class App:
    """Our server application: /small, /big, /store (PUT), /obs (Observe); records events."""

    def __init__(self) -> None:
        self.stored = b""
        self.events: list[StreamEvent] = []
        self.observers: list[ObservationKey] = []
        self.transport: StreamEndpointTransport | None = None
        self.changed = asyncio.Event()

    def __call__(self, event: StreamEvent) -> None:
        self.events.append(event)
        self.changed.set()
        if not isinstance(event, RequestReceived):
            return
        assert self.transport is not None
        endpoint, now = self.transport.endpoint, self.transport.now()
        request = event.request
        path = request.options.uri_path
        if path == ("store",):
            self.stored = request.payload
            endpoint.respond(event.exchange, Code.CHANGED, now=now)
        elif path == ("big",):
            endpoint.respond(event.exchange, Code.CONTENT, payload=BIG, now=now)
        elif path == ("obs",):
            key = endpoint.respond(event.exchange, Code.CONTENT, payload=b"0", now=now)
            if key is not None:
                self.observers.append(key)
        elif path == ("small",):
            endpoint.respond(event.exchange, Code.CONTENT, payload=b"hello", now=now)
        elif path == ("echo",):
            endpoint.respond(event.exchange, Code.CONTENT, payload=request.payload, now=now)
        else:
            endpoint.respond(event.exchange, Code.NOT_FOUND, now=now)

    async def wait_for(self, check: Callable[[], object]) -> None:
        async with asyncio.timeout(WAIT):
            while not check():
                self.changed.clear()
                await self.changed.wait()


async def _serve(
    config: StreamConfig = DEFAULT_STREAM, psk: Callable[[str], bytes | None] | None = None
) -> tuple[App, tuple[str, int]]:
    app = App()
    app.transport = StreamEndpointTransport(StreamEndpoint(config, random.Random(7)), app)
    address = await app.transport.listen(psk=psk)
    return app, address


@pytest.fixture
async def server() -> AsyncIterator[tuple[App, tuple[str, int]]]:
    app, address = await _serve(StreamConfig(max_message_size=1152))
    yield app, address
    assert app.transport is not None
    app.transport.close()


@pytest.fixture
async def client() -> AsyncIterator[App]:
    app = App()
    app.transport = StreamEndpointTransport(StreamEndpoint(rng=random.Random(8)), app)
    yield app
    app.transport.close()


def _path(path: str, **fields: object) -> Options:
    return Options.build(uri_path=path.split("/"), **fields)  # type: ignore[arg-type]


# -- ours against ours -------------------------------------------------------------------------


async def test_requests_block_wise_and_pipelined(
    server: tuple[App, tuple[str, int]], client: App
) -> None:
    app, address = server
    assert client.transport is not None
    peer = await client.transport.connect(address)
    small = await client.transport.request(peer, Code.GET, options=_path("small"))
    assert small.code is Code.CONTENT and small.payload == b"hello"
    # The server accepts 1152-byte messages: the PUT goes block-wise, and so does the answer.
    stored = await client.transport.request(peer, Code.PUT, options=_path("store"), payload=BIG)
    assert stored.code is Code.CHANGED and app.stored == BIG
    big = await client.transport.request(peer, Code.GET, options=_path("big"))
    assert big.payload == BIG
    answers = await asyncio.gather(
        *(
            client.transport.request(peer, Code.POST, options=_path("echo"), payload=b"%d" % i)
            for i in range(200)
        )
    )
    assert [a.payload for a in answers] == [b"%d" % i for i in range(200)]


async def test_observe_and_server_request_over_the_client_connection(
    server: tuple[App, tuple[str, int]], client: App
) -> None:
    app, address = server
    assert client.transport is not None and app.transport is not None
    peer = await client.transport.connect(address)
    first = await client.transport.request(peer, Code.GET, options=_path("obs", observe=0))
    assert first.options.observe is not None
    key = app.observers[0]
    server_side_peer = key.peer
    assert isinstance(server_side_peer, StreamPeer) and server_side_peer.address[1] != address[1]
    for value in (b"1", b"2", b"3"):
        app.transport.endpoint.notify(key, Code.CONTENT, payload=value, now=app.transport.now())
    app.transport.pump()
    notes = lambda: [e for e in client.events if isinstance(e, NotificationReceived)]  # noqa: E731
    await client.wait_for(lambda: len(notes()) == 3)
    assert [n.notification.payload for n in notes()] == [b"1", b"2", b"3"]
    # The server's own request to the device goes over the device's connection.
    answer = await app.transport.request(server_side_peer, Code.GET, options=_path("small"))
    assert answer.payload == b"hello"
    client.transport.close()  # the device goes away: its observation ends with it
    await app.wait_for(lambda: any(isinstance(e, ConnectionClosed) for e in app.events))
    cancelled = [e for e in app.events if isinstance(e, ObservationCancelled)]
    assert cancelled == [ObservationCancelled(key, FailureReason.RESET)]


async def test_release_then_abort(server: tuple[App, tuple[str, int]], client: App) -> None:
    app, address = server
    assert client.transport is not None and app.transport is not None
    peer = await client.transport.connect(address)
    await client.transport.request(peer, Code.GET, options=_path("small"))
    server_peer = app.transport.peers[0]
    app.transport.endpoint.release(server_peer, app.transport.now(), diagnostic="moving")
    app.transport.pump()
    await client.wait_for(lambda: any(isinstance(e, ConnectionClosed) for e in client.events))
    release = next(e for e in client.events if isinstance(e, ReleaseReceived))
    assert release.release.diagnostic == "moving"
    closed = [e for e in client.events if isinstance(e, ConnectionClosed)]
    assert closed[0].reason is CloseReason.RELEASED
    await app.wait_for(lambda: any(isinstance(e, ConnectionClosed) for e in app.events))
    assert not app.transport.peers
    with pytest.raises(Exception, match="no connection"):
        await client.transport.request(peer, Code.GET)
    # A new connection is a new peer; an abort closes it at once on both sides.
    second = await client.transport.connect(address)
    assert second != peer
    await client.transport.request(second, Code.GET, options=_path("small"))
    client.transport.endpoint.abort(second, client.transport.now(), diagnostic="bye")
    client.transport.pump()
    await app.wait_for(
        lambda: (
            [e.reason for e in app.events if isinstance(e, ConnectionClosed)]
            == [CloseReason.RELEASED, CloseReason.PEER_ABORTED]
        )
    )


async def test_garbage_on_the_port_is_aborted_and_the_server_serves_on(
    server: tuple[App, tuple[str, int]], client: App
) -> None:
    _, address = server
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"\xff" * 64)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), WAIT)  # until the server closes
    assert b"\xe5" in data  # 7.05 Abort, after the server's CSM
    writer.close()
    assert client.transport is not None
    peer = await client.transport.connect(address)
    assert (await client.transport.request(peer, Code.GET, options=_path("small"))).payload


# -- TLS with PSK ------------------------------------------------------------------------------


async def test_tls_psk_between_our_client_and_server(client: App) -> None:
    app, address = await _serve(psk=KEYS.get)
    assert client.transport is not None and app.transport is not None
    try:
        peer = await client.transport.connect(address, Psk("device-1", KEYS["device-1"]))
        big = await client.transport.request(peer, Code.GET, options=_path("big"))
        assert big.payload == BIG
        stored = await client.transport.request(peer, Code.PUT, options=_path("store"), payload=BIG)
        assert stored.code is Code.CHANGED and app.stored == BIG
        server_peer = app.transport.peers[0]
        assert server_peer.identity == "device-1"  # the identity the peer proved
        for wrong in (Psk("device-1", bytes(16)), Psk("nobody", KEYS["device-1"])):
            with pytest.raises((ConnectionError, TimeoutError)):
                await client.transport.connect(address, wrong, timeout=5)
        assert app.transport.peers == [server_peer]  # refused before the core saw them
        assert "key" not in repr(Psk("device-1", KEYS["device-1"])).lower().replace("psk", "")
    finally:
        app.transport.close()


async def test_tls_port_refuses_plain_coap(client: App) -> None:
    app, address = await _serve(psk=KEYS.get)
    assert client.transport is not None and app.transport is not None
    try:
        peer = await client.transport.connect(address)  # TCP is up; TLS never will be
        with pytest.raises(RequestError) as error:
            await client.transport.request(peer, Code.GET, timeout=5)
        assert error.value.event.reason is FailureReason.RESET  # type: ignore[union-attr]
        assert not app.transport.peers
    finally:
        app.transport.close()


async def test_request_timeout_over_a_silent_connection(client: App) -> None:
    silent = StreamEndpointTransport(StreamEndpoint(), None)  # accepts, never answers
    address = await silent.listen()
    assert client.transport is not None
    try:
        peer = await client.transport.connect(address)
        with pytest.raises(RequestError) as error:
            await client.transport.request(peer, Code.GET, timeout=0.2)
        assert error.value.event.reason is FailureReason.TIMEOUT  # type: ignore[union-attr]
    finally:
        silent.close()


# -- aiocoap -----------------------------------------------------------------------------------


async def test_aiocoap_tcp_client_against_our_server(server: tuple[App, tuple[str, int]]) -> None:
    app, (host, port) = server
    context = await aiocoap.Context.create_client_context(transports=["tcpclient"])
    try:
        base = f"coap+tcp://{host}:{port}"
        small = await asyncio.wait_for(
            context.request(aiocoap.Message(code=aiocoap.GET, uri=f"{base}/small")).response,
            WAIT,
        )
        assert small.code == aiocoap.CONTENT and small.payload == b"hello"
        put = aiocoap.Message(code=aiocoap.PUT, uri=f"{base}/store", payload=BIG)
        stored = await asyncio.wait_for(context.request(put).response, WAIT)
        assert stored.code == aiocoap.CHANGED and app.stored == BIG
        big = await asyncio.wait_for(
            context.request(aiocoap.Message(code=aiocoap.GET, uri=f"{base}/big")).response, WAIT
        )
        assert big.payload == BIG
        observation = context.request(
            aiocoap.Message(code=aiocoap.GET, uri=f"{base}/obs", observe=0)
        )
        first = await asyncio.wait_for(observation.response, WAIT)
        assert first.payload == b"0"
        assert app.transport is not None
        key = app.observers[0]
        notifications = observation.observation.__aiter__()
        app.transport.endpoint.notify(key, Code.CONTENT, payload=b"1", now=app.transport.now())
        app.transport.pump()
        note = await asyncio.wait_for(notifications.__anext__(), WAIT)
        assert note.payload == b"1"
        observation.observation.cancel()
    finally:
        await context.shutdown()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Store(resource.Resource):
    def __init__(self) -> None:
        super().__init__()
        self.body = b"initial"

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=aiocoap.CONTENT, payload=self.body)

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        self.body = request.payload
        return aiocoap.Message(code=aiocoap.CHANGED)


class _Clock(resource.ObservableResource):
    def __init__(self) -> None:
        super().__init__()
        self.value = 0

    def tick(self) -> None:
        self.value += 1
        self.updated_state()

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=aiocoap.CONTENT, payload=b"%d" % self.value)


@pytest.mark.filterwarnings("ignore:Initializing messages with a token:DeprecationWarning")
async def test_our_client_against_aiocoap_tcp_server(client: App) -> None:
    store, clock = _Store(), _Clock()
    site = resource.Site()
    site.add_resource(["store"], store)
    site.add_resource(["clock"], clock)
    port = _free_port()
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", port), transports=["tcpserver"]
    )
    assert client.transport is not None
    try:
        peer = await client.transport.connect(("127.0.0.1", port))
        put = await client.transport.request(peer, Code.PUT, options=_path("store"), payload=BIG)
        assert put.code is Code.CHANGED and store.body == BIG
        got = await client.transport.request(peer, Code.GET, options=_path("store"))
        assert got.payload == BIG
        first = await client.transport.request(peer, Code.GET, options=_path("clock", observe=0))
        assert first.payload == b"0"
        notes = lambda: [e for e in client.events if isinstance(e, NotificationReceived)]  # noqa: E731
        for count in (1, 2):  # one at a time: aiocoap sends only the latest of quick changes
            clock.tick()
            await client.wait_for(lambda: len(notes()) == count)  # noqa: B023
        assert [n.notification.payload for n in notes()] == [b"1", b"2"]
        ping = client.transport.endpoint.ping(peer, client.transport.now())
        client.transport.pump()
        await client.wait_for(lambda: PongReceived(ping) in client.events)
    finally:
        await context.shutdown()
