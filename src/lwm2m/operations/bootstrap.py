"""The Bootstrap interface (Core 1.1 §5.2.7, Transport Table 6.1-x): what a bootstrap server may
ask, and the Bootstrap-Discover inventory both sides read and write.

On the wire Bootstrap-Discover, -Read, -Write and -Delete are the DM Discover, Read, Write (PUT)
and Delete (:mod:`.mapping` carries them); what makes them different is who sends them and
what they may target.  :func:`check_bootstrap` applies the interface's rules, with the codes
the table gives: Read of anything but the Server and Access Control objects is 4.01; a target
deeper than the interface allows is 4.00; an operation the interface lacks is 4.05.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lwm2m.coap.codes import Code
from lwm2m.codec.link import Link
from lwm2m.model import Path, PathError
from lwm2m.operations.errors import OperationError
from lwm2m.operations.messages import (
    BootstrapFinish,
    Delete,
    Discover,
    Operation,
    Read,
    Write,
)

BootstrapOperation = Discover | Read | Write | Delete | BootstrapFinish
"""Requests a bootstrap server sends, once :func:`check_bootstrap` accepted them."""

SECURITY_OBJECT = 0
READABLE_OBJECTS = frozenset({1, 2})
"""Bootstrap-Read targets the Server and Access Control objects only (Core 1.1 §5.2.7.2)."""


def check_bootstrap(op: Operation) -> BootstrapOperation:
    """``op`` as a Bootstrap-interface request; OperationError with the code to answer if it
    is not one."""
    match op:
        case BootstrapFinish():
            return op
        case Discover(path, depth):
            if depth is not None or path.depth > 1:
                raise OperationError(Code.BAD_REQUEST, "Bootstrap-Discover targets / or an object")
            return op
        case Read(path):
            if path.is_root or path.ids[0] not in READABLE_OBJECTS:
                raise OperationError(Code.UNAUTHORIZED, "Bootstrap-Read is for /1 and /2 only")
            if path.depth > 2:
                raise OperationError(
                    Code.BAD_REQUEST, "Bootstrap-Read targets an object or instance"
                )
            return op
        case Write(path, _, partial):
            if partial:
                raise OperationError(Code.METHOD_NOT_ALLOWED, "Bootstrap-Write is a PUT")
            if path.is_root:
                raise OperationError(Code.BAD_REQUEST, "Bootstrap-Write needs an object path")
            return op
        case Delete(path):
            if path.depth > 2:
                raise OperationError(Code.BAD_REQUEST, "Bootstrap-Delete targets /, /o or /o/i")
            return op
    raise OperationError(
        Code.METHOD_NOT_ALLOWED, f"{type(op).__name__} is not a Bootstrap-interface operation"
    )


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One link of a Bootstrap-Discover answer: an object (no instances) or an instance, with
    the Short Server ID and URI that Security and Server instances carry."""

    path: Path
    short_server_id: int | None = None
    uri: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Inventory:
    """What a client holds, as Bootstrap-Discover tells it (``</>;lwm2m=1.1,</0/0>;uri=..``).

    ``lwm2m_version`` None: a 1.0 client, which sends no root link.
    """

    entries: tuple[InventoryEntry, ...] = ()
    lwm2m_version: str | None = None

    def instances(self, object_id: int) -> list[int]:
        return [
            e.path.ids[1] for e in self.entries if e.path.is_instance and e.path.ids[0] == object_id
        ]

    def entry(self, path: Path) -> InventoryEntry | None:
        return next((e for e in self.entries if e.path == path), None)

    def bootstrap_accounts(self) -> list[int]:
        """Security instances without a Short Server ID: the bootstrap server's account."""
        return [
            iid
            for iid in self.instances(SECURITY_OBJECT)
            if (entry := self.entry(Path.of(SECURITY_OBJECT, iid))) is not None
            and entry.short_server_id is None
        ]

    def instance_of(self, object_id: int, short_server_id: int) -> int | None:
        """The Security (0) or Server (1) instance of a server account, if the client has one."""
        for iid in self.instances(object_id):
            entry = self.entry(Path.of(object_id, iid))
            if entry is not None and entry.short_server_id == short_server_id:
                return iid
        return None

    def to_links(self) -> tuple[Link, ...]:
        links = [] if self.lwm2m_version is None else [Link("/", {"lwm2m": self.lwm2m_version})]
        for entry in self.entries:
            attributes: list[tuple[str, str | None]] = []
            if entry.version is not None:
                attributes.append(("ver", entry.version))
            if entry.short_server_id is not None:
                attributes.append(("ssid", str(entry.short_server_id)))
            if entry.uri is not None:
                attributes.append(("uri", entry.uri))
            links.append(Link(str(entry.path), attributes))
        return tuple(links)

    @classmethod
    def from_links(cls, links: Iterable[Link]) -> Inventory:
        """Read a Bootstrap-Discover answer; OperationError 4.00 for what is not one."""
        version = None
        entries = []
        for link in links:
            if link.target == "/":
                version = link.attributes.get("lwm2m")
                continue
            try:
                path = Path.parse(link.target)
            except PathError as exc:
                raise OperationError(Code.BAD_REQUEST, f"Bootstrap-Discover link: {exc}") from None
            if path.depth not in (1, 2):
                raise OperationError(Code.BAD_REQUEST, f"Bootstrap-Discover link {path}")
            ssid = link.attributes.get("ssid")
            if ssid is not None and not (ssid.isascii() and ssid.isdigit() and len(ssid) <= 5):
                raise OperationError(Code.BAD_REQUEST, f"ssid={ssid!r:.20} on {path}")
            entries.append(
                InventoryEntry(
                    path,
                    None if ssid is None else int(ssid),
                    link.attributes.get("uri"),
                    link.attributes.get("ver"),
                )
            )
        return cls(tuple(entries), version)
