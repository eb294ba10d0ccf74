"""The parts of :class:`~lwm2m.storage.redis_store.RedisStore`: each answers from memory (the
server core calls them inline and never waits) and marks what it changed for the writer
(:mod:`lwm2m.storage.redis_writer`), which writes the key's current state to Redis.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lwm2m.bootstrap.config import BootstrapConfig, ConfigStore
from lwm2m.model import Path, Value
from lwm2m.security.credentials import MemoryPskStore, OscoreCredential, PskCredential
from lwm2m.security.oscore import MAX_SEQUENCE_NUMBER, SequenceStore
from lwm2m.security.oscore_endpoint import OscoreServerContexts
from lwm2m.server.registration import (
    HistoryEntry,
    MemoryNiddDeviceStore,
    MemoryRegistrationStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
)
from lwm2m.storage import redis_records as records
from lwm2m.storage.redis_records import Keys
from lwm2m.storage.redis_writer import Command, Done, RedisWriter
from lwm2m.storage.rows import config_to_json

Written = tuple[Sequence[Command], Done | None]

SEQUENCE_LOOKAHEAD = 4096
"""OSCORE sequence numbers reserved in Redis ahead of the ones in use: a new reservation is
written when half of it is left, so with relaxed durability Redis has acknowledged it long
before a number past the old one goes out (strict holds those messages until it has)."""


def _state(key: bytes, value: bytes | None) -> Written:
    """A string key brought up to date: its value, or gone."""
    return ([("SET", key, value)] if value is not None else [("DEL", key)]), None


class RedisRegistrationStore(MemoryRegistrationStore):
    __slots__ = ("_keys", "_mark")

    def __init__(self, writer: RedisWriter, keys: Keys, loaded: Iterable[Registration]) -> None:
        super().__init__()
        self._keys = keys
        for registration in loaded:
            super().put(registration)
        self._mark = writer.channel(self._write)

    def put(self, registration: Registration) -> None:
        super().put(registration)
        self._mark(registration.endpoint)

    def delete(self, endpoint: str) -> None:
        super().delete(endpoint)
        self._mark(endpoint)

    def rewrite_all(self) -> None:
        for registration in self.all():
            self._mark(registration.endpoint)

    def apply(self, endpoint: str, registration: Registration | None) -> None:
        """Another node's write, into the view only."""
        if registration is None:
            super().delete(endpoint)
        else:
            super().put(registration)

    def _write(self, endpoint: str) -> Written:
        registration = self.get(endpoint)
        value = None if registration is None else records.encode_registration(registration)
        return _state(self._keys.of(endpoint, records.REGISTRATION), value)


class RedisObservationStore:
    __slots__ = ("_keys", "_mark", "_records")

    def __init__(
        self, writer: RedisWriter, keys: Keys, loaded: Iterable[ObservationRecord]
    ) -> None:
        self._keys = keys
        self._records = {(r.endpoint, r.token): r for r in loaded}
        self._mark = writer.channel(self._write)

    def put(self, record: ObservationRecord) -> None:
        ident = record.endpoint, record.token
        self._records[ident] = record
        self._mark(ident)

    def delete(self, endpoint: str, token: bytes) -> None:
        if self._records.pop((endpoint, token), None) is not None:
            self._mark((endpoint, token))

    def all(self) -> list[ObservationRecord]:
        return list(self._records.values())

    def of(self, endpoint: str) -> list[ObservationRecord]:
        """``endpoint``'s observations (a scan: asked only when a device changes node)."""
        return [record for record in self._records.values() if record.endpoint == endpoint]

    def rewrite_all(self) -> None:
        for ident in list(self._records):
            self._mark(ident)

    def apply(self, endpoint: str, token: bytes, record: ObservationRecord | None) -> None:
        """Another node's write, into the view only."""
        if record is None:
            self._records.pop((endpoint, token), None)
        else:
            self._records[endpoint, token] = record

    def _write(self, ident: tuple[str, bytes]) -> Written:
        key = self._keys.of(ident[0], records.OBSERVATIONS)
        record = self._records.get(ident)
        if record is None:
            return [("HDEL", key, ident[1])], None
        return [("HSET", key, ident[1], records.encode_observation(record))], None


class RedisQueueStore:
    __slots__ = ("_keys", "_mark", "_records")

    def __init__(self, writer: RedisWriter, keys: Keys, loaded: Iterable[QueuedRecord]) -> None:
        self._keys = keys
        self._records = {r.request_id: r for r in loaded}
        self._mark = writer.channel(self._write)

    def put(self, record: QueuedRecord) -> None:
        self._records[record.request_id] = record
        self._mark((record.endpoint, record.request_id))

    def delete(self, request_id: int) -> None:
        record = self._records.pop(request_id, None)
        if record is not None:
            self._mark((record.endpoint, request_id))

    def all(self) -> list[QueuedRecord]:
        return sorted(self._records.values(), key=lambda record: record.request_id)

    def rewrite_all(self) -> None:
        for record in list(self._records.values()):
            self._mark((record.endpoint, record.request_id))

    def _write(self, ident: tuple[str, int]) -> Written:
        endpoint, request_id = ident
        key = self._keys.of(endpoint, records.QUEUE)
        record = self._records.get(request_id)
        if record is None or record.endpoint != endpoint:
            return [("HDEL", key, request_id)], None
        return [("HSET", key, request_id, records.encode_queued(record))], None


@dataclass(slots=True)
class _Kept:
    """One endpoint's history: ``limit`` values per path (seq, time, value), how far each
    path is in Redis, and whether Redis still holds values cleared here."""

    paths: dict[Path, deque[tuple[int, float, Value]]] = field(default_factory=dict)
    written: dict[Path, int] = field(default_factory=dict)
    cleared: bool = False
    generation: int = 0  # counts clears: an acknowledgement of older writes is stale


class RedisHistoryStore:
    """The last ``limit`` values per endpoint and path, in memory (queries never wait) and in
    one Redis hash per endpoint, a ring like SQLite's: value ``seq`` of a path is the field
    ``PATH|seq % limit``, so the hash stays bounded and clearing it is one ``DEL``."""

    __slots__ = ("_by_endpoint", "_keys", "_mark", "limit")

    def __init__(
        self,
        writer: RedisWriter,
        keys: Keys,
        limit: int,
        loaded: Mapping[str, Mapping[Path, list[tuple[int, float, Value]]]],
    ) -> None:
        if limit < 1:
            raise ValueError("history limit must be positive")
        self.limit = limit
        self._keys = keys
        self._by_endpoint: dict[str, _Kept] = {}
        for endpoint, paths in loaded.items():
            kept = self._by_endpoint[endpoint] = _Kept()
            for path, entries in paths.items():
                entries.sort(key=lambda entry: entry[0])
                kept.paths[path] = deque(entries, maxlen=limit)
                kept.written[path] = entries[-1][0]
        self._mark = writer.channel(self._write)

    def add(self, endpoint: str, time: float, values: Mapping[Path, Value]) -> None:
        if not values:
            return
        kept = self._by_endpoint.get(endpoint)
        if kept is None:
            kept = self._by_endpoint[endpoint] = _Kept()
        for path, value in values.items():
            entries = kept.paths.get(path)
            if entries is None:
                entries = kept.paths[path] = deque(maxlen=self.limit)
            entries.append((entries[-1][0] + 1 if entries else 0, time, value))
        self._mark(endpoint)

    def clear(self, endpoint: str) -> None:
        kept = self._by_endpoint.get(endpoint)
        if kept is None:
            kept = self._by_endpoint[endpoint] = _Kept()
        kept.paths.clear()
        kept.written.clear()
        kept.cleared = True
        kept.generation += 1
        self._mark(endpoint)

    def query(self, endpoint: str, path: Path, limit: int) -> list[HistoryEntry]:
        kept = self._by_endpoint.get(endpoint)
        if kept is None or limit <= 0:
            return []
        entries = [
            HistoryEntry(time, kept_path, value)
            for kept_path, values in kept.paths.items()
            if kept_path.startswith(path)
            for _, time, value in values
        ]
        entries.sort(key=lambda entry: entry.time)
        return entries[-limit:]

    def rewrite_all(self) -> None:
        for kept in self._by_endpoint.values():
            kept.written.clear()
        for endpoint in list(self._by_endpoint):
            self._mark(endpoint)

    def apply(
        self, endpoint: str, cleared: bool, values: Iterable[tuple[Path, int, float, Value]]
    ) -> None:
        """Another node's write (a ``DEL`` and/or new slots), into the view only: values are
        kept in ``seq`` order and count as written, so this node goes on from them."""
        kept = self._by_endpoint.get(endpoint)
        if kept is None:
            kept = self._by_endpoint[endpoint] = _Kept()
        if cleared:
            kept.paths.clear()
            kept.written.clear()
        for path, seq, time, value in sorted(values, key=lambda entry: entry[1]):
            entries = kept.paths.get(path)
            if entries is None:
                entries = kept.paths[path] = deque(maxlen=self.limit)
            if entries and seq <= entries[-1][0]:
                continue  # loaded already
            entries.append((seq, time, value))
            kept.written[path] = seq
        if not kept.paths and not kept.cleared:
            del self._by_endpoint[endpoint]

    def _write(self, endpoint: str) -> Written:
        kept = self._by_endpoint.get(endpoint)
        if kept is None:
            return (), None
        key = self._keys.of(endpoint, records.HISTORY)
        commands: list[Command] = [("DEL", key)] if kept.cleared else []
        fields: list[bytes] = []
        newest: dict[Path, int] = {}
        limit = self.limit
        for path, entries in kept.paths.items():
            since = kept.written.get(path, -1)
            for seq, time, value in reversed(entries):
                if seq <= since:
                    break
                fields += (
                    records.history_field(path, seq % limit),
                    records.encode_history(seq, time, value),
                )
            if entries:
                newest[path] = entries[-1][0]
        if fields:
            commands.append(("HSET", key, *fields))
        generation = kept.generation

        def written() -> None:
            if kept.generation != generation:  # cleared meanwhile: that is still to write
                return
            kept.cleared = False
            kept.written.update(newest)
            if not kept.paths and self._by_endpoint.get(endpoint) is kept:
                del self._by_endpoint[endpoint]  # cleared and written: nothing left to keep

        return commands, written


class RedisPskStore(MemoryPskStore):
    """PSK credentials, served from memory (one lookup per DTLS handshake), kept in Redis."""

    def __init__(self, writer: RedisWriter, keys: Keys, loaded: Iterable[PskCredential]) -> None:
        super().__init__()
        self._keys = keys
        for credential in loaded:
            super().set(credential)
        self._mark = writer.channel(self._write)

    def set(self, credential: PskCredential) -> None:
        super().set(credential)  # ValueError when the identity is another endpoint's
        self._mark(credential.endpoint)

    def remove(self, endpoint: str) -> bool:
        removed = super().remove(endpoint)
        if removed:
            self._mark(endpoint)
        return removed

    def rewrite_all(self) -> None:
        for credential in self:
            self._mark(credential.endpoint)

    def apply(self, endpoint: str, credential: PskCredential | None) -> None:
        """Another node's write, into the view only."""
        if credential is None:
            super().remove(endpoint)
        else:
            super().remove(endpoint)  # its identity may have changed
            super().set(credential)

    def _write(self, endpoint: str) -> Written:
        credential = self.get(endpoint)
        value = None if credential is None else records.encode_psk(credential)
        return _state(self._keys.of(endpoint, records.PSK), value)


class RedisSequences:
    """Each endpoint's OSCORE sequence number reservation (``SequenceStore`` per credential)."""

    __slots__ = ("_keys", "_mark", "reserved")

    def __init__(self, writer: RedisWriter, keys: Keys, loaded: Mapping[str, int]) -> None:
        self._keys = keys
        self.reserved = dict(loaded)
        self._mark = writer.channel(self._write)

    def __call__(self, credential: OscoreCredential) -> SequenceStore:
        return _Sequence(self, credential.endpoint)

    def reserve(self, endpoint: str, limit: int) -> None:
        if limit > self.reserved.get(endpoint, 0) - SEQUENCE_LOOKAHEAD // 2:
            self.reserved[endpoint] = min(limit + SEQUENCE_LOOKAHEAD, MAX_SEQUENCE_NUMBER + 1)
            self._mark(endpoint)

    def rewrite_all(self) -> None:
        for endpoint in list(self.reserved):
            self._mark(endpoint)

    def apply(self, endpoint: str, reserved: int | None) -> None:
        """Another node's reservation, into the view only (never lowered)."""
        if reserved is None:
            self.reserved.pop(endpoint, None)
        else:
            self.reserved[endpoint] = max(reserved, self.reserved.get(endpoint, 0))

    def _write(self, endpoint: str) -> Written:
        value = self.reserved.get(endpoint)
        key = self._keys.of(endpoint, records.OSCORE_SEQUENCE)
        return _state(key, None if value is None else str(value).encode())


class _Sequence:
    __slots__ = ("_endpoint", "_sequences")

    def __init__(self, sequences: RedisSequences, endpoint: str) -> None:
        self._sequences = sequences
        self._endpoint = endpoint

    def load(self) -> int:
        return self._sequences.reserved.get(self._endpoint, 0)

    def save(self, limit: int) -> None:
        self._sequences.reserve(self._endpoint, limit)


class RedisOscoreContexts(OscoreServerContexts):
    """The server's OSCORE contexts; credentials and sequence numbers kept in Redis."""

    def __init__(
        self,
        writer: RedisWriter,
        keys: Keys,
        loaded: Iterable[OscoreCredential],
        sequences: RedisSequences,
    ) -> None:
        super().__init__((), sequences)
        self._keys = keys
        for credential in loaded:
            super().set(credential)
        self._mark = writer.channel(self._write)

    def set(self, credential: OscoreCredential) -> bool:
        new = super().set(credential)  # ValueError when the Recipient ID is another endpoint's
        self._mark(credential.endpoint)
        return new

    def remove_endpoint(self, endpoint: str) -> bool:
        removed = super().remove_endpoint(endpoint)
        if removed:
            self._mark(endpoint)
        return removed

    def rewrite_all(self) -> None:
        for credential in self:
            self._mark(credential.endpoint)

    def apply(self, endpoint: str, credential: OscoreCredential | None) -> None:
        """Another node's write, into the view only."""
        super().remove_endpoint(endpoint)
        if credential is not None:
            super().set(credential)

    def _write(self, endpoint: str) -> Written:
        credential = self.get(endpoint)
        value = None if credential is None else records.encode_oscore(credential)
        return _state(self._keys.of(endpoint, records.OSCORE), value)


class RedisConfigStore(ConfigStore):
    """Bootstrap configurations (keys included), served from memory, kept in Redis."""

    def __init__(
        self, writer: RedisWriter, keys: Keys, loaded: Mapping[str, BootstrapConfig]
    ) -> None:
        super().__init__(loaded)
        self._keys = keys
        self._mark = writer.channel(self._write)

    def put(self, endpoint: str, config: BootstrapConfig) -> bool:
        new = super().put(endpoint, config)
        self._mark(endpoint)
        return new

    def delete(self, endpoint: str) -> bool:
        deleted = super().delete(endpoint)
        if deleted:
            self._mark(endpoint)
        return deleted

    def rewrite_all(self) -> None:
        for endpoint, _ in self:
            self._mark(endpoint)

    def apply(self, endpoint: str, config: BootstrapConfig | None) -> None:
        """Another node's write, into the view only."""
        if config is None:
            super().delete(endpoint)
        else:
            super().put(endpoint, config)

    def _write(self, endpoint: str) -> Written:
        config = self.get(endpoint)
        value = None if config is None else json.dumps(config_to_json(config)).encode()
        return _state(self._keys.of(endpoint, records.BOOTSTRAP), value)


class RedisNiddDeviceStore(MemoryNiddDeviceStore):
    """The NIDD devices (their address text), served from memory, kept in Redis."""

    def __init__(self, writer: RedisWriter, keys: Keys, loaded: Iterable[str]) -> None:
        super().__init__(loaded)
        self._keys = keys
        self._mark = writer.channel(self._write)

    def put(self, address: str) -> None:
        super().put(address)
        self._mark(address)

    def delete(self, address: str) -> None:
        super().delete(address)
        self._mark(address)

    def rewrite_all(self) -> None:
        for address in self.all():
            self._mark(address)

    def apply(self, address: str, present: bool) -> None:
        """Another node's write, into the view only."""
        if present:
            super().put(address)
        else:
            super().delete(address)

    def _write(self, address: str) -> Written:
        return _state(self._keys.nidd(address), b"1" if address in self._addresses else None)


class RedisOwners:
    """Which cluster node serves each device (``PREFIX:{ep}:owner``), as far as this node
    knows: its own claims, and the other nodes' through the change stream."""

    __slots__ = ("_keys", "_mark", "_owners")

    def __init__(self, writer: RedisWriter, keys: Keys, loaded: Mapping[str, str]) -> None:
        self._keys = keys
        self._owners = dict(loaded)
        self._mark = writer.channel(self._write)

    def get(self, endpoint: str) -> str | None:
        return self._owners.get(endpoint)

    def set(self, endpoint: str, node: str) -> None:
        if self._owners.get(endpoint) != node:
            self._owners[endpoint] = node
            self._mark(endpoint)

    def delete(self, endpoint: str) -> None:
        if self._owners.pop(endpoint, None) is not None:
            self._mark(endpoint)

    def of(self, node: str) -> list[str]:
        """The devices ``node`` serves."""
        return [endpoint for endpoint, owner in self._owners.items() if owner == node]

    def nodes(self) -> frozenset[str]:
        return frozenset(self._owners.values())

    def apply(self, endpoint: str, node: str | None) -> None:
        """Another node's write, into the view only."""
        if node is None:
            self._owners.pop(endpoint, None)
        else:
            self._owners[endpoint] = node

    def rewrite_all(self) -> None:
        for endpoint in list(self._owners):
            self._mark(endpoint)

    def _write(self, endpoint: str) -> Written:
        node = self._owners.get(endpoint)
        key = self._keys.of(endpoint, records.OWNER)
        return _state(key, None if node is None else node.encode("utf-8", "surrogatepass"))


def rewrite_all(parts: Iterable[object]) -> None:
    """Mark everything the parts hold (Redis came back without its data)."""
    for part in parts:
        rewrite = getattr(part, "rewrite_all", None)
        if rewrite is not None:
            rewrite()
