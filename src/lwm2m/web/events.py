"""Server events as server-sent events (``GET /api/events``).

Each event is serialized once and fanned out to per-subscriber bounded queues.  Publishing
never waits: a subscriber whose queue is full is dropped (its stream ends and an EventSource
reconnects), so one slow browser cannot hold up the server's event loop or its memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping

from lwm2m.server import LwM2MServer, ServerEvent

logger = logging.getLogger(__name__)

KEEPALIVE = ": keep-alive\n\n"
DROPPED = ": dropped, events came faster than they were read\n\n"
CLOSED = ": server shutting down\n\n"


def sse_frame(data: Mapping[str, object]) -> str:
    """One ``data:`` frame; compact JSON never contains a line break, so one line suffices."""
    return (
        f"data: {json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(',', ':'))}\n\n"
    )


class _Subscriber:
    __slots__ = ("ended", "queue")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(size)
        self.ended = False

    def end(self, farewell: str) -> None:
        """Replace whatever is still queued by a last comment; the stream stops after it."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(farewell)
        self.ended = True


class EventHub:
    """Subscribes to the server once and feeds every open event stream."""

    def __init__(
        self, server: LwM2MServer, *, queue_size: int = 1024, keepalive: float = 15.0
    ) -> None:
        self._queue_size = queue_size
        self._keepalive = keepalive
        self._subscribers: set[_Subscriber] = set()
        self._unsubscribe = server.subscribe(self._publish)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def open(self) -> AsyncIterator[str]:
        """A new stream of frames; it receives every event from this call on."""
        subscriber = _Subscriber(self._queue_size)
        self._subscribers.add(subscriber)
        return self._frames(subscriber)

    def close(self) -> None:
        """End every stream (before an HTTP shutdown, which would otherwise wait for them)."""
        self._unsubscribe()
        for subscriber in self._subscribers:
            subscriber.end(CLOSED)
        self._subscribers.clear()

    def _publish(self, event: ServerEvent) -> None:
        if not self._subscribers:
            return
        try:
            frame = sse_frame(event.to_json())
        except (TypeError, ValueError):
            logger.exception("cannot serialize %s", type(event).__name__)
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(frame)
            except asyncio.QueueFull:
                logger.warning(
                    "dropping an event stream that fell %d events behind", self._queue_size
                )
                self._subscribers.discard(subscriber)
                subscriber.end(DROPPED)

    async def _frames(self, subscriber: _Subscriber) -> AsyncIterator[str]:
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(subscriber.queue.get(), self._keepalive)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                yield frame
                if subscriber.ended and subscriber.queue.empty():
                    return
        finally:
            self._subscribers.discard(subscriber)
