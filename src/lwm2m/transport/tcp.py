"""Drive a sans-I/O stream core over asyncio TCP connections, plain or TLS with PSK.

:class:`StreamTransport` is :class:`~lwm2m.transport.udp.UdpTransport` for RFC 8323: one core
(:class:`~lwm2m.coap.stream.StreamCore`, e.g. a :class:`~lwm2m.coap.stream.StreamEndpoint`)
serves every connection; the adapter tells it which connections come and go, feeds it their
bytes, writes what it queued, closes what it closed, and keeps one ``loop.call_at`` armed for its
next timer. It listens (:meth:`StreamTransport.listen`: ``coap+tcp`` or, with a PSK lookup,
``coaps+tcp``) and connects (:meth:`StreamTransport.connect`), in any mix.

Each connection is a :class:`StreamPeer`: a process-unique number, the remote address and, over
TLS, the PSK identity the peer proved, so the owner can bind it to an endpoint name. A peer
reconnecting is a new peer. The core learns of a TLS connection only once its handshake is
over; a failed or stalled handshake is logged and closed without the core hearing of it.

TLS is python-mbedtls on memory buffers (python's ``ssl`` has no TLS-PSK before 3.13), TLS 1.2
with TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256. Certificates are not
supported. There is no backpressure yet: writes are buffered by asyncio without bound.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from mbedtls import tls
from mbedtls.exceptions import TLSError

from lwm2m.coap.codes import Code
from lwm2m.coap.events import (
    Peer,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.coap.stream import StreamCore, StreamEndpoint, StreamEvent
from lwm2m.transport._timer import CoreTimer
from lwm2m.transport.awaited import AwaitedRequests
from lwm2m.transport.udp import Clock

logger = logging.getLogger(__name__)

CIPHERS = ("TLS-PSK-WITH-AES-128-CCM-8", "TLS-PSK-WITH-AES-128-CBC-SHA256")
#: Seconds a peer has to finish the TLS handshake after connecting.
HANDSHAKE_TIMEOUT = 10.0
_RECORD = 16384  # largest TLS plaintext record
_SLICE = 4096
_PEER_CLOSE_NOTIFY = 0x7880  # MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY

PskLookup = Callable[[str], bytes | None]
"""Server side: the key of a PSK identity, None for an identity we do not know."""


@dataclass(frozen=True, slots=True)
class StreamPeer:
    """One connection, as the core sees it; ``identity`` is the TLS-PSK identity, if any."""

    id: int
    address: tuple[str, int]
    identity: str | None = None


@dataclass(frozen=True, slots=True)
class Psk:
    """Client credentials for ``coaps+tcp``."""

    identity: str
    key: bytes = b""

    def __repr__(self) -> str:
        return f"Psk(identity={self.identity!r})"  # never the key


class _LookupStore(Mapping[str, bytes]):
    """A PSK lookup as the mapping mbedtls asks, remembering the identity it was asked for."""

    def __init__(self, lookup: PskLookup) -> None:
        self._lookup = lookup
        self.identity: str | None = None

    def __getitem__(self, identity: str) -> bytes:
        key = self._lookup(identity)
        if key is None:
            raise KeyError(identity)
        self.identity = identity
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _tls_configuration(**fields: object) -> tls.TLSConfiguration:
    return tls.TLSConfiguration(
        validate_certificates=False,
        ciphers=CIPHERS,
        lowest_supported_version=tls.TLSVersion.TLSv1_2,
        highest_supported_version=tls.TLSVersion.TLSv1_2,
        **fields,  # type: ignore[arg-type]
    )


_OVER: object = tls.HandshakeStep.HANDSHAKE_OVER


def _handshake_over(buffer: tls.TLSWrappedBuffer) -> bool:
    state: object = buffer._handshake_state  # the only way python-mbedtls tells
    return state is _OVER


class _Connection(asyncio.Protocol):
    """One TCP connection; with ``tls`` the bytes go through an mbedtls buffer both ways."""

    def __init__(
        self,
        owner: StreamTransport[Any],
        tls_buffer: tls.TLSWrappedBuffer | None = None,
        store: _LookupStore | None = None,
        ready: asyncio.Future[StreamPeer] | None = None,
    ) -> None:
        self._owner = owner
        self._tls = tls_buffer
        self._store = store
        self._ready = ready
        self._transport: asyncio.Transport | None = None
        self._handshake_timer: asyncio.TimerHandle | None = None
        self.peer: StreamPeer | None = None  # set once the core knows the connection
        self._failed = False
        self.address: tuple[str, int] = ("", 0)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.address = tuple(transport.get_extra_info("peername")[:2])
        if self._tls is None:
            self._open()
            return
        loop = asyncio.get_running_loop()
        self._handshake_timer = loop.call_later(HANDSHAKE_TIMEOUT, self._handshake_stalled)
        self._handshake()

    def data_received(self, data: bytes) -> None:
        buffer = self._tls
        if buffer is None:
            self._owner._received(self, data)
            return
        plain = []
        try:
            # mbedtls's input ring buffer holds little more than a record: feed it in slices.
            for start in range(0, len(data), _SLICE):
                buffer.receive_from_network(data[start : start + _SLICE])
                if self.peer is None:
                    self._handshake()
                    if self._failed:
                        return
                    if self.peer is None:
                        continue
                plain.append(self._read_plain(buffer))
        except TLSError as error:
            if getattr(error, "err", None) == _PEER_CLOSE_NOTIFY and self.peer is not None:
                if plain:
                    self._owner._received(self, b"".join(plain))
                if self._transport is not None:
                    self._transport.close()  # a clean close: what came before it counts
                return
            self._fail(f"TLS error: {error}")
            return
        if plain:
            self._owner._received(self, b"".join(plain))

    def eof_received(self) -> bool | None:
        return False  # close: CoAP has no use for a half-closed stream

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ConnectionError(f"connection to {self.address} lost"))
        if self.peer is not None:
            self._owner._lost(self)

    # -- used by the owner -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._transport is None:
            return
        buffer = self._tls
        if buffer is None:
            self._transport.write(data)
            return
        for start in range(0, len(data), _RECORD):
            # write() returns the record's size on the wire, not the plaintext it took: all.
            buffer.write(data[start : start + _RECORD])
            self._flush_tls(buffer)

    def close(self) -> None:
        if self._transport is None:
            return
        if self._tls is not None and self.peer is not None:
            try:
                self._tls.shutdown()  # close_notify
                self._flush_tls(self._tls)
            except TLSError:
                pass
        self._transport.close()

    # -- TLS ---------------------------------------------------------------------------------

    def _handshake(self) -> None:
        buffer = self._tls
        assert buffer is not None
        try:
            while not _handshake_over(buffer):
                state: object = buffer._handshake_state
                try:
                    buffer.do_handshake()
                except tls.WantWriteError:
                    self._flush_tls(buffer)
                except tls.WantReadError:
                    if buffer._handshake_state is state:
                        break  # no progress without the peer's next flight
        except TLSError as error:
            self._flush_tls(buffer)  # the alert
            self._fail(f"TLS handshake failed: {error}")
            return
        self._flush_tls(buffer)
        if _handshake_over(buffer):
            if self._handshake_timer is not None:
                self._handshake_timer.cancel()
                self._handshake_timer = None
            self._open(None if self._store is None else self._store.identity)

    def _handshake_stalled(self) -> None:
        self._handshake_timer = None
        self._fail("TLS handshake not finished in time")

    def _flush_tls(self, buffer: tls.TLSWrappedBuffer) -> None:
        data = buffer.peek_outgoing(1 << 20)
        while data:
            buffer.consume_outgoing(len(data))
            if self._transport is not None:
                self._transport.write(data)
            data = buffer.peek_outgoing(1 << 20)

    @staticmethod
    def _read_plain(buffer: tls.TLSWrappedBuffer) -> bytes:
        chunks = []
        while True:
            try:
                chunk = buffer.read(1 << 16)
            except tls.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _fail(self, reason: str) -> None:
        """A TLS failure: log it; an open connection is then lost like any other."""
        self._failed = True
        logger.warning("%s from %s:%s", reason, *self.address)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ConnectionError(reason))
        if self._transport is not None:
            self._transport.abort()

    def _open(self, identity: str | None = None) -> None:
        peer = StreamPeer(next(self._owner._ids), self.address, identity)
        self.peer = peer
        self._owner._opened(self)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(peer)


CoreT = TypeVar("CoreT", bound=StreamCore)


class StreamTransport(Generic[CoreT]):
    """``drain()`` takes the core's events after each step; ``clock()`` is the core's ``now``
    (default: the loop's monotonic clock) and must advance at the loop clock's rate."""

    def __init__(self, core: CoreT, drain: Callable[[], None], clock: Clock | None = None) -> None:
        self.core = core
        self._drain = drain
        self._loop = asyncio.get_running_loop()
        self.now: Clock = clock if clock is not None else self._loop.time
        self._ids = itertools.count(1)
        self._connections: dict[Peer, _Connection] = {}
        self._servers: list[asyncio.Server] = []
        self._timer = CoreTimer(self._loop, core, self.now, self.pump)
        self._closed = False
        self._doomed: list[Peer] = []

    @property
    def peers(self) -> list[StreamPeer]:
        return cast(list[StreamPeer], list(self._connections))

    # -- opening -----------------------------------------------------------------------------

    async def listen(
        self,
        local_address: tuple[str, int] = ("127.0.0.1", 0),
        psk: PskLookup | None = None,
        *,
        reuse_port: bool = False,
    ) -> tuple[str, int]:
        """Accept connections (TLS-PSK with ``psk``; SO_REUSEPORT with ``reuse_port``: the
        kernel spreads connections over the processes listening on the port); returns the
        bound address."""
        base = None if psk is None else _tls_configuration()

        def accept() -> _Connection:
            if psk is None or base is None:
                return _Connection(self)
            store = _LookupStore(psk)
            context = tls.ServerContext(base.update(pre_shared_key_store=store))
            return _Connection(self, context.wrap_buffers(), store)

        server = await self._loop.create_server(
            accept, *local_address, reuse_port=reuse_port or None
        )
        self._servers.append(server)
        address: tuple[str, int] = server.sockets[0].getsockname()[:2]
        return address

    async def connect(
        self, address: tuple[str, int], psk: Psk | None = None, *, timeout: float = 10.0
    ) -> StreamPeer:
        """Open a connection (TLS-PSK with ``psk``); returns its peer once the core has it."""
        ready: asyncio.Future[StreamPeer] = self._loop.create_future()
        buffer = None
        if psk is not None:
            configuration = _tls_configuration(pre_shared_key=(psk.identity, psk.key))
            buffer = tls.ClientContext(configuration).wrap_buffers(None)

        def protocol() -> _Connection:
            return _Connection(self, buffer, None, ready)

        async def connecting() -> StreamPeer:
            await self._loop.create_connection(protocol, *address)
            return await ready

        return await asyncio.wait_for(connecting(), timeout)

    def close(self) -> None:
        """Stop listening and close every connection; the core hears each one go."""
        self._closed = True
        self._timer.disarm()
        for server in self._servers:
            server.close()
        for connection in list(self._connections.values()):
            connection.close()

    def close_peer(self, peer: Peer) -> None:
        """Close ``peer``'s connection (if open) at the next :meth:`pump`, scheduled now: after
        what the core already queued for it, such as the answer that made the owner close it.
        The core hears it go like any lost connection."""
        if peer in self._connections:
            self._doomed.append(peer)
            self._loop.call_soon(self.pump)

    # -- driving -----------------------------------------------------------------------------

    def pump(self) -> None:
        """Let the owner drain events, write what the core queued, close what it closed (after
        their last bytes), re-arm the timer; repeat while that queued more."""
        core = self.core
        connections = self._connections
        while True:
            self._drain()
            out = core.data_to_send()
            for data, peer in out:
                connection = connections.get(peer)
                if connection is not None:
                    connection.write(data)
            closing = core.closing()
            if self._doomed:
                closing += self._doomed
                self._doomed = []
            for peer in closing:
                connection = connections.pop(peer, None)
                if connection is not None:
                    connection.close()
            if not out and not closing:
                break
        if not self._closed:
            self._timer.arm(core.get_timer())

    def _opened(self, connection: _Connection) -> None:
        assert connection.peer is not None
        if self._closed:
            connection.close()
            return
        self._connections[connection.peer] = connection
        self.core.connection_made(connection.peer, self.now())
        self.pump()

    def _received(self, connection: _Connection, data: bytes) -> None:
        if connection.peer is not None:
            self.core.receive(data, connection.peer, self.now())
            self.pump()

    def _lost(self, connection: _Connection) -> None:
        assert connection.peer is not None
        self._connections.pop(connection.peer, None)
        self.core.connection_lost(connection.peer, self.now())
        self.pump()


EventHandler = Callable[[StreamEvent], None]


class StreamEndpointTransport(StreamTransport[StreamEndpoint]):
    """A bare :class:`StreamEndpoint`: events go to ``on_event`` unless they answer
    :meth:`request`."""

    def __init__(
        self,
        endpoint: StreamEndpoint,
        on_event: EventHandler | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(endpoint, self._drain_events, clock)
        self.requests: AwaitedRequests[StreamEvent] = AwaitedRequests(on_event)

    @property
    def endpoint(self) -> StreamEndpoint:
        return self.core

    def _drain_events(self) -> None:
        while (event := self.core.next_event()) is not None:
            self.requests.dispatch(event)

    async def request(
        self,
        peer: StreamPeer,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        timeout: float | None = None,
    ) -> Message:
        """Send a request and wait for its (reassembled) response.

        For an observation the later events go to ``on_event``; raises :class:`RequestError`
        when the request fails (a closed connection fails it with RESET).
        """
        handle = self.core.send_request(
            peer, code, options=options, payload=payload, now=self.now(), timeout=timeout
        )
        future = self.requests.expect(handle)
        self.pump()
        return await future
