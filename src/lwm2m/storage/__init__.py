"""Where the server's state lives between runs: :class:`SqliteStore` (one file, the default of
``lwm2m server``), or the process's memory (:class:`~lwm2m.server.registration.MemoryStore`).

The protocols the stores implement are in :mod:`lwm2m.server.registration` (``ServerStore``
and its parts) and :mod:`lwm2m.security.credentials` (``CredentialStore``).
"""

import sqlite3

from lwm2m.server.config import Durability
from lwm2m.server.registration import MemoryStore
from lwm2m.storage.schema import MIGRATIONS, SCHEMA_VERSION, StoreError, migrate
from lwm2m.storage.sqlite import FLUSH_INTERVAL, SqliteConfigStore, SqlitePskStore, SqliteStore
from lwm2m.storage.writer import StoreStats

__all__ = [
    "FLUSH_INTERVAL",
    "MEMORY",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SqliteConfigStore",
    "SqlitePskStore",
    "SqliteStore",
    "StoreError",
    "StoreStats",
    "migrate",
    "open_store",
]

MEMORY = ":memory:"
"""The location that keeps nothing across restarts."""


def open_store(location: str, durability: Durability = "strict") -> SqliteStore | MemoryStore:
    """The store at ``location``: a SQLite file, or :data:`MEMORY`.  StoreError says why a
    file cannot be used (in use by another server, unreadable, from a newer release)."""
    if location == MEMORY:
        return MemoryStore()
    try:
        return SqliteStore(location, durability=durability)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot use {location}: {exc}") from None
