"""Every node's server events on every node: each node appends its own events to the event
stream (``PREFIX:events``, as the northbound JSON view renders them) and hands the other
nodes' entries to its local listeners (the SSE hub) as :class:`RemoteEvent`.  A node's own
subscribers (the northbound among them) see only its own events, so each event is published
northbound once, by the node that served the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from lwm2m.northbound.jsonview import dumps, event_json
from lwm2m.server import LwM2MServer, ServerEvent
from lwm2m.storage import RedisStore
from lwm2m.storage.redis_follow import stop_reader

logger = logging.getLogger(__name__)

EVENTS_KEPT = 10_000
"""Entries the event stream keeps, about."""
_BLOCK_MS = 1000
_RETRY = 0.5


class RemoteEvent:
    """An event another node published: its JSON, as that node rendered it."""

    __slots__ = ("data", "endpoint", "node")

    def __init__(self, node: str, data: object) -> None:
        if not isinstance(data, dict):
            raise ValueError("an event is a JSON object")
        self.node = node
        self.data = data
        endpoint = data.get("endpoint")
        if endpoint is None and isinstance(data.get("registration"), dict):
            endpoint = data["registration"].get("endpoint")
        self.endpoint = endpoint if isinstance(endpoint, str) else None

    def to_json(self) -> dict[str, object]:
        return self.data


Listener = Callable[[RemoteEvent], None]


class EventRelay:
    """Publishes this node's events; delivers the others' to :meth:`listen` callbacks."""

    def __init__(self, store: RedisStore, server: LwM2MServer, node: str) -> None:
        self._store = store
        self._node = node
        self._encoded_node = node.encode("utf-8", "surrogatepass")
        self._listeners: list[Listener] = []
        self._outgoing: list[bytes] = []
        self._flushing: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unsubscribe = server.subscribe(self._publish)
        self.relayed = 0

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each other node's event; returns the function that stops."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def start(self) -> None:
        stream = self._store.keys.events
        last = await self._store.client.xrevrange(stream, count=1)
        start = last[0][0] if last else b"0-0"
        self._task = asyncio.get_running_loop().create_task(
            self._read(stream, start), name="lwm2m-cluster-events"
        )

    async def close(self) -> None:
        self._unsubscribe()
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        if self._task is not None:
            self._stopping = True
            await stop_reader(self._task)

    def _publish(self, event: ServerEvent) -> None:
        """A local event: rendered now, appended by one task per loop turn (pipelined)."""
        try:
            self._outgoing.append(dumps(event_json(event)).encode())
        except Exception:
            logger.exception("cannot render %s for the other nodes", type(event).__name__)
            return
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)
        while self._outgoing:
            batch, self._outgoing = self._outgoing, []
            pipe = self._store.client.pipeline(transaction=False)
            for data in batch:
                pipe.xadd(
                    self._store.keys.events,
                    {b"node": self._encoded_node, b"event": data},
                    maxlen=EVENTS_KEPT,
                )
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:
                logger.warning("%d events not relayed to the other nodes: %s", len(batch), exc)
        self._flushing = None

    async def _read(self, stream: bytes, last: bytes) -> None:
        client: Any = self._store.client
        while not self._stopping:
            try:
                reply = await client.xread({stream: last}, count=500, block=_BLOCK_MS)
            except (RedisError, OSError) as exc:
                logger.debug("cannot read the event stream: %s", exc)
                await asyncio.sleep(_RETRY)
                continue
            for entry_id, fields in reply[0][1] if reply else ():
                last = entry_id
                node = fields.get(b"node", b"")
                if node != self._encoded_node:
                    self._deliver(node.decode("utf-8", "surrogatepass"), fields.get(b"event"))

    def _deliver(self, node: str, data: bytes | None) -> None:
        try:
            event = RemoteEvent(node, json.loads(data or b""))
        except ValueError as exc:
            logger.warning("unreadable event from node %s: %s", node, exc)
            return
        self.relayed += 1
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("a relayed-event listener failed")
