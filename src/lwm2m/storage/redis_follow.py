"""Following the other nodes' writes: one task reads the change stream (``PREFIX:changes``,
appended by every node's writer in the same pipeline as its writes) and applies each entry that
another node made to this node's :class:`~lwm2m.storage.redis_store.RedisStore` view, so its
REST API and its takeovers see the whole fleet without reading Redis per request.

It starts from the stream's last entry before the store's ``SCAN`` (entries the scan already
saw apply again harmlessly: each is the state of a key).  The stream keeps about
:data:`~lwm2m.storage.redis_writer.CHANGES_KEPT` entries; a node that falls further behind
(stopped in a debugger, cut off from Redis for long) misses changes, logs it and counts it in
``missed``: its view of other nodes' devices is stale until they change again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import cbor2
from redis.exceptions import RedisError

from lwm2m.storage.redis_store import RedisStore

logger = logging.getLogger(__name__)

READ_COUNT = 500
BLOCK_MS = 1000
RETRY = 0.5

STOP_WAIT = BLOCK_MS / 1000 + 1.0
"""Seconds :func:`stop_reader` waits for a reading task to end."""

Listener = Callable[[str, list[tuple[bytes, str]]], None]
"""Told, after each applied entry, which node made it and the ``(kind, endpoint)`` it changed."""


class ChangeFollower:
    """Applies other nodes' changes to ``store`` until :meth:`close`."""

    def __init__(self, store: RedisStore, node: str, listener: Listener | None = None) -> None:
        self._store = store
        self._node = node.encode("utf-8", "surrogatepass")
        self._listener = listener
        self._last: bytes = store.changes_from
        self.applied = 0
        self.missed = 0
        self.stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="lwm2m-follow")

    async def _run(self) -> None:
        client: Any = self._store.client
        stream = self._store.keys.changes
        while not self.stopping:
            try:
                reply = await client.xread({stream: self._last}, count=READ_COUNT, block=BLOCK_MS)
                if reply:
                    entries = reply[0][1]
                    if len(entries) == READ_COUNT:
                        await self._check_gap(client, stream)
                    for entry_id, fields in entries:
                        self._last = entry_id
                        self._apply(fields)
            except (RedisError, OSError) as exc:
                logger.debug("cannot read the change stream: %s", exc)
                await asyncio.sleep(RETRY)

    async def _check_gap(self, client: Any, stream: bytes) -> None:
        """Behind: were entries after ours trimmed before we read them?"""
        first = await client.xrange(stream, count=1)
        if first and _id(first[0][0]) > _id(self._last) and self._last != b"0-0":
            self.missed += 1
            logger.error(
                "this node fell behind the change stream: other nodes' changes before %s "
                "were trimmed unread, its view of their devices is stale until they change",
                first[0][0].decode(),
            )

    def _apply(self, fields: dict[bytes, bytes]) -> None:
        node = fields.get(b"node", b"")
        if node == self._node:
            return
        try:
            commands = cbor2.loads(fields[b"changes"])
        except Exception as exc:  # an entry this release cannot read
            logger.warning("unreadable change stream entry: %s", exc)
            return
        applied = self._store.apply_changes(commands)
        self.applied += 1
        if self._listener is not None and applied:
            try:
                self._listener(node.decode("utf-8", "surrogatepass"), applied)
            except Exception:
                logger.exception("a change listener failed")

    async def close(self) -> None:
        self.stopping = True
        await stop_reader(self._task)


async def stop_reader(task: asyncio.Task[None]) -> None:
    """Cancel ``task``, a loop of blocking Redis reads that also ends when its own stop flag
    is set: redis-py can lose a cancellation that arrives during a blocking read (it retries
    the read), and then the task ends at the end of that read instead.  Waits at most
    :data:`STOP_WAIT` seconds."""
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_WAIT)
    if not task.done():
        logger.warning("%s did not stop in %.0f s", task.get_name(), STOP_WAIT)


def _id(entry_id: bytes) -> tuple[int, int]:
    millis, _, seq = entry_id.partition(b"-")
    return int(millis), int(seq or 0)
