"""Acknowledged means durable: what the server sends waits for the store writes before it.

The core writes to its store while it handles a message (a Register's registration, an
observation, a queued request, a notification's or Send's values), then queues its answer.
With strict durability and a store that numbers its writes and reports its commits
(:class:`CommitLog`, such as :class:`~lwm2m.storage.SqliteStore`), the :class:`DurabilityGate`
stands between the core and the transports: whatever the core queues while writes are pending
is parked under the number of the last write, and released, in order, once the store reports
that write committed.  The core stays as it is (sans-I/O, unaware), and so do the transports:
they drive the gate's views of the core (:meth:`DurabilityGate.datagrams` for UDP and DTLS,
:meth:`DurabilityGate.streams` for TCP and TLS), which answer like the core with what may go.
DTLS encrypts what is released, when it is released, so its record order is the sending order.

Group commit: the store's writer commits whatever accumulated while its previous commit ran,
so under load one commit (and one sync) releases thousands of answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from lwm2m.coap.events import Peer
from lwm2m.coap.stream import StreamCore
from lwm2m.transport.udp import DatagramCore

logger = logging.getLogger(__name__)

MAX_PARKED = 100_000
"""Parked sends at most; beyond it new ones are dropped like lost datagrams (their senders
retransmit), so a store that stopped committing cannot exhaust memory."""

Datagrams = list[tuple[bytes, Peer]]


@runtime_checkable
class CommitLog(Protocol):
    """A store whose writes are numbered and committed in the order they were made."""

    @property
    def written(self) -> int:
        """Writes made so far."""

    @property
    def committed(self) -> int:
        """Writes committed (and synced) so far."""

    def on_commit(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` after each commit, from any thread (None: no more)."""


class DurabilityGate:
    """Parks what the core sends until the writes before it are committed (module docstring).

    ``flush`` pumps every transport: the gate calls it when it released something.
    """

    def __init__(self, log: CommitLog, flush: Callable[[], None]) -> None:
        self._log = log
        self._flush = flush
        self._loop = asyncio.get_running_loop()
        # (write number, datagrams | (stream data, closing peers) | an action), in order
        self._parked: deque[tuple[int, object]] = deque()
        self._datagrams: Datagrams = []  # released, for the datagram transports to take
        self._stream_data: Datagrams = []
        self._closing: list[Peer] = []
        self._scheduled = False
        self._dropped = 0
        log.on_commit(self._committed)

    def close(self) -> None:
        """Stop listening to the store (what is parked stays unsent)."""
        self._log.on_commit(None)

    def datagrams(self, core: DatagramCore) -> DatagramCore:
        """``core`` as the UDP and DTLS transports should see it."""
        return _GatedDatagrams(core, self)

    def streams(self, core: StreamCore) -> StreamCore:
        """``core`` as the TCP and TLS transport should see it."""
        return _GatedStreams(core, self)

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once what was sent so far has gone (closing a session after the
        answer that ends it), at once when nothing waits."""
        if self._must_park():
            self._park(action)
        else:
            action()

    # -- for the views -----------------------------------------------------------------------

    def pass_datagrams(self, out: Datagrams) -> Datagrams:
        ready = self._datagrams
        if ready:
            self._datagrams = []
        if out:
            if self._must_park():
                self._park(out)
            elif ready:
                ready.extend(out)
            else:
                return out
        return ready

    def pass_stream(self, data: Datagrams, closing: list[Peer]) -> Datagrams:
        ready = self._stream_data
        if ready:
            self._stream_data = []
        if data or closing:
            if self._must_park():
                self._park((data, closing))
            else:
                ready.extend(data)
                self._closing.extend(closing)
        return ready

    def take_closing(self) -> list[Peer]:
        closing, self._closing = self._closing, []
        return closing

    # -- parking -----------------------------------------------------------------------------

    def _must_park(self) -> bool:
        log = self._log
        return bool(self._parked) or log.written != log.committed

    def _park(self, item: object) -> None:
        if len(self._parked) >= MAX_PARKED and isinstance(item, list):  # datagrams only
            self._dropped += 1
            if self._dropped == 1:
                logger.error(
                    "the store has not committed for a while: %d sends wait, new ones are "
                    "dropped until it does",
                    MAX_PARKED,
                )
            return
        self._parked.append((self._log.written, item))

    def _committed(self) -> None:
        """On the store's writer thread: wake the event loop, once per wave of commits."""
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing left to send
                self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._scheduled = False  # before reading committed: a later commit schedules again
        committed = self._log.committed
        parked = self._parked
        released = False
        while parked and parked[0][0] <= committed:
            item = parked.popleft()[1]
            if isinstance(item, list):
                self._datagrams.extend(item)
            elif isinstance(item, tuple):
                self._stream_data.extend(item[0])
                self._closing.extend(item[1])
            else:
                self._flush()  # what came before it goes first
                item()  # type: ignore[operator]
            released = True
        if released:
            if self._dropped:
                logger.warning("the store commits again (%d sends were dropped)", self._dropped)
                self._dropped = 0
            self._flush()


class _GatedDatagrams:
    """A datagram core whose output passes the gate."""

    __slots__ = ("_core", "_gate")

    def __init__(self, core: DatagramCore, gate: DurabilityGate) -> None:
        self._core = core
        self._gate = gate

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._core.receive(data, peer, now)

    def datagrams_to_send(self) -> Datagrams:
        return self._gate.pass_datagrams(self._core.datagrams_to_send())

    def get_timer(self) -> float | None:
        return self._core.get_timer()

    def handle_timer(self, now: float) -> None:
        self._core.handle_timer(now)


class _GatedStreams:
    """A stream core whose output (bytes and the connections it closes) passes the gate."""

    __slots__ = ("_core", "_gate")

    def __init__(self, core: StreamCore, gate: DurabilityGate) -> None:
        self._core = core
        self._gate = gate

    def connection_made(self, peer: Peer, now: float) -> None:
        self._core.connection_made(peer, now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._core.receive(data, peer, now)

    def connection_lost(self, peer: Peer, now: float) -> None:
        self._core.connection_lost(peer, now)

    def data_to_send(self) -> Datagrams:
        core = self._core
        return self._gate.pass_stream(core.data_to_send(), core.closing())

    def closing(self) -> list[Peer]:
        return self._gate.take_closing()

    def get_timer(self) -> float | None:
        return self._core.get_timer()

    def handle_timer(self, now: float) -> None:
        self._core.handle_timer(now)
