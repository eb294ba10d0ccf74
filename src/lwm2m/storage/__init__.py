"""Where the server's state lives between runs: :class:`SqliteStore` (one file, the default of
``lwm2m server``), :class:`RedisStore` (shared: Redis or Redis Cluster), or the process's
memory (:class:`~lwm2m.server.registration.MemoryStore`).

The protocols the stores implement are in :mod:`lwm2m.server.registration` (``ServerStore``
and its parts) and :mod:`lwm2m.security.credentials` (``CredentialStore``).
"""

import sqlite3

from lwm2m.server.config import Durability
from lwm2m.server.registration import MemoryStore
from lwm2m.storage.redis_store import RedisStore, is_redis_url
from lwm2m.storage.redis_writer import RedisStats
from lwm2m.storage.schema import MIGRATIONS, SCHEMA_VERSION, StoreError, migrate
from lwm2m.storage.sqlite import FLUSH_INTERVAL, SqliteConfigStore, SqlitePskStore, SqliteStore
from lwm2m.storage.writer import StoreStats

__all__ = [
    "FLUSH_INTERVAL",
    "MEMORY",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "RedisStats",
    "RedisStore",
    "SqliteConfigStore",
    "SqlitePskStore",
    "SqliteStore",
    "StoreError",
    "StoreStats",
    "close_store",
    "migrate",
    "open_any_store",
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


async def open_any_store(
    location: str, durability: Durability = "strict"
) -> SqliteStore | RedisStore | MemoryStore:
    """:func:`open_store`, or a :class:`RedisStore` for a ``redis://``, ``rediss://``,
    ``unix://`` or ``redis+cluster://`` URL (loaded before it returns)."""
    if is_redis_url(location):
        return await RedisStore.open(location, durability=durability)
    return open_store(location, durability)


async def close_store(store: SqliteStore | RedisStore | MemoryStore) -> None:
    """Close ``store`` once what it has queued is written (Redis: for a few seconds at most)."""
    if isinstance(store, RedisStore):
        await store.aclose()
    else:
        store.close()
