"""A client's registration as the API sees it, and the stores the server keeps its state in.

A :class:`Registration` is immutable: an Update makes a new one.  Times are Unix seconds;
``last_seen`` is the last Register or Update, the moment the lifetime counts from (other
messages keep a queue-mode client awake but do not rewrite the registration, so 20,000
notifications a second cost no store writes).

:class:`ServerStore` is everything a restarted server needs to carry on (registrations,
observations, queued requests) plus a bounded history of reported values.  The server core
writes every change to it and reads it once, at start (:meth:`ServerCore.restore`); methods
are called on the event loop, so a persistent store must queue its writes, never wait for a
disk or a network.  The memory stores here keep state for the life of the process; SQLite
lives in :mod:`lwm2m.storage`, and a shared store (Redis) implements the same protocols.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, overload

from lwm2m.coap.events import Peer
from lwm2m.codec.link import Link, format_links, parse_links
from lwm2m.model import Path, Value
from lwm2m.operations.mapping import CoapParts

HISTORY_LIMIT = 100
"""Values kept per endpoint and resource by default."""


class ObjectList(Sequence[Link]):
    """A registration's object list, held as its link-format text: about 12 bytes a link,
    where :class:`Link` objects take about 165.  Links are parsed back when asked for (the
    REST API, the store); the few distinct lists a fleet sends stay parsed in a small cache.
    Equal to any sequence of the same links."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    def of(cls, links: Iterable[Link]) -> ObjectList:
        return cls(format_links(links))

    @overload
    def __getitem__(self, index: int) -> Link: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Link, ...]: ...
    def __getitem__(self, index: int | slice) -> Link | tuple[Link, ...]:
        return _parsed_links(self.text)[index]

    def __len__(self) -> int:
        return len(_parsed_links(self.text))

    def __iter__(self) -> Iterator[Link]:
        return iter(_parsed_links(self.text))

    def __contains__(self, link: object) -> bool:
        return link in _parsed_links(self.text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ObjectList):
            return self.text == other.text
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return _parsed_links(self.text) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_parsed_links(self.text))

    def __repr__(self) -> str:
        return f"ObjectList({self.text!r})"


@lru_cache(maxsize=32)
def _parsed_links(text: str) -> tuple[Link, ...]:
    return tuple(parse_links(text))


@dataclass(frozen=True, slots=True)
class Registration:
    """One client's registration.  ``content_format`` is the structured format the server
    reads and writes it in when the caller names none: what its Register announced (``ct``
    on the root link) or what worked after a 4.06/4.15; None: SenML CBOR first."""

    endpoint: str
    registration_id: str
    lwm2m_version: str
    binding: str
    lifetime: int
    queue_mode: bool
    sms: str | None
    address: Peer
    root_path: str
    object_links: Sequence[Link]
    registered_at: float
    last_seen: float
    content_format: int | None = None

    @property
    def location(self) -> tuple[str, str]:
        """The Location-Path of this registration, which Update and De-register address."""
        return ("rd", self.registration_id)

    @property
    def expires_at(self) -> float:
        return self.last_seen + self.lifetime

    def to_json(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "registrationId": self.registration_id,
            "lwm2mVersion": self.lwm2m_version,
            "binding": self.binding,
            "lifetime": self.lifetime,
            "queueMode": self.queue_mode,
            "address": format_address(self.address),
            "objectLinks": [link.to_json() for link in self.object_links],
            "registeredAt": self.registered_at,
            "lastSeen": self.last_seen,
            "contentFormat": self.content_format,
        }


def format_address(address: Peer) -> str:
    """``host:port`` (``[v6]:port``) for a UDP address, ``str()`` for any other peer."""
    if isinstance(address, tuple) and len(address) == 2:
        host, port = address
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class RegistrationStore(Protocol):
    """Registrations by endpoint name; what the API lists.

    The server core keeps its own index and reads a store only at start; it writes every
    change here, so a store may persist, replicate or answer queries however it likes.
    """

    def get(self, endpoint: str) -> Registration | None: ...
    def put(self, registration: Registration) -> None:
        """Add or replace the registration of ``registration.endpoint``."""

    def delete(self, endpoint: str) -> None: ...
    def by_registration_id(self, registration_id: str) -> Registration | None: ...
    def all(self) -> list[Registration]: ...
    def expiring(self, before: float) -> list[Registration]:
        """Registrations whose lifetime ends before Unix time ``before``, soonest first."""


class MemoryRegistrationStore:
    """Two dicts; ``expiring`` scans, as only maintenance jobs ask it."""

    __slots__ = ("_by_endpoint", "_by_id")

    def __init__(self) -> None:
        self._by_endpoint: dict[str, Registration] = {}
        self._by_id: dict[str, Registration] = {}

    def __len__(self) -> int:
        return len(self._by_endpoint)

    def get(self, endpoint: str) -> Registration | None:
        return self._by_endpoint.get(endpoint)

    def put(self, registration: Registration) -> None:
        old = self._by_endpoint.get(registration.endpoint)
        if old is not None and old.registration_id != registration.registration_id:
            del self._by_id[old.registration_id]
        self._by_endpoint[registration.endpoint] = registration
        self._by_id[registration.registration_id] = registration

    def delete(self, endpoint: str) -> None:
        old = self._by_endpoint.pop(endpoint, None)
        if old is not None:
            del self._by_id[old.registration_id]

    def by_registration_id(self, registration_id: str) -> Registration | None:
        return self._by_id.get(registration_id)

    def all(self) -> list[Registration]:
        return list(self._by_endpoint.values())

    def expiring(self, before: float) -> list[Registration]:
        due = [r for r in self._by_endpoint.values() if r.expires_at < before]
        return sorted(due, key=lambda r: r.expires_at)


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """An established observation, as a restarted server adopts it again.

    ``request`` is the Observe or Observe-Composite as it went out (alternate path included):
    the client matches notifications by ``token`` alone, and an active cancel repeats the
    request with Observe=1.
    """

    endpoint: str
    token: bytes
    peer: Peer
    request: CoapParts


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    """A request waiting for a queue-mode client; ``request`` is encoded without the client's
    alternate path, which is added when it goes (an Update may change it)."""

    request_id: int
    endpoint: str
    request: CoapParts
    expires_at: float  # Unix time its queue time-to-live ends


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One reported value: from a notification or a Send, at Unix ``time``."""

    time: float
    path: Path
    value: Value


class ObservationStore(Protocol):
    def put(self, record: ObservationRecord) -> None: ...
    def delete(self, endpoint: str, token: bytes) -> None: ...
    def all(self) -> list[ObservationRecord]: ...


class QueueStore(Protocol):
    def put(self, record: QueuedRecord) -> None: ...
    def delete(self, request_id: int) -> None: ...
    def all(self) -> list[QueuedRecord]:
        """Every waiting request, in the order they were queued."""


class HistoryStore(Protocol):
    """The last values reported per endpoint and resource (a bounded number of each)."""

    def add(self, endpoint: str, time: float, values: Mapping[Path, Value]) -> None: ...
    def clear(self, endpoint: str) -> None:
        """Forget an endpoint's values (its registration ended)."""

    def query(self, endpoint: str, path: Path, limit: int) -> list[HistoryEntry]:
        """The last ``limit`` values at ``path`` or below it, oldest first."""


class ServerStore(Protocol):
    """Everything the server persists; :meth:`close` writes what is still queued."""

    @property
    def registrations(self) -> RegistrationStore: ...
    @property
    def observations(self) -> ObservationStore: ...
    @property
    def queue(self) -> QueueStore: ...
    @property
    def history(self) -> HistoryStore: ...
    def close(self) -> None: ...


class MemoryObservationStore:
    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: dict[tuple[str, bytes], ObservationRecord] = {}

    def put(self, record: ObservationRecord) -> None:
        self._records[record.endpoint, record.token] = record

    def delete(self, endpoint: str, token: bytes) -> None:
        self._records.pop((endpoint, token), None)

    def all(self) -> list[ObservationRecord]:
        return list(self._records.values())


class MemoryQueueStore:
    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: dict[int, QueuedRecord] = {}

    def put(self, record: QueuedRecord) -> None:
        self._records[record.request_id] = record

    def delete(self, request_id: int) -> None:
        self._records.pop(request_id, None)

    def all(self) -> list[QueuedRecord]:
        return sorted(self._records.values(), key=lambda record: record.request_id)


class MemoryHistoryStore:
    """A deque of ``(time, value)`` per endpoint and path, ``limit`` long."""

    __slots__ = ("_by_endpoint", "limit")

    def __init__(self, limit: int = HISTORY_LIMIT) -> None:
        if limit < 1:
            raise ValueError("history limit must be positive")
        self.limit = limit
        self._by_endpoint: dict[str, dict[Path, deque[tuple[float, Value]]]] = {}

    def add(self, endpoint: str, time: float, values: Mapping[Path, Value]) -> None:
        paths = self._by_endpoint.get(endpoint)
        if paths is None:
            paths = self._by_endpoint[endpoint] = {}
        for path, value in values.items():
            kept = paths.get(path)
            if kept is None:
                kept = paths[path] = deque(maxlen=self.limit)
            kept.append((time, value))

    def clear(self, endpoint: str) -> None:
        self._by_endpoint.pop(endpoint, None)

    def query(self, endpoint: str, path: Path, limit: int) -> list[HistoryEntry]:
        entries = [
            HistoryEntry(time, kept_path, value)
            for kept_path, kept in self._by_endpoint.get(endpoint, {}).items()
            if kept_path.startswith(path)
            for time, value in kept
        ]
        entries.sort(key=lambda entry: entry.time)
        return entries[-limit:] if limit > 0 else []


class NiddDeviceStore(Protocol):
    """The devices the server reaches over NIDD (docs/nidd.md), by their address text
    (``dev@domain``, ``msisdn:4912345``).  Optional: a store without ``nidd_devices`` keeps
    them for the life of the process only."""

    def put(self, address: str) -> None: ...
    def delete(self, address: str) -> None: ...
    def all(self) -> list[str]: ...


class MemoryNiddDeviceStore:
    __slots__ = ("_addresses",)

    def __init__(self, addresses: Iterable[str] = ()) -> None:
        self._addresses = dict.fromkeys(addresses)

    def put(self, address: str) -> None:
        self._addresses[address] = None

    def delete(self, address: str) -> None:
        self._addresses.pop(address, None)

    def all(self) -> list[str]:
        return list(self._addresses)


class MemoryStore:
    """The server's state in this process only (what ``LwM2MServer`` uses without a store)."""

    __slots__ = ("history", "nidd_devices", "observations", "queue", "registrations")

    def __init__(self, history_limit: int = HISTORY_LIMIT) -> None:
        self.registrations = MemoryRegistrationStore()
        self.observations = MemoryObservationStore()
        self.queue = MemoryQueueStore()
        self.history = MemoryHistoryStore(history_limit)
        self.nidd_devices = MemoryNiddDeviceStore()

    def close(self) -> None:
        """Nothing to write."""
