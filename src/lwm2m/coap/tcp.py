"""CoAP over reliable transports (RFC 8323): stream framing and the 7.xx signals.

There is no message type or ID on the wire. Decoded messages get ``Type.NON`` and message ID 0:
the transport already acknowledges, so nothing at the CoAP layer may ever be ACKed or retransmitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from lwm2m.coap.codes import CODES, Code, Type
from lwm2m.coap.errors import BadOptionError, FramingError, InvalidMessageError, MessageFormatError
from lwm2m.coap.message import MAX_TOKEN_LENGTH, Message, decode_body
from lwm2m.coap.options import Options, is_utf8, uint_bytes

DEFAULT_MAX_MESSAGE_SIZE = 1152
"""What a peer may assume before a CSM says otherwise (RFC 8323 §5.3.1)."""

_MAX_FRAME_BODY = 65805 + 0xFFFFFFFF
_EXTENSION_BYTES = {13: 1, 14: 2, 15: 4}
_EXTENSION_OFFSET = {13: 13, 14: 269, 15: 65805}

# Signal option numbers are scoped to their signal code (RFC 8323 §5.3-§5.6).
MAX_MESSAGE_SIZE = 2  # 7.01 CSM
BLOCK_WISE_TRANSFER = 4  # 7.01 CSM
CUSTODY = 2  # 7.02 Ping, 7.03 Pong
ALTERNATIVE_ADDRESS = 2  # 7.04 Release
HOLD_OFF = 4  # 7.04 Release
BAD_CSM_OPTION = 2  # 7.05 Abort


def encode_tcp(message: Message) -> bytes:
    """One RFC 8323 §3.2 frame; the message's type and ID are not sent."""
    token = message.token
    body = message.options.encode()
    if message.payload:
        body = b"".join((body, b"\xff", message.payload))
    length = len(body)
    if length < 13:
        head = bytes((length << 4 | len(token), message.code))
    elif length < 269:
        head = bytes((0xD0 | len(token), length - 13, message.code))
    elif length < 65805:
        head = bytes((0xE0 | len(token), *(length - 269).to_bytes(2, "big"), message.code))
    elif length <= _MAX_FRAME_BODY:
        head = bytes((0xF0 | len(token), *(length - 65805).to_bytes(4, "big"), message.code))
    else:
        raise InvalidMessageError(f"{length} bytes of options and payload do not fit a frame")
    return b"".join((head, token, body))


class TcpFramer:
    """Reassembles messages from a byte stream, holding at most one partial frame.

    A frame that cannot be decoded but whose length was readable raises
    :class:`MessageFormatError` (or :class:`BadOptionError`) once; the stream stays in step, and
    messages decoded before it in the same :meth:`feed` are returned by the next call (``feed(b"")``
    will do). A frame whose length cannot be trusted, or exceeds ``max_message_size``, raises
    :class:`FramingError`, and so does every later call: the connection must be aborted.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size  # raise it once our CSM has announced more
        self._buffer = bytearray()
        self._pending: list[Message] = []
        self._failure: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        if self._failure is not None:
            raise FramingError(f"stream already failed: {self._failure}")
        buffer = self._buffer
        buffer += data
        messages, self._pending = self._pending, []
        pos = 0
        try:
            while (size := _frame_size(buffer, pos)) is not None:
                if size > self.max_message_size:
                    raise FramingError(
                        f"{size}-byte frame exceeds the {self.max_message_size}-byte limit"
                    )
                if len(buffer) - pos < size:
                    break
                frame = bytes(buffer[pos : pos + size])
                pos += size
                messages.append(_decode_frame(frame))
        except FramingError as error:
            self._failure = error.reason
            buffer.clear()
            raise
        except MessageFormatError:
            self._pending = messages
            del buffer[:pos]
            raise
        del buffer[:pos]
        return messages


def decode_tcp(frame: bytes) -> Message:
    """Decode exactly one complete frame (RFC 8323 §3.2)."""
    if _frame_size(frame, 0) != len(frame):
        raise FramingError("frame length does not match its Len field", offset=0)
    return _decode_frame(bytes(frame))


def _frame_size(buffer: bytes | bytearray, pos: int) -> int | None:
    """Size of the frame at ``pos``, None until its length bytes have arrived."""
    if len(buffer) <= pos:
        return None
    first = buffer[pos]
    if first & 0x0F > MAX_TOKEN_LENGTH:
        raise FramingError(f"token length {first & 0x0F} is reserved", offset=pos)
    nibble = first >> 4
    extension = _EXTENSION_BYTES.get(nibble)
    if extension is None:
        return 2 + (first & 0x0F) + nibble
    if len(buffer) < pos + 1 + extension:
        return None
    length = int.from_bytes(buffer[pos + 1 : pos + 1 + extension], "big")
    return 2 + extension + (first & 0x0F) + length + _EXTENSION_OFFSET[nibble]


def _decode_frame(frame: bytes) -> Message:
    """A frame whose size matches its Len field."""
    pos = 1 + _EXTENSION_BYTES.get(frame[0] >> 4, 0)
    code = CODES[frame[pos]]
    pos += 1
    if code == Code.EMPTY and len(frame) > pos:
        raise MessageFormatError("Empty message with token, options or payload", offset=pos)
    token_end = pos + (frame[0] & 0x0F)
    token = frame[pos:token_end]
    return decode_body(frame, token_end, Type.NON, code, 0, token, not code.is_signal)


# Signals (RFC 8323 §5). Every signal option defined so far is elective, so a malformed one
# is ignored; an unknown critical option makes the whole signal unusable.


def _signal_options(message: Message, code: Code, known: tuple[int, ...]) -> Options:
    if message.code != code:
        raise InvalidMessageError(f"{message.code} is not {code}")
    unknown = message.options.unknown_critical(known)
    if unknown:
        raise BadOptionError(
            f"{code} carries unknown critical option {unknown[0]}",
            option=unknown[0],
        )
    return message.options


def _signal_uint(options: Options, number: int, max_length: int) -> int | None:
    value = options.get(number)
    if value is None or len(value) > max_length:
        return None
    return int.from_bytes(value, "big")


def _signal_flag(options: Options, number: int) -> bool:
    return options.get(number) == b""


def _diagnostic(payload: bytes) -> str:
    return payload.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Csm:
    """7.01 Capabilities and Settings; ``None`` leaves the peer's current value alone."""

    max_message_size: int | None = None
    block_wise_transfer: bool = False

    def to_message(self) -> Message:
        items = [(BLOCK_WISE_TRANSFER, b"")] if self.block_wise_transfer else []
        if self.max_message_size is not None:
            items.append((MAX_MESSAGE_SIZE, _checked_uint(self.max_message_size, 4)))
        return Message(Type.NON, Code.CSM, options=Options(items))

    @classmethod
    def from_message(cls, message: Message) -> Csm:
        """Raises :class:`BadOptionError`; answer it with Abort(bad_csm_option=error.option)."""
        options = _signal_options(message, Code.CSM, (MAX_MESSAGE_SIZE, BLOCK_WISE_TRANSFER))
        return cls(
            _signal_uint(options, MAX_MESSAGE_SIZE, 4), _signal_flag(options, BLOCK_WISE_TRANSFER)
        )


@dataclass(frozen=True, slots=True)
class _Keepalive:
    """7.02 Ping and 7.03 Pong; a Pong answers with the Ping's token (RFC 8323 §5.4)."""

    code: ClassVar[Code]
    custody: bool = False
    token: bytes = b""

    def to_message(self) -> Message:
        options = Options([(CUSTODY, b"")] if self.custody else [])
        return Message(Type.NON, self.code, token=self.token, options=options)

    @classmethod
    def from_message(cls, message: Message) -> Self:
        options = _signal_options(message, cls.code, (CUSTODY,))
        return cls(_signal_flag(options, CUSTODY), message.token)


@dataclass(frozen=True, slots=True)
class Ping(_Keepalive):
    code: ClassVar[Code] = Code.PING


@dataclass(frozen=True, slots=True)
class Pong(_Keepalive):
    code: ClassVar[Code] = Code.PONG


@dataclass(frozen=True, slots=True)
class Release:
    """7.04 Release: the peer should reconnect, maybe elsewhere, maybe after a pause."""

    alternative_addresses: tuple[str, ...] = ()
    hold_off: int | None = None
    diagnostic: str = ""

    def to_message(self) -> Message:
        items = [(ALTERNATIVE_ADDRESS, address.encode()) for address in self.alternative_addresses]
        if self.hold_off is not None:
            items.append((HOLD_OFF, _checked_uint(self.hold_off, 3)))
        return Message(
            Type.NON, Code.RELEASE, options=Options(items), payload=self.diagnostic.encode()
        )

    @classmethod
    def from_message(cls, message: Message) -> Release:
        options = _signal_options(message, Code.RELEASE, (ALTERNATIVE_ADDRESS, HOLD_OFF))
        addresses = tuple(
            value.decode()
            for value in options.get_all(ALTERNATIVE_ADDRESS)
            if 1 <= len(value) <= 255 and is_utf8(value)
        )
        return cls(addresses, _signal_uint(options, HOLD_OFF, 3), _diagnostic(message.payload))


@dataclass(frozen=True, slots=True)
class Abort:
    """7.05 Abort: the peer closes the connection; ``bad_csm_option`` says why."""

    bad_csm_option: int | None = None
    diagnostic: str = ""

    def to_message(self) -> Message:
        items = []
        if self.bad_csm_option is not None:
            items.append((BAD_CSM_OPTION, _checked_uint(self.bad_csm_option, 2)))
        return Message(
            Type.NON, Code.ABORT, options=Options(items), payload=self.diagnostic.encode()
        )

    @classmethod
    def from_message(cls, message: Message) -> Abort:
        options = _signal_options(message, Code.ABORT, (BAD_CSM_OPTION,))
        return cls(_signal_uint(options, BAD_CSM_OPTION, 2), _diagnostic(message.payload))


Signal = Csm | Ping | Pong | Release | Abort
_SIGNALS: dict[Code, type[Csm] | type[_Keepalive] | type[Release] | type[Abort]] = {
    Code.CSM: Csm,
    Code.PING: Ping,
    Code.PONG: Pong,
    Code.RELEASE: Release,
    Code.ABORT: Abort,
}


def parse_signal(message: Message) -> Signal | None:
    """The typed signal in a 7.xx message; None for signal codes nobody has defined yet."""
    kind = _SIGNALS.get(message.code)
    return None if kind is None else kind.from_message(message)  # type: ignore[return-value]


def _checked_uint(value: int, max_length: int) -> bytes:
    if value < 0 or value.bit_length() > 8 * max_length:
        raise InvalidMessageError(f"{value} does not fit {max_length} unsigned bytes")
    return uint_bytes(value)
