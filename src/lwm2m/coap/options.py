"""Options: numbers, formats, the Block value and the immutable option list (RFC 7252 §3.1, §5.4).

Values stay raw bytes as they came off the wire and are interpreted only by the typed accessors,
so an option nobody asks about costs one slice. The decoder checks each known option against the
format table when the message arrives, which makes those accessors total on received messages.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from lwm2m.coap.errors import BadOptionError, InvalidMessageError, MessageFormatError

if TYPE_CHECKING:
    from typing_extensions import Unpack

MAX_OPTION_NUMBER = 0xFFFF
MAX_OPTION_LENGTH = 0xFFFF + 269
"""The longest value the extended length field can express (RFC 7252 §3.1)."""


class OptionNumber(IntEnum):
    IF_MATCH = 1
    URI_HOST = 3
    ETAG = 4
    IF_NONE_MATCH = 5
    OBSERVE = 6
    URI_PORT = 7
    LOCATION_PATH = 8
    OSCORE = 9
    URI_PATH = 11
    CONTENT_FORMAT = 12
    MAX_AGE = 14
    URI_QUERY = 15
    ACCEPT = 17
    LOCATION_QUERY = 20
    BLOCK2 = 23
    BLOCK1 = 27
    SIZE2 = 28
    PROXY_URI = 35
    PROXY_SCHEME = 39
    SIZE1 = 60
    ECHO = 252
    NO_RESPONSE = 258
    REQUEST_TAG = 292

    @classmethod
    def _missing_(cls, value: object) -> OptionNumber | None:
        if type(value) is not int or not 0 <= value <= MAX_OPTION_NUMBER:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"OPTION_{value}"
        member._value_ = value
        return cls._value2member_map_.setdefault(value, member)  # type: ignore[return-value]

    @property
    def critical(self) -> bool:
        return bool(self & 0x01)

    @property
    def unsafe(self) -> bool:
        return bool(self & 0x02)

    @property
    def no_cache_key(self) -> bool:
        return self & 0x1E == 0x1C

    @property
    def known(self) -> bool:
        return self in OPTION_SPECS

    @property
    def repeatable(self) -> bool:
        """False for unknown numbers: nothing defines them as repeatable."""
        spec = OPTION_SPECS.get(self)
        return spec is not None and spec.repeatable


class OptionFormat(Enum):
    EMPTY = "empty"
    OPAQUE = "opaque"
    UINT = "uint"
    STRING = "string"


class OptionSpec(NamedTuple):
    format: OptionFormat
    min_length: int
    max_length: int
    repeatable: bool = False


_E, _O, _U, _S = OptionFormat.EMPTY, OptionFormat.OPAQUE, OptionFormat.UINT, OptionFormat.STRING
_N = OptionNumber

OPTION_SPECS: dict[int, OptionSpec] = {
    # RFC 7252 Table 4
    _N.IF_MATCH: OptionSpec(_O, 0, 8, repeatable=True),
    _N.URI_HOST: OptionSpec(_S, 1, 255),
    _N.ETAG: OptionSpec(_O, 1, 8, repeatable=True),
    _N.IF_NONE_MATCH: OptionSpec(_E, 0, 0),
    _N.URI_PORT: OptionSpec(_U, 0, 2),
    _N.LOCATION_PATH: OptionSpec(_S, 0, 255, repeatable=True),
    _N.URI_PATH: OptionSpec(_S, 0, 255, repeatable=True),
    _N.CONTENT_FORMAT: OptionSpec(_U, 0, 2),
    _N.MAX_AGE: OptionSpec(_U, 0, 4),
    _N.URI_QUERY: OptionSpec(_S, 0, 255, repeatable=True),
    _N.ACCEPT: OptionSpec(_U, 0, 2),
    _N.LOCATION_QUERY: OptionSpec(_S, 0, 255, repeatable=True),
    _N.PROXY_URI: OptionSpec(_S, 1, 1034),
    _N.PROXY_SCHEME: OptionSpec(_S, 1, 255),
    _N.SIZE1: OptionSpec(_U, 0, 4),
    # RFC 7641 §2, RFC 7959 §2.1 and §4, RFC 8613 §2, RFC 9175 §2.2.1 and §3.2.1, RFC 7967 §2
    _N.OBSERVE: OptionSpec(_U, 0, 3),
    _N.BLOCK2: OptionSpec(_U, 0, 3),
    _N.BLOCK1: OptionSpec(_U, 0, 3),
    _N.SIZE2: OptionSpec(_U, 0, 4),
    _N.OSCORE: OptionSpec(_O, 0, 255),
    _N.ECHO: OptionSpec(_O, 1, 40),
    _N.REQUEST_TAG: OptionSpec(_O, 0, 8, repeatable=True),
    _N.NO_RESPONSE: OptionSpec(_U, 0, 1),
}


@dataclass(frozen=True, slots=True)
class Block:
    """A Block1/Block2 value (RFC 7959 §2.2); SZX 7 is BERT over reliable transports (RFC 8323)."""

    num: int
    more: bool
    szx: int

    def __post_init__(self) -> None:
        if not 0 <= self.num < 1 << 20 or not 0 <= self.szx <= 7:
            raise InvalidMessageError(f"block NUM {self.num} / SZX {self.szx} out of range")

    @property
    def size(self) -> int:
        """Bytes per block; BERT (SZX 7) counts offsets in 1024-byte units (RFC 8323 §6)."""
        return 1024 if self.szx == 7 else 16 << self.szx

    @property
    def offset(self) -> int:
        return self.num * self.size

    def to_uint(self) -> int:
        return self.num << 4 | self.more << 3 | self.szx

    @classmethod
    def from_uint(cls, value: int) -> Block:
        if not 0 <= value < 1 << 24:
            raise InvalidMessageError(f"block option value {value} does not fit 3 bytes")
        return cls(value >> 4, bool(value & 0x08), value & 0x07)


def uint_bytes(value: int) -> bytes:
    """Minimal big-endian encoding; zero is the empty string (RFC 7252 §3.2)."""
    return value.to_bytes((value.bit_length() + 7) >> 3, "big")


class OptionFields(TypedDict, total=False):
    """Keyword arguments of :meth:`Options.build` and :meth:`Options.replace`."""

    uri_path: Iterable[str]
    uri_query: Iterable[str]
    location_path: Iterable[str]
    location_query: Iterable[str]
    content_format: int | None
    accept: int | None
    observe: int | None
    block1: Block | None
    block2: Block | None
    size1: int | None
    size2: int | None
    etags: Iterable[bytes]
    if_match: Iterable[bytes]
    if_none_match: bool
    max_age: int | None
    uri_host: str | None
    uri_port: int | None
    proxy_uri: str | None
    proxy_scheme: str | None
    oscore: bytes | None
    echo: bytes | None
    request_tag: bytes | None
    no_response: int | None
    extra: Iterable[tuple[int, bytes]]


class Options:
    """An immutable option list, sorted by number; repeated options keep their order."""

    __slots__ = ("_items", "_wire")
    _items: tuple[tuple[int, bytes], ...]
    _wire: bytes | None

    def __init__(self, items: Iterable[tuple[int, bytes]] = ()) -> None:
        checked = [_checked_item(number, value) for number, value in items]
        checked.sort(key=_number)  # stable, so repeats keep their order
        object.__setattr__(self, "_items", tuple(checked))
        object.__setattr__(self, "_wire", None)

    @classmethod
    def build(cls, **fields: Unpack[OptionFields]) -> Options:
        """Options from typed values; ``None``, ``()`` and ``False`` leave an option out.

        The keywords' items are checked as they are made, so they skip ``__init__``'s checks.
        """
        if len(fields) == 1:
            # A response's lone Content-Format, say: one item, so no list and no sort. A
            # sequence keyword, ``extra``, ``None`` or an unknown name takes the general path.
            [(name, value)] = fields.items()
            field = _FIELDS.get(name)
            if field is not None and not field[4] and value is not None:
                number, convert, low, high, _ = field
                raw = convert(value)
                if not isinstance(raw, bytes) or not low <= len(raw) <= high:
                    raise _bad_length(name, value, raw, low, high)
                return _made(((number, raw),))
        items = _fields_to_items(fields)
        if len(items) > 1:
            items.sort(key=_number)  # stable, so repeats keep their order
        return _made(tuple(items))

    def replace(self, **fields: Unpack[OptionFields]) -> Options:
        """A copy where each given option's values (all of them) become the given ones."""
        new = _fields_to_items(fields)
        numbers = {_FIELDS[name][0] for name in fields if name != "extra"}
        numbers.update(number for number, _ in new)
        return Options([item for item in self._items if item[0] not in numbers] + new)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Options is immutable; use replace()")

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Options):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Options({list(self._items)!r})"

    def get(self, number: int) -> bytes | None:
        """The first value of option ``number``."""
        for item_number, value in self._items:
            if item_number == number:
                return value
        return None

    def get_all(self, number: int) -> tuple[bytes, ...]:
        return tuple(value for item_number, value in self._items if item_number == number)

    def unknown_critical(self, known: Container[int] = OPTION_SPECS) -> tuple[int, ...]:
        """Critical option numbers outside ``known``: grounds for 4.02 (RFC 7252 §5.4.1)."""
        return tuple(
            dict.fromkeys(number for number, _ in self._items if number & 1 and number not in known)
        )

    def encode(self) -> bytes:
        """The option run of a message (RFC 7252 §3.1), computed once per instance."""
        wire = self._wire
        if wire is None:
            wire = _encode_items(self._items)
            _set_wire(self, wire)
        return wire

    def _uint(self, number: int) -> int | None:
        value = self.get(number)
        return None if value is None else int.from_bytes(value, "big")

    def _string(self, number: int) -> str | None:
        value = self.get(number)
        return None if value is None else value.decode()

    def _strings(self, number: int) -> tuple[str, ...]:
        return tuple(value.decode() for item_number, value in self._items if item_number == number)

    def _block(self, number: int) -> Block | None:
        value = self._uint(number)
        return None if value is None else Block.from_uint(value)

    @property
    def uri_host(self) -> str | None:
        return self._string(OptionNumber.URI_HOST)

    @property
    def uri_port(self) -> int | None:
        return self._uint(OptionNumber.URI_PORT)

    @property
    def uri_path(self) -> tuple[str, ...]:
        return self._strings(OptionNumber.URI_PATH)

    @property
    def uri_query(self) -> tuple[str, ...]:
        return self._strings(OptionNumber.URI_QUERY)

    @property
    def location_path(self) -> tuple[str, ...]:
        return self._strings(OptionNumber.LOCATION_PATH)

    @property
    def location_query(self) -> tuple[str, ...]:
        return self._strings(OptionNumber.LOCATION_QUERY)

    @property
    def proxy_uri(self) -> str | None:
        return self._string(OptionNumber.PROXY_URI)

    @property
    def proxy_scheme(self) -> str | None:
        return self._string(OptionNumber.PROXY_SCHEME)

    @property
    def content_format(self) -> int | None:
        return self._uint(OptionNumber.CONTENT_FORMAT)

    @property
    def accept(self) -> int | None:
        return self._uint(OptionNumber.ACCEPT)

    @property
    def observe(self) -> int | None:
        return self._uint(OptionNumber.OBSERVE)

    @property
    def max_age(self) -> int:
        """Seconds a response stays fresh; 60 when absent (RFC 7252 §5.10.5)."""
        value = self._uint(OptionNumber.MAX_AGE)
        return 60 if value is None else value

    @property
    def block1(self) -> Block | None:
        return self._block(OptionNumber.BLOCK1)

    @property
    def block2(self) -> Block | None:
        return self._block(OptionNumber.BLOCK2)

    @property
    def size1(self) -> int | None:
        return self._uint(OptionNumber.SIZE1)

    @property
    def size2(self) -> int | None:
        return self._uint(OptionNumber.SIZE2)

    @property
    def etags(self) -> tuple[bytes, ...]:
        return self.get_all(OptionNumber.ETAG)

    @property
    def if_match(self) -> tuple[bytes, ...]:
        return self.get_all(OptionNumber.IF_MATCH)

    @property
    def if_none_match(self) -> bool:
        return self.get(OptionNumber.IF_NONE_MATCH) is not None

    @property
    def oscore(self) -> bytes | None:
        return self.get(OptionNumber.OSCORE)

    @property
    def echo(self) -> bytes | None:
        return self.get(OptionNumber.ECHO)

    @property
    def request_tag(self) -> bytes | None:
        return self.get(OptionNumber.REQUEST_TAG)

    @property
    def no_response(self) -> int | None:
        return self._uint(OptionNumber.NO_RESPONSE)


def _number(item: tuple[int, bytes]) -> int:
    return item[0]


def _checked_item(number: int, value: bytes) -> tuple[int, bytes]:
    if not isinstance(number, int) or isinstance(number, bool):
        raise InvalidMessageError(f"option number {number!r} is not an int")
    if not 0 <= number <= MAX_OPTION_NUMBER:
        raise InvalidMessageError(f"option number {number} out of range")
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidMessageError(f"option {number} value {value!r} is not bytes")
    if len(value) > MAX_OPTION_LENGTH:
        raise InvalidMessageError(f"option {number} value of {len(value)} bytes is too long")
    return int(number), bytes(value)


def _strings(values: Iterable[str]) -> list[bytes]:
    if isinstance(values, str):
        raise InvalidMessageError(f"{values!r}: give a sequence of segments, not one string")
    return [value.encode() for value in values]


def _string(value: str) -> bytes:
    return value.encode()


def _uint(value: int) -> bytes:
    if value.__class__ is not int and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidMessageError(f"{value!r} is not an unsigned integer")
    if value < 0:
        raise InvalidMessageError(f"{value!r} is not an unsigned integer")
    return value.to_bytes((value.bit_length() + 7) >> 3, "big")  # uint_bytes, one call less


def _block(value: Block) -> bytes:
    return uint_bytes(value.to_uint())


def _opaques(values: Iterable[bytes]) -> list[bytes]:
    if isinstance(values, bytes | bytearray):
        raise InvalidMessageError(f"{values!r}: give a sequence of values, not one bytes")
    return [bytes(value) for value in values]


def _opaque(value: bytes) -> bytes:
    return bytes(value)


def _flag(value: bool) -> list[bytes]:
    return [b""] if value else []


_Converter = Callable[[Any], bytes | list[bytes]]
"""A keyword's value to its option value, or to the list of them for a sequence keyword."""
_MANY = (_strings, _opaques, _flag)

_CONVERTERS: dict[str, tuple[int, _Converter]] = {
    "uri_path": (_N.URI_PATH, _strings),
    "uri_query": (_N.URI_QUERY, _strings),
    "location_path": (_N.LOCATION_PATH, _strings),
    "location_query": (_N.LOCATION_QUERY, _strings),
    "content_format": (_N.CONTENT_FORMAT, _uint),
    "accept": (_N.ACCEPT, _uint),
    "observe": (_N.OBSERVE, _uint),
    "block1": (_N.BLOCK1, _block),
    "block2": (_N.BLOCK2, _block),
    "size1": (_N.SIZE1, _uint),
    "size2": (_N.SIZE2, _uint),
    "etags": (_N.ETAG, _opaques),
    "if_match": (_N.IF_MATCH, _opaques),
    "if_none_match": (_N.IF_NONE_MATCH, _flag),
    "max_age": (_N.MAX_AGE, _uint),
    "uri_host": (_N.URI_HOST, _string),
    "uri_port": (_N.URI_PORT, _uint),
    "proxy_uri": (_N.PROXY_URI, _string),
    "proxy_scheme": (_N.PROXY_SCHEME, _string),
    "oscore": (_N.OSCORE, _opaque),
    "echo": (_N.ECHO, _opaque),
    "request_tag": (_N.REQUEST_TAG, _opaque),
    "no_response": (_N.NO_RESPONSE, _uint),
}
_FIELDS: dict[str, tuple[int, _Converter, int, int, bool]] = {
    name: (
        number,
        convert,
        OPTION_SPECS[number].min_length,
        OPTION_SPECS[number].max_length,
        convert in _MANY,
    )
    for name, (number, convert) in _CONVERTERS.items()
}
"""Keyword -> option number, converter, the value's length limits and whether it is a
sequence keyword (its converter returns a list)."""


def _fields_to_items(fields: OptionFields) -> list[tuple[int, bytes]]:
    """The items the keywords stand for, checked locally."""
    items: list[tuple[int, bytes]] = []
    for name, value in fields.items():
        field = _FIELDS.get(name)
        if field is None:
            if name != "extra":
                raise TypeError(f"unknown option keyword {name!r}")
            items += [_checked_item(number, raw) for number, raw in value]  # type: ignore[attr-defined]
            continue
        if value is None:
            continue
        number, convert, low, high, _ = field
        converted = convert(value)
        for raw in (converted,) if isinstance(converted, bytes) else converted:
            if not low <= len(raw) <= high:
                raise _bad_length(name, value, raw, low, high)
            items.append((number, raw))
    return items


def _bad_length(
    name: str, value: object, raw: bytes | list[bytes], low: int, high: int
) -> InvalidMessageError:
    return InvalidMessageError(f"{name}={value!r} needs {len(raw)} bytes, outside {low}..{high}")


def _encode_items(items: tuple[tuple[int, bytes], ...]) -> bytes:
    if len(items) == 1 and items[0][0] < 13 and len(items[0][1]) < 13:
        # A response's lone Content-Format, say: one header byte, no bytearray.
        number, value = items[0]
        return _BYTES[number << 4 | len(value)] + value
    out = bytearray()
    previous = 0
    for number, value in items:
        delta = number - previous
        previous = number
        length = len(value)
        if delta < 13 and length < 13:
            out.append(delta << 4 | length)
        else:
            delta_nibble, delta_ext = _extended(delta)
            length_nibble, length_ext = _extended(length)
            out.append(delta_nibble << 4 | length_nibble)
            out += delta_ext
            out += length_ext
        out += value
    return bytes(out)


def _extended(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    return 14, (value - 269).to_bytes(2, "big")


EMPTY_OPTIONS = Options()

# The decoder's view of OPTION_SPECS, indexed by number below _TABLE_SIZE:
# (min length, max length, repeatable, is string) or None for numbers without a spec.
_TABLE_SIZE = max(OPTION_SPECS) + 1
_TABLE = tuple(
    None if spec is None else (spec.min_length, spec.max_length, spec.repeatable, spec.format is _S)
    for spec in map(OPTION_SPECS.get, range(_TABLE_SIZE))
)
_SHORT_HEADS = tuple(
    (head >> 4, head & 0x0F) if head >> 4 < 13 and head & 0x0F < 13 else (-1, 0)
    for head in range(256)
)
"""By option header byte: its delta and length, or (-1, 0) when a nibble needs more bytes or
the byte is the payload marker."""
_BYTES = tuple(bytes((byte,)) for byte in range(256))
_set_wire = Options.__dict__["_wire"].__set__


class _Draft:
    """Options' slot layout without its ``__setattr__``: plain stores fill the slots, then
    the object becomes the Options it always had the layout of."""

    __slots__ = Options.__slots__


def _made(items: tuple[tuple[int, bytes], ...], wire: bytes | None = None) -> Options:
    """Options from items known to be valid and sorted (and their wire form, if known)."""
    options: Any = _Draft()
    options._items, options._wire = items, wire
    options.__class__ = Options
    return options  # type: ignore[no-any-return]


def decode_options(data: bytes, pos: int, *, check: bool = True) -> tuple[Options, int]:
    """Parse the option run at ``data[pos:]``; return it and the offset just past it.

    The returned offset is ``len(data)`` or that of the payload marker. With ``check``, known
    options are held to RFC 7252 §5.4.3/§5.4.5: one that is too short, too long, not UTF-8 or
    repeated without being repeatable is "unrecognized", which raises :class:`BadOptionError`
    if it is critical and drops it if it is elective. Signals (RFC 8323 §5) pass ``check=False``
    because their option numbers mean something else.
    """
    end = len(data)
    start = pos
    items: list[tuple[int, bytes]] = []
    number = 0
    dropped = False
    try:
        while pos < end:
            delta, length = _SHORT_HEADS[data[pos]]
            pos += 1
            if delta < 0:
                head = data[pos - 1]
                if head == 0xFF:
                    if pos == end:
                        raise MessageFormatError("payload marker without payload", offset=pos - 1)
                    pos -= 1
                    break
                delta, length, pos = _extended_header(data, pos, head >> 4, head & 0x0F)
            value = data[pos : pos + length]
            pos += length
            if pos > end:
                raise MessageFormatError("option value runs past the end", offset=pos - length)
            number += delta
            if check and number < _TABLE_SIZE and (limits := _TABLE[number]) is not None:
                low, high, repeatable, is_string = limits
                if (
                    length < low
                    or length > high
                    or (not delta and not repeatable and items and items[-1][0] == number)
                    or (is_string and not value.isascii() and not is_utf8(value))
                ):
                    if number & 1:
                        raise BadOptionError(
                            f"option {number} is malformed or repeated",
                            option=number,
                            offset=pos - length,
                        )
                    dropped = True
                    continue
            items.append((number, value))  # faster than a bound ``append`` on 3.11
    except IndexError:
        raise MessageFormatError("option header runs past the end", offset=end) from None
    if number > MAX_OPTION_NUMBER:
        raise MessageFormatError(f"option number {number} out of range", offset=pos)
    if not items:
        return EMPTY_OPTIONS, pos
    return _made(tuple(items), None if dropped else data[start:pos]), pos


def _extended_header(data: bytes, pos: int, delta: int, length: int) -> tuple[int, int, int]:
    """Delta and length of an option whose nibbles need extension bytes (RFC 7252 §3.1)."""
    if delta == 13:
        delta = data[pos] + 13
        pos += 1
    elif delta == 14:
        delta = (data[pos] << 8 | data[pos + 1]) + 269
        pos += 2
    elif delta == 15:
        raise MessageFormatError("option delta nibble 15 is reserved", offset=pos - 1)
    if length == 13:
        length = data[pos] + 13
        pos += 1
    elif length == 14:
        length = (data[pos] << 8 | data[pos + 1]) + 269
        pos += 2
    elif length == 15:
        raise MessageFormatError("option length nibble 15 is reserved", offset=pos - 1)
    return delta, length, pos


def is_utf8(value: bytes) -> bool:
    """Whether a string-format value is valid (RFC 7252 §3.2 asks for UTF-8)."""
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True
