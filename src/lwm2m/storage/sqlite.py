"""The server's state in one SQLite file (stdlib ``sqlite3``, WAL): what survives a restart.

Reads never touch the disk on the event loop's hot paths: registrations, PSK and OSCORE
credentials and bootstrap configurations are loaded once and answered from memory; observations
and queued requests are read once, when the server starts; history is read through its own
connection (WAL readers never wait for the writer).  Writes go the other way: the loop appends
each change to a queue, and one writer thread commits the queue in order, one transaction every
``flush_interval`` seconds.  So a ``kill -9`` loses at most the changes of the last interval,
and never leaves half a batch behind (see docs/storage.md).

The schema has a version from the first day: :data:`MIGRATIONS` holds one script per version,
applied in a transaction each, and a database from a newer release is refused.  One server
per file: a lock next to it (``<file>.lock``) refuses a second one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, TypeAlias

from lwm2m.bootstrap.config import BootstrapConfig, ConfigStore, parse_entry
from lwm2m.coap.codes import Type
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.codec.link import Link, format_links, parse_links
from lwm2m.model import ObjectLink, Path, Value
from lwm2m.operations.mapping import CoapParts
from lwm2m.security.credentials import (
    MemoryPskStore,
    OscoreCredential,
    Psk,
    PskCredential,
    Secret,
)
from lwm2m.security.oscore_endpoint import OscoreServerContexts, SequenceStores, file_sequences
from lwm2m.server.registration import (
    HISTORY_LIMIT,
    HistoryEntry,
    MemoryRegistrationStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
)
from lwm2m.transport.dtls import DtlsPeer
from lwm2m.transport.tcp import StreamPeer

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1
"""Seconds between commits: the most a ``kill -9`` can lose."""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE registrations (
        endpoint TEXT PRIMARY KEY,
        registration_id TEXT NOT NULL,
        lwm2m_version TEXT NOT NULL,
        binding TEXT NOT NULL,
        lifetime INTEGER NOT NULL,
        queue_mode INTEGER NOT NULL,
        sms TEXT,
        address TEXT NOT NULL,
        root_path TEXT NOT NULL,
        object_links TEXT NOT NULL,
        registered_at REAL NOT NULL,
        last_seen REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE observations (
        endpoint TEXT NOT NULL,
        token BLOB NOT NULL,
        peer TEXT NOT NULL,
        request BLOB NOT NULL,
        PRIMARY KEY (endpoint, token)
    ) WITHOUT ROWID;
    CREATE TABLE queue (
        request_id INTEGER PRIMARY KEY,
        endpoint TEXT NOT NULL,
        request BLOB NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE history (
        endpoint TEXT NOT NULL,
        path TEXT NOT NULL,
        slot INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        time REAL NOT NULL,
        kind INTEGER NOT NULL,
        value,
        PRIMARY KEY (endpoint, path, slot)
    ) WITHOUT ROWID;
    CREATE INDEX history_seq ON history (endpoint, path, seq);
    CREATE TABLE psk_credentials (
        endpoint TEXT PRIMARY KEY,
        identity BLOB NOT NULL UNIQUE,
        key BLOB NOT NULL
    );
    CREATE TABLE bootstrap_configs (
        endpoint TEXT PRIMARY KEY,
        config TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE oscore_credentials (
        endpoint TEXT PRIMARY KEY,
        master_secret BLOB NOT NULL,
        sender_id BLOB NOT NULL,
        recipient_id BLOB NOT NULL,
        master_salt BLOB NOT NULL,
        id_context BLOB
    );
    """,
)
"""``MIGRATIONS[n]`` takes a database from schema version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be used: newer than this release, locked by another server."""


# -- schema -----------------------------------------------------------------------------------


def migrate(connection: sqlite3.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring the schema up to ``len(migrations)``, one transaction per step; the old version.

    ``connection`` must be in autocommit mode (``isolation_level=None``).
    """
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        connection.execute("INSERT INTO schema_version VALUES (0)")
        version = 0
    else:
        version = row[0]
    if version > len(migrations):
        raise StoreError(
            f"the database has schema version {version}; this release knows {len(migrations)}"
        )
    for step in range(version, len(migrations)):
        try:
            connection.executescript(
                f"BEGIN; {migrations[step]}; UPDATE schema_version SET version = {step + 1}; "
                "COMMIT;"
            )
        except sqlite3.Error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    return int(version)


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A connection in autocommit mode with the settings every connection needs."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 5000")
    connection.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash of the process loses nothing
    return connection


# -- value codecs ------------------------------------------------------------------------------


def encode_peer(peer: Peer) -> str:
    """A peer as text: ``udp HOST PORT``, ``dtls HOST PORT``, ``tcp HOST PORT`` or ``tls HOST
    PORT IDENTITY`` (a peer of another transport is kept as ``other REPR``, which no restart
    can use)."""
    if isinstance(peer, DtlsPeer):
        host, port = peer.address
        return f"dtls {host} {port}"
    if isinstance(peer, StreamPeer):
        host, port = peer.address
        return (
            f"tcp {host} {port}" if peer.identity is None else f"tls {host} {port} {peer.identity}"
        )
    if isinstance(peer, tuple) and len(peer) == 2:
        return f"udp {peer[0]} {peer[1]}"
    return f"other {peer!r}"


def decode_peer(text: str) -> Peer:
    """ValueError for a peer with no usable stored form.  A TCP or TLS peer comes back as a
    connection that no longer exists (id 0): requests to it fail until the client reconnects
    and its Update re-points the registration."""
    kind, host, port, *identity = text.split(" ", 3)
    address = (host, int(port))
    if kind == "tcp" and not identity:
        return StreamPeer(0, address)
    if kind == "tls" and identity:
        return StreamPeer(0, address, identity[0])
    if kind not in ("udp", "dtls") or identity:
        raise ValueError(f"no transport for peer {text!r:.60}")
    return DtlsPeer(address) if kind == "dtls" else address


def encode_parts(parts: CoapParts) -> bytes:
    """A request as CoAP bytes (no message ID or token: those belong to one exchange)."""
    return Message(Type.CON, parts.code, 0, b"", parts.options, parts.payload).encode()


def decode_parts(data: bytes) -> CoapParts:
    message = Message.decode(data)
    return CoapParts(message.code, message.options, message.payload)


_PLAIN, _BOOL, _OBJLNK, _NAN = range(4)
"""How a history value is kept: as SQLite stores it, or with the type SQLite has not."""

_Stored: TypeAlias = int | float | str | bytes | None


def encode_value(value: Value) -> tuple[int, _Stored]:
    if isinstance(value, bool):
        return _BOOL, int(value)
    if isinstance(value, ObjectLink):
        return _OBJLNK, str(value)
    if isinstance(value, float) and math.isnan(value):
        return _NAN, None  # SQLite stores NaN as NULL
    return _PLAIN, value


def decode_value(kind: int, stored: _Stored) -> Value:
    if kind == _BOOL:
        return bool(stored)
    if kind == _OBJLNK:
        return ObjectLink.parse(str(stored))
    if kind == _NAN:
        return math.nan
    assert stored is not None
    return stored


def config_to_json(config: BootstrapConfig) -> dict[str, Any]:
    """The entry as :func:`parse_entry` reads it, keys included (the API's form hides them)."""
    data = config.to_json()
    for item, account in zip(data["servers"], config.servers, strict=True):
        item.pop("hasKey", None)
        if account.key:
            item["key"] = account.key.hex()
        oscore = account.oscore
        if oscore is not None:
            fields = {
                "masterSecret": oscore.master_secret,
                "senderId": oscore.sender_id,
                "recipientId": oscore.recipient_id,
                "aeadAlgorithm": oscore.aead_algorithm,
                "hkdfAlgorithm": oscore.hkdf_algorithm,
                "masterSalt": oscore.master_salt,
            }
            item["oscore"] = {name: value for name, value in fields.items() if value is not None}
    return data


# -- the writer ---------------------------------------------------------------------------------

Rows: TypeAlias = Callable[[Any], Iterable[Sequence[object]]]
_Op: TypeAlias = tuple[str, Rows, Any]
"""A change: a statement, and the function that turns its argument into parameter rows (run
by the writer thread, so serializing costs the event loop nothing)."""


def _row(arg: Sequence[object]) -> tuple[Sequence[object]]:
    return (arg,)


def _key(arg: object) -> tuple[tuple[object]]:
    return ((arg,),)


class _Writer:
    """One thread owns the write connection and commits the queued changes in order, a run of
    changes with the same statement as one ``executemany``."""

    def __init__(self, connection: sqlite3.Connection, interval: float) -> None:
        self._connection = connection
        self._interval = interval
        self._queue: deque[_Op | threading.Event] = deque()  # append and popleft are atomic
        self.submit = self._queue.append
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lwm2m-store", daemon=True)
        self._thread.start()

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

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping
            ops: list[_Op] = []
            done = []
            for _ in range(len(queue)):
                item = queue.popleft()
                if isinstance(item, threading.Event):
                    done.append(item)
                else:
                    ops.append(item)
            if ops:
                self._commit(ops)
            for event in done:
                event.set()
            if stopping:
                self._connection.close()
                return

    def _commit(self, ops: list[_Op]) -> None:
        connection = self._connection
        try:
            connection.execute("BEGIN")
            for sql, group in groupby(ops, key=itemgetter(0)):
                batch = list(group)
                rows = batch[0][1]
                connection.executemany(sql, chain.from_iterable(rows(op[2]) for op in batch))
            connection.execute("COMMIT")
        except Exception:  # the thread must live on: the next batch may well succeed
            logger.exception("the store could not commit %d changes", len(ops))
            if connection.in_transaction:
                connection.execute("ROLLBACK")


# -- the stores -------------------------------------------------------------------------------

_PUT_REGISTRATION = (
    "INSERT OR REPLACE INTO registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_REGISTRATION = "DELETE FROM registrations WHERE endpoint = ?"


class SqliteRegistrationStore(MemoryRegistrationStore):
    """Answered from memory; every change also goes to the database, written behind."""

    __slots__ = ("_links", "_submit")

    def __init__(self, writer: _Writer, registrations: list[Registration]) -> None:
        super().__init__()
        self._submit = writer.submit
        self._links: dict[int, tuple[tuple[Link, ...], str]] = {}
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

    def _format_links(self, links: tuple[Link, ...]) -> str:
        """Formatted once per distinct list: the core shares one tuple per object list."""
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
            logger.warning("registration of %r not restored: %s", endpoint, exc)
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

    def __init__(self, connection: sqlite3.Connection, writer: _Writer) -> None:
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

    def __init__(self, writer: _Writer, reader: _Reader) -> None:
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

    def __init__(self, writer: _Writer, reader: _Reader) -> None:
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

    def __init__(self, writer: _Writer, reader: _Reader, limit: int) -> None:
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

    def __init__(self, writer: _Writer, credentials: list[PskCredential]) -> None:
        super().__init__()
        self._submit = writer.submit
        for credential in credentials:
            super().set(credential)

    def set(self, credential: PskCredential) -> None:
        super().set(credential)  # ValueError when the identity is another endpoint's
        self._submit((_PUT_CREDENTIAL, _credential_rows, credential))

    def remove(self, endpoint: str) -> bool:
        removed = super().remove(endpoint)
        if removed:
            self._submit((_DELETE_CREDENTIAL, _key, endpoint))
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
        self, writer: _Writer, credentials: list[OscoreCredential], sequences: SequenceStores
    ) -> None:
        super().__init__((), sequences)
        self._submit = writer.submit
        for credential in credentials:
            super().set(credential)

    def set(self, credential: OscoreCredential) -> bool:
        new = super().set(credential)  # ValueError when the Recipient ID is another endpoint's
        self._submit((_PUT_OSCORE, _oscore_rows, credential))
        return new

    def remove_endpoint(self, endpoint: str) -> bool:
        removed = super().remove_endpoint(endpoint)
        if removed:
            self._submit((_DELETE_OSCORE, _key, endpoint))
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


_PUT_CONFIG = "INSERT OR REPLACE INTO bootstrap_configs VALUES (?, ?)"
_DELETE_CONFIG = "DELETE FROM bootstrap_configs WHERE endpoint = ?"


class SqliteConfigStore(ConfigStore):
    """Bootstrap configurations kept in the database (keys included), served from memory."""

    def __init__(self, writer: _Writer, configs: dict[str, BootstrapConfig]) -> None:
        super().__init__(configs)
        self._submit = writer.submit

    def put(self, endpoint: str, config: BootstrapConfig) -> bool:
        new = super().put(endpoint, config)
        self._submit((_PUT_CONFIG, _row, (endpoint, json.dumps(config_to_json(config)))))
        return new

    def delete(self, endpoint: str) -> bool:
        deleted = super().delete(endpoint)
        if deleted:
            self._submit((_DELETE_CONFIG, _key, endpoint))
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

    ``flush_interval`` is the seconds between commits; ``history_limit`` the values kept per
    endpoint and path.  :meth:`close` commits what is queued; call it after the server stops.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = FLUSH_INTERVAL,
        history_limit: int = HISTORY_LIMIT,
    ) -> None:
        path = os.fspath(path)
        if path == ":memory:" or not path:
            raise ValueError("SqliteStore needs a file (use MemoryStore for no persistence)")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
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
            writer = _Writer(connect(path), flush_interval)
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
        self.registrations = SqliteRegistrationStore(self._writer, registrations)
        self.observations = SqliteObservationStore(self._writer, reader)
        self.queue = SqliteQueueStore(self._writer, reader)
        self.history = SqliteHistoryStore(self._writer, reader, history_limit)
        self.credentials = SqlitePskStore(self._writer, credentials)
        self.oscore = oscore
        self.bootstrap_configs = SqliteConfigStore(self._writer, configs)
        self._read = read
        self._closed = False

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
