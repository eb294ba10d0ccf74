"""The Redis store's writer: one asyncio task that writes what changed, pipelined.

The event loop never waits for Redis.  A store method changes the in-memory view and *marks*
what it changed (a registration's endpoint, an observation's token...) dirty; the task takes
every dirty mark at once, turns each into commands from the view's current state (a ``SET`` or
a ``DEL``: a mark is a key to bring up to date, not a change to replay) and sends them in
pipelines of at most ``max_batch`` marks.  Marks of the same key made while Redis is slow or
away collapse into one, so the backlog is bounded by the state itself, never by the traffic or
the length of an outage: at most one pending write per registration, observation, queued
request, credential, configuration and history path.

Changes are numbered (:attr:`RedisWriter.written`); once every pipeline of a round is
acknowledged, :attr:`RedisWriter.committed` becomes the number taken at the start of the round
and the commit callback runs (the :class:`~lwm2m.server.durability.DurabilityGate` releases what
waited for it).  A round Redis refuses or does not answer (connection lost, timeout, out of
memory, a cluster that is failing over) marks its keys dirty again and is retried with back-off
doubling from ``RETRY_FIRST`` to ``RETRY_MAX`` seconds; commands are idempotent (``SET``,
``HSET``, ``DEL``, ``HDEL`` of a state), so a partly applied round is simply applied again.
An answer that says the command itself is wrong (``WRONGTYPE``: someone else's key) is logged
with its endpoint, counted (``failed_rows``) and left out, like a row SQLite refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import cbor2
from redis.exceptions import RedisError, ResponseError

logger = logging.getLogger(__name__)

RETRY_FIRST = 0.05
RETRY_MAX = 2.0
MAX_BATCH = 2000
"""Marks per pipeline: a round of 100,000 changed keys goes as 50 round trips, none of them a
request Redis takes long to parse."""
CHANGES_KEPT = 10_000
"""Entries (pipelines) the change stream keeps, about: a node further behind than that misses
changes (logged: :mod:`lwm2m.storage.redis_follow`)."""

Command: TypeAlias = tuple[Any, ...]
Done: TypeAlias = Callable[[], None]
Flush: TypeAlias = Callable[[Any], tuple[Sequence[Command], Done | None]]
"""What a mark becomes: the commands that bring its key up to date (from the view's state now),
and what to do once Redis acknowledged them."""

_TRANSIENT = ("OOM", "READONLY", "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN")
"""Error replies that say Redis cannot take the write now (retry), not that it is wrong."""


@dataclass(frozen=True, slots=True)
class RedisStats:
    """How the writer keeps up: :class:`~lwm2m.storage.StoreStats`'s fields (what ``/metrics``
    shows) and the connection's state."""

    pending_writes: int  # changes made and not acknowledged by Redis yet
    write_lag_seconds: float  # how long the oldest of them has waited (0 with none)
    commits: int  # rounds Redis acknowledged
    commit_seconds_total: float
    last_commit_seconds: float
    failed_rows: int  # writes Redis refused as wrong (logged and left out)
    connected: bool  # False from a failed round until one succeeds
    pending_keys: int  # distinct keys those changes touch (what the backlog holds)
    retries: int  # rounds that failed and were tried again


class _Channel:
    """The dirty marks of one kind of record, and how to write them."""

    __slots__ = ("dirty", "flush")

    def __init__(self, flush: Flush) -> None:
        self.flush = flush
        self.dirty: dict[Hashable, None] = {}


class RedisWriter:
    """See the module docstring.  Runs on the event loop that creates it.

    ``eager`` (strict durability): a round starts as soon as something is marked, and what is
    marked meanwhile makes the next one (group commit); otherwise rounds start every
    ``interval`` seconds.  ``check(reconnected)`` runs before every round, and every
    ``check_interval`` seconds while idle (the store checks there, now and then and after a
    failure, whether Redis came back empty); an error it raises fails the round.
    """

    def __init__(
        self,
        client: Any,
        *,
        eager: bool,
        interval: float,
        max_batch: int = MAX_BATCH,
        check: Callable[[bool], Awaitable[None]] | None = None,
        check_interval: float = 1.0,
    ) -> None:
        if max_batch < 1 or interval <= 0:
            raise ValueError("max_batch and interval must be positive")
        self._client = client
        self._eager = eager
        self._interval = interval
        self._max_batch = max_batch
        self._check = check
        self._check_interval = check_interval
        self._channels: list[_Channel] = []
        self._wake = asyncio.Event()
        self._idle = True
        self._progress = asyncio.Event()  # set after each round, success or not
        self.written = 0
        self.committed = 0
        self._pending_since = 0.0  # when the oldest unacknowledged change was made
        self._on_commit: Callable[[], None] | None = None
        self._commits = 0
        self._commit_seconds = 0.0
        self._last_commit = 0.0
        self._failed_rows = 0
        self._retries = 0
        self._feed: tuple[bytes, bytes] | None = None
        self.connected = True
        self._task = asyncio.get_running_loop().create_task(self._run(), name="lwm2m-redis")

    def channel(self, flush: Flush) -> Callable[[Hashable], None]:
        """A kind of record: returns its ``mark(ident)``, called on the loop after a change
        (about half a microsecond); ``flush(ident)`` is called later, by the task."""
        channel = _Channel(flush)
        self._channels.append(channel)
        dirty = channel.dirty

        def mark(ident: Hashable) -> None:
            dirty[ident] = None
            if self.written == self.committed:
                self._pending_since = time.monotonic()
            self.written += 1
            if self._idle:
                self._idle = False
                self._wake.set()

        return mark

    def on_commit(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` after each acknowledged round, on the loop (None: stop)."""
        self._on_commit = callback

    def publish(self, stream: bytes, node: str) -> None:
        """From now on, each pipeline also appends its commands to ``stream`` (one ``XADD``,
        in the same pipeline) under ``node``'s name, for the other nodes' views."""
        self._feed = stream, node.encode("utf-8", "surrogatepass")

    def stats(self) -> RedisStats:
        pending = self.written - self.committed
        lag = max(0.0, time.monotonic() - self._pending_since) if pending else 0.0
        return RedisStats(
            pending,
            lag,
            self._commits,
            self._commit_seconds,
            self._last_commit,
            self._failed_rows,
            self.connected,
            sum(len(channel.dirty) for channel in self._channels),
            self._retries,
        )

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every change made so far is acknowledged; False if ``timeout`` seconds
        passed first (Redis away) or the writer stopped."""
        target = self.written
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.committed < target and not self._task.done():
            self._wake.set()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)
        return self.committed >= target

    async def close(self, timeout: float) -> None:
        """Write what is pending (for at most ``timeout`` seconds), then stop."""
        if not await self.flush(timeout):
            logger.error(
                "Redis did not take %d changes before the store closed: they are lost",
                self.written - self.committed,
            )
        self.stop()

    def stop(self) -> None:
        """Stop at once; what is pending stays unwritten."""
        self._task.cancel()

    # -- the task ------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            if not any(channel.dirty for channel in self._channels):
                self._idle = True
                # Idle, the check still runs now and then: an outage shows in the stats.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._check_interval)
            self._wake.clear()
            if not self._eager:
                await asyncio.sleep(self._interval)
            if await self._round():
                delay = RETRY_FIRST
            else:
                self._retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            self._progress.set()

    async def _round(self) -> bool:
        """Write every dirty mark; True when Redis acknowledged them all."""
        if self._check is not None:
            try:
                await self._check(not self.connected)
            except (RedisError, OSError) as exc:
                logger.debug("Redis is away: %s", exc)
                self._away()
                return False
        upto = self.written
        marks: list[tuple[_Channel, Hashable]] = []
        for channel in self._channels:
            if channel.dirty:
                marks.extend((channel, ident) for ident in channel.dirty)
                channel.dirty.clear()
        if not marks:
            self._back()
            return True
        start = time.perf_counter()
        for first in range(0, len(marks), self._max_batch):
            if not await self._send(marks[first : first + self._max_batch]):
                for channel, ident in marks[first:]:
                    channel.dirty.setdefault(ident)
                self._away()
                return False
        seconds = time.perf_counter() - start
        self._back()
        self._commits += 1
        self._commit_seconds += seconds
        self._last_commit = seconds
        self.committed = upto
        if self.written > upto:
            self._pending_since = time.monotonic()
        callback = self._on_commit
        if callback is not None:
            try:
                callback()
            except Exception:
                logger.exception("a commit listener failed")
        return True

    async def _send(self, marks: list[tuple[_Channel, Hashable]]) -> bool:
        pipe = self._client.pipeline(transaction=False)
        spans: list[tuple[Hashable, int]] = []  # each mark's ident and its command count
        done: list[Done] = []
        sent: list[Sequence[Command]] = []
        for channel, ident in marks:
            try:
                commands, after = channel.flush(ident)
            except Exception as exc:  # a record that cannot be encoded: its own problem
                self._refused(ident, exc)
                continue
            for command in commands:
                pipe.execute_command(*command)
            spans.append((ident, len(commands)))
            sent.append(commands)
            if after is not None:
                done.append(after)
        if not spans:
            return True
        if self._feed is not None:
            stream, node = self._feed
            changes = cbor2.dumps([list(command) for command in itertools.chain(*sent)])
            pipe.xadd(stream, {b"node": node, b"changes": changes}, maxlen=CHANGES_KEPT)
            spans.append((stream, 1))
        try:
            replies = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            logger.debug("a Redis round failed: %s", exc)
            return False
        index = 0
        for ident, count in spans:
            for reply in replies[index : index + count]:
                if isinstance(reply, ResponseError):
                    if str(reply).startswith(_TRANSIENT):
                        logger.debug("Redis cannot take writes now: %s", reply)
                        return False
                    self._refused(ident, reply)
                elif isinstance(reply, Exception):  # a node lost during the round
                    logger.debug("a Redis round failed: %s", reply)
                    return False
            index += count
        for after in done:
            after()
        return True

    def _back(self) -> None:
        if not self.connected:
            self.connected = True
            logger.warning("Redis takes writes again (%d retries so far)", self._retries)

    def _away(self) -> None:
        if self.connected:
            self.connected = False
            logger.error(
                "Redis does not take writes: %d changes wait (served from memory, retried)",
                self.written - self.committed,
            )

    def _refused(self, ident: Hashable, exc: Exception) -> None:
        self._failed_rows += 1
        logger.error(
            "Redis refused the write of %s: %s: %s (the rest of its round is kept)",
            ident,
            type(exc).__name__,
            exc,
        )
