"""Registration parameters (Core 6.2.1, 6.2.2, 5.2.7.1): Uri-Query items and the object list.

Parsing is strict about what it understands (4.00 Bad Request, or 4.12 Precondition Failed for
an LwM2M version we do not speak) and keeps query items it does not know, so the server engine
decides whether to refuse them.  Every check is linear in the input, and the object list is
bounded before it is parsed.  Parsed object lists are cached by payload: a fleet sends a handful
of distinct ones, and parsing one costs far more than hashing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from lwm2m.coap.codes import Code
from lwm2m.codec.errors import CodecError
from lwm2m.codec.link import Link, format_links, parse_links
from lwm2m.model import Path, PathError
from lwm2m.operations.errors import OperationError, OperationUsageError

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")
"""``lwm2m=`` values we register; another well-formed version is 4.12 (Transport 6.2.1)."""

DEFAULT_LIFETIME = 86400
"""What the server assumes when Register has no ``lt`` (Core 6.2.1)."""

MAX_LIFETIME = 2**31 - 1
"""A larger ``lt`` is refused with 4.00: no sane device sleeps for more than 68 years."""

MAX_ENDPOINT_LENGTH = 252
"""``ep=`` plus the name must fit one 255-byte Uri-Query option."""

MAX_OBJECT_LINKS = 4096
MAX_OBJECTS_PAYLOAD = 64 * 1024
"""Bounds on the object list of Register and Update; beyond them we answer 4.13."""

BINDING_LETTERS = frozenset("USNTMHQ")
"""U, S (1.0), N, T (1.1), M, H (1.2); Q is 1.0's queue-mode suffix (``b=UQ``)."""

ROOT_RT = "oma.lwm2m"

_CACHED_LISTS = 256
"""Distinct object lists whose parse is kept (least recently used ones are dropped)."""
_CACHED_PAYLOAD = 4096
"""Longer object lists are parsed every time: rare, and they would pin memory."""

_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
_MSISDN = re.compile(r"\+?[0-9]{1,15}")


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One supported object: its version when the client declares one, and its instances."""

    id: int
    version: str | None = None
    instances: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectLinks:
    """The "Objects and Object Instances" payload of Register and Update (Core 6.2.1).

    ``root`` is the alternate path (``</lwm2m>;rt="oma.lwm2m"``) that prefixes every
    LwM2M path on this client; ``content_formats`` is what ``ct=`` on the root link lists.
    """

    objects: tuple[ObjectEntry, ...] = ()
    root: str = "/"
    content_formats: tuple[int, ...] = ()

    @property
    def root_segments(self) -> tuple[str, ...]:
        return tuple(s for s in self.root.split("/") if s)

    def to_links(self) -> list[Link]:
        prefix = "/".join(("", *self.root_segments))
        links = []
        if self.root != "/" or self.content_formats:
            attributes: dict[str, str] = {"rt": ROOT_RT}
            if self.content_formats:
                attributes["ct"] = " ".join(str(cf) for cf in self.content_formats)
            links.append(Link(prefix or "/", attributes))
        for entry in self.objects:
            if entry.version is not None or not entry.instances:
                ver = {"ver": entry.version} if entry.version is not None else {}
                links.append(Link(f"{prefix}/{entry.id}", ver))
            links.extend(Link(f"{prefix}/{entry.id}/{iid}", {}) for iid in entry.instances)
        return links

    def to_payload(self) -> bytes:
        try:
            return format_links(self.to_links()).encode()
        except CodecError as exc:
            raise OperationUsageError(str(exc)) from None

    @classmethod
    def from_payload(cls, payload: bytes) -> ObjectLinks:
        """Parse and check an object list from the network (4.00 / 4.13 when it is bad).

        Results are immutable, so a payload seen recently returns the same object again;
        errors are not cached.
        """
        if cls is ObjectLinks and type(payload) is bytes and len(payload) <= _CACHED_PAYLOAD:
            return _parse_cached(payload)
        return cls._parse(payload)

    @classmethod
    def _parse(cls, payload: bytes) -> ObjectLinks:
        if len(payload) > MAX_OBJECTS_PAYLOAD:
            raise OperationError(
                Code.REQUEST_ENTITY_TOO_LARGE,
                f"object list of {len(payload)} bytes exceeds {MAX_OBJECTS_PAYLOAD}",
            )
        try:
            text = payload.decode()
            links = parse_links(text)
        except UnicodeDecodeError:
            raise OperationError(Code.BAD_REQUEST, "object list is not UTF-8") from None
        except CodecError as exc:
            raise OperationError.from_codec(exc) from None
        if len(links) > MAX_OBJECT_LINKS:
            raise OperationError(
                Code.REQUEST_ENTITY_TOO_LARGE,
                f"{len(links)} object links exceed {MAX_OBJECT_LINKS}",
            )
        return cls.from_links(links)

    @classmethod
    def from_links(cls, links: Iterable[Link]) -> ObjectLinks:
        links = list(links)
        roots = [link for link in links if _is_root_link(link)]
        if len(roots) > 1:
            raise OperationError(Code.BAD_REQUEST, "more than one root link")
        root_link = roots[0] if roots else None
        root = "/"
        formats: tuple[int, ...] = ()
        if root_link is not None:
            root = root_link.target
            formats = _content_formats(root_link.attributes.get("ct"))
            if not root.startswith("/") or "?" in root or "#" in root:
                raise OperationError(Code.BAD_REQUEST, f"bad alternate path {root!r:.60}")
        prefix = root.rstrip("/")
        versions: dict[int, str | None] = {}
        instances: dict[int, dict[int, None]] = {}  # dicts as ordered sets
        for link in links:
            if link is root_link:
                continue
            path = _object_path(link.target, prefix)
            oid = path.ids[0]
            known = instances.setdefault(oid, {})
            if path.is_instance:
                known[path.ids[1]] = None
            elif oid not in versions:
                versions[oid] = link.attributes.get("ver")
        objects = tuple(
            ObjectEntry(oid, _version(versions.get(oid)), tuple(iids))
            for oid, iids in instances.items()
        )
        return cls(objects, root, formats)


@lru_cache(maxsize=_CACHED_LISTS)
def _parse_cached(payload: bytes) -> ObjectLinks:
    return ObjectLinks._parse(payload)


def _is_root_link(link: Link) -> bool:
    return link.attributes.get("rt") == ROOT_RT or link.target == "/"


def _object_path(target: str, prefix: str) -> Path:
    if not target.startswith(prefix + "/"):
        raise OperationError(Code.BAD_REQUEST, f"link {target!r:.60} is outside {prefix or '/'}")
    try:
        path = Path.parse(target[len(prefix) :])
    except PathError as exc:
        raise OperationError(Code.BAD_REQUEST, f"link {target!r:.60}: {exc}") from None
    if not (path.is_object or path.is_instance):
        raise OperationError(Code.BAD_REQUEST, f"link {target!r:.60} is not /o or /o/i")
    return path


def _version(text: str | None) -> str | None:
    if text is not None and not _VERSION.fullmatch(text):
        raise OperationError(Code.BAD_REQUEST, f"bad object version {text!r:.20}")
    return text


def _content_formats(text: str | None) -> tuple[int, ...]:
    if text is None:
        return ()
    parts = text.split()
    if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
        raise OperationError(Code.BAD_REQUEST, f"bad ct={text!r:.60} on the root link")
    return tuple(int(p) for p in parts)


# -- Uri-Query parameters ---------------------------------------------------------------


def split_query(
    query: Iterable[str], known: Iterable[str]
) -> tuple[dict[str, str | None], tuple[str, ...]]:
    """Known parameters by name (None: given without ``=``) and the other items verbatim."""
    names = frozenset(known)
    params: dict[str, str | None] = {}
    extra = []
    for item in query:
        name, eq, value = item.partition("=")
        if name not in names:
            extra.append(item)
        elif name in params:
            raise OperationError(Code.BAD_REQUEST, f"parameter {name} given twice")
        else:
            params[name] = value if eq else None
    return params, tuple(extra)


def require_value(params: Mapping[str, str | None], name: str) -> str | None:
    """The value of ``name`` if given; 4.00 when it was given without one."""
    if name in params and params[name] is None:
        raise OperationError(Code.BAD_REQUEST, f"parameter {name} needs a value")
    return params.get(name)


def parse_endpoint(text: str | None) -> str:
    """Endpoint names are free text (``urn:imei:..``, ``urn:imsi:..``, ``user@realm``), bounded."""
    if not text:
        raise OperationError(Code.BAD_REQUEST, "missing endpoint client name (ep)")
    if len(text.encode()) > MAX_ENDPOINT_LENGTH:
        raise OperationError(Code.BAD_REQUEST, f"endpoint name over {MAX_ENDPOINT_LENGTH} bytes")
    if not text.isprintable():
        raise OperationError(Code.BAD_REQUEST, f"endpoint name {text!r:.60} has control characters")
    return text


def parse_lifetime(text: str | None) -> int | None:
    if text is None:
        return None
    # 0 would mean a registration that never expires: a device that vanishes would then be
    # held forever, so the registration interface refuses it like any other nonsense.
    if (
        not (text.isascii() and text.isdigit())
        or len(text) > 10
        or not 0 < int(text) <= MAX_LIFETIME
    ):
        raise OperationError(Code.BAD_REQUEST, f"lifetime lt={text!r:.20} is not 1..{MAX_LIFETIME}")
    return int(text)


def parse_version(text: str | None) -> str:
    """The client's LwM2M version; absent means 1.0 (Core 6.2.1 for 1.0 clients)."""
    if text is None:
        return "1.0"
    if not _VERSION.fullmatch(text):
        raise OperationError(Code.BAD_REQUEST, f"bad LwM2M version {text!r:.20}")
    if text not in SUPPORTED_VERSIONS:
        raise OperationError(Code.PRECONDITION_FAILED, f"LwM2M version {text} is not supported")
    return text


def parse_binding(text: str | None) -> str | None:
    if text is not None and (
        not text or not set(text) <= BINDING_LETTERS or len(set(text)) != len(text)
    ):
        raise OperationError(Code.BAD_REQUEST, f"bad binding mode b={text!r:.20}")
    return text


def parse_sms(text: str | None) -> str | None:
    if text is not None and not _MSISDN.fullmatch(text):
        raise OperationError(Code.BAD_REQUEST, f"bad MSISDN sms={text!r:.20}")
    return text


def parse_format_number(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or int(text) > 0xFFFF:
        raise OperationError(Code.BAD_REQUEST, f"bad content format {text!r:.20}")
    return int(text)
