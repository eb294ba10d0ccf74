"""Sans-I/O CoAP over one reliable connection (RFC 8323: TCP, TLS), and many of them.

A :class:`StreamConnection` is one connection's protocol state, driven like the datagram
:class:`~lwm2m.coap.endpoint.Endpoint`: feed bytes with :meth:`~StreamConnection.receive_data`,
call :meth:`~StreamConnection.handle_timer` once :meth:`~StreamConnection.get_timer` has passed,
then drain :meth:`~StreamConnection.data_to_send` and :meth:`~StreamConnection.next_event`.
Once :attr:`~StreamConnection.closed` is true the owner flushes the last bytes (an Abort, say)
and closes the transport; :meth:`~StreamConnection.connection_lost` says the transport went.

What differs from UDP, and why the core is smaller: the transport is reliable and ordered, so
there are no message IDs, ACKs, retransmissions or deduplication; requests and responses meet
by token alone, and any number of requests may be in flight (pipelining). Each side opens with
a CSM (Max-Message-Size, Block-Wise-Transfer); requests may go before the peer's CSM arrives,
sized for the 1152 bytes every peer accepts. Bodies over the peer's Max-Message-Size go
block-wise (RFC 7959; BERT blocks from the peer are accepted, ours are at most 1024 bytes).
Observe works as over UDP except that notifications arrive in order, so RFC 8323 §7.1 has the
client ignore their sequence numbers; there is no RST, so a notification nobody waits for is
dropped and a client deregisters with GET Observe=1 (or forgets, leaving the server to send).

Errors: a frame the stream cannot survive (bad length, over our Max-Message-Size), a message
that is not a CSM first, a bad CSM option or a malformed message makes the core send 7.05
Abort and close; a request with an unknown critical option gets 4.02. Nothing raises on input.

:class:`StreamEndpoint` holds many connections behind the :class:`Endpoint` API (peers are
connections), for servers and for adapters driving any :class:`StreamCore`.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from functools import partial
from typing import Protocol

from lwm2m.coap.codes import Code
from lwm2m.coap.events import ExchangeKey, ObservationKey, Peer
from lwm2m.coap.exchange import StaleHandleError
from lwm2m.coap.exchange_records import CoreQueues, TransferStores
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.coap.stream_config import (
    DEFAULT_STREAM,
    CloseReason,
    ConnectionClosed,
    CsmReceived,
    ReleaseReceived,
    StreamConfig,
    StreamEvent,
)
from lwm2m.coap.stream_connection import StreamConnection
from lwm2m.coap.timers import Timer, TimerQueue

__all__ = [
    "DEFAULT_STREAM",
    "CloseReason",
    "ConnectionClosed",
    "CsmReceived",
    "ReleaseReceived",
    "StreamConfig",
    "StreamConnection",
    "StreamCore",
    "StreamEndpoint",
    "StreamEvent",
]


# -- many connections ------------------------------------------------------------------------


class StreamCore(Protocol):
    """What a stream transport adapter drives: connections named by opaque peers.

    The adapter calls :meth:`connection_made` when a connection is up (after a TLS handshake),
    feeds it with :meth:`receive`, and says :meth:`connection_lost` when it went; after each
    step it writes :meth:`data_to_send`, then closes the connections :meth:`closing` names.
    """

    def connection_made(self, peer: Peer, now: float) -> None: ...

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...

    def connection_lost(self, peer: Peer, now: float) -> None: ...

    def data_to_send(self) -> list[tuple[bytes, Peer]]: ...

    def closing(self) -> list[Peer]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class StreamEndpoint(CoreQueues[StreamEvent]):
    """Many :class:`StreamConnection` behind the :class:`~lwm2m.coap.endpoint.Endpoint` API.

    ``send_request(peer, ...)``, ``respond``, ``notify``, ``cancel`` and the events are those
    of the datagram endpoint, so code written for it serves connections too; the connection
    events (:class:`CsmReceived`, :class:`ReleaseReceived`, :class:`ConnectionClosed`) come
    on top. A peer is known from :meth:`connection_made` to its :class:`ConnectionClosed`.
    """

    def __init__(self, config: StreamConfig = DEFAULT_STREAM, rng: random.Random | None = None):
        self.config = config
        self._rng = rng if rng is not None else random.Random()
        self._handles = itertools.count(1)
        self._connections: dict[Peer, StreamConnection] = {}
        self._owners: dict[int, Peer] = {}
        self._wakeups: dict[Peer, Timer] = {}
        self._timers = TimerQueue()
        self._stores = TransferStores.create(config, self._timers, config.transfer_lifetime)
        self._out: list[tuple[bytes, Peer]] = []
        self._closing: list[Peer] = []
        self._events: deque[StreamEvent] = deque()

    def __len__(self) -> int:
        return len(self._connections)

    def connection(self, peer: Peer) -> StreamConnection:
        connection = self._connections.get(peer)
        if connection is None:
            raise StaleHandleError(f"no connection {peer!r}")
        return connection

    # -- driving (StreamCore) ----------------------------------------------------------------

    def connection_made(self, peer: Peer, now: float) -> None:
        if peer in self._connections:
            raise ValueError(f"connection {peer!r} exists already")
        rng = random.Random(self._rng.getrandbits(64))
        connection = StreamConnection(
            peer, now, self.config, rng, self._handles, stores=self._stores
        )
        self._connections[peer] = connection
        self._sync(connection)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        connection = self._connections.get(peer)
        if connection is not None:
            connection.receive_data(data, now)
            self._sync(connection)

    def connection_lost(self, peer: Peer, now: float) -> None:
        connection = self._connections.get(peer)
        if connection is not None:
            connection.connection_lost(now)
            self._sync(connection)

    def data_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

    def closing(self) -> list[Peer]:
        closing, self._closing = self._closing, []
        return closing

    # -- the Endpoint API --------------------------------------------------------------------

    def send_request(
        self,
        peer: Peer,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        timeout: float | None = None,
    ) -> int:
        """As :meth:`StreamConnection.send_request`; an unknown peer raises StaleHandleError."""
        connection = self.connection(peer)
        handle = connection.send_request(
            code, options=options, payload=payload, now=now, timeout=timeout
        )
        self._owners[handle] = peer
        self._sync(connection)
        return handle

    def ping(self, peer: Peer, now: float) -> int:
        connection = self.connection(peer)
        handle = connection.ping(now)
        self._owners[handle] = peer
        self._sync(connection)
        return handle

    def cancel(self, handle: int, now: float) -> None:
        connection = self._owner(handle)
        connection.cancel(handle, now)
        self._sync(connection)

    def deliver_blocks(self, handle: int) -> None:
        """As :meth:`StreamConnection.deliver_blocks`."""
        self._owner(handle).deliver_blocks(handle)

    def cancel_observation(self, handle: int, now: float) -> None:
        connection = self._owner(handle)
        connection.cancel_observation(handle, now)
        self._sync(connection)

    def respond(
        self,
        exchange: ExchangeKey,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        observe: bool = True,
    ) -> ObservationKey | None:
        connection = self.connection(exchange.peer)
        key = connection.respond(
            exchange, code, options=options, payload=payload, now=now, observe=observe
        )
        self._sync(connection)
        return key

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
    ) -> None:
        connection = self.connection(observation.peer)
        connection.notify(observation, code, options=options, payload=payload, now=now)
        self._sync(connection)

    def release(self, peer: Peer, now: float, *, diagnostic: str = "") -> None:
        connection = self.connection(peer)
        connection.release(now, diagnostic=diagnostic)
        self._sync(connection)

    def abort(self, peer: Peer, now: float, *, diagnostic: str = "") -> None:
        connection = self.connection(peer)
        connection.abort(now, diagnostic=diagnostic)
        self._sync(connection)

    def forget_peer(self, peer: Peer) -> None:
        """Per-connection state goes with the connection; kept for the Endpoint API."""

    # -- internals ---------------------------------------------------------------------------

    def _owner(self, handle: int) -> StreamConnection:
        peer = self._owners.get(handle)
        connection = self._connections.get(peer) if peer is not None else None
        if connection is None:
            raise StaleHandleError(f"request {handle} is over")
        return connection

    def _sync(self, connection: StreamConnection) -> None:
        """Collect a connection's output and events and re-arm its wake-up."""
        peer = connection.peer
        data = connection.data_to_send()
        if data:
            self._out.append((data, peer))
        owners = self._owners
        while (event := connection.next_event()) is not None:
            self._events.append(event)
            handle = getattr(event, "handle", None)
            if handle is not None and not connection.has_handle(handle):
                owners.pop(handle, None)
        wakeup = self._wakeups.pop(peer, None)
        if connection.closed:
            self._timers.cancel(wakeup)
            del self._connections[peer]
            self._closing.append(peer)
            return
        deadline = connection.get_timer()
        if wakeup is not None and wakeup.deadline == deadline:
            self._wakeups[peer] = wakeup
            return
        self._timers.cancel(wakeup)
        if deadline is not None:
            self._wakeups[peer] = self._timers.schedule(deadline, partial(self._wake, connection))

    def _wake(self, connection: StreamConnection, now: float) -> None:
        self._wakeups.pop(connection.peer, None)
        connection.handle_timer(now)
        self._sync(connection)
