"""Server events as server-sent events (``GET /api/events``).

The CoAP side publishes into one bounded ring of recent events and never waits: publishing
appends the event (serialized later, once, by the first stream that sends it) and, at most once
per ``flush_interval``, wakes the streams waiting for more.  Each stream keeps only its place
in the ring, so a stream that is not read (its socket full, its task parked in the HTTP
server's back-pressure) costs the publisher nothing; when it reads again, events that left
the ring meanwhile are dropped for it alone and a comment says how many.

Every event carries an ``event:`` (its type: ``registered``, ``notification``...) and an
``id:`` (``RUN-SEQUENCE-MILLISECONDS``, RUN changing with each start of the server, then the
Unix time in ms), so a client that reconnects with ``Last-Event-ID`` gets what it missed while
the ring still holds it.  A stream may follow one endpoint; when it cannot be resumed from the
ring (the events left it, or the server restarted), the values that device reported since the
id's time (or since ``since``) are replayed from the history store as ``history`` events: the
store keeps reported values, not every event, and survives a restart with a database.  Past
``max_subscribers`` open streams, new ones are refused (503).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
import types
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from typing import TypeAlias

from lwm2m.cluster import RemoteEvent
from lwm2m.codec.flat_json import value_to_json
from lwm2m.firmware.campaign_events import CampaignEvent
from lwm2m.model import Path
from lwm2m.server import LwM2MServer, ServerEvent
from lwm2m.web.jsonview import dumps, event_json

logger = logging.getLogger(__name__)

KEEPALIVE = ": keep-alive\n\n"
CLOSED = ": server shutting down\n\n"
NOT_RESUMED = ": cannot resume from that Last-Event-ID, events may have been missed\n\n"

DEFAULT_MAX_SUBSCRIBERS = 256
DEFAULT_BACKLOG = 1024


StreamedEvent: TypeAlias = ServerEvent | RemoteEvent | CampaignEvent
"""What the streams carry: the server's events, other cluster nodes', firmware campaigns'."""


class TooManySubscribersError(Exception):
    """Every event stream slot is taken (HTTP 503)."""


HISTORY_REPLAY = 1000
"""Most stored values replayed to one stream that follows an endpoint."""


def sse_frame(
    data: Mapping[str, object], event_id: str | None = None, *, event: str | None = None
) -> str:
    """One event: its ``id:`` and ``event:`` lines and one ``data:`` line (compact JSON has no
    line break)."""
    head = "" if event_id is None else f"id: {event_id}\n"
    if event is not None:
        head += f"event: {event}\n"
    return f"{head}data: {dumps(data)}\n\n"


def event_endpoint(event: StreamedEvent) -> str | None:
    """The endpoint an event is about (its registration's for registration events)."""
    endpoint = getattr(event, "endpoint", None)
    if endpoint is None:
        endpoint = getattr(getattr(event, "registration", None), "endpoint", None)
    return endpoint if isinstance(endpoint, str) else None


def dropped_comment(count: int) -> str:
    return f": {count} events dropped, they came faster than they were read\n\n"


class _Entry:
    """One event in the ring; ``frame`` is filled by the first stream that sends it."""

    __slots__ = ("event", "frame", "time")

    def __init__(self, event: StreamedEvent, now: float) -> None:
        self.event = event
        self.time = now
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
        self._server = server
        self._unsubscribe = server.subscribe(self._publish)

    @property
    def subscriber_count(self) -> int:
        return sum(1 for stream in self._streams if stream.ag_frame is not None)

    @property
    def backlog(self) -> int:
        """Events held for streams that are behind and for Last-Event-ID (at most the ring)."""
        return len(self._ring)

    def open(
        self,
        last_event_id: str | None = None,
        *,
        endpoint: str | None = None,
        since: float | None = None,
    ) -> AsyncGenerator[str, None]:
        """A new stream of frames from this call on, or from just after ``last_event_id``;
        only ``endpoint``'s events if given, after its values reported since ``since`` (Unix
        time) or since an id the ring no longer holds; TooManySubscribersError when every slot
        is taken."""
        if self.subscriber_count >= self.max_subscribers:
            self.refused_subscribers += 1
            raise TooManySubscribersError(f"{self.max_subscribers} event streams are open")
        position, greeting, missed_since = self._start(last_event_id, endpoint is not None)
        replay_since = since if since is not None else missed_since
        if endpoint is not None and replay_since is not None:
            greeting = (greeting or "") + self._history(endpoint, replay_since)
        stream = self._frames(position, greeting, endpoint)
        assert isinstance(stream, types.AsyncGeneratorType)
        self._streams.add(stream)
        return stream

    def relay(self, event: RemoteEvent) -> None:
        """Another cluster node's event (:mod:`lwm2m.cluster.relay`): streamed here as if it
        were this node's; the northbound, subscribed to the server, never sees it."""
        self._publish(event)

    def publish(self, event: CampaignEvent) -> None:
        """A firmware campaign's event (``CampaignRunner.subscribe``): streamed like the
        server's own, with its ``campaign`` id; not relayed to other cluster nodes."""
        self._publish(event)

    def close(self) -> None:
        """End every stream (before an HTTP shutdown, which would otherwise wait for them)."""
        self._unsubscribe()
        self._closed = True
        self._wakeup.set()

    def _publish(self, event: StreamedEvent) -> None:
        """Called by the server for each event: O(1), never awaits."""
        self._ring.append(_Entry(event, time.time()))
        self._next += 1
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(self._flush_interval, self._flush)

    def _flush(self) -> None:
        """Wake every stream waiting for events (one wake-up per interval, not per event)."""
        self._flush_pending = False
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _start(
        self, last_event_id: str | None, following: bool
    ) -> tuple[int, str | None, float | None]:
        """The sequence number a new stream starts at, a comment to send first, and the time
        of the last event seen when the ring cannot resume from it (``following`` one
        endpoint: the history store replays what left the ring)."""
        if last_event_id is None:
            return self._next, None, None
        run, _, rest = last_event_id.strip().partition("-")
        number, _, millis = rest.partition("-")
        seen = int(millis) / 1000 if millis.isascii() and millis.isdigit() else None
        if run != self._run or not number.isdigit() or int(number) >= self._next:
            return self._next, NOT_RESUMED, seen
        if following and seen is not None and int(number) + 1 < self._next - len(self._ring):
            return self._next, None, seen  # left the ring: the history store has the values
        return int(number) + 1, None, None

    def _history(self, endpoint: str, since: float) -> str:
        """``history`` frames of the values ``endpoint`` reported after ``since``."""
        entries = self._server.history(endpoint, Path(()), HISTORY_REPLAY)
        return "".join(
            sse_frame(
                {
                    "type": "history",
                    "endpoint": endpoint,
                    "time": entry.time,
                    "path": str(entry.path),
                    "value": value_to_json(entry.value),
                },
                event="history",
            )
            for entry in entries
            if entry.time > since
        )

    async def _frames(
        self, position: int, greeting: str | None, endpoint: str | None
    ) -> AsyncGenerator[str, None]:
        if greeting:
            yield greeting
        while not self._closed:
            oldest = self._next - len(self._ring)
            if position < oldest:
                self.dropped_events += oldest - position
                yield dropped_comment(oldest - position)
                position = oldest
            if position < self._next:
                chunk = (
                    self._chunk(position, oldest)
                    if endpoint is None
                    else self._chunk_of(endpoint, position, oldest)
                )
                position = self._next
                if chunk:
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

    def _chunk_of(self, endpoint: str, position: int, oldest: int) -> str:
        """The frames from ``position`` on of ``endpoint``'s events."""
        entries = itertools.islice(self._ring, position - oldest, None)
        return "".join(
            self._frame(entry, n)
            for n, entry in enumerate(entries, position)
            if event_endpoint(entry.event) == endpoint
        )

    def _frame(self, entry: _Entry, number: int) -> str:
        if entry.frame is None:
            try:
                event = entry.event
                if isinstance(event, RemoteEvent | CampaignEvent):
                    data = event.to_json()
                else:
                    data = event_json(event)
                event_id = f"{self._run}-{number}-{int(entry.time * 1000)}"
                entry.frame = sse_frame(data, event_id, event=str(data.get("type", "message")))
            except Exception:  # a broken to_json() must not end the streams
                logger.exception("cannot serialize %s", type(entry.event).__name__)
                entry.frame = f": event {self._run}-{number} could not be serialized\n\n"
        return entry.frame
