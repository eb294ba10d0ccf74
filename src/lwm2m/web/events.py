"""Server events as server-sent events (``GET /api/events``).

The CoAP side publishes into one bounded ring of recent events and never waits: publishing
appends the event (serialized later, once, by the first stream that sends it) and, at most once
per ``flush_interval``, wakes the streams waiting for more.  Each stream keeps only its place
in the ring, so a stream that is not read (its socket full, its task parked in the HTTP
server's back-pressure) costs the publisher nothing; when it reads again, events that left
the ring meanwhile are dropped for it alone and a comment says how many.

Every event carries an ``id:`` (``RUN-SEQUENCE``, RUN changing with each start of the server),
so a client that reconnects with ``Last-Event-ID`` gets what it missed while the ring still
holds it.  Past ``max_subscribers`` open streams, new ones are refused (503).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import types
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Mapping

from lwm2m.server import LwM2MServer, ServerEvent
from lwm2m.web.jsonview import dumps, event_json

logger = logging.getLogger(__name__)

KEEPALIVE = ": keep-alive\n\n"
CLOSED = ": server shutting down\n\n"
NOT_RESUMED = ": cannot resume from that Last-Event-ID, events may have been missed\n\n"

DEFAULT_MAX_SUBSCRIBERS = 256
DEFAULT_BACKLOG = 1024


class TooManySubscribersError(Exception):
    """Every event stream slot is taken (HTTP 503)."""


def sse_frame(data: Mapping[str, object], event_id: str | None = None) -> str:
    """One event: its ``id:`` line and one ``data:`` line (compact JSON has no line break)."""
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}data: {dumps(data)}\n\n"


def dropped_comment(count: int) -> str:
    return f": {count} events dropped, they came faster than they were read\n\n"


class _Entry:
    """One event in the ring; ``frame`` is filled by the first stream that sends it."""

    __slots__ = ("event", "frame")

    def __init__(self, event: ServerEvent) -> None:
        self.event = event
        self.frame: str | None = None


class EventHub:
    """Subscribes to the server once and feeds every open event stream."""

    def __init__(
        self,
        server: LwM2MServer,
        *,
        max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS,
        backlog: int = DEFAULT_BACKLOG,
        keepalive: float = 15.0,
        flush_interval: float = 0.05,
    ) -> None:
        if max_subscribers < 1 or backlog < 1:
            raise ValueError("max_subscribers and backlog must be at least 1")
        self.max_subscribers = max_subscribers
        self._keepalive = keepalive
        self._flush_interval = flush_interval
        self._run = secrets.token_hex(4)
        self._ring: deque[_Entry] = deque(maxlen=backlog)
        self._next = 1  # the sequence number of the next event
        self._wakeup = asyncio.Event()
        self._flush_pending = False
        self._last_chunk: tuple[tuple[int, int], str] = ((0, 0), "")
        self._closed = False
        # Streams are counted while their generator lives and has not finished: one that a
        # response never started (the client left first) is freed with it, never leaked.
        self._streams: weakref.WeakSet[types.AsyncGeneratorType[str, None]] = weakref.WeakSet()
        self.dropped_events = 0
        """Events a stream never sent because they had left the ring (summed over streams)."""
        self.refused_subscribers = 0
        self._unsubscribe = server.subscribe(self._publish)

    @property
    def subscriber_count(self) -> int:
        return sum(1 for stream in self._streams if stream.ag_frame is not None)

    @property
    def backlog(self) -> int:
        """Events held for streams that are behind and for Last-Event-ID (at most the ring)."""
        return len(self._ring)

    def open(self, last_event_id: str | None = None) -> AsyncGenerator[str, None]:
        """A new stream of frames from this call on, or from just after ``last_event_id``;
        TooManySubscribersError when every slot is taken."""
        if self.subscriber_count >= self.max_subscribers:
            self.refused_subscribers += 1
            raise TooManySubscribersError(f"{self.max_subscribers} event streams are open")
        stream = self._frames(*self._start(last_event_id))
        assert isinstance(stream, types.AsyncGeneratorType)
        self._streams.add(stream)
        return stream

    def close(self) -> None:
        """End every stream (before an HTTP shutdown, which would otherwise wait for them)."""
        self._unsubscribe()
        self._closed = True
        self._wakeup.set()

    def _publish(self, event: ServerEvent) -> None:
        """Called by the server for each event: O(1), never awaits."""
        self._ring.append(_Entry(event))
        self._next += 1
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(self._flush_interval, self._flush)

    def _flush(self) -> None:
        """Wake every stream waiting for events (one wake-up per interval, not per event)."""
        self._flush_pending = False
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _start(self, last_event_id: str | None) -> tuple[int, str | None]:
        """The sequence number a new stream starts at, and a comment to send first."""
        if last_event_id is None:
            return self._next, None
        run, _, number = last_event_id.strip().partition("-")
        if run != self._run or not number.isdigit() or int(number) >= self._next:
            return self._next, NOT_RESUMED
        return int(number) + 1, None

    async def _frames(self, position: int, greeting: str | None) -> AsyncGenerator[str, None]:
        if greeting is not None:
            yield greeting
        while not self._closed:
            oldest = self._next - len(self._ring)
            if position < oldest:
                self.dropped_events += oldest - position
                yield dropped_comment(oldest - position)
                position = oldest
            if position < self._next:
                chunk = self._chunk(position, oldest)
                position = self._next
                yield chunk
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._keepalive)
            except TimeoutError:
                yield KEEPALIVE
        yield CLOSED

    def _chunk(self, position: int, oldest: int) -> str:
        """The frames from ``position`` on, joined once for every stream at that position
        (streams that keep up are all at the same one)."""
        key = (position, self._next)
        if self._last_chunk[0] != key:
            entries = itertools.islice(self._ring, position - oldest, None)
            frames = [self._frame(entry, n) for n, entry in enumerate(entries, position)]
            self._last_chunk = key, "".join(frames)
        return self._last_chunk[1]

    def _frame(self, entry: _Entry, number: int) -> str:
        if entry.frame is None:
            try:
                entry.frame = sse_frame(event_json(entry.event), f"{self._run}-{number}")
            except Exception:  # a broken to_json() must not end the streams
                logger.exception("cannot serialize %s", type(entry.event).__name__)
                entry.frame = f": event {self._run}-{number} could not be serialized\n\n"
        return entry.frame
