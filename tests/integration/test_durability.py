"""Acknowledged means durable, on real loopback sockets: with strict durability a Register or
De-register is answered (over UDP, DTLS and TCP) only once the store has committed its write;
poison values in a Send do not cost another device its rows, nor the server its service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path as FilePath
from typing import Any

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import RequestFailed, ResponseReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.coap.stream import StreamEndpoint
from lwm2m.codec import ContentFormat
from lwm2m.loadtest.device import Fleet, endpoint_name
from lwm2m.loadtest.fleet import device_address, raise_fd_limit
from lwm2m.model import Path
from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, Secret
from lwm2m.security.dtls import DtlsClient
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.registration import MemoryStore
from lwm2m.storage import SqliteStore
from lwm2m.transport.dtls import open_dtls
from lwm2m.transport.tcp import StreamEndpointTransport
from lwm2m.transport.udp import UdpTransport, open_udp_endpoint
from tests.integration.test_restart import free_port, kill_9, launch

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0
HELD = 0.3  # long enough for any loopback answer that is not held back
EP = "urn:imei:490154203237518"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
FAST = EndpointConfig(ack_timeout=2.0, max_retransmit=1)


class _Counted:
    """One part of a MemoryStore whose writes the HeldStore counts."""

    def __init__(self, inner: object, log: HeldStore) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in ("put", "delete", "add", "clear"):
            return attr

        def counted(*args: object) -> object:
            self._log.written += 1
            return attr(*args)

        return counted


class HeldStore:
    """A MemoryStore that reports its writes committed only when the test commits them."""

    def __init__(self) -> None:
        inner = MemoryStore()
        self.written = 0
        self.committed = 0
        self.registrations = _Counted(inner.registrations, self)
        self.observations = _Counted(inner.observations, self)
        self.queue = _Counted(inner.queue, self)
        self.history = _Counted(inner.history, self)
        self._callback: Callable[[], None] | None = None

    def on_commit(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def commit(self) -> None:
        self.committed = self.written
        if self._callback is not None:
            self._callback()

    def close(self) -> None:
        pass


Request = Callable[[Code, tuple[str, ...], tuple[str, ...], bytes], Awaitable[Message]]


async def datagram_client(server: LwM2MServer, secure: bool) -> tuple[Request, Callable[[], None]]:
    """A bare CoAP endpoint on UDP, or over DTLS with the device's PSK."""
    endpoint = Endpoint(FAST, random.Random(3))
    if not secure:
        udp = await open_udp_endpoint(endpoint)

        def plain(code: Code, path: tuple[str, ...], query: tuple[str, ...], body: bytes) -> Any:
            options = Options.build(uri_path=path, uri_query=query)
            return udp.request(server.coap_address, code, options=options, payload=body)

        return plain, udp.close
    waiting: dict[int, asyncio.Future[Message]] = {}

    def drain() -> None:
        while (event := endpoint.next_event()) is not None:
            if isinstance(event, ResponseReceived | RequestFailed):
                future = waiting.pop(event.handle)
                if isinstance(event, ResponseReceived):
                    future.set_result(event.response)
                else:
                    future.set_exception(AssertionError(f"request failed: {event.reason}"))

    dtls: UdpTransport[Any] = await open_dtls(
        endpoint, drain, DtlsClient(Psk(b"dev-1", Secret(KEY)))
    )

    def secured(code: Code, path: tuple[str, ...], query: tuple[str, ...], body: bytes) -> Any:
        options = Options.build(uri_path=path, uri_query=query)
        handle = endpoint.send_request(
            server.coaps_address, code, options=options, payload=body, now=dtls.now()
        )
        future = waiting[handle] = asyncio.get_running_loop().create_future()
        dtls.pump()
        return future

    return secured, dtls.close


async def stream_client(server: LwM2MServer) -> tuple[Request, Callable[[], None]]:
    tcp = StreamEndpointTransport(StreamEndpoint(rng=random.Random(4)))
    peer = await tcp.connect(server.tcp_address)

    def request(code: Code, path: tuple[str, ...], query: tuple[str, ...], body: bytes) -> Any:
        options = Options.build(uri_path=path, uri_query=query)
        return tcp.request(peer, code, options=options, payload=body)

    return request, tcp.close


async def held_then_answered(store: HeldStore, answer: Awaitable[Message]) -> Message:
    """``answer`` does not come while the store holds the write before it; then it does."""
    task = asyncio.ensure_future(answer)
    await asyncio.sleep(HELD)
    assert not task.done(), "answered before the store committed"
    assert store.written > store.committed
    store.commit()
    return await asyncio.wait_for(task, WAIT)


@pytest.mark.parametrize("transport", ["udp", "dtls", "tcp"])
async def test_register_and_deregister_are_answered_once_committed(transport: str) -> None:
    store = HeldStore()
    config = ServerConfig(
        host="127.0.0.1",
        coap_port=0,
        coaps_port=0 if transport == "dtls" else None,
        tcp_port=0 if transport == "tcp" else None,
    )
    credentials = MemoryPskStore()
    if transport == "dtls":
        credentials.set(PskCredential(EP, Psk(b"dev-1", Secret(KEY))))
    server = LwM2MServer(config, store=store, credentials=credentials)  # type: ignore[arg-type]
    await server.start()
    binding = "T" if transport == "tcp" else "U"
    if transport == "tcp":
        request, close = await stream_client(server)
    else:
        request, close = await datagram_client(server, secure=transport == "dtls")
    try:
        query = (f"ep={EP}", "lt=300", "lwm2m=1.1", f"b={binding}")
        created = await held_then_answered(store, request(Code.POST, ("rd",), query, b"</3/0>"))
        assert created.code is Code.CREATED
        assert server.registrations.get(EP) is not None
        location = created.options.location_path
        deleted = await held_then_answered(store, request(Code.DELETE, location, (), b""))
        assert deleted.code is Code.DELETED  # the session or connection closed after it
    finally:
        close()
        await server.stop()


async def test_relaxed_durability_answers_at_once() -> None:
    store = HeldStore()
    config = ServerConfig(host="127.0.0.1", coap_port=0, durability="relaxed")
    server = LwM2MServer(config, store=store)  # type: ignore[arg-type]
    await server.start()
    request, close = await datagram_client(server, secure=False)
    try:
        query = (f"ep={EP}", "lt=300", "lwm2m=1.1", "b=U")
        created = await asyncio.wait_for(request(Code.POST, ("rd",), query, b"</3/0>"), WAIT)
        assert created.code is Code.CREATED
        assert store.written > store.committed == 0
    finally:
        close()
        await server.stop()


# -- poison values -------------------------------------------------------------------------------


class Device:
    """A hand-made device on its own UDP socket: Register, then Sends."""

    def __init__(self, endpoint: str, server: tuple[str, int]) -> None:
        self.endpoint = endpoint
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.connect(server)
        self.sock.setblocking(False)
        self.mid = 0

    async def ask(self, code: Code, path: tuple[str, ...], **fields: Any) -> Message:
        self.mid += 1
        payload = fields.pop("payload", b"")
        options = Options.build(uri_path=path, **fields)
        token = self.mid.to_bytes(2, "big")
        self.sock.send(Message(Type.CON, code, self.mid, token, options, payload).encode())
        loop = asyncio.get_running_loop()
        while True:
            answer = Message.decode(await asyncio.wait_for(loop.sock_recv(self.sock, 2048), WAIT))
            if answer.message_id == self.mid:
                return answer

    async def register(self) -> None:
        query = (f"ep={self.endpoint}", "lt=300", "lwm2m=1.1", "b=U")
        answer = await self.ask(Code.POST, ("rd",), uri_query=query, payload=b"</3/0>,</0/0>")
        assert answer.code is Code.CREATED

    def send(self, records: list[dict[str, object]], raw: str | None = None) -> None:
        """A Send (CON POST /dp, SenML JSON), answered later: see :meth:`answer`."""
        self.mid += 1
        options = Options.build(uri_path=("dp",), content_format=ContentFormat.SENML_JSON)
        payload = (raw if raw is not None else json.dumps(records)).encode()
        token = self.mid.to_bytes(2, "big")
        self.sock.send(Message(Type.CON, Code.POST, self.mid, token, options, payload).encode())

    async def answer(self) -> Message:
        loop = asyncio.get_running_loop()
        return Message.decode(await asyncio.wait_for(loop.sock_recv(self.sock, 2048), WAIT))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["strict", "relaxed"])
async def stored_server(
    request: pytest.FixtureRequest, tmp_path: FilePath
) -> AsyncIterator[tuple[LwM2MServer, SqliteStore]]:
    # Relaxed with a long interval: both devices' values surely share one batch.
    store = SqliteStore(tmp_path / "lwm2m.db", flush_interval=0.5, durability=request.param)
    config = ServerConfig(host="127.0.0.1", coap_port=0, durability=request.param)
    server = LwM2MServer(config, store=store)
    await server.start()
    yield server, store
    await server.stop()
    store.close()


async def test_poison_values_in_a_send_leave_other_devices_rows_intact(
    stored_server: tuple[LwM2MServer, SqliteStore],
) -> None:
    server, store = stored_server
    poisoner, neighbour = (
        Device("poisoner", server.coap_address),
        Device("neighbour", server.coap_address),
    )
    try:
        await poisoner.register()
        await neighbour.register()
        # 2^64 - 1 is a valid unsigned integer; "\ud800" is a lone surrogate (a decoder may
        # refuse it with 4.00; if it lets it through, the store keeps it).
        poisoner.send([{"n": "/0/0/13", "v": 18446744073709551615}])
        poisoner.send([], raw='[{"n": "/3/0/0", "vs": "\\ud800"}]')
        neighbour.send([{"n": "/3/0/9", "v": 42}])
        answers = [await poisoner.answer(), await poisoner.answer(), await neighbour.answer()]
        assert answers[0].code is Code.CHANGED and answers[2].code is Code.CHANGED
        assert answers[1].code in (Code.CHANGED, Code.BAD_REQUEST)
        store.flush()
        unsigned = server.history("poisoner", "/0/0/13")
        assert [e.value for e in unsigned] == [2**64 - 1]
        assert [e.value for e in server.history("neighbour", "/3/0/9")] == [42]
        surrogate = server.history("poisoner", "/3/0/0")
        assert [e.value for e in surrogate] == (
            ["\ud800"] if answers[1].code is Code.CHANGED else []
        )
        assert store.stats().failed_rows == 0
        with sqlite3.connect(store.path) as connection:
            endpoints = {row[0] for row in connection.execute("SELECT endpoint FROM registrations")}
        assert endpoints == {"poisoner", "neighbour"}
        # The server keeps serving: another Send and a Read of the history.
        neighbour.send([{"n": "/3/0/9", "v": 43}])
        assert (await neighbour.answer()).code is Code.CHANGED
        store.flush()
        assert [e.value for e in server.history("neighbour", Path.of(3, 0, 9))] == [42, 43]
    finally:
        poisoner.close()
        neighbour.close()


# -- kill -9 at full registration rate -----------------------------------------------------------


DEVICES = 10_000
KILL_AFTER = 4_000  # acknowledged registrations before the kill: mid-phase, at full rate
WINDOW = 256  # Registers unanswered at once
SERVER = ("127.0.0.1", free_port(socket.SOCK_DGRAM))


def register_until_killed(fleet: Fleet, server: subprocess.Popen[bytes]) -> int:
    """Register the fleet as fast as the server answers; once ``KILL_AFTER`` are acknowledged,
    ``kill -9`` the server and take what was already on its way.  How many Registers went."""
    sockets = []
    for i in range(fleet.count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sockets.append(sock)
        sock.setblocking(False)
        sock.bind((device_address(i), 0))
        sock.connect(SERVER)
    poller = select.epoll(sizehint=len(sockets))
    by_fd = {sock.fileno(): i for i, sock in enumerate(sockets)}
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    sent, killed_at = 0, None
    deadline = time.monotonic() + WAIT
    try:
        while (now := time.monotonic()) < deadline:
            if killed_at is not None and now > killed_at + 0.5:
                break
            while killed_at is None and sent < fleet.count and sent - fleet.registered < WINDOW:
                sockets[sent].send(fleet.register(sent))
                sent += 1
            if killed_at is None and fleet.registered >= KILL_AFTER:
                kill_9(server)  # right after refilling the window: Registers are in flight
                killed_at = now
            for fd, _ in poller.poll(0.01):
                i = by_fd[fd]
                with contextlib.suppress(OSError):  # ICMP from the dead server
                    fleet.receive(i, sockets[i].recv(2048))
        return sent
    finally:
        poller.close()
        for sock in sockets:
            sock.close()


async def test_kill_9_during_full_rate_registration_loses_no_acknowledged_one(
    tmp_path: FilePath,
) -> None:
    """``lwm2m server --db FILE`` (strict by default) against a loadtest fleet registering as
    fast as it can; SIGKILL mid-phase; every Register the fleet saw acknowledged (2.01) is in
    the database a restarted server loads (``--durability relaxed`` lost 1,834 of 4,000 so).
    """
    db = tmp_path / "lwm2m.db"
    http_port = free_port(socket.SOCK_STREAM)
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", str(db), "--coap-port", str(SERVER[1]), "--coaps-port", "0"),
        *("--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http_port), "--log-level", "warning"),
    ]
    raise_fd_limit()
    server = await launch(command, http_port)
    fleet = Fleet(0, DEVICES)
    try:
        sent = await asyncio.to_thread(register_until_killed, fleet, server)
        acknowledged = {endpoint_name(i) for i in range(DEVICES) if fleet.is_registered(i)}
        assert len(acknowledged) >= KILL_AFTER
        assert sent > len(acknowledged)  # the kill came while Registers were in flight
        restarted = SqliteStore(db)  # what a restarted server loads
        try:
            kept = {registration.endpoint for registration in restarted.registrations.all()}
        finally:
            restarted.close()
        assert acknowledged - kept == set(), f"{len(acknowledged - kept)} acknowledged lost"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=WAIT)
