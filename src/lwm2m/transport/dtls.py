"""Run any sans-I/O datagram core over DTLS.

:class:`DtlsCore` wraps a :class:`~lwm2m.transport.udp.DatagramCore` (the CoAP
:class:`~lwm2m.coap.endpoint.Endpoint`, the server core, the client engine) and is one itself,
so :class:`~lwm2m.transport.udp.UdpTransport` drives it unchanged.  The wrapped core sees
plaintext and the same ``(host, port)`` peers; who a peer authenticated as is asked with
:meth:`DtlsCore.peer_identity`, which is how a server binds an endpoint name to a PSK identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic

from lwm2m.coap.events import Peer
from lwm2m.security.credentials import PskIdentity
from lwm2m.security.dtls import DtlsClient, DtlsEvent, DtlsServer
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
) -> UdpTransport[DtlsCore[CoreT]]:
    """Bind a UDP socket and run ``core`` over ``dtls`` on it: a :class:`DtlsServer` serves
    many peers, a :class:`DtlsClient` handshakes with each peer ``core`` sends to.
    ``transport.core.inner`` is ``core``; close with :meth:`UdpTransport.close`."""

    def now() -> float:
        return transport.now()  # the transport's clock, once it exists

    secured = DtlsCore(core, dtls, now, on_session)
    transport = await open_udp(secured, drain, local_address, clock)
    return transport
