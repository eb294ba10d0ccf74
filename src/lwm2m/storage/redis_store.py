"""The server's state in Redis, one Redis or a Redis Cluster (redis-py's asyncio client), so a
restarted server or a second one sees the fleet.

The store interfaces are synchronous (the sans-I/O core calls them inline), so the store is an
in-memory view, filled from Redis once when it opens (``SCAN``, then pipelined reads) and
answered from memory; changes are written behind by one task on the event loop
(:mod:`lwm2m.storage.redis_writer`).  It numbers them and says how many Redis has acknowledged
(:attr:`RedisStore.written`, :attr:`RedisStore.committed`, :meth:`RedisStore.on_commit`), the
contract :class:`~lwm2m.server.durability.DurabilityGate` holds answers on: with strict
durability a device is answered once Redis has acknowledged the change.  When Redis is away,
devices are served from memory, changes collapse per key (a bounded backlog) and are retried
with back-off until it returns.  Key layout: :mod:`lwm2m.storage.redis_records`; docs/storage.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from lwm2m.bootstrap.config import BootstrapConfig, parse_entry
from lwm2m.model import Path, Value
from lwm2m.security.credentials import OscoreCredential, PskCredential
from lwm2m.server.config import Durability
from lwm2m.server.registration import HISTORY_LIMIT, ObservationRecord, QueuedRecord, Registration
from lwm2m.storage import redis_records as records
from lwm2m.storage.redis_parts import (
    RedisConfigStore,
    RedisHistoryStore,
    RedisNiddDeviceStore,
    RedisObservationStore,
    RedisOscoreContexts,
    RedisOwners,
    RedisPskStore,
    RedisQueueStore,
    RedisRegistrationStore,
    RedisSequences,
    rewrite_all,
)
from lwm2m.storage.redis_records import LAYOUT_VERSION, Keys
from lwm2m.storage.redis_writer import MAX_BATCH, RedisStats, RedisWriter
from lwm2m.storage.schema import StoreError

logger = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
DEFAULT_PREFIX = "lwm2m"
FLUSH_INTERVAL = 0.1
"""Seconds between rounds with relaxed durability (as SQLite's commits)."""
CHECK_INTERVAL = 1.0
"""At most this often, before a round, the writer checks that Redis still has its data."""
TIMEOUT = 5.0
"""Seconds a Redis command may take before the round counts as failed."""
LOAD_BATCH = 1000


def is_redis_url(location: str) -> bool:
    return urlsplit(location).scheme in SCHEMES


def connect(url: str) -> tuple[Any, str]:
    """A client for ``redis://HOST:PORT/DB``, ``rediss://``, ``unix://PATH`` or
    ``redis+cluster://HOST:PORT`` (any node of the cluster), and the key prefix (``?prefix=``,
    default ``lwm2m``).  ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"not a Redis URL (use {', '.join(s + '://' for s in SCHEMES)})")
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", [DEFAULT_PREFIX])[-1]
    Keys(prefix)  # ValueError for a prefix no key can carry
    cluster = parts.scheme.endswith("+cluster")
    scheme = parts.scheme.removesuffix("+cluster")
    plain = urlunsplit((scheme, parts.netloc, parts.path, urlencode(query, doseq=True), ""))
    options: dict[str, Any] = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    if cluster:
        if parts.path not in ("", "/", "/0"):
            raise ValueError("a Redis Cluster has only database 0")
        return RedisCluster.from_url(plain, **options), prefix
    return Redis.from_url(plain, **options), prefix


@dataclass(slots=True)
class _Loaded:
    registrations: list[Registration] = field(default_factory=list)
    observations: list[ObservationRecord] = field(default_factory=list)
    queued: list[QueuedRecord] = field(default_factory=list)
    history: dict[str, dict[Path, list[tuple[int, float, Value]]]] = field(default_factory=dict)
    psk: list[PskCredential] = field(default_factory=list)
    oscore: list[OscoreCredential] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    configs: dict[str, BootstrapConfig] = field(default_factory=dict)
    nidd: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    changes_from: bytes = b"0-0"  # the change stream's last entry before the scan

    def add(self, kind: bytes, name: str, value: Any) -> None:
        """One key's value (bytes, or a dict for a hash) into the view."""
        if kind == records.REGISTRATION:
            self.registrations.append(records.decode_registration(name, value))
        elif kind == records.OBSERVATIONS:
            for token, data in value.items():
                self.observations.append(records.decode_observation(name, token, data))
        elif kind == records.QUEUE:
            for request_id, data in value.items():
                self.queued.append(records.decode_queued(name, request_id, data))
        elif kind == records.HISTORY:
            paths = self.history.setdefault(name, {})
            for slot, data in value.items():
                path, seq, at, kept = records.decode_history(slot, data)
                paths.setdefault(path, []).append((seq, at, kept))
        elif kind == records.PSK:
            self.psk.append(records.decode_psk(name, value))
        elif kind == records.OSCORE:
            self.oscore.append(records.decode_oscore(name, value))
        elif kind == records.OSCORE_SEQUENCE:
            self.sequences[name] = int(value)
        elif kind == records.BOOTSTRAP:
            self.configs[name] = parse_entry(name, json.loads(value))
        elif kind == records.OWNER:
            self.owners[name] = value.decode("utf-8", "surrogatepass")
        else:
            self.nidd.append(name)


_HASHES = (records.OBSERVATIONS, records.QUEUE, records.HISTORY)


def _fields(verb: str, args: Sequence[Any]) -> list[tuple[bytes, bytes | None]]:
    """The fields a hash command sets (``HSET``: with values) or removes (``HDEL``: None)."""
    if verb == "HSET":
        return [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    if verb == "HDEL":
        return [(field, None) for field in args]
    return []


async def _load(client: Any, keys: Keys) -> _Loaded:
    """Everything under ``keys.prefix``: one ``SCAN`` pass (every primary of a cluster), then
    the values in pipelines of ``LOAD_BATCH`` keys.  A record no restart can use is logged and
    left out, as SQLite's loader does."""
    loaded = _Loaded()
    last = await client.xrevrange(keys.changes, count=1)
    if last:
        loaded.changes_from = last[0][0]  # what follows is applied on top of the scan
    found: dict[bytes, tuple[bytes, str]] = {}
    async for key in client.scan_iter(match=keys.pattern(), count=LOAD_BATCH):
        parsed = keys.parse(key)
        if parsed is not None:
            found[key] = parsed
    names = list(found)
    for first in range(0, len(names), LOAD_BATCH):
        batch = names[first : first + LOAD_BATCH]
        pipe = client.pipeline(transaction=False)
        for key in batch:
            if found[key][0] in _HASHES:
                pipe.hgetall(key)
            else:
                pipe.get(key)
        for key, value in zip(batch, await pipe.execute(), strict=True):
            kind, name = found[key]
            if not value:
                continue  # deleted since the scan
            try:
                loaded.add(kind, name, value)
            except Exception as exc:  # a record written by hand, or half of an old layout
                logger.warning("%s of %s not restored: %s", kind.decode(), name, exc)
    return loaded


class RedisStore:
    """A :class:`~lwm2m.server.registration.ServerStore` in Redis, with the server's PSK
    ``credentials``, ``oscore`` contexts (and their sequence numbers), ``bootstrap_configs``
    and ``nidd_devices``.  Firmware packages and campaigns are not kept here yet: a store
    without ``firmware`` gets a temporary repository from ``lwm2m server``.

    Open it with :meth:`open` on the event loop that will use it, and close it with
    :meth:`aclose` (``close()`` stops at once, leaving unwritten what is pending).
    """

    def __init__(
        self,
        client: Any,
        keys: Keys,
        loaded: _Loaded,
        *,
        durability: Durability,
        history_limit: int,
        flush_interval: float,
        max_batch: int,
    ) -> None:
        self._client = client
        self.keys = keys
        self.durability = durability
        self._checked = time.monotonic()
        self._writer = RedisWriter(
            client,
            eager=durability == "strict",
            interval=flush_interval,
            max_batch=max_batch,
            check=self._check,
            check_interval=CHECK_INTERVAL,
        )
        writer = self._writer
        self.registrations = RedisRegistrationStore(writer, keys, loaded.registrations)
        self.observations = RedisObservationStore(writer, keys, loaded.observations)
        self.queue = RedisQueueStore(writer, keys, loaded.queued)
        self.history = RedisHistoryStore(writer, keys, history_limit, loaded.history)
        self.credentials = RedisPskStore(writer, keys, loaded.psk)
        self.sequences = RedisSequences(writer, keys, loaded.sequences)
        try:  # each context reads its sequence number
            self.oscore = RedisOscoreContexts(writer, keys, loaded.oscore, self.sequences)
        except ValueError as exc:
            writer.stop()
            raise StoreError(str(exc)) from None
        self.bootstrap_configs = RedisConfigStore(writer, keys, loaded.configs)
        self.nidd_devices = RedisNiddDeviceStore(writer, keys, loaded.nidd)
        self.owners = RedisOwners(writer, keys, loaded.owners)
        self.changes_from = loaded.changes_from
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        durability: Durability = "strict",
        history_limit: int = HISTORY_LIMIT,
        flush_interval: float = FLUSH_INTERVAL,
        max_batch: int = MAX_BATCH,
    ) -> RedisStore:
        """The store at ``url`` (:func:`connect`), loaded.  StoreError says why it cannot be
        used: unreachable, written by a newer release, a bad URL."""
        if durability not in ("strict", "relaxed"):
            raise ValueError(f"durability must be strict or relaxed, not {durability!r}")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        try:
            client, prefix = connect(url)
        except ValueError as exc:
            raise StoreError(f"cannot use {url}: {exc}") from None
        keys = Keys(prefix)
        try:
            version = await client.get(keys.version)
            if version is not None and int(version) > LAYOUT_VERSION:
                raise StoreError(
                    f"{url}: written by a newer release (layout {int(version)}, this one reads "
                    f"up to {LAYOUT_VERSION})"
                )
            await client.set(keys.version, LAYOUT_VERSION)
            await client.set(keys.marker, b"1")
            loaded = await _load(client, keys)
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StoreError(f"cannot use {url}: {exc}") from None
        except StoreError:
            await client.aclose()
            raise
        return cls(
            client,
            keys,
            loaded,
            durability=durability,
            history_limit=history_limit,
            flush_interval=flush_interval,
            max_batch=max_batch,
        )

    async def _check(self, reconnected: bool) -> None:
        """Before a round after a failure, and at most every ``CHECK_INTERVAL`` seconds: if
        Redis lost the marker it came back empty (no persistence, or a replica promoted
        before it had the data), so everything in memory is written again."""
        now = time.monotonic()
        if not reconnected and now - self._checked < CHECK_INTERVAL:
            return
        self._checked = now
        if await self._client.exists(self.keys.marker):
            return
        logger.error(
            "Redis came back without this server's data (no persistence?): writing all of it "
            "again from memory"
        )
        await self._client.set(self.keys.version, LAYOUT_VERSION)
        rewrite_all(
            (
                self.registrations,
                self.observations,
                self.queue,
                self.history,
                self.credentials,
                self.sequences,
                self.oscore,
                self.bootstrap_configs,
                self.nidd_devices,
                self.owners,
            )
        )
        await self._client.set(self.keys.marker, b"1")

    @property
    def client(self) -> Any:
        """The Redis client (the cluster's messaging shares its connection pool)."""
        return self._client

    def publish_changes(self, node: str) -> None:
        """Append every round's writes to the change stream, as ``node`` (a cluster)."""
        self._writer.publish(self.keys.changes, node)

    def apply_changes(self, commands: Iterable[Sequence[Any]]) -> list[tuple[bytes, str]]:
        """Another node's writes (as :meth:`publish_changes` streams them) into the view, not
        written again; returns the ``(kind, endpoint)`` of each applied one.  Queued
        requests are the writer's own (request IDs are per node) and are left out."""
        applied = []
        for command in commands:
            parsed = self.keys.parse(command[1])
            if parsed is None:
                continue
            kind, name = parsed
            try:
                self._apply(kind, name, command[0], command[2:])
            except Exception as exc:  # a record this release cannot read
                logger.warning("change of %s of %s not applied: %s", kind.decode(), name, exc)
                continue
            applied.append(parsed)
        return applied

    def _apply(self, kind: bytes, name: str, verb: str, args: Sequence[Any]) -> None:
        value = args[0] if verb == "SET" else None
        if kind == records.REGISTRATION:
            registration = None if value is None else records.decode_registration(name, value)
            self.registrations.apply(name, registration)
        elif kind == records.OWNER:
            self.owners.apply(name, None if value is None else value.decode("utf-8"))
        elif kind == records.OBSERVATIONS:
            for token, data in _fields(verb, args):
                record = None if data is None else records.decode_observation(name, token, data)
                self.observations.apply(name, token, record)
        elif kind == records.HISTORY:
            values = [
                records.decode_history(slot, data)
                for slot, data in _fields(verb, args)
                if data is not None
            ]
            self.history.apply(name, verb == "DEL", values)
        elif kind == records.PSK:
            self.credentials.apply(name, None if value is None else records.decode_psk(name, value))
        elif kind == records.OSCORE:
            credential = None if value is None else records.decode_oscore(name, value)
            self.oscore.apply(name, credential)
        elif kind == records.OSCORE_SEQUENCE:
            self.sequences.apply(name, None if value is None else int(value))
        elif kind == records.BOOTSTRAP:
            config = None if value is None else parse_entry(name, json.loads(value))
            self.bootstrap_configs.apply(name, config)
        elif kind == b"nidd":
            self.nidd_devices.apply(name, value is not None)

    @property
    def written(self) -> int:
        """Changes made so far (the number of the last one)."""
        return self._writer.written

    @property
    def committed(self) -> int:
        """Changes Redis has acknowledged so far, counted in the order they were made."""
        return self._writer.committed

    def on_commit(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` after each acknowledged round, on the event loop."""
        self._writer.on_commit(callback)

    def stats(self) -> RedisStats:
        """The writer's backlog, round times and the connection's state (for metrics)."""
        return self._writer.stats()

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until Redis acknowledged every change made so far; False on ``timeout``."""
        return await self._writer.flush(timeout)

    async def aclose(self, timeout: float = TIMEOUT) -> None:
        """Write what is pending (waiting at most ``timeout`` seconds), then disconnect."""
        if self._closed:
            return
        self._closed = True
        await self._writer.close(timeout)
        await self._client.aclose()

    def close(self) -> None:
        """Stop writing at once (use :meth:`aclose` to write what is pending first)."""
        if not self._closed:
            self._closed = True
            self._writer.stop()
