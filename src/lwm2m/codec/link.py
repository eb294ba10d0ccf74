"""CoRE Link Format (content format 40, RFC 6690 §2) as LwM2M uses it: Register, Discover.

Strict RFC 6690 syntax, no whitespace between elements: ``<target>`` then ``;name`` or
``;name=value`` parameters, links separated by ``,``.  A value is a ptoken or a quoted-string
whose quoted-pairs escape a visible character or a space (RFC 7230 §3.2.6: RFC 2616 also let
them escape control characters, which have no place in a link and which we never write);
attributes keep their order and may repeat.  Whatever parses formats again to text that parses
to the same links, unless quoting the ``rt``/``if``/... ptokens pushes it past MAX_TEXT.
Parsing is one left-to-right pass of anchored regular expressions, linear in the input, and
refuses texts over :data:`MAX_TEXT` characters, more than :data:`MAX_LINKS` links or
:data:`MAX_ATTRIBUTES` attributes on one link.  Errors are :class:`DecodeError` with the
offset of the fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.model import Path, PathError

MAX_TEXT = 1 << 20
MAX_LINKS = 10_000
MAX_ATTRIBUTES = 64

QUOTED_ATTRIBUTES = frozenset(("rt", "if", "rel", "rev", "title", "anchor"))
"""Written quoted even when a bare ptoken would do, as RFC 6690's examples and LwM2M's
``rt="oma.lwm2m"`` do (title and anchor must be quoted)."""

_URI = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
_PARMNAME = r"[A-Za-z0-9!#$&+\-.^_`|~]+\*?"
_PTOKEN = r"[!#$%&'()*+\-./0-9:<=>?@A-Z\[\]^_`a-z{|}~]+"
_QUOTED = r'"((?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*)"'
_TARGET_RE = re.compile(rf"<({_URI})>")
_PARAM_RE = re.compile(rf";({_PARMNAME})(?:=(?:{_QUOTED}|({_PTOKEN})))?")
_URI_RE = re.compile(_URI)
_PARMNAME_RE = re.compile(_PARMNAME)
_PTOKEN_RE = re.compile(_PTOKEN)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_BAD_IN_QUOTES_RE = re.compile(r"[\x00-\x1f\x7f]")

Attribute = tuple[str, str | None]


class LinkAttributes(tuple[Attribute, ...]):
    """A link's ``(name, value)`` parameters in order (value None: a bare ``;name``).

    Also answers by name, like a mapping: ``get`` and ``in`` use the first of that name.
    """

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self:
            if key == name:
                return value
        return default

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self)


@dataclass(frozen=True, slots=True, init=False)
class Link:
    """One link-value: its target URI-reference and its parameters."""

    target: str
    attributes: LinkAttributes

    def __init__(
        self,
        target: str,
        attributes: Mapping[str, str | None] | Iterable[Attribute] = (),
    ) -> None:
        pairs = attributes.items() if isinstance(attributes, Mapping) else attributes
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "attributes", LinkAttributes(pairs))

    def __str__(self) -> str:
        return format_links([self])

    def to_json(self) -> dict[str, object]:
        """``{"target": "/3/0", "attributes": {"ver": "1.1"}}``: how the CLI and APIs show it."""
        return {"target": self.target, "attributes": dict(self.attributes)}


def parse_links(text: str) -> list[Link]:
    """Parse a link-format document; DecodeError (with a character offset) when malformed."""
    if len(text) > MAX_TEXT:
        raise DecodeError(f"link format of {len(text)} characters exceeds {MAX_TEXT}")
    links: list[Link] = []
    pos, end = 0, len(text)
    while pos < end:
        if len(links) == MAX_LINKS:
            raise DecodeError(f"more than {MAX_LINKS} links", offset=pos)
        target = _TARGET_RE.match(text, pos)
        if target is None:
            raise DecodeError("expected '<' URI-reference '>'", offset=pos)
        pos = target.end()
        attributes: list[Attribute] = []
        while pos < end and text[pos] == ";":
            param = _PARAM_RE.match(text, pos)
            if param is None:
                raise DecodeError("expected a parameter name after ';'", offset=pos + 1)
            if len(attributes) == MAX_ATTRIBUTES:
                raise DecodeError(f"more than {MAX_ATTRIBUTES} attributes on a link", offset=pos)
            name, quoted, token = param.groups()
            if quoted is not None:
                value: str | None = _QUOTED_PAIR_RE.sub(r"\1", quoted) if "\\" in quoted else quoted
            else:
                value = token
            attributes.append((name, value))
            pos = param.end()
            if value is None and text.startswith("=", pos):
                raise DecodeError(f"malformed value of parameter {name!r:.40}", offset=pos)
        links.append(Link(target[1], attributes))
        if pos < end:
            if text[pos] != ",":
                raise DecodeError("expected ',' or ';' after a link", offset=pos)
            pos += 1
            if pos == end:
                raise DecodeError("a ',' must be followed by a link", offset=pos)
    return links


def format_links(links: Iterable[Link]) -> str:
    """Serialize links (the inverse of :func:`parse_links`); EncodeError for what has no form."""
    return ",".join(_format_link(link) for link in links)


def _format_link(link: Link) -> str:
    if _URI_RE.fullmatch(link.target) is None:
        raise EncodeError(f"link target {link.target!r:.60} is not a URI-reference")
    parts = [f"<{link.target}>"]
    for name, value in link.attributes:
        if _PARMNAME_RE.fullmatch(name) is None:
            raise EncodeError(f"{name!r:.40} is not a link parameter name")
        if value is None:
            parts.append(f";{name}")
        elif name not in QUOTED_ATTRIBUTES and _PTOKEN_RE.fullmatch(value) is not None:
            parts.append(f";{name}={value}")
        elif _BAD_IN_QUOTES_RE.search(value) is None:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f';{name}="{escaped}"')
        else:
            raise EncodeError(f"{name} value {value!r:.40} has control characters")
    return "".join(parts)


class LinkFormatCodec(Codec):
    """Links (Register, Discover) and LwM2M path lists as ``</3/0/1>,</1/0>``."""

    content_format = ContentFormat.LINK

    def decode_links(self, payload: bytes) -> list[Link]:
        """Parse a payload; DecodeError offsets count bytes."""
        if len(payload) > MAX_TEXT:
            raise DecodeError(f"link format of {len(payload)} bytes exceeds {MAX_TEXT}")
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("link format is not UTF-8", offset=exc.start) from None
        try:
            return parse_links(text)
        except DecodeError as exc:
            if exc.offset is None or text.isascii():
                raise
            byte_offset = len(text[: exc.offset].encode("utf-8"))
            raise DecodeError(exc.message, offset=byte_offset) from None

    def encode_links(self, links: Iterable[Link]) -> bytes:
        """The links as UTF-8; EncodeError past MAX_TEXT bytes, which no parser here reads."""
        payload = format_links(links).encode("utf-8")
        if len(payload) > MAX_TEXT:
            raise EncodeError(f"link format of {len(payload)} bytes exceeds {MAX_TEXT}")
        return payload

    def encode_paths(self, paths: Sequence[Path]) -> bytes:
        return self.encode_links(Link(str(path)) for path in paths)

    def decode_paths(self, payload: bytes) -> list[Path]:
        """The targets of a link list, each of which must be an LwM2M path (attributes ignored)."""
        paths = []
        for link in self.decode_links(payload):
            try:
                paths.append(Path.parse(link.target))
            except PathError as exc:
                raise DecodeError(str(exc)) from None
        return paths
