"""What the bootstrap server reports: sessions starting, refused, finished or failed, and what
Bootstrap-Discover and Bootstrap-Read found.  Each has ``to_json()`` with a ``"type"`` key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from lwm2m.coap.codes import Code
from lwm2m.coap.events import Peer
from lwm2m.codec.flat_json import values_to_json
from lwm2m.codec.link import Link, format_links
from lwm2m.model import Path, Value


def _address(peer: Peer) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


@dataclass(frozen=True, slots=True)
class BootstrapStarted:
    """A Bootstrap-Request was accepted (2.04); the session's requests follow."""

    endpoint: str
    address: Peer

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "bootstrapStarted",
            "endpoint": self.endpoint,
            "address": _address(self.address),
        }


@dataclass(frozen=True, slots=True)
class BootstrapRefused:
    """A Bootstrap-Request answered with an error (``code``), for ``reason``."""

    endpoint: str
    address: Peer
    code: Code
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "bootstrapRefused",
            "endpoint": self.endpoint,
            "address": _address(self.address),
            "status": self.code.dotted,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class BootstrapDiscovered:
    """The client's Bootstrap-Discover answer."""

    endpoint: str
    links: tuple[Link, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "bootstrapDiscovered",
            "endpoint": self.endpoint,
            "links": format_links(self.links),
        }


@dataclass(frozen=True, slots=True)
class BootstrapRead:
    """The values a Bootstrap-Read of ``path`` returned."""

    endpoint: str
    path: Path
    values: dict[Path, Value]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "bootstrapRead",
            "endpoint": self.endpoint,
            "path": str(self.path),
            "values": values_to_json(self.values),
        }


@dataclass(frozen=True, slots=True)
class BootstrapFinished:
    """The client accepted Bootstrap-Finish (2.04): it now uses the new configuration."""

    endpoint: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "bootstrapFinished", "endpoint": self.endpoint}


@dataclass(frozen=True, slots=True)
class BootstrapFailed:
    """A request of the session failed: ``code`` is the client's error (4.06 to Finish: the
    configuration is inconsistent), None when it never answered."""

    endpoint: str
    operation: str
    code: Code | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "bootstrapFailed",
            "endpoint": self.endpoint,
            "operation": self.operation,
            "status": None if self.code is None else self.code.dotted,
            "reason": self.reason,
        }


BootstrapEvent: TypeAlias = (
    BootstrapStarted
    | BootstrapRefused
    | BootstrapDiscovered
    | BootstrapRead
    | BootstrapFinished
    | BootstrapFailed
)
