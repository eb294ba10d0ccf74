"""The CoAP message and its RFC 7252 §3 datagram encoding."""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from lwm2m.coap.codes import CODES, Code, Type
from lwm2m.coap.errors import InvalidMessageError, MessageFormatError
from lwm2m.coap.options import EMPTY_OPTIONS, Options, decode_options

MAX_TOKEN_LENGTH = 8

_HEADER = struct.Struct("!BBH")
_TYPES = tuple(Type)


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """One CoAP message; ``type`` and ``message_id`` mean nothing over RFC 8323 transports.

    Construction checks every field (ints become ``Type``/``Code``) and fills the slots
    directly: every response is built here, so the checks are ordered to cost little when
    the fields are already the right types.
    """

    type: Type
    code: Code
    message_id: int
    token: bytes
    options: Options
    payload: bytes

    def __init__(  # noqa: PLR0917  # the six fields, positional as the dataclass had them
        self,
        type: Type,  # the field's name, for keywords and dataclasses.replace
        code: Code,
        message_id: int = 0,
        token: bytes = b"",
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
    ) -> None:
        if type.__class__ is not Type or code.__class__ is not Code:
            try:
                type, code = Type(type), Code(code)
            except ValueError as error:
                raise InvalidMessageError(str(error)) from None
        if not isinstance(message_id, int) or not 0 <= message_id <= 0xFFFF:
            raise InvalidMessageError(f"message ID {message_id!r} is not 0..65535")
        if not isinstance(token, bytes) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidMessageError(f"token {token!r} is not 0..8 bytes")
        if not isinstance(options, Options):
            raise InvalidMessageError(f"options {options!r} are not an Options")
        if not isinstance(payload, bytes):
            raise InvalidMessageError(f"payload {payload!r} is not bytes")
        if not code and (token or options or payload):
            raise InvalidMessageError("an Empty message has no token, options or payload")
        _set_class(self, _Draft)
        _fill(self, type, code, message_id, token, options, payload)

    def encode(self) -> bytes:
        """The datagram (RFC 7252 §3)."""
        token = self.token
        head = _HEADER.pack(0x40 | self.type << 4 | len(token), self.code, self.message_id)
        if self.payload:
            return b"".join((head, token, self.options.encode(), b"\xff", self.payload))
        return head + token + self.options.encode()

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Message:
        """Parse a datagram; anything malformed raises :class:`MessageFormatError`.

        Known options are checked as :func:`~lwm2m.coap.options.decode_options` describes;
        unknown ones are kept, and :meth:`Options.unknown_critical` lists the critical ones.
        """
        if type(data) is not bytes:
            data = bytes(data)
        if len(data) < 4:
            raise MessageFormatError("shorter than the 4-byte header", offset=len(data))
        first, code_value, message_id = _HEADER.unpack_from(data)
        code = CODES[code_value]
        type_, pos = _FIRST_BYTES[first]
        if pos > len(data) or (code_value == 0 and len(data) > 4):
            _refuse_header(data, first, code, message_id)
        return decode_body(data, pos, type_, code, message_id, data[4:pos], True)


def _refuse_header(data: bytes, first: int, code: Code, message_id: int) -> NoReturn:
    """Say what is wrong with a header that :data:`_FIRST_BYTES` or an Empty code refused."""
    if first >> 6 != 1:
        # RFC 7252 §3: silently ignored, so no header fields to answer with.
        raise MessageFormatError(f"CoAP version {first >> 6}", offset=0)
    type_ = _TYPES[first >> 4 & 0x03]
    token_length = first & 0x0F
    if token_length > MAX_TOKEN_LENGTH:
        raise MessageFormatError(
            f"token length {token_length} is reserved",
            offset=0,
            message_id=message_id,
            type=type_,
            code=code,
        )
    pos = 4 + token_length
    if len(data) < pos:
        raise MessageFormatError(
            "token runs past the end",
            offset=len(data),
            message_id=message_id,
            type=type_,
            code=code,
        )
    raise MessageFormatError(
        "Empty message with bytes after the header",
        offset=4,
        message_id=message_id,
        type=type_,
        code=code,
        token=data[4:pos],
    )


_FIRST_BYTES = tuple(
    (
        _TYPES[first >> 4 & 0x03],
        4 + (first & 0x0F) if first >> 6 == 1 and first & 0x0F <= MAX_TOKEN_LENGTH else sys.maxsize,
    )
    for first in range(256)
)
"""By first header byte: the type and where the options start, that offset past any data for
a version other than 1 or a reserved token length, so one comparison catches all three."""


def decode_body(  # noqa: PLR0917  # the header fields, as both framings have them
    data: bytes,
    pos: int,
    type_: Type,
    code: Code,
    message_id: int,
    token: bytes,
    check: bool,
) -> Message:
    """Options and payload from ``data[pos:]`` into a Message; shared by both framings.

    Errors carry the header fields given here. The result skips ``__init__``'s checks:
    everything in it is valid by construction, and they would cost as much as the parse.
    """
    try:
        options, pos = decode_options(data, pos, check=check)
    except MessageFormatError as error:
        error.message_id, error.type, error.code, error.token = message_id, type_, code, token
        raise
    payload = data[pos + 1 :] if pos < len(data) else b""
    return _fill(_Draft(), type_, code, message_id, token, options, payload)


class _Draft:
    """Message's slot layout without its frozen ``__setattr__``: plain stores fill the slots
    (with the class switch, half the cost of six descriptor calls), then the object becomes
    the Message it always had the layout of."""

    __slots__ = Message.__slots__


def _fill(  # noqa: PLR0917  # the six fields, in Message's order
    draft: Any,
    type_: Type,
    code: Code,
    message_id: int,
    token: bytes,
    options: Options,
    payload: bytes,
) -> Message:
    """Fill a _Draft's slots and make it the Message: both ``__init__`` and the decoder."""
    draft.type = type_
    draft.code = code
    draft.message_id = message_id
    draft.token = token
    draft.options = options
    draft.payload = payload
    draft.__class__ = Message
    return draft  # type: ignore[no-any-return]


_set_class = object.__dict__["__class__"].__set__
"""``__class__`` assignment past the frozen ``__setattr__``."""
