"""The database's schema, its migrations, and the settings every connection gets.

The schema has a version from the first day: :data:`MIGRATIONS` holds one script per version,
applied in a transaction each, and a database from a newer release is refused.
"""

from __future__ import annotations

import os
import sqlite3

from lwm2m.server.config import Durability

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
    """
    CREATE TABLE nidd_devices (
        address TEXT PRIMARY KEY
    );
    """,
    """
    CREATE TABLE firmware_packages (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        version TEXT NOT NULL,
        model TEXT NOT NULL,
        signature BLOB,
        added_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE campaigns (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        created_at REAL NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        baseline_finished INTEGER NOT NULL,
        baseline_failed INTEGER NOT NULL
    );
    CREATE TABLE campaign_devices (
        campaign TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        wave INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT,
        result INTEGER,
        method TEXT,
        changed_at REAL NOT NULL,
        PRIMARY KEY (campaign, endpoint)
    ) WITHOUT ROWID;
    """,
)
"""``MIGRATIONS[n]`` takes a database from schema version ``n`` to ``n + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be used: newer than this release, locked by another server."""


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


def connect(path: str | os.PathLike[str], durability: Durability = "strict") -> sqlite3.Connection:
    """A connection in autocommit mode with the settings every connection needs.

    In WAL mode ``synchronous=NORMAL`` makes a commit survive a crash of the process, and
    ``FULL`` (``strict``) also a power loss: the WAL is synced at every commit.  Deleted rows
    are overwritten with zeros (``secure_delete``): replaced keys must not linger in free space.
    """
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 5000")
    synchronous = "FULL" if durability == "strict" else "NORMAL"
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute("PRAGMA secure_delete = ON")
    return connection
