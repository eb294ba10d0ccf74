"""A client's registration as the API sees it, and where registrations are kept.

A :class:`Registration` is immutable: an Update makes a new one.  Times are Unix seconds;
``last_seen`` is the last Register or Update, the moment the lifetime counts from (other
messages keep a queue-mode client awake but do not rewrite the registration, so 20,000
notifications a second cost no store writes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lwm2m.coap.events import Peer
from lwm2m.codec.link import Link


@dataclass(frozen=True, slots=True)
class Registration:
    endpoint: str
    registration_id: str
    lwm2m_version: str
    binding: str
    lifetime: int
    queue_mode: bool
    sms: str | None
    address: Peer
    root_path: str
    object_links: tuple[Link, ...]
    registered_at: float
    last_seen: float

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
            "objectLinks": [
                {"target": link.target, "attributes": dict(link.attributes)}
                for link in self.object_links
            ],
            "registeredAt": self.registered_at,
            "lastSeen": self.last_seen,
        }


def format_address(address: Peer) -> str:
    """``host:port`` (``[v6]:port``) for a UDP address, ``str()`` for any other peer."""
    if isinstance(address, tuple) and len(address) == 2:
        host, port = address
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class RegistrationStore(Protocol):
    """Where the façade keeps registrations for the API (memory now; SQLite, Redis later).

    The server core keeps its own index and never reads a store; the façade writes every
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
