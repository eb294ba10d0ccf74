"""End-to-end harness: our LwM2MServer and our LwM2MClient (a Telekom-profile device) over
real loopback UDP, with a relay between them that records every datagram that crosses.

``device`` starts a server on an ephemeral port, a :class:`Tap` in front of it and a device
that registers through the tap; ``@pytest.mark.device(binding="UQ", lifetime=5, ...)``
changes the device's account or timings (see :func:`device`).  Lifetimes, CoAP timeouts and
awake windows are short so that every case takes well under a second or two.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import httpx
import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientEvent
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap import Message
from lwm2m.coap.config import EndpointConfig
from lwm2m.server import LwM2MServer, Registered, ServerConfig, ServerEvent
from lwm2m.web.serving import WebServer

EP = "urn:imei:356938035643809"
WAIT = 5.0
FAST = EndpointConfig(ack_timeout=0.3, max_retransmit=2, max_latency=0.5)
"""Retransmissions after 0.3-0.45 s, give-up after about 3 s: loopback loses nothing."""

Peer = tuple[str, int]
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "device(**options): the e2e device's account and timings (see conftest)"
    )


async def eventually(check: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check}")
        await asyncio.sleep(0.01)
    return result


@dataclass(frozen=True, slots=True)
class Crossed:
    """One datagram through the tap: ``up`` is client to server; ``message`` None: not CoAP."""

    up: bool
    at: float
    data: bytes
    message: Message | None


class Tap(asyncio.DatagramProtocol):
    """A UDP relay for one client: the client sends to :attr:`address`, the server sees the
    relay's second socket (on ``host``).  :attr:`server` may be pointed elsewhere (a
    restarted server)."""

    def __init__(self, server: Peer, *, host: str = "127.0.0.1") -> None:
        self.server = server
        self.host = host
        self.log: list[Crossed] = []
        self.drop: Callable[[Crossed], bool] = lambda crossed: False
        self._client: Peer | None = None
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self, up=True), local_addr=("127.0.0.1", 0)
        )
        self._back, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self, up=False), local_addr=(self.host, 0)
        )

    @property
    def address(self) -> Peer:
        """Where the client sends to."""
        assert self._front is not None
        return cast(Peer, self._front.get_extra_info("sockname")[:2])

    @property
    def client_address(self) -> Peer:
        """Where the server sees the client."""
        assert self._back is not None
        return cast(Peer, self._back.get_extra_info("sockname")[:2])

    def relay(self, data: bytes, peer: Peer, *, up: bool) -> None:
        try:
            message: Message | None = Message.decode(data)
        except Exception:
            message = None
        crossed = Crossed(up, time.monotonic(), data, message)
        self.log.append(crossed)
        if self.drop(crossed):
            return
        if up:
            self._client = peer
            assert self._back is not None
            self._back.sendto(data, self.server)
        elif self._client is not None and self._front is not None:
            self._front.sendto(data, self._client)

    def messages(self, *, up: bool, since: int = 0) -> list[Message]:
        """CoAP messages in one direction, from ``log[since]`` on."""
        return [c.message for c in self.log[since:] if c.up == up and c.message is not None]

    def exchanges(self, since: int = 0) -> list[tuple[Message, Message | None]]:
        """Server requests from ``log[since]`` on, each with the client's answer (if any)."""
        up = self.messages(up=True, since=since)
        return [
            (
                request,
                next((m for m in up if m.token == request.token and m.code.is_response), None),
            )
            for request in self.messages(up=False, since=since)
            if request.code.is_request
        ]

    def exchange(self, since: int = 0) -> tuple[Message, Message]:
        """The one server request from ``log[since]`` on and the client's answer."""
        ((request, response),) = self.exchanges(since)
        assert response is not None, request
        return request, response

    def close(self) -> None:
        for side in (self._front, self._back):
            if side is not None:
                side.close()


class _Side(asyncio.DatagramProtocol):
    def __init__(self, tap: Tap, *, up: bool) -> None:
        self.tap = tap
        self.up = up

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.tap.relay(data, cast(Peer, addr[:2]), up=self.up)

    def error_received(self, exc: Exception) -> None:
        """Loopback ICMP errors (a peer gone) change nothing: CoAP timeouts decide."""


@dataclass
class Device:
    """A registered device and everything around it."""

    server: LwM2MServer
    tap: Tap
    client: LwM2MClient
    tree: ObjectTree
    server_events: list[ServerEvent] = field(default_factory=list)
    client_events: list[ClientEvent] = field(default_factory=list)
    ep: str = EP

    def object(self, object_id: int) -> SimpleObject:
        obj = self.tree.object(object_id)
        assert isinstance(obj, SimpleObject)
        return obj

    def server_seen(self, kind: type[T]) -> list[T]:
        return [e for e in self.server_events if isinstance(e, kind)]

    def client_seen(self, kind: type[T]) -> list[T]:
        return [e for e in self.client_events if isinstance(e, kind)]

    async def wait_server(self, kind: type[T], count: int = 1, timeout: float = WAIT) -> T:
        """The ``count``-th server event of ``kind``."""
        found = await eventually(lambda: len(self.server_seen(kind)) >= count or None, timeout)
        assert found
        return self.server_seen(kind)[count - 1]

    async def wait_client(self, kind: type[T], count: int = 1, timeout: float = WAIT) -> T:
        """The ``count``-th client event of ``kind``."""
        found = await eventually(lambda: len(self.client_seen(kind)) >= count or None, timeout)
        assert found
        return self.client_seen(kind)[count - 1]


DEFAULTS: dict[str, Any] = {
    "binding": "U",
    "lifetime": 30,
    "default_pmin": 0,
    "default_pmax": 0,
    "lwm2m_version": "1.1",
    "awake_window": 0.5,
    "server_awake_window": 0.4,
}


async def start_server(awake_window: float = 0.4) -> LwM2MServer:
    server = LwM2MServer(
        ServerConfig(
            host="127.0.0.1", coap_port=0, coap=FAST, awake_window=awake_window, expiry_grace=0.5
        )
    )
    await server.start()
    return server


@pytest.fixture
async def device(request: pytest.FixtureRequest) -> AsyncIterator[Device]:
    """A server, a tap and a registered device; ``@pytest.mark.device(...)`` overrides
    :data:`DEFAULTS` (``register=False``: started, not waited for)."""
    marker = request.node.get_closest_marker("device")
    options = {**DEFAULTS, **(marker.kwargs if marker else {})}
    server = await start_server(options["server_awake_window"])
    tap = Tap(server.coap_address)
    await tap.start()
    account = ServerAccount(
        short_server_id=1,
        uri=f"coap://{tap.address[0]}:{tap.address[1]}",
        lifetime=options["lifetime"],
        default_pmin=options["default_pmin"],
        default_pmax=options["default_pmax"],
        binding=options["binding"],
    )
    tree = telekom_device(EP, seed=7, now=time.time(), servers=[account])
    dev = Device(server, tap, cast(LwM2MClient, None), tree)
    server.subscribe(dev.server_events.append)
    dev.client = LwM2MClient(
        tree,
        EP,
        local_address=("127.0.0.1", 0),
        config=ClientConfig(
            lwm2m_version=options["lwm2m_version"],
            awake_window=options["awake_window"],
            retry_base=0.2,
            retry_cap=0.5,
        ),
        coap=FAST,
        seed=7,
        on_event=dev.client_events.append,
    )
    await dev.client.start()
    try:
        if options.get("register", True):
            await dev.wait_server(Registered)
            await dev.wait_client(ClientRegistered)
        yield dev
    finally:
        await dev.client.stop(timeout=2.0)
        tap.close()
        await dev.server.stop()


@pytest.fixture
async def rest(device: Device) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the REST API in front of the device's server."""
    web = WebServer(device.server, host="127.0.0.1", port=0)
    await web.start()
    try:
        async with httpx.AsyncClient(base_url=web.url, timeout=WAIT) as client:
            yield client
    finally:
        await asyncio.wait_for(web.stop(), WAIT)
