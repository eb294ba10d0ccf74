"""SMPP 3.4 PDUs for the SMSC's server face: framing, the header, and the bodies smpp34 has no
encoder for.

The message PDUs (``submit_sm`` in, ``deliver_sm`` out, with their TLVs) go through the
smpp34 codec (:func:`smpp34.decode`, :meth:`smpp34.DeliverSm.encode`), which the server's
ESME already uses and which checks every length strictly.  smpp34 decodes every other
command only as header plus raw body (``RawPdu``) and encodes none of them, so the small
fixed bodies a server must read and write (bind requests, ``*_resp``, ``generic_nack``) are
written here: C-octet strings and single octets (SMPP 3.4 §4.1, §4.4, §4.7).
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass

import smpp34

HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024
"""Longest command_length taken: a submit_sm with a full message_payload (a 255-part
datagram of 34,170 octets) fits; anything longer is a framing error."""
RESPONSE = 0x80000000
SC_INTERFACE_VERSION_TLV = struct.pack(">HHB", 0x0210, 1, 0x34)
"""sc_interface_version in bind responses: this SMSC speaks 3.4."""


class CommandId(enum.IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_TRANSMITTER = 0x00000002
    SUBMIT_SM = 0x00000004
    DELIVER_SM = 0x00000005
    UNBIND = 0x00000006
    BIND_TRANSCEIVER = 0x00000009
    ENQUIRE_LINK = 0x00000015
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM_RESP = 0x80000005
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK_RESP = 0x80000015


class Status(enum.IntEnum):
    """command_status values this SMSC answers with (SMPP 3.4 §5.1.3); values received from
    an ESME stay plain ints."""

    ROK = 0x00
    RINVMSGLEN = 0x01
    RINVCMDLEN = 0x02
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RALYBND = 0x05
    RSYSERR = 0x08
    RINVSRCADR = 0x0A
    RINVDSTADR = 0x0B
    RBINDFAIL = 0x0D
    RINVPASWD = 0x0E
    RINVSYSID = 0x0F
    RMSGQFUL = 0x14
    RINVESMCLASS = 0x43
    RSUBMITFAIL = 0x45
    RTHROTTLED = 0x58
    RINVSCHED = 0x61
    RINVEXPIRY = 0x62
    RINVPARLEN = 0xC2
    RINVOPTPARAMVAL = 0xC4


class BindKind(enum.Enum):
    """How an ESME binds: what it may send (submit_sm) and receive (deliver_sm)."""

    TRANSMITTER = (CommandId.BIND_TRANSMITTER, True, False)
    RECEIVER = (CommandId.BIND_RECEIVER, False, True)
    TRANSCEIVER = (CommandId.BIND_TRANSCEIVER, True, True)

    def __init__(self, command: CommandId, sends: bool, receives: bool) -> None:
        self.command = command
        self.sends = sends
        self.receives = receives

    @classmethod
    def of(cls, command_id: int) -> BindKind | None:
        return next((kind for kind in cls if kind.command == command_id), None)


class PduError(Exception):
    """A PDU this side cannot take; ``status`` is the command_status to answer with."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Header:
    command_id: int
    status: int
    sequence: int


@dataclass(frozen=True, slots=True)
class BindRequest:
    kind: BindKind
    system_id: str
    password: bytes
    system_type: str
    interface_version: int
    address_range: str


def encode(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


def response(request: Header, status: int = Status.ROK, body: bytes = b"") -> bytes:
    """The ``*_resp`` of a request (a body only with success, as §4 prescribes)."""
    return encode(
        request.command_id | RESPONSE, status, request.sequence, body if not status else b""
    )


def generic_nack(sequence: int, status: Status) -> bytes:
    return encode(CommandId.GENERIC_NACK, status, sequence)


def c_string(text: str) -> bytes:
    return text.encode("latin-1", "replace") + b"\x00"


class Framer:
    """Bytes from a TCP stream in, whole PDUs out; a command_length outside 16..MAX_PDU
    raises :class:`PduError` (the stream cannot be resynchronised: close it)."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._pending += data
        pdus: list[bytes] = []
        while len(self._pending) >= 4:
            length = int.from_bytes(self._pending[:4], "big")
            if not HEADER.size <= length <= MAX_PDU:
                self._pending.clear()
                raise PduError(Status.RINVCMDLEN, f"command_length {length}")
            if len(self._pending) < length:
                break
            pdus.append(bytes(self._pending[:length]))
            del self._pending[:length]
        return pdus


def header(pdu: bytes) -> Header:
    _, command_id, status, sequence = HEADER.unpack_from(pdu)
    return Header(command_id, status, sequence)


def _c_strings(body: bytes, limits: tuple[int, ...]) -> tuple[list[bytes], int]:
    """C-octet strings at the start of ``body``, each at most ``limit`` octets with its NUL."""
    values: list[bytes] = []
    pos = 0
    for limit in limits:
        end = body.find(b"\x00", pos, pos + limit)
        if end < 0:
            raise PduError(Status.RINVPARLEN, f"string {len(values) + 1} unterminated or too long")
        values.append(body[pos:end])
        pos = end + 1
    return values, pos


def parse_bind(kind: BindKind, body: bytes) -> BindRequest:
    """system_id, password, system_type, interface_version, addr_ton, addr_npi,
    address_range (§4.1.1)."""
    (system_id, password, system_type), pos = _c_strings(body, (16, 9, 13))
    if pos + 3 > len(body):
        raise PduError(Status.RINVCMDLEN, "bind body truncated")
    interface_version = body[pos]
    (address_range,), end = _c_strings(body[pos + 3 :], (41,))
    if pos + 3 + end != len(body):
        raise PduError(Status.RINVCMDLEN, "bind body longer than its fields")
    return BindRequest(
        kind,
        system_id.decode("latin-1"),
        password,
        system_type.decode("latin-1"),
        interface_version,
        address_range.decode("latin-1"),
    )


_STATUS_IN_ERROR = re.compile(r"0x([0-9A-Fa-f]{8})")


def decode_submit(pdu: bytes) -> smpp34.SubmitSm:
    """A submit_sm through smpp34's codec; its refusal becomes the status it names."""
    try:
        decoded = smpp34.decode(pdu)
    except smpp34.SmppError as error:
        found = _STATUS_IN_ERROR.search(str(error))
        value = int(found.group(1), 16) if found else Status.RINVCMDLEN
        status = Status(value) if value in Status._value2member_map_ else Status.RINVCMDLEN
        raise PduError(status, str(error)) from None
    if not isinstance(decoded, smpp34.SubmitSm):
        raise PduError(Status.RINVCMDID, "not a submit_sm")
    return decoded
