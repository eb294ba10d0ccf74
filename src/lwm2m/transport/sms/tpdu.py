"""SMS-SUBMIT and SMS-DELIVER TPDUs (TS 23.040 §9.2.2.1, §9.2.2.2) and the PDU-mode framing of
TS 27.005 (the SMSC address before the TPDU: what ``AT+CMGS`` takes and ``+CMT`` reports).

User data is held as octets for 8-bit and UCS-2 coding and as septet values (one per byte) for
GSM 7-bit, with the user data header apart, so that decoding and encoding again gives the
same bytes.  ``text`` reads the characters.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from lwm2m.transport.sms import gsm7
from lwm2m.transport.sms.address import (
    Address,
    decode_address,
    decode_smsc,
    encode_address,
    encode_smsc,
)
from lwm2m.transport.sms.coding import (
    SCTS_OCTETS,
    Alphabet,
    DataCoding,
    decode_timestamp,
    encode_timestamp,
)
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError
from lwm2m.transport.sms.udh import UserDataHeader

MAX_USER_DATA = 140
"""Octets of TP-UD (160 septets)."""
MAX_SEPTETS = 160

BINARY = DataCoding(0x04)
"""8-bit data without a message class: what the LwM2M SMS binding sends."""
_MTI_DELIVER = 0
_MTI_SUBMIT = 1
_UDHI = 0x40
_REPLY_PATH = 0x80


class ValidityFormat(enum.IntEnum):
    """TP-VPF (bits 4..3 of an SMS-SUBMIT's first octet)."""

    NONE = 0
    ENHANCED = 1
    RELATIVE = 2
    ABSOLUTE = 3


_VALIDITY_OCTETS = {
    ValidityFormat.NONE: 0,
    ValidityFormat.ENHANCED: 7,
    ValidityFormat.RELATIVE: 1,
    ValidityFormat.ABSOLUTE: 7,
}


@dataclass(frozen=True, slots=True)
class UserData:
    """TP-UD: the header (when TP-UDHI is set) and the data after it: octets, or septet
    values under GSM 7-bit coding."""

    data: bytes = b""
    header: UserDataHeader | None = None


def _user_data_text(user_data: UserData, coding: DataCoding) -> str:
    alphabet = coding.alphabet
    if alphabet == Alphabet.GSM7:
        return gsm7.decode_text(user_data.data)
    if alphabet == Alphabet.UCS2:
        return user_data.data.decode("utf-16-be", "replace")
    raise SmsDecodeError("8-bit user data is not text")


@dataclass(frozen=True, slots=True)
class SmsSubmit:
    """MO (device → SMSC): what a device hands ``AT+CMGS`` in PDU mode."""

    destination: Address
    user_data: UserData
    coding: DataCoding = BINARY
    reference: int = 0  # TP-MR; a modem usually fills in its own
    protocol: int = 0  # TP-PID
    validity_format: ValidityFormat = ValidityFormat.NONE
    validity: bytes = b""
    status_report: bool = False  # TP-SRR
    reject_duplicates: bool = False  # TP-RD
    reply_path: bool = False

    @property
    def text(self) -> str:
        return _user_data_text(self.user_data, self.coding)

    def encode(self) -> bytes:
        if len(self.validity) != _VALIDITY_OCTETS[self.validity_format]:
            raise SmsEncodeError(
                f"validity of {len(self.validity)} octets for VPF {self.validity_format.name}"
            )
        if not 0 <= self.reference <= 0xFF or not 0 <= self.protocol <= 0xFF:
            raise SmsEncodeError("TP-MR and TP-PID are octets")
        first = (
            _MTI_SUBMIT
            | self.reject_duplicates << 2
            | self.validity_format << 3
            | self.status_report << 5
            | (_UDHI if self.user_data.header is not None else 0)
            | (_REPLY_PATH if self.reply_path else 0)
        )
        return (
            bytes((first, self.reference))
            + encode_address(self.destination)
            + bytes((self.protocol, self.coding.value))
            + self.validity
            + _encode_user_data(self.user_data, self.coding)
        )

    @classmethod
    def decode(cls, data: bytes) -> SmsSubmit:
        if len(data) < 2 or data[0] & 3 != _MTI_SUBMIT:
            raise SmsDecodeError("not an SMS-SUBMIT")
        first = data[0]
        destination, pos = decode_address(data, 2)
        if pos + 2 > len(data):
            raise SmsDecodeError("SMS-SUBMIT truncated after TP-DA")
        protocol, coding = data[pos], DataCoding(data[pos + 1])
        validity_format = ValidityFormat((first >> 3) & 3)
        start = pos + 2
        pos = start + _VALIDITY_OCTETS[validity_format]
        validity = data[start:pos]
        if len(validity) != pos - start:
            raise SmsDecodeError("SMS-SUBMIT truncated in TP-VP")
        return cls(
            destination=destination,
            user_data=_decode_user_data(data, pos, coding, bool(first & _UDHI)),
            coding=coding,
            reference=data[1],
            protocol=protocol,
            validity_format=validity_format,
            validity=validity,
            status_report=bool(first & 0x20),
            reject_duplicates=bool(first & 0x04),
            reply_path=bool(first & _REPLY_PATH),
        )


@dataclass(frozen=True, slots=True)
class SmsDeliver:
    """MT (SMSC → device): the TPDU a modem reports in ``+CMT``."""

    originator: Address
    timestamp: dt.datetime
    user_data: UserData
    coding: DataCoding = BINARY
    protocol: int = 0
    more_messages: bool = False  # TP-MMS inverted: the bit is 0 when more are waiting
    status_report: bool = False  # TP-SRI
    loop_prevention: bool = False  # TP-LP
    reply_path: bool = False

    @property
    def text(self) -> str:
        return _user_data_text(self.user_data, self.coding)

    def encode(self) -> bytes:
        if not 0 <= self.protocol <= 0xFF:
            raise SmsEncodeError("TP-PID is an octet")
        first = (
            _MTI_DELIVER
            | (0 if self.more_messages else 0x04)
            | self.loop_prevention << 3
            | self.status_report << 5
            | (_UDHI if self.user_data.header is not None else 0)
            | (_REPLY_PATH if self.reply_path else 0)
        )
        return (
            bytes((first,))
            + encode_address(self.originator)
            + bytes((self.protocol, self.coding.value))
            + encode_timestamp(self.timestamp)
            + _encode_user_data(self.user_data, self.coding)
        )

    @classmethod
    def decode(cls, data: bytes) -> SmsDeliver:
        if not data or data[0] & 3 != _MTI_DELIVER:
            raise SmsDecodeError("not an SMS-DELIVER")
        first = data[0]
        originator, pos = decode_address(data, 1)
        if pos + 2 + SCTS_OCTETS > len(data):
            raise SmsDecodeError("SMS-DELIVER truncated after TP-OA")
        protocol, coding = data[pos], DataCoding(data[pos + 1])
        timestamp = decode_timestamp(data[pos + 2 : pos + 2 + SCTS_OCTETS])
        return cls(
            originator=originator,
            timestamp=timestamp,
            user_data=_decode_user_data(data, pos + 2 + SCTS_OCTETS, coding, bool(first & _UDHI)),
            coding=coding,
            protocol=protocol,
            more_messages=not first & 0x04,
            status_report=bool(first & 0x20),
            loop_prevention=bool(first & 0x08),
            reply_path=bool(first & _REPLY_PATH),
        )


def _encode_user_data(user_data: UserData, coding: DataCoding) -> bytes:
    """TP-UDL and TP-UD: septets (header included, with fill bits) or octets."""
    header = b"" if user_data.header is None else user_data.header.encode()
    if coding.alphabet == Alphabet.GSM7:
        header_septets = (len(header) * 8 + 6) // 7
        fill = header_septets * 7 - len(header) * 8
        septets = header_septets + len(user_data.data)
        if septets > MAX_SEPTETS:
            raise SmsEncodeError(f"{septets} septets of user data over {MAX_SEPTETS}")
        return bytes((septets,)) + header + gsm7.pack(user_data.data, fill)
    octets = len(header) + len(user_data.data)
    if octets > MAX_USER_DATA:
        raise SmsEncodeError(f"{octets} octets of user data over {MAX_USER_DATA}")
    return bytes((octets,)) + header + user_data.data


def _decode_user_data(data: bytes, pos: int, coding: DataCoding, has_header: bool) -> UserData:
    if pos >= len(data):
        raise SmsDecodeError("TP-UDL missing")
    length, body = data[pos], data[pos + 1 :]
    header: UserDataHeader | None = None
    header_octets = 0
    if has_header:
        header, header_octets = UserDataHeader.decode(body)
    if coding.alphabet == Alphabet.GSM7:
        if length > MAX_SEPTETS:
            raise SmsDecodeError(f"TP-UDL {length} septets over {MAX_SEPTETS}")
        header_septets = (header_octets * 8 + 6) // 7
        if header_septets > length:
            raise SmsDecodeError("user data header longer than TP-UDL")
        fill = header_septets * 7 - header_octets * 8
        expected = gsm7.packed_length(length)
        if len(body) < expected:
            raise SmsDecodeError(f"TP-UDL {length} septets, {len(body)} octets present")
        packed = body[header_octets:expected]
        return UserData(gsm7.unpack(packed, length - header_septets, fill), header)
    if length > MAX_USER_DATA:
        raise SmsDecodeError(f"TP-UDL {length} octets over {MAX_USER_DATA}")
    if len(body) < length or header_octets > length:
        raise SmsDecodeError(f"TP-UDL {length} octets, {len(body)} present")
    return UserData(body[header_octets:length], header)


def encode_pdu(tpdu: SmsSubmit | SmsDeliver, smsc: Address | None = None) -> tuple[bytes, int]:
    """TS 27.005 PDU mode: the SMSC address (``None``: the SIM's) and the TPDU, with the
    ``<length>`` AT+CMGS wants (the TPDU's octets, the SMSC address not counted)."""
    body = tpdu.encode()
    return encode_smsc(smsc) + body, len(body)


def decode_deliver_pdu(pdu: bytes) -> tuple[Address | None, SmsDeliver]:
    """A ``+CMT`` PDU: its SMSC address and SMS-DELIVER."""
    smsc, pos = decode_smsc(pdu)
    return smsc, SmsDeliver.decode(pdu[pos:])


def decode_submit_pdu(pdu: bytes) -> tuple[Address | None, SmsSubmit]:
    """What an ``AT+CMGS`` carried: its SMSC address and SMS-SUBMIT."""
    smsc, pos = decode_smsc(pdu)
    return smsc, SmsSubmit.decode(pdu[pos:])
