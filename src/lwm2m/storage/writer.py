"""The store's one writer thread: changes committed in order, numbered, poison rows set aside.

The event loop appends each change to a queue and returns; the thread takes everything queued
and commits it in one transaction, runs of the same statement as one ``executemany``.  Changes
are numbered as they are submitted (:attr:`Writer.written`) and :attr:`Writer.committed` says
how many are in the database, so a caller can hold back what depends on a change until then
(group commit: see :mod:`lwm2m.server.durability`).

Two paces: ``eager`` (strict durability) wakes the thread at the first change after it went
idle, and whatever arrives while a commit (and its sync) runs makes the next batch, so batches
grow with load and a change waits about one commit; otherwise the thread wakes every
``interval`` seconds.

A row the database refuses (a value it cannot bind, a constraint) must not cost the other
devices their changes: the batch is then written again row by row, each under a savepoint, and
the refused rows are logged with their endpoint, counted and left out.  A failure of the
database itself (disk full, I/O error) keeps the batch for the next attempt instead: its
changes are not committed, so nothing waiting for them is released.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, TypeAlias

logger = logging.getLogger(__name__)

Rows: TypeAlias = Callable[[Any], Iterable[Sequence[object]]]
Op: TypeAlias = tuple[str, Rows, Any]
"""A change: a statement, and the function that turns its argument into parameter rows (run
by the writer thread, so serializing costs the event loop nothing)."""

ROW_ERRORS = (
    ValueError,  # UnicodeEncodeError too
    TypeError,
    OverflowError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
)
"""What one row can cause; anything else is the database's failure, not the row's."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """How the writer keeps up (what ``/metrics`` shows)."""

    pending_writes: int  # changes submitted and not committed yet
    write_lag_seconds: float  # how long the oldest of them has waited, at most (0 with none)
    commits: int
    commit_seconds_total: float  # from BEGIN to the end of COMMIT (sync included)
    last_commit_seconds: float
    failed_rows: int  # rows the database refused, logged and left out


class _Scrub:
    """Queued after a change that replaced or removed a key: checkpoint and truncate the WAL
    once it is committed, so no page image of the old key stays in the ``-wal`` file."""


SCRUB = _Scrub()


class Writer:
    """One thread owns the write connection (see the module docstring)."""

    def __init__(
        self, connection: sqlite3.Connection, interval: float, *, eager: bool = False
    ) -> None:
        self._connection = connection
        self._interval = interval
        self._eager = eager
        self._queue: deque[Op | threading.Event | _Scrub] = deque()  # atomic append, popleft
        self._wake = threading.Event()
        self._stopping = False
        self._idle = False  # the thread waits for a change (then the first one wakes it)
        self._idle_since = 0.0  # when the first change after idling came
        self._taken = time.monotonic()  # the writer's last look at the queue
        self.written = 0  # changes submitted (the event loop's count)
        self.committed = 0  # changes committed (the writer's count)
        self._on_commit: Callable[[], None] | None = None
        self._commits = 0
        self._commit_seconds = 0.0
        self._last_commit = 0.0
        self._failed_rows = 0
        self._thread = threading.Thread(target=self._run, name="lwm2m-store", daemon=True)
        self._thread.start()

    def submit(self, op: Op) -> None:
        """Queue a change (on the event loop; about a microsecond)."""
        self._queue.append(op)
        self.written += 1
        if self._idle:  # read after the append: a writer going idle then sees the change
            self._idle = False
            self._idle_since = time.monotonic()
            if self._eager:
                self._wake.set()

    def scrub(self) -> None:
        """Truncate the WAL once what is queued now is committed (after a key changed)."""
        self._queue.append(SCRUB)
        self._wake.set()

    def on_commit(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` on the writer's thread after each commit (None: stop)."""
        self._on_commit = callback

    def stats(self) -> StoreStats:
        pending = self.written - self.committed
        # Uncommitted changes came after the writer's look before its last commit, and after
        # the first change that found it idle.
        since = max(self._taken, self._idle_since)
        lag = max(0.0, time.monotonic() - since) if pending > 0 else 0.0
        return StoreStats(
            pending, lag, self._commits, self._commit_seconds, self._last_commit, self._failed_rows
        )

    def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        while not done.wait(0.1) and self._thread.is_alive():
            pass

    def stop(self) -> None:
        """Commit what is queued, then end the thread (and close the connection)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        retry: list[Op] = []  # a batch the database failed to commit
        while True:
            self._sleep(retry)
            stopping = self._stopping
            ops, done, scrub = retry, [], False
            for _ in range(len(queue)):
                item = queue.popleft()
                if isinstance(item, threading.Event):
                    done.append(item)
                elif isinstance(item, _Scrub):
                    scrub = True
                else:
                    ops.append(item)
            taken = time.monotonic()
            retry = []
            if ops and not self._commit(ops):
                if stopping:
                    logger.error("the store is closing: %d changes were not committed", len(ops))
                else:
                    retry = ops
            if not retry:
                self._taken = taken  # what is still queued came after this
                if scrub:
                    self._truncate_wal()
            for event in done:
                event.set()
            if stopping:
                self._connection.close()
                return

    def _sleep(self, retry: list[Op]) -> None:
        """Until there is work: eager, until a change comes; else for the interval."""
        if retry:  # the database failed: give it a moment
            time.sleep(self._interval)
            return
        if not self._queue:
            self._idle = True
            if not self._queue:  # a change submitted meanwhile saw us busy, or wakes us
                self._wake.wait(None if self._eager else self._interval)
            self._idle = False
        elif not self._eager:
            self._wake.wait(self._interval)
        self._wake.clear()

    def _commit(self, ops: list[Op]) -> bool:
        """Commit ``ops`` (without the rows the database refuses); False if it failed."""
        connection = self._connection
        start = time.perf_counter()
        try:
            try:
                self._write(ops)
            except ROW_ERRORS:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                self._write_isolating(ops)
        except Exception:  # the database's failure: the thread must live on and try again
            logger.exception("the store could not commit %d changes; it will try again", len(ops))
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            return False
        seconds = time.perf_counter() - start
        self._commits += 1
        self._commit_seconds += seconds
        self._last_commit = seconds
        self.committed += len(ops)
        callback = self._on_commit
        if callback is not None:
            try:
                callback()
            except Exception:
                logger.exception("a commit listener failed")
        return True

    def _write(self, ops: list[Op]) -> None:
        connection = self._connection
        connection.execute("BEGIN")
        for sql, group in groupby(ops, key=itemgetter(0)):
            batch = list(group)
            rows = batch[0][1]
            connection.executemany(sql, chain.from_iterable(rows(op[2]) for op in batch))
        connection.execute("COMMIT")

    def _write_isolating(self, ops: list[Op]) -> None:
        """The batch again, each row under a savepoint: refused rows are left out."""
        connection = self._connection
        connection.execute("BEGIN")
        for sql, rows, arg in ops:
            try:
                params = list(rows(arg))
            except ROW_ERRORS as exc:
                self._refused(sql, arg, exc)
                continue
            for row in params:
                connection.execute("SAVEPOINT row")
                try:
                    connection.execute(sql, row)
                except ROW_ERRORS as exc:
                    connection.execute("ROLLBACK TO row")
                    self._refused(sql, arg, exc)
                connection.execute("RELEASE row")
        connection.execute("COMMIT")

    def _refused(self, sql: str, arg: object, exc: Exception) -> None:
        self._failed_rows += 1
        table = sql.split(" INTO ", 1)[-1].split(" FROM ", 1)[-1].split(None, 1)[0]
        logger.error(
            "the store left out a %s row of endpoint %s: %s: %s (the rest of its batch is kept)",
            table,
            _endpoint(arg),
            type(exc).__name__,
            exc,
        )

    def _truncate_wal(self) -> None:
        busy, _, _ = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            logger.warning("the WAL could not be truncated after a key changed: a reader held it")


def _endpoint(arg: object) -> object:
    """The endpoint a change belongs to, for the log (records, tuples starting with it)."""
    if isinstance(arg, str):
        return arg
    endpoint = getattr(arg, "endpoint", None)
    if endpoint is None and isinstance(arg, tuple) and arg:
        return arg[0]
    return endpoint
