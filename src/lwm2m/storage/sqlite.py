"""The server's state in one SQLite file (stdlib ``sqlite3``, WAL): what survives a restart.

Reads never touch the disk on the event loop's hot paths: registrations, PSK and OSCORE
credentials and bootstrap configurations are loaded once and answered from memory; observations
and queued requests are read once, when the server starts; history is read through its own
connection (WAL readers never wait for the writer).  Writes go the other way: the loop appends
each change to a queue, and one writer thread (:mod:`lwm2m.storage.writer`) commits the queue
in order.  With ``durability="strict"`` (the default) it commits as soon as changes wait and
syncs every commit, and says how far it got (:attr:`SqliteStore.committed`), so the server
answers a change only once it is durable; ``relaxed`` commits every ``flush_interval`` seconds,
so a ``kill -9`` loses the changes of the last interval.  Never half a batch (docs/storage.md).

Schema and migrations: :mod:`lwm2m.storage.schema`.  One server per file: a lock next to it
(``<file>.lock``) refuses a second one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lwm2m.bootstrap.config import BootstrapConfig, ConfigStore, parse_entry
from lwm2m.codec.link import Link, format_links, parse_links
from lwm2m.model import Path, Value
from lwm2m.security.credentials import (
    MemoryPskStore,
    OscoreCredential,
    Psk,
    PskCredential,
    Secret,
)
from lwm2m.security.oscore_endpoint import OscoreServerContexts, SequenceStores, file_sequences
from lwm2m.server.config import Durability
from lwm2m.server.registration import (
    HISTORY_LIMIT,
    HistoryEntry,
    MemoryNiddDeviceStore,
    MemoryRegistrationStore,
    ObjectList,
    ObservationRecord,
    QueuedRecord,
    Registration,
)
from lwm2m.storage.campaigns import SqliteCampaignStore
from lwm2m.storage.firmware import SqliteFirmwareStore, load_firmware
from lwm2m.storage.rows import (
    config_to_json,
    decode_parts,
    decode_peer,
    decode_value,
    encode_parts,
    encode_peer,
    encode_value,
)
from lwm2m.storage.schema import StoreError, connect, migrate
from lwm2m.storage.writer import StoreStats, Writer

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1
"""Seconds between commits with relaxed durability: the most a ``kill -9`` can lose."""


def _row(arg: Sequence[object]) -> tuple[Sequence[object]]:
    return (arg,)


def _key(arg: object) -> tuple[tuple[object]]:
    return ((arg,),)


# -- the stores -------------------------------------------------------------------------------

_PUT_REGISTRATION = (
    "INSERT OR REPLACE INTO registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_REGISTRATION = "DELETE FROM registrations WHERE endpoint = ?"


class SqliteRegistrationStore(MemoryRegistrationStore):
    """Answered from memory; every change also goes to the database, written behind."""

    __slots__ = ("_links", "_submit")

    def __init__(self, writer: Writer, registrations: list[Registration]) -> None:
        super().__init__()
        self._submit = writer.submit
        self._links: dict[int, tuple[Sequence[Link], str]] = {}
        for registration in registrations:
            super().put(registration)

    def put(self, registration: Registration) -> None:
        super().put(registration)
        self._submit((_PUT_REGISTRATION, self._rows, registration))

    def delete(self, endpoint: str) -> None:
        super().delete(endpoint)
        self._submit((_DELETE_REGISTRATION, _key, endpoint))

    def _rows(self, r: Registration) -> tuple[tuple[object, ...]]:
        links = self._format_links(r.object_links)
        address = encode_peer(r.address)
        return (
            (
                *(r.endpoint, r.registration_id, r.lwm2m_version, r.binding, r.lifetime),
                *(r.queue_mode, r.sms, address, r.root_path, links, r.registered_at, r.last_seen),
            ),
        )

    def _format_links(self, links: Sequence[Link]) -> str:
        """The text an :class:`ObjectList` already is; other sequences formatted once per
        distinct list (restored registrations share one tuple per object list)."""
        if isinstance(links, ObjectList):
            return links.text
        cached = self._links.get(id(links))
        if cached is not None and cached[0] is links:
            return cached[1]
        text = format_links(links)
        if len(self._links) < 1024:
            self._links[id(links)] = (links, text)
        return text


def _load_registrations(connection: sqlite3.Connection) -> list[Registration]:
    lists: dict[str, tuple[Link, ...]] = {}  # one tuple per distinct object list, as the core
    loaded = []
    for row in connection.execute("SELECT * FROM registrations"):
        endpoint, rid, version, binding, lifetime, queue_mode, sms, address, root, links = row[:10]
        object_links = lists.get(links)
        if object_links is None:
            object_links = lists[links] = tuple(parse_links(links))
        try:
            peer = decode_peer(address)
        except ValueError as exc:
            logger.warning("registration of %s not restored: %s", endpoint, exc)
            continue
        loaded.append(
            Registration(
                endpoint=endpoint,
                registration_id=rid,
                lwm2m_version=version,
                binding=binding,
                lifetime=lifetime,
                queue_mode=bool(queue_mode),
                sms=sms,
                address=peer,
                root_path=root,
                object_links=object_links,
                registered_at=row[10],
                last_seen=row[11],
            )
        )
    return loaded


class _Reader:
    """The read connection; the lock lets any thread use it (reads are rare and short)."""

    def __init__(self, connection: sqlite3.Connection, writer: Writer) -> None:
        self.connection = connection
        self.writer = writer
        self.lock = threading.Lock()

    def rows(self, sql: str, *args: object, flush: bool = False) -> list[Any]:
        """``flush``: first wait for what is queued (startup reads must see every change)."""
        if flush:
            self.writer.flush()
        with self.lock:
            return self.connection.execute(sql, args).fetchall()


_PUT_OBSERVATION = "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?)"
_DELETE_OBSERVATION = "DELETE FROM observations WHERE endpoint = ? AND token = ?"


class SqliteObservationStore:
    __slots__ = ("_reader", "_submit")

    def __init__(self, writer: Writer, reader: _Reader) -> None:
        self._submit = writer.submit
        self._reader = reader

    def put(self, record: ObservationRecord) -> None:
        self._submit((_PUT_OBSERVATION, _observation_rows, record))

    def delete(self, endpoint: str, token: bytes) -> None:
        self._submit((_DELETE_OBSERVATION, _row, (endpoint, token)))

    def all(self) -> list[ObservationRecord]:
        records = []
        for endpoint, token, peer, request in self._reader.rows(
            "SELECT * FROM observations", flush=True
        ):
            with contextlib.suppress(ValueError):  # a transport no restart can use
                records.append(
                    ObservationRecord(endpoint, token, decode_peer(peer), decode_parts(request))
                )
        return records


def _observation_rows(record: ObservationRecord) -> tuple[tuple[object, ...]]:
    peer, request = encode_peer(record.peer), encode_parts(record.request)
    return ((record.endpoint, record.token, peer, request),)


_PUT_QUEUED = "INSERT OR REPLACE INTO queue VALUES (?, ?, ?, ?)"
_DELETE_QUEUED = "DELETE FROM queue WHERE request_id = ?"


class SqliteQueueStore:
    __slots__ = ("_reader", "_submit")

    def __init__(self, writer: Writer, reader: _Reader) -> None:
        self._submit = writer.submit
        self._reader = reader

    def put(self, record: QueuedRecord) -> None:
        self._submit((_PUT_QUEUED, _queued_rows, record))

    def delete(self, request_id: int) -> None:
        self._submit((_DELETE_QUEUED, _key, request_id))

    def all(self) -> list[QueuedRecord]:
        rows = self._reader.rows("SELECT * FROM queue ORDER BY request_id", flush=True)
        return [
            QueuedRecord(request_id, endpoint, decode_parts(request), expires_at)
            for request_id, endpoint, request, expires_at in rows
        ]


def _queued_rows(record: QueuedRecord) -> tuple[tuple[object, ...]]:
    request = encode_parts(record.request)
    return ((record.request_id, record.endpoint, request, record.expires_at),)


_CLEAR_HISTORY = "DELETE FROM history WHERE endpoint = ?"


class SqliteHistoryStore:
    """A ring of ``limit`` rows per endpoint and path: value ``seq`` goes to slot ``seq %
    limit``, so the table is bounded without ever deleting old values one by one."""

    __slots__ = ("_insert", "_reader", "_submit", "limit")

    def __init__(self, writer: Writer, reader: _Reader, limit: int) -> None:
        if limit < 1:
            raise ValueError("history limit must be positive")
        self.limit = limit
        self._submit = writer.submit
        self._reader = reader
        # The next seq is found in the index, so the writer keeps no counter per path.
        self._insert = (
            "INSERT OR REPLACE INTO history "
            f"SELECT ?1, ?2, (n + 1) % {limit}, n + 1, ?3, ?4, ?5 FROM "
            "(SELECT COALESCE(MAX(seq), -1) AS n FROM history WHERE endpoint = ?1 AND path = ?2)"
        )

    def add(self, endpoint: str, time: float, values: Mapping[Path, Value]) -> None:
        if values:
            self._submit((self._insert, _history_rows, (endpoint, time, values)))

    def clear(self, endpoint: str) -> None:
        self._submit((_CLEAR_HISTORY, _key, endpoint))

    def query(self, endpoint: str, path: Path, limit: int) -> list[HistoryEntry]:
        """From the database: what the last flush committed (at most ``flush_interval`` old)."""
        if limit <= 0:
            return []
        text = str(path)
        prefix = "/" if path.is_root else f"{text}/"
        rows = self._reader.rows(
            "SELECT time, path, kind, value FROM history WHERE endpoint = ? "
            "AND (path = ? OR substr(path, 1, length(?)) = ?) ORDER BY time DESC, seq DESC "
            "LIMIT ?",
            endpoint,
            text,
            prefix,
            prefix,
            limit,
        )
        return [
            HistoryEntry(time, Path.parse(stored_path), decode_value(kind, value))
            for time, stored_path, kind, value in reversed(rows)
        ]


def _history_rows(
    arg: tuple[str, float, Mapping[Path, Value]],
) -> Iterator[tuple[object, ...]]:
    endpoint, time, values = arg
    for path, value in values.items():
        yield (endpoint, str(path), time, *encode_value(value))


_PUT_CREDENTIAL = "INSERT OR REPLACE INTO psk_credentials VALUES (?, ?, ?)"
_DELETE_CREDENTIAL = "DELETE FROM psk_credentials WHERE endpoint = ?"


class SqlitePskStore(MemoryPskStore):
    """A :class:`~lwm2m.security.credentials.CredentialStore` kept in the database.

    Lookups (one per DTLS handshake) are answered from memory; keys are stored as bytes in the
    file (created readable by its owner only) and never logged.
    """

    def __init__(self, writer: Writer, credentials: list[PskCredential]) -> None:
        super().__init__()
        self._writer = writer
        for credential in credentials:
            super().set(credential)

    def set(self, credential: PskCredential) -> None:
        replaced = self.get(credential.endpoint) is not None
        super().set(credential)  # ValueError when the identity is another endpoint's
        self._writer.submit((_PUT_CREDENTIAL, _credential_rows, credential))
        if replaced:
            self._writer.scrub()

    def remove(self, endpoint: str) -> bool:
        removed = super().remove(endpoint)
        if removed:
            self._writer.submit((_DELETE_CREDENTIAL, _key, endpoint))
            self._writer.scrub()
        return removed


def _credential_rows(credential: PskCredential) -> tuple[tuple[object, ...]]:
    psk = credential.psk
    return ((credential.endpoint, psk.identity, psk.key.reveal()),)


def _load_credentials(connection: sqlite3.Connection) -> list[PskCredential]:
    return [
        PskCredential(endpoint, Psk(identity, Secret(key)))
        for endpoint, identity, key in connection.execute("SELECT * FROM psk_credentials")
    ]


_PUT_OSCORE = "INSERT OR REPLACE INTO oscore_credentials VALUES (?, ?, ?, ?, ?, ?)"
_DELETE_OSCORE = "DELETE FROM oscore_credentials WHERE endpoint = ?"


class SqliteOscoreContexts(OscoreServerContexts):
    """The server's OSCORE contexts, their credentials kept in the database (master secrets
    as bytes, never logged); their sequence numbers stay in the files of ``sequences``."""

    def __init__(
        self, writer: Writer, credentials: list[OscoreCredential], sequences: SequenceStores
    ) -> None:
        super().__init__((), sequences)
        self._writer = writer
        for credential in credentials:
            super().set(credential)

    def set(self, credential: OscoreCredential) -> bool:
        new = super().set(credential)  # ValueError when the Recipient ID is another endpoint's
        self._writer.submit((_PUT_OSCORE, _oscore_rows, credential))
        if not new:
            self._writer.scrub()
        return new

    def remove_endpoint(self, endpoint: str) -> bool:
        removed = super().remove_endpoint(endpoint)
        if removed:
            self._writer.submit((_DELETE_OSCORE, _key, endpoint))
            self._writer.scrub()
        return removed


def _oscore_rows(c: OscoreCredential) -> tuple[tuple[object, ...]]:
    secret = c.master_secret.reveal()
    return ((c.endpoint, secret, c.sender_id, c.recipient_id, c.master_salt, c.id_context),)


def _load_oscore(connection: sqlite3.Connection) -> list[OscoreCredential]:
    return [
        OscoreCredential(endpoint, Secret(secret), sender, recipient, salt, id_context)
        for endpoint, secret, sender, recipient, salt, id_context in connection.execute(
            "SELECT * FROM oscore_credentials"
        )
    ]


class SqliteNiddDeviceStore(MemoryNiddDeviceStore):
    """The NIDD devices (their address text), served from memory, kept in the database."""

    def __init__(self, writer: Writer, addresses: list[str]) -> None:
        super().__init__(addresses)
        self._writer = writer

    def put(self, address: str) -> None:
        super().put(address)
        self._writer.submit(("INSERT OR IGNORE INTO nidd_devices VALUES (?)", _key, address))

    def delete(self, address: str) -> None:
        super().delete(address)
        self._writer.submit(("DELETE FROM nidd_devices WHERE address = ?", _key, address))


_PUT_CONFIG = "INSERT OR REPLACE INTO bootstrap_configs VALUES (?, ?)"
_DELETE_CONFIG = "DELETE FROM bootstrap_configs WHERE endpoint = ?"


class SqliteConfigStore(ConfigStore):
    """Bootstrap configurations kept in the database (keys included), served from memory."""

    def __init__(self, writer: Writer, configs: dict[str, BootstrapConfig]) -> None:
        super().__init__(configs)
        self._writer = writer

    def put(self, endpoint: str, config: BootstrapConfig) -> bool:
        new = super().put(endpoint, config)
        self._writer.submit((_PUT_CONFIG, _row, (endpoint, json.dumps(config_to_json(config)))))
        if not new:  # the old configuration's keys
            self._writer.scrub()
        return new

    def delete(self, endpoint: str) -> bool:
        deleted = super().delete(endpoint)
        if deleted:
            self._writer.submit((_DELETE_CONFIG, _key, endpoint))
            self._writer.scrub()
        return deleted


def _load_configs(connection: sqlite3.Connection) -> dict[str, BootstrapConfig]:
    return {
        endpoint: parse_entry(endpoint, json.loads(text))
        for endpoint, text in connection.execute("SELECT * FROM bootstrap_configs")
    }


class SqliteStore:
    """A :class:`~lwm2m.server.registration.ServerStore` in the SQLite file ``path`` (created
    with its directory), plus the server's PSK ``credentials``, ``oscore`` contexts (their
    sequence numbers in ``<path>.oscore/``) and ``bootstrap_configs``.

    ``durability``: ``strict`` commits as soon as changes wait and syncs each commit, and
    :attr:`written`, :attr:`committed` and :meth:`on_commit` let the server answer only what is
    durable (:mod:`lwm2m.server.durability`); ``relaxed`` commits every ``flush_interval``
    seconds.  ``history_limit`` is the values kept per endpoint and path.  :meth:`close`
    commits what is queued; call it after the server stops.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = FLUSH_INTERVAL,
        history_limit: int = HISTORY_LIMIT,
        durability: Durability = "strict",
    ) -> None:
        path = os.fspath(path)
        if path == ":memory:" or not path:
            raise ValueError("SqliteStore needs a file (use MemoryStore for no persistence)")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        if durability not in ("strict", "relaxed"):
            raise ValueError(f"durability must be strict or relaxed, not {durability!r}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._lock_fd = _lock(path)
        writer = None
        try:
            # The file holds keys: the owner's only (SQLite gives -wal and -shm its mode).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            read = connect(path)
            read.execute("PRAGMA journal_mode = WAL")
            migrate(read)
            registrations = _load_registrations(read)
            credentials = _load_credentials(read)
            configs = _load_configs(read)
            nidd_devices = [address for (address,) in read.execute("SELECT * FROM nidd_devices")]
            firmware = load_firmware(read)
            eager = durability == "strict"
            writer = Writer(connect(path, durability), flush_interval, eager=eager)
            try:  # each context reads its sequence number file
                oscore = SqliteOscoreContexts(
                    writer, _load_oscore(read), file_sequences(f"{path}.oscore")
                )
            except ValueError as exc:
                raise StoreError(str(exc)) from None
        except BaseException:
            if writer is not None:
                writer.stop()
            os.close(self._lock_fd)
            raise
        self._writer = writer
        reader = _Reader(read, self._writer)
        self.path = path
        self.durability = durability
        self.registrations = SqliteRegistrationStore(self._writer, registrations)
        self.observations = SqliteObservationStore(self._writer, reader)
        self.queue = SqliteQueueStore(self._writer, reader)
        self.history = SqliteHistoryStore(self._writer, reader, history_limit)
        self.credentials = SqlitePskStore(self._writer, credentials)
        self.oscore = oscore
        self.bootstrap_configs = SqliteConfigStore(self._writer, configs)
        self.nidd_devices = SqliteNiddDeviceStore(self._writer, nidd_devices)
        self.firmware = SqliteFirmwareStore(self._writer, firmware)  # bytes: <path>.firmware/
        self.campaigns = SqliteCampaignStore(self._writer, read)
        self._read = read
        self._closed = False

    @property
    def written(self) -> int:
        """Changes made so far (a running count: the sequence number of the last one)."""
        return self._writer.written

    @property
    def committed(self) -> int:
        """Changes committed so far; they were committed in the order they were made."""
        return self._writer.committed

    def on_commit(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` after each commit, on the writer's thread (None: no more)."""
        self._writer.on_commit(callback)

    def stats(self) -> StoreStats:
        """The writer's backlog and commit times (for metrics)."""
        return self._writer.stats()

    def flush(self) -> None:
        """Wait until every change made so far is committed (tests, shutdown)."""
        self._writer.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        self._read.close()
        os.close(self._lock_fd)


def _lock(path: str) -> int:
    """Hold ``<path>.lock`` while the store is open (the kernel frees it if we die)."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(f"{path} is in use by another server") from None
    return fd
