"""The disk spool between the server's events and a broker: nothing is lost while the broker is
away or the server restarts.

Every message is appended here first, with a sequence number that only grows (SQLite
``AUTOINCREMENT``: never reused, across restarts too), and removed once the broker acknowledged
it and every message before it.  The publisher reads it in sequence order, so what the broker
gets is in the order the server saw it, resends after a reconnection included.

Writes go to one open transaction, committed by :meth:`Spool.commit` (the relay calls it once
per event-loop turn): one commit for a burst of events instead of one each.  In WAL mode with
``synchronous=NORMAL`` a commit survives the process crashing (not the machine losing power);
what was appended since the last commit, at most one loop turn's events, is what a crash of
the process loses.

Bounded: past ``max_messages`` or ``max_bytes`` held, a new message is refused (counted in
:attr:`Spool.dropped`, logged): the broker gets an unbroken prefix of the events rather than a
sequence with holes in the middle.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGES = 1_000_000
DEFAULT_MAX_BYTES = 1 << 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int
    topic: str
    payload: bytes
    msg_id: str
    """``{spool ID}-{seq}``: unique across spools and restarts, what consumers deduplicate by."""


class Spool:
    """An ordered, bounded queue of messages in one SQLite file (``:memory:``: none, for tests
    and ``--db :memory:``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("the spool must hold at least one message and one byte")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            self._db.close()
            raise
        self.spool_id = self._spool_id()
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool"
        ).fetchone()
        self._count: int = count
        self._bytes: int = size
        self.dropped = 0
        """Messages refused because the spool was full, since it was opened."""
        self._in_transaction = False

    def _spool_id(self) -> str:
        """A random name for this spool, kept in it: with the sequence number it makes a
        message ID unique across servers and spool files (NATS deduplicates by it)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'id'").fetchone()
        if row is not None:
            return str(row[0])
        spool_id = secrets.token_hex(8)
        self._db.execute("INSERT INTO meta (key, value) VALUES ('id', ?)", (spool_id,))
        return spool_id

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        """Payload bytes held."""
        return self._bytes

    def append(self, topic: str, payload: bytes) -> int | None:
        """Queue a message; its sequence number, or None when the spool is full."""
        if self._count >= self.max_messages or self._bytes + len(payload) > self.max_bytes:
            if self.dropped == 0 or self.dropped % 1000 == 0:
                logger.warning(
                    "northbound spool full (%d messages, %d bytes): message on %s dropped",
                    self._count,
                    self._bytes,
                    topic,
                )
            self.dropped += 1
            return None
        self._begin()
        cursor = self._db.execute(
            "INSERT INTO spool (topic, payload) VALUES (?, ?)", (topic, payload)
        )
        self._count += 1
        self._bytes += len(payload)
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def read(self, after: int, limit: int) -> list[SpoolEntry]:
        """Up to ``limit`` messages with a sequence number above ``after``, in order."""
        rows = self._db.execute(
            "SELECT seq, topic, payload FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        prefix = self.spool_id + "-"
        return [SpoolEntry(seq, topic, payload, f"{prefix}{seq}") for seq, topic, payload in rows]

    def remove_through(self, seq: int) -> None:
        """Forget every message up to ``seq`` (the broker acknowledged them all)."""
        self._begin()
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool WHERE seq <= ?", (seq,)
        ).fetchone()
        self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self._count -= count
        self._bytes -= size

    def commit(self) -> None:
        if self._in_transaction:
            self._db.execute("COMMIT")
            self._in_transaction = False

    def close(self) -> None:
        self.commit()
        self._db.close()

    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True
