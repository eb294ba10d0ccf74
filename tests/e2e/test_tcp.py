"""CoAP over TCP and TLS (RFC 8323, binding T) end to end: our LwM2MClient registers with our
LwM2MServer over ``coap+tcp://`` and ``coaps+tcp://`` (PSK), is managed over its connection,
is refused under another endpoint's identity, comes back after its connection drops, keeps an
idle connection alive with Pings and backs off from a server that is gone."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest

from lwm2m.cli.main import main
from lwm2m.client.device import NBIOT_TCP, LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientEvent, RegistrationFailed
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.codes import Code
from lwm2m.coap.options import Options
from lwm2m.coap.stream import ConnectionClosed, StreamConfig, StreamEndpoint
from lwm2m.coap.tcp import TcpFramer
from lwm2m.model import Path, node_to_values
from lwm2m.operations import EmptyResponse, NodeResponse
from lwm2m.security.credentials import Psk, PskCredential, Secret
from lwm2m.server import (
    Deregistered,
    LwM2MServer,
    NotificationReceived,
    Registered,
    SendReceived,
    ServerConfig,
    ServerEvent,
    Updated,
)
from lwm2m.server.errors import RequestFailedError
from lwm2m.transport.tcp import StreamEndpointTransport, StreamPeer, StreamTransport
from tests.e2e.conftest import EP, FAST, WAIT, eventually

pytestmark = pytest.mark.timeout(30)
T = TypeVar("T")

KEY = b"secretPSK-0123"
OTHER = "urn:imei:490154203237518"
QUICK_PINGS = StreamConfig(ping_interval=0.1, pong_timeout=0.1)
RETRY = ClientConfig(retry_base=0.2, retry_cap=0.5)


@dataclass
class World:
    server: LwM2MServer
    events: list[ServerEvent] = field(default_factory=list)
    clients: list[LwM2MClient] = field(default_factory=list)

    def client(
        self,
        uri: str,
        endpoint: str = EP,
        identity: bytes | None = None,
        tcp: StreamConfig = NBIOT_TCP,
    ) -> tuple[LwM2MClient, list[ClientEvent]]:
        account = ServerAccount(
            1,
            uri,
            lifetime=30,
            binding="T",
            default_pmin=0,
            default_pmax=0,
            psk_identity=identity,
            psk_key=KEY if identity is not None else b"",
        )
        events: list[ClientEvent] = []
        client = LwM2MClient(
            telekom_device(endpoint, seed=7, now=time.time(), servers=[account]),
            endpoint,
            config=RETRY,
            coap=FAST,
            seed=7,
            on_event=events.append,
            tcp=tcp,
        )
        self.clients.append(client)
        return client, events

    def seen(self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]


async def wait(events: list[Any], kind: type[T], count: int = 1) -> T:
    def found() -> T | None:
        matching = [e for e in events if isinstance(e, kind)]
        return matching[count - 1] if len(matching) >= count else None

    return await eventually(found, WAIT)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, tcp_port=0, tls_port=0, coap=FAST)
    )
    server.set_credential(PskCredential(OTHER, Psk(b"dev-2", Secret(KEY))))
    await server.start()
    setup = World(server)
    server.subscribe(setup.events.append)
    try:
        yield setup
    finally:
        for client in setup.clients:
            await client.stop(timeout=1.0)
        await server.stop()


def tcp_uri(world: World) -> str:
    return "coap+tcp://{}:{}".format(*world.server.tcp_address)


def tls_uri(world: World) -> str:
    return "coaps+tcp://{}:{}".format(*world.server.tls_address)


async def test_register_read_write_observe_over_tcp(world: World) -> None:
    client, _ = world.client(tcp_uri(world))
    await client.start()
    registered = await wait(world.events, Registered)
    registration = registered.registration
    assert registration.binding == "T"
    assert isinstance(registration.address, StreamPeer)
    assert registration.address.identity is None

    read = await world.server.read(EP, "/3/0/0")
    assert node_to_values(Path.parse("/3/0/0"), cast(NodeResponse, read).node) == {
        Path.parse("/3/0/0"): client.tree.object(3).read(0, 0)
    }
    write = await world.server.write(EP, "/1/0", {"/1/0/1": 120}, partial=True)
    assert isinstance(write, EmptyResponse)
    assert client.tree.object(1).read(0, 1) == 120

    observed = await world.server.observe(EP, "/3/0/9")
    assert isinstance(observed, NodeResponse)
    device = client.tree.object(3)
    assert isinstance(device, SimpleObject)
    device.set(0, 9, 42)
    notification = await wait(world.events, NotificationReceived)
    assert notification.endpoint == EP
    assert notification.values == {Path.parse("/3/0/9"): 42}


async def test_register_over_tls_with_psk(world: World) -> None:
    client, _ = world.client(tls_uri(world), OTHER, identity=b"dev-2")
    await client.start()
    registered = await wait(world.events, Registered)
    assert registered.registration.endpoint == OTHER
    address = registered.registration.address
    assert isinstance(address, StreamPeer) and address.identity == "dev-2"
    assert isinstance(await world.server.read(OTHER, "/3/0/0"), NodeResponse)


async def test_a_removed_credential_closes_its_tls_connection(world: World) -> None:
    client, _ = world.client(tls_uri(world), OTHER, identity=b"dev-2")
    await client.start()
    address = (await wait(world.events, Registered)).registration.address
    assert world.server._tcp is not None
    tcp = world.server._tcp
    credential = world.server.credentials.get(OTHER)
    assert credential is not None and not world.server.set_credential(credential)
    await asyncio.sleep(0.05)
    assert address in tcp.peers  # an unchanged credential closes nothing

    assert world.server.remove_credential(OTHER)
    await eventually(lambda: address not in tcp.peers or None, WAIT)
    with pytest.raises(RequestFailedError, match="not connected"):
        await world.server.read(OTHER, "/3/0/0")


async def test_deregistration_closes_the_tcp_connection(world: World) -> None:
    """A bare CoAP over TCP peer that would keep its connection open: the server closes it."""
    events: list[Any] = []
    transport = StreamEndpointTransport(StreamEndpoint(), events.append)
    try:
        peer = await transport.connect(world.server.tcp_address)
        query = (f"ep={EP}", "b=T", "lt=30", "lwm2m=1.1")
        register = Options.build(uri_path=("rd",), uri_query=query, content_format=40)
        created = await transport.request(peer, Code.POST, options=register, payload=b"</3/0>")
        assert created.code == Code.CREATED
        location = Options.build(uri_path=created.options.location_path)
        deleted = await transport.request(peer, Code.DELETE, options=location)
        assert deleted.code == Code.DELETED  # the answer goes out before the connection closes
        closed = await wait(events, ConnectionClosed)
        assert closed.peer == peer
        assert world.seen(Deregistered)
        assert not world.server._core.stream._connections
    finally:
        transport.close()


async def test_tls_identity_bound_to_another_endpoint_is_forbidden(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "lwm2m.server.server")
    client, events = world.client(tls_uri(world), EP, identity=b"dev-2")
    await client.start()
    failed = await wait(events, RegistrationFailed)
    assert failed.code == Code.FORBIDDEN
    assert not world.seen(Registered)
    assert "its PSK identity is bound to 'urn:imei:490154203237518'" in caplog.text


async def test_nosec_tcp_refused_for_an_endpoint_with_a_psk(world: World) -> None:
    client, events = world.client(tcp_uri(world), OTHER)
    await client.start()
    failed = await wait(events, RegistrationFailed)
    assert failed.code == Code.FORBIDDEN


async def test_reconnects_after_the_connection_drops(world: World) -> None:
    client, events = world.client(tcp_uri(world))
    await client.start()
    first = (await wait(world.events, Registered)).registration.address
    await wait(events, ClientRegistered)
    assert client._tcp is not None
    for connection in list(client._tcp._connections.values()):
        connection._transport.abort()  # type: ignore[union-attr]  # the network drops it

    updated = await wait(world.events, Updated)
    second = updated.registration.address
    assert isinstance(second, StreamPeer) and second != first
    assert isinstance(await world.server.read(EP, "/3/0/0"), NodeResponse)


async def test_request_to_a_gone_connection_fails(world: World) -> None:
    client, _ = world.client(tcp_uri(world))
    await client.start()
    await wait(world.events, Registered)
    client._close()  # gone without a De-register (a crash, say): the registration stays
    world.clients.clear()
    await eventually(lambda: world.server._core.stream.__len__() == 0 or None, WAIT)
    with pytest.raises(RequestFailedError, match="not connected"):
        await world.server.read(EP, "/3/0/0")


async def test_cli_client_sends_over_tls(world: World, capsysbinary: Any) -> None:
    argv = ["client", "--server", tls_uri(world), "--endpoint", OTHER, "--send", "/3/0/9"]
    argv += ["--psk-identity", "dev-2", "--psk-key", KEY.hex(), "--lifetime", "30"]
    assert await asyncio.to_thread(main, argv) == 0
    assert world.seen(Registered)[0].registration.binding == "T"
    assert world.seen(SendReceived)[0].endpoint == OTHER


async def test_keepalive_pings_hold_an_idle_connection(world: World) -> None:
    assert world.server._tcp is not None
    tcp = world.server._tcp
    received: list[bytes] = []
    deliver = tcp._received

    def spy(connection: Any, data: bytes) -> None:
        received.append(data)
        deliver(connection, data)

    tcp._received = spy  # type: ignore[method-assign]
    client, _ = world.client(tcp_uri(world), tcp=QUICK_PINGS)
    await client.start()
    first = (await wait(world.events, Registered)).registration.address
    await asyncio.sleep(0.6)  # six ping intervals, nothing else to say

    codes = [message.code for message in TcpFramer().feed(b"".join(received))]
    register = codes.index(Code.POST)
    assert codes[:register] == [Code.CSM]
    after = codes[register + 1 :]
    assert len(after) >= 3 and set(after) == {Code.PING}  # the server heard only Pings
    assert client._tcp is not None and len(client._tcp.peers) == 1
    assert tcp.peers == [first] and not world.seen(Updated)
    assert isinstance(await world.server.read(EP, "/3/0/0"), NodeResponse)


async def test_an_unanswered_ping_drops_the_connection_and_the_client_reconnects(
    world: World,
) -> None:
    client, _ = world.client(tcp_uri(world), tcp=QUICK_PINGS)
    await client.start()
    first = (await wait(world.events, Registered)).registration.address
    assert client._tcp is not None and world.server._tcp is not None
    [dropped] = client._tcp.peers
    hung = world.server._tcp._connections[first]._transport
    assert hung is not None
    hung.pause_reading()  # the server hangs: our Pings go unanswered, the connection stays up

    updated = await wait(world.events, Updated)
    assert updated.registration.address != first
    assert dropped not in client._tcp.peers and len(client._tcp.peers) == 1
    assert isinstance(await world.server.read(EP, "/3/0/0"), NodeResponse)


async def test_connection_attempts_back_off_while_the_server_is_gone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on (until the server comes back)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempts: list[float] = []
    connect = StreamTransport.connect

    async def counted(self: StreamTransport[Any], *args: Any, **kwargs: Any) -> StreamPeer:
        attempts.append(time.monotonic())
        return await connect(self, *args, **kwargs)

    monkeypatch.setattr(StreamTransport, "connect", counted)
    client, events = world.client(f"coap+tcp://127.0.0.1:{port}")
    await client.start()
    window = time.monotonic() + 1.0
    while time.monotonic() < window:  # something asks to reach the server all the time
        client.trigger_update()
        await asyncio.sleep(0.01)

    assert 3 <= len(attempts) <= 6, attempts  # about 100 without a back-off
    for failed, (before, after) in enumerate(itertools.pairwise(attempts)):
        lowest = min(RETRY.retry_cap, RETRY.retry_base * 2**failed) / 2
        assert after - before >= lowest - 0.01

    back = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, tcp_port=port, coap=FAST))
    await back.start()
    try:
        await wait(events, ClientRegistered)
        assert client._links is not None
        assert client._links.connect_at(("127.0.0.1", port)) == 0.0  # the success reset it
        await client.stop(timeout=1.0)
    finally:
        await back.stop()
