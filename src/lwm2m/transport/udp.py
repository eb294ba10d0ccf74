"""Drive a sans-I/O core over an asyncio UDP socket.

A core (:class:`DatagramCore`: the CoAP :class:`~lwm2m.coap.endpoint.Endpoint`, the server
core, the client engine) is fed received datagrams with the clock's ``now``; the adapter then
pumps: sends what the core queued, lets the owner drain the core's events, and keeps one
``loop.call_at`` armed no later than the core's next timer.  The adapter owns no protocol logic.
Call :meth:`UdpTransport.pump` after using the core directly (``respond``, ``send``...).

:class:`UdpEndpoint` is the adapter for a bare :class:`Endpoint`: it drains the events itself,
hands them to ``on_event`` and turns :meth:`~UdpEndpoint.request` into an awaitable.

:class:`PrioritisedUdpTransport` (``open_udp(..., triage=...)``, the server's choice) does not
process each datagram as it arrives: it reads the socket dry, ranks what it read with a
:class:`~lwm2m.transport.admission.Triage` and processes established work first, new work
within a budget per loop tick (see :mod:`lwm2m.transport.admission`).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, cast

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    Event,
    Peer,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.transport._timer import CoreTimer
from lwm2m.transport.admission import Address, Triage
from lwm2m.transport.awaited import AwaitedRequests

EventHandler = Callable[[Event], None]
Clock = Callable[[], float]


class DatagramCore(Protocol):
    """What :class:`UdpTransport` drives; events stay with the core's owner."""

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


CoreT = TypeVar("CoreT", bound=DatagramCore)


class UdpTransport(asyncio.DatagramProtocol, Generic[CoreT]):
    """``drain()`` takes the core's events after each step; ``clock()`` is the cores' ``now``
    (default: the loop's monotonic clock) and must advance at the loop clock's rate."""

    def __init__(self, core: CoreT, drain: Callable[[], None], clock: Clock | None = None) -> None:
        self.core = core
        self._drain = drain
        self._loop = asyncio.get_running_loop()
        self.now: Clock = clock if clock is not None else self._loop.time
        self._transport: asyncio.DatagramTransport | None = None
        self._timer = CoreTimer(self._loop, core, self.now, self.pump)

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._transport is not None
        address: tuple[str, int] = self._transport.get_extra_info("sockname")[:2]
        return address

    # -- asyncio.DatagramProtocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.core.receive(data, cast(Peer, addr[:2]), self.now())
        self.pump()

    def error_received(self, exc: Exception) -> None:
        """ICMP errors say nothing reliable about the peer: CoAP's own timeouts decide."""

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._timer.disarm()

    # -- driving -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket and stop the timer; the core is left as it is."""
        self._timer.disarm()
        if self._transport is not None:
            self._transport.close()

    def pump(self) -> None:
        """Send queued datagrams, let the owner drain events, re-arm the timer; repeat while
        draining queued more."""
        core = self.core
        datagrams = core.datagrams_to_send()
        while True:
            transport = self._transport
            if transport is not None:
                sendto = transport.sendto
                for data, peer in datagrams:
                    sendto(data, peer)  # type: ignore[arg-type]
            self._drain()
            datagrams = core.datagrams_to_send()
            if not datagrams:
                break
        if self._transport is not None:
            self._timer.arm(core.get_timer())


READ_PER_TICK = 1024
"""Datagrams a prioritised transport reads per tick beyond what the loop handed it (uvloop
reads 32 per socket and loop iteration): enough to keep a flood in our queues, where it can be
ranked, and not in the socket buffer, where a registered device's answer would wait behind it
or be dropped with it.  A tick that reads this many is *behind* (the socket may still hold
more): it takes one new datagram only and refuses none with 5.03 (sending costs more than
dropping), so that reading catches up before the kernel starts dropping at the full buffer."""
MAX_DATAGRAM = 0xFFFF


class PrioritisedUdpTransport(UdpTransport[CoreT]):
    """Established datagrams first, new ones within ``triage``'s budget (module docstring).

    ``sock`` is the transport's own socket, read directly as well as by the loop.
    """

    def __init__(
        self,
        core: CoreT,
        drain: Callable[[], None],
        clock: Clock | None,
        triage: Triage,
        sock: socket.socket,
    ) -> None:
        super().__init__(core, drain, clock)
        self._triage = triage
        self._sock = sock
        self._established: deque[tuple[bytes, Address]] = deque()
        self._new: deque[tuple[bytes, Address]] = deque()
        self._scheduled = False
        self._refusals_left = triage.refusals_per_tick
        self._behind = False

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._sort(data, cast(Address, addr[:2]))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._established.clear()
        self._new.clear()

    def _sort(self, data: bytes, peer: Address) -> None:
        triage = self._triage
        if triage.is_established(data, peer):
            self._established.append((data, peer))
        elif len(self._new) >= triage.new_backlog:
            self._shed(data, peer, over_budget=False)
        elif triage.within_budget(peer, self.now()):
            self._new.append((data, peer))
        else:
            self._shed(data, peer, over_budget=True)

    def _shed(self, data: bytes, peer: Address, *, over_budget: bool) -> None:
        stats = self._triage.stats
        stats.over_budget += over_budget
        answer = self._triage.refusal(data) if self._refusals_left else None
        if answer is None or self._transport is None:
            stats.dropped += 1
            return
        self._refusals_left -= 1
        stats.refused += 1
        self._transport.sendto(answer, peer)

    def _tick(self) -> None:
        """Read what the socket holds, process established work, then new work within the
        budget; come back next tick while work is left."""
        self._scheduled = False
        if self._transport is None:
            return
        triage = self._triage
        self._refusals_left = 0 if self._behind else triage.refusals_per_tick
        self._behind = self._read_socket()
        receive, now = self.core.receive, self.now()
        established, new = self._established, self._new
        while established:
            data, peer = established.popleft()
            receive(data, peer, now)
        for _ in range(min(len(new), 1 if self._behind else triage.new_per_tick)):
            data, peer = new.popleft()
            receive(data, peer, now)
        self.pump()
        if new and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._tick)

    def _read_socket(self) -> bool:
        """Rank what the socket holds; whether there may be more (READ_PER_TICK read)."""
        recvfrom, sort = self._sock.recvfrom, self._sort
        for _ in range(READ_PER_TICK):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except OSError:  # nothing more (BlockingIOError), or an error the loop reports
                return False
            sort(data, addr[:2])
        return True


class UdpEndpoint(UdpTransport[Endpoint]):
    """A bare CoAP endpoint: events go to ``on_event`` unless they answer :meth:`request`."""

    def __init__(
        self, endpoint: Endpoint, on_event: EventHandler | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(endpoint, self._drain_events, clock)
        self.requests: AwaitedRequests[Event] = AwaitedRequests(on_event)

    @property
    def endpoint(self) -> Endpoint:
        return self.core

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.requests.cancel_all()

    def _drain_events(self) -> None:
        while (event := self.core.next_event()) is not None:
            self.requests.dispatch(event)

    async def request(
        self,
        peer: Peer,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = True,
    ) -> Message:
        """Send a request and wait for its (reassembled) response.

        For an observation the later events (notifications, its end) go to ``on_event``.
        Raises :class:`RequestError` when the request fails.
        """
        handle = self.core.send_request(
            peer, code, options=options, payload=payload, confirmable=confirmable, now=self.now()
        )
        future = self.requests.expect(handle)
        self.pump()
        return await future


async def open_udp(
    core: CoreT,
    drain: Callable[[], None],
    local_address: tuple[str, int] = ("127.0.0.1", 0),
    clock: Clock | None = None,
    *,
    receive_buffer: int | None = None,
    triage: Triage | None = None,
    reuse_port: bool = False,
) -> UdpTransport[CoreT]:
    """Bind a UDP socket and drive ``core`` from it; close with :meth:`UdpTransport.close`.

    ``receive_buffer`` asks for that many bytes of socket receive buffer (SO_RCVBUF, which
    the system may cap: Linux at ``net.core.rmem_max``); None keeps the system's default.
    With ``triage`` the transport is a :class:`PrioritisedUdpTransport`.  ``reuse_port``
    (SO_REUSEPORT) lets processes of one user bind the same port: Linux spreads datagrams over
    their sockets by a hash of the 4-tuple, so one peer's stay with one process.
    """
    if triage is None:
        return await _bind(
            lambda: UdpTransport(core, drain, clock), local_address, receive_buffer, reuse_port
        )
    sock = await _socket(local_address, receive_buffer, reuse_port)
    try:
        _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: PrioritisedUdpTransport(core, drain, clock, triage, sock), sock=sock
        )
    except BaseException:
        sock.close()
        raise
    return protocol


async def open_udp_endpoint(
    endpoint: Endpoint,
    local_address: tuple[str, int] = ("127.0.0.1", 0),
    on_event: EventHandler | None = None,
    clock: Clock | None = None,
) -> UdpEndpoint:
    """Bind a UDP socket and drive ``endpoint`` from it; close with :meth:`UdpEndpoint.close`."""
    return await _bind(lambda: UdpEndpoint(endpoint, on_event, clock), local_address)


ProtocolT = TypeVar("ProtocolT", bound=asyncio.DatagramProtocol)


async def _bind(
    factory: Callable[[], ProtocolT],
    local_address: tuple[str, int],
    receive_buffer: int | None = None,
    reuse_port: bool = False,
) -> ProtocolT:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        factory, local_addr=local_address, reuse_port=reuse_port or None
    )
    if receive_buffer is not None:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    return protocol


async def _socket(
    local_address: tuple[str, int], receive_buffer: int | None, reuse_port: bool = False
) -> socket.socket:
    """A bound, non-blocking UDP socket of our own (the loop's transport only lends one)."""
    host, port = local_address
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
