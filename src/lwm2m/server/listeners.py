"""Where the façade listens and what is connected there: the UDP, DTLS, TCP and TLS addresses,
their load, and closing the session or connection of a device that left.
:class:`~lwm2m.server.server.LwM2MServer` inherits :class:`ListenersApi` and opens and closes
the channels and the stream listener it reads."""

from __future__ import annotations

from lwm2m.coap.events import Peer
from lwm2m.coap.stream import StreamCore
from lwm2m.security.dtls import DtlsServer, DtlsStats
from lwm2m.server.registration import ServerStore
from lwm2m.transport.dtls import Channels, DtlsPeer
from lwm2m.transport.tcp import StreamPeer, StreamTransport
from lwm2m.transport.udp import DatagramCore


class ListenersApi:
    """The addresses and counters of the façade's sockets (RuntimeError where there is none)."""

    _store: ServerStore
    _net: Channels[DatagramCore] | None
    _tcp: StreamTransport[StreamCore] | None
    _tcp_addresses: dict[str, tuple[str, int]]

    @property
    def coap_address(self) -> tuple[str, int]:
        if self._net is None:
            raise RuntimeError("the server is not started")
        return self._net.plain.local_address

    @property
    def coaps_address(self) -> tuple[str, int]:
        """The DTLS socket's address; RuntimeError without one."""
        if self._net is None or self._net.secure is None:
            raise RuntimeError("the server has no DTLS port")
        return self._net.secure.local_address

    @property
    def tcp_address(self) -> tuple[str, int]:
        """The CoAP over TCP listener's address; RuntimeError without one."""
        return self._stream_address("tcp")

    @property
    def tls_address(self) -> tuple[str, int]:
        """The CoAP over TLS listener's address; RuntimeError without one."""
        return self._stream_address("tls")

    def _stream_address(self, kind: str) -> tuple[str, int]:
        address = self._tcp_addresses.get(kind)
        if address is None:
            raise RuntimeError(f"the server has no {kind.upper()} port")
        return address

    @property
    def dtls_sessions(self) -> int:
        """Established DTLS sessions (0 without a DTLS port)."""
        dtls = None if self._net is None else self._net.dtls
        return 0 if dtls is None else dtls.established

    def load(self) -> tuple[int, DtlsStats | None, int]:
        """Queued requests, the DTLS listener's counters (None without one), TCP/TLS connections."""
        dtls = None if self._net is None else self._net.dtls
        stats = dtls.stats if isinstance(dtls, DtlsServer) else None
        return (
            len(self._store.queue.all()),
            stats,
            0 if self._tcp is None else len(self._tcp.peers),
        )

    def _release_peer(self, address: Peer) -> None:
        """Close a departed device's DTLS session or TCP/TLS connection, if it has one."""
        if isinstance(address, DtlsPeer) and self._net is not None:
            self._net.close_session(address)
        elif isinstance(address, StreamPeer) and self._tcp is not None:
            self._tcp.close_peer(address)
