"""Run any sans-I/O datagram core over DTLS, alone or next to plain UDP.

:class:`DtlsCore` wraps a :class:`~lwm2m.transport.udp.DatagramCore` (the CoAP
:class:`~lwm2m.coap.endpoint.Endpoint`, the server core, the client engine) and is one itself,
so :class:`~lwm2m.transport.udp.UdpTransport` drives it unchanged.  The wrapped core sees
plaintext and the same ``(host, port)`` peers; who a peer authenticated as is asked with
:meth:`DtlsCore.peer_identity`, which is how a server binds an endpoint name to a PSK identity.

:class:`Channels` puts one core behind a NoSec socket and a DTLS socket at once (the LwM2M
server's 5683 and 5684; a client with a NoSec and a PSK account).  It is one core, not one per
socket, because the core's state belongs to endpoints, not sockets: a device's registration,
queue and observations (or a client's server accounts) are one table, and a device may move
from one channel to the other.  What keeps the channels apart is the peer: a DTLS peer is a
:class:`DtlsPeer`, never equal to the ``(host, port)`` tuple of a NoSec peer, so no
registration, exchange or deduplication entry of one channel can answer for the other (a NAT
may well give a NoSec and a DTLS flow the same address).  Each socket's transport takes what
the core queued for its kind of peer; the NoSec side owns the core's timer.  With an
:class:`~lwm2m.transport.admission.Admission` (a server's) both sockets serve established
devices first (:class:`~lwm2m.transport.udp.PrioritisedUdpTransport`).

Carriers that are not sockets join the same core with :meth:`Channels.add_carrier` (NIDD over
3GPP T8: its peers are :class:`~lwm2m.transport.nidd.peer.NiddPeer`); what the core queues is
sorted by peer kind into one outbox per channel, and each channel is pumped when something
waits in its outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, cast

from lwm2m.coap.events import Peer
from lwm2m.security.credentials import PskIdentity
from lwm2m.security.dtls import DtlsClient, DtlsEvent, DtlsServer
from lwm2m.transport.admission import Admission, Triage
from lwm2m.transport.udp import Clock, CoreT, UdpTransport, open_udp

SessionHandler = Callable[[DtlsEvent], None]


class DtlsCore(Generic[CoreT]):
    """``inner`` over ``dtls``.  ``clock`` stamps what the inner core queued outside a
    receive or timer call (a request started by the application)."""

    def __init__(
        self,
        inner: CoreT,
        dtls: DtlsServer | DtlsClient,
        clock: Clock,
        on_session: SessionHandler | None = None,
    ) -> None:
        self.inner = inner
        self.dtls = dtls
        self._clock = clock
        self.on_session = on_session

    def peer_identity(self, peer: Peer) -> PskIdentity | None:
        """The authenticated identity of ``peer`` (server side), None if it has no session."""
        return self.dtls.peer_identity(peer) if isinstance(self.dtls, DtlsServer) else None

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        for plaintext in self.dtls.receive(data, peer, now):
            self.inner.receive(plaintext, peer, now)
        self._drain_sessions()

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        plaintexts = self.inner.datagrams_to_send()
        if plaintexts:
            now = self._clock()
            for plaintext, peer in plaintexts:
                self.dtls.send(plaintext, peer, now)
            self._drain_sessions()
        return self.dtls.datagrams_to_send()

    def get_timer(self) -> float | None:
        inner, dtls = self.inner.get_timer(), self.dtls.get_timer()
        if inner is None or dtls is None:
            return dtls if inner is None else inner
        return min(inner, dtls)

    def handle_timer(self, now: float) -> None:
        self.inner.handle_timer(now)
        self.dtls.handle_timer(now)
        self._drain_sessions()

    def _drain_sessions(self) -> None:
        while (event := self.dtls.next_event()) is not None:
            if self.on_session is not None:
                self.on_session(event)


async def open_dtls(
    core: CoreT,
    drain: Callable[[], None],
    dtls: DtlsServer | DtlsClient,
    *,
    local_address: tuple[str, int] = ("127.0.0.1", 0),
    clock: Clock | None = None,
    on_session: SessionHandler | None = None,
    triage: Triage | None = None,
    reuse_port: bool = False,
) -> UdpTransport[DtlsCore[CoreT]]:
    """Bind a UDP socket and run ``core`` over ``dtls`` on it: a :class:`DtlsServer` serves
    many peers, a :class:`DtlsClient` handshakes with each peer ``core`` sends to.
    ``transport.core.inner`` is ``core``; close with :meth:`UdpTransport.close`."""

    def now() -> float:
        return transport.now()  # the transport's clock, once it exists

    secured = DtlsCore(core, dtls, now, on_session)
    transport = await open_udp(
        secured, drain, local_address, clock, triage=triage, reuse_port=reuse_port
    )
    return transport


@dataclass(frozen=True, slots=True)
class DtlsPeer:
    """A peer over DTLS as a core with NoSec peers too sees it (see the module docstring)."""

    address: tuple[str, int]

    def __str__(self) -> str:
        host, port = self.address
        return f"coaps://[{host}]:{port}" if ":" in host else f"coaps://{host}:{port}"


Datagrams = list[tuple[bytes, Peer]]


class _PlainSide:
    """The NoSec socket's view of the shared core; it runs the core's timer."""

    __slots__ = ("_channels",)

    def __init__(self, channels: Channels[CoreT]) -> None:
        self._channels = channels

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._channels.core.receive(data, peer, now)

    def datagrams_to_send(self) -> Datagrams:
        return self._channels.take(secure=False)

    def get_timer(self) -> float | None:
        return self._channels.core.get_timer()

    def handle_timer(self, now: float) -> None:
        self._channels.core.handle_timer(now)


class _SecureSide:
    """The DTLS socket's view of the shared core: its peers wear :class:`DtlsPeer`."""

    __slots__ = ("_channels",)

    def __init__(self, channels: Channels[CoreT]) -> None:
        self._channels = channels

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._channels.core.receive(data, DtlsPeer(cast(tuple[str, int], peer)), now)

    def datagrams_to_send(self) -> Datagrams:
        return [
            (data, cast(DtlsPeer, peer).address) for data, peer in self._channels.take(secure=True)
        ]

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        """The core's timer runs on the NoSec side."""


class Channels(Generic[CoreT]):
    """``core`` on a NoSec socket and, when given a DTLS server or client, a DTLS socket (see
    the module docstring); open with :func:`open_channels`."""

    def __init__(self, core: CoreT, admission: Admission | None = None) -> None:
        self.core = core
        self.admission = admission
        self.plain: UdpTransport[_PlainSide]
        self.secure: UdpTransport[DtlsCore[_SecureSide]] | None = None
        self._out: list[Datagrams] = [[], []]  # NoSec, DTLS, then one per carrier
        self._carriers: list[tuple[Callable[[Peer], bool], Callable[[], None]]] = []
        self._kicking = False

    @property
    def dtls(self) -> DtlsServer | DtlsClient | None:
        return None if self.secure is None else self.secure.core.dtls

    def now(self) -> float:
        return self.plain.now()

    def peer_identity(self, peer: Peer) -> PskIdentity | None:
        """Who a :class:`DtlsPeer` authenticated as (server side); None for anyone else."""
        if self.secure is None or not isinstance(peer, DtlsPeer):
            return None
        return self.secure.core.peer_identity(peer.address)

    def pump(self) -> None:
        """Send what the core queued (on whichever socket it belongs to)."""
        self.plain.pump()

    def close_session(self, peer: DtlsPeer) -> None:
        """Close the DTLS session with ``peer`` (close_notify), if there is one."""
        if self.secure is not None:
            self.secure.core.dtls.close(peer.address)
            self.secure.pump()

    def close_endpoint(self, endpoint: str) -> int:
        """Close the sessions authenticated as ``endpoint`` (server side); how many."""
        dtls = self.dtls
        if not isinstance(dtls, DtlsServer):
            return 0
        closed = dtls.close_endpoint(endpoint)
        if closed:
            assert self.secure is not None
            self.secure.pump()
        return closed

    def close(self) -> None:
        self.plain.close()
        if self.secure is not None:
            self.secure.close()

    def add_carrier(
        self, owns: Callable[[Peer], bool], pump: Callable[[], None]
    ) -> Callable[[], Datagrams]:
        """Put another carrier behind the core: ``owns`` tells its peers, ``pump`` is called
        when datagrams wait for it; returns the function ``pump`` takes them with."""
        self._carriers.append((owns, pump))
        self._out.append([])
        channel = len(self._out) - 1
        return lambda: self._take(channel)

    def take(self, *, secure: bool) -> Datagrams:
        """The core's datagrams for one socket; what it queued for other channels is kept for
        them, and they are pumped now so they do not wait for their next event."""
        if self.secure is None and not self._carriers:
            return self.core.datagrams_to_send()
        return self._take(int(secure))

    def _take(self, channel: int) -> Datagrams:
        out, carriers = self._out, self._carriers
        for datagram in self.core.datagrams_to_send():
            peer = datagram[1]
            if isinstance(peer, DtlsPeer):
                out[1].append(datagram)
                continue
            for index, (owns, _) in enumerate(carriers, 2):
                if owns(peer):
                    out[index].append(datagram)
                    break
            else:
                out[0].append(datagram)
        mine, out[channel] = out[channel], []
        if not self._kicking and any(out):
            self._kicking = True
            try:
                for index, waiting in enumerate(out):
                    if waiting:
                        self._pump(index)
            finally:
                self._kicking = False
        return mine

    def _pump(self, channel: int) -> None:
        if channel >= 2:
            self._carriers[channel - 2][1]()
        elif channel == 1:
            assert self.secure is not None
            self.secure.pump()
        else:
            self.plain.pump()


async def open_channels(
    core: CoreT,
    drain: Callable[[], None],
    local_address: tuple[str, int],
    *,
    dtls: DtlsServer | DtlsClient | None = None,
    dtls_address: tuple[str, int] | None = None,
    clock: Clock | None = None,
    on_session: SessionHandler | None = None,
    receive_buffer: int | None = None,
    admission: Admission | None = None,
    reuse_port: bool = False,
) -> Channels[CoreT]:
    """Bind the NoSec socket at ``local_address`` and, with ``dtls``, the DTLS one at
    ``dtls_address`` (default: the same host, any port); close with :meth:`Channels.close`.
    ``on_session`` sees DTLS session events with their peer as a :class:`DtlsPeer`.
    ``admission`` (a server's) puts established devices first on both sockets;
    ``reuse_port``: SO_REUSEPORT on both (:func:`~lwm2m.transport.udp.open_udp`)."""
    channels = Channels(core, admission)
    channels.plain = await open_udp(
        _PlainSide(channels),
        drain,
        local_address,
        clock,
        receive_buffer=receive_buffer,
        triage=None if admission is None else admission.coap,
        reuse_port=reuse_port,
    )
    if dtls is not None:

        def tagged(event: DtlsEvent) -> None:
            if on_session is not None:
                on_session(replace(event, peer=DtlsPeer(event.peer)))  # type: ignore[arg-type]

        try:
            channels.secure = await open_dtls(
                _SecureSide(channels),
                drain,
                dtls,
                local_address=dtls_address or (local_address[0], 0),
                clock=channels.plain.now,
                on_session=tagged,
                triage=(
                    admission.dtls(dtls)
                    if admission is not None and isinstance(dtls, DtlsServer)
                    else None
                ),
                reuse_port=reuse_port,
            )
        except OSError:
            channels.plain.close()
            raise
    return channels
