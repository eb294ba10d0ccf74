"""What the SMSC translates between SMPP 3.4 and the air interface (TS 23.040): data coding,
addresses, the SMPP time format, user data of a submit_sm, and delivery receipt text.

Sans-I/O and clock-free: every function takes what it needs, ``now`` included.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import smpp34

from lwm2m.network.smpp_pdu import PduError, Status
from lwm2m.transport.sms.address import Address, NumberingPlan, NumberType
from lwm2m.transport.sms.coding import Alphabet, DataCoding
from lwm2m.transport.sms.concat import split
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError
from lwm2m.transport.sms.tpdu import MAX_SEPTETS, MAX_USER_DATA, UserData
from lwm2m.transport.sms.udh import Concatenation, UserDataHeader

ESM_TYPE_MASK = 0x3C
ESM_UDHI = 0x40
ESM_REPLY_PATH = 0x80
ESM_DELIVERY_RECEIPT = 0x04
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
SMPP_DEFAULT_ALPHABET = 0x00
"""This SMSC's default alphabet is GSM 03.38 unpacked, one septet value per octet (what
TS 23.040 user data holds under GSM 7-bit coding)."""
SMPP_BINARY = (0x02, 0x04)
SMPP_UCS2 = 0x08
MESSAGE_STATES = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5}
_TIME = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+R-])")


def tp_coding(data_coding: int) -> DataCoding | None:
    """TP-DCS for an SMPP data_coding (§5.2.19): default alphabet, 8-bit (0x02, 0x04), UCS2,
    and the GSM message class groups (0xC0..0xFF, the same octet in both); None for the
    codings this SMSC cannot put on the air (IA5, Latin-1, JIS...)."""
    if data_coding == SMPP_DEFAULT_ALPHABET:
        return DataCoding(0x00)
    if data_coding in SMPP_BINARY:
        return DataCoding(0x04)
    if data_coding == SMPP_UCS2:
        return DataCoding(0x08)
    if data_coding >= 0xC0:
        return DataCoding(data_coding)
    return None


def smpp_coding(coding: DataCoding) -> int:
    """The SMPP data_coding of a TP-DCS: the inverse of :func:`tp_coding`."""
    if coding.value >= 0xC0:
        return coding.value
    return {Alphabet.GSM7: 0x00, Alphabet.EIGHT_BIT: 0x04, Alphabet.UCS2: 0x08}[coding.alphabet]


def address(number: str, ton: int, npi: int) -> Address:
    """A TP address for an SMPP address: alphanumeric for TON 5, else digits (a leading
    ``+`` dropped); ValueError when it cannot be one."""
    if ton == NumberType.ALPHANUMERIC:
        if not 0 < len(number) <= 11:
            raise ValueError("an alphanumeric address has 1 to 11 characters")
        return Address(number, NumberType.ALPHANUMERIC, NumberingPlan.UNKNOWN)
    digits = number.removeprefix("+")
    if not digits.isdigit() or len(digits) > 20 or not 0 <= ton <= 6:
        raise ValueError(f"{number!r:.24} is not an address of TON {ton}")
    plan = NumberingPlan(npi) if npi in NumberingPlan._value2member_map_ else npi
    return Address(digits, NumberType(ton), plan)


def validity(text: str, now: float, default: float) -> float:
    """The deadline an SMPP validity_period gives (§7.1.1: ``YYMMDDhhmmsstnnp``, absolute
    with ``+``/``-`` and quarter hours from UTC, relative with ``R``); ``default`` seconds
    from now when empty.  PduError ESME_RINVEXPIRY for anything else."""
    if not text:
        return now + default
    match = _TIME.fullmatch(text)
    if match is None:
        raise PduError(Status.RINVEXPIRY, "validity_period is not YYMMDDhhmmsstnnp")
    yy, mo, dd, hh, mi, ss, _, nn, sign = match.groups()
    if sign == "R":
        days = int(yy) * 365 + int(mo) * 30 + int(dd)
        return now + days * 86_400 + int(hh) * 3600 + int(mi) * 60 + int(ss)
    try:
        zone = dt.timezone(dt.timedelta(minutes=15 * int(nn) * (-1 if sign == "-" else 1)))
        moment = dt.datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), 0, zone)
    except ValueError:
        raise PduError(Status.RINVEXPIRY, "validity_period is no date") from None
    if moment.timestamp() <= now:
        raise PduError(Status.RINVEXPIRY, "validity_period lies in the past")
    return moment.timestamp()


def _tlv(pdu: smpp34.SubmitSm, tag: int) -> bytes | None:
    return next((tlv.value for tlv in pdu.tlvs if tlv.tag == tag), None)


def submit_user_data(pdu: smpp34.SubmitSm, coding: DataCoding, reference: int) -> list[UserData]:
    """The TP-UD of each SMS a submit_sm becomes: its short_message (with the UDH when
    esm_class says UDHI, SMPP's sar_* TLVs turned into a concatenation element), or its
    message_payload, split into concatenated 8-bit parts with ``reference`` when it is longer
    than one SMS.  PduError with the status to answer otherwise."""
    payload = _tlv(pdu, TLV_MESSAGE_PAYLOAD)
    if payload is not None and pdu.short_message:
        raise PduError(Status.RSUBMITFAIL, "both short_message and message_payload")
    data = pdu.short_message if payload is None else payload
    header: UserDataHeader | None = None
    if pdu.esm_class & ESM_UDHI:
        try:
            header, size = UserDataHeader.decode(data)
        except SmsDecodeError:
            raise PduError(Status.RINVESMCLASS, "UDHI set, no valid user data header") from None
        data = data[size:]
    sar = _sar(pdu)
    if sar is not None:
        header = UserDataHeader(((*header.elements,) if header else ()) + (sar,))
    if coding.alphabet is Alphabet.GSM7 and any(octet > 0x7F for octet in data):
        raise PduError(Status.RSUBMITFAIL, "default alphabet data must be septet values")
    if _fits(data, header, coding):
        return [UserData(data, header)]
    if payload is None or header is not None or coding.alphabet is Alphabet.GSM7:
        raise PduError(Status.RINVMSGLEN, "longer than one SMS")
    try:
        return [UserData(part.payload, part.header) for part in split(data, reference)]
    except SmsEncodeError:
        raise PduError(Status.RINVMSGLEN, "longer than 255 concatenated SMS") from None


def _fits(data: bytes, header: UserDataHeader | None, coding: DataCoding) -> bool:
    try:
        header_octets = 0 if header is None else len(header.encode())
    except SmsEncodeError:
        return False
    if coding.alphabet is Alphabet.GSM7:
        return (header_octets * 8 + 6) // 7 + len(data) <= MAX_SEPTETS
    return header_octets + len(data) <= MAX_USER_DATA


def _sar(pdu: smpp34.SubmitSm) -> Concatenation | None:
    values = [
        _tlv(pdu, tag)
        for tag in (TLV_SAR_MSG_REF_NUM, TLV_SAR_TOTAL_SEGMENTS, TLV_SAR_SEGMENT_SEQNUM)
    ]
    if all(value is None for value in values):
        return None
    reference, total, sequence = values
    if reference is None or total is None or sequence is None:
        raise PduError(Status.RINVOPTPARAMVAL, "sar_* TLVs come as a set of three")
    if len(reference) != 2 or len(total) != 1 or len(sequence) != 1:
        raise PduError(Status.RINVOPTPARAMVAL, "sar_* TLVs of the wrong size")
    try:
        return Concatenation(int.from_bytes(reference, "big"), total[0], sequence[0], wide=True)
    except SmsEncodeError:
        raise PduError(Status.RINVOPTPARAMVAL, "sar_* segment outside 1..total") from None


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a delivery receipt says (SMPP 3.4 Appendix B, and the TLVs of §5.3.2)."""

    message_id: str
    state: str
    submitted: float
    done: float
    parts: int

    def text(self) -> bytes:
        delivered = self.parts if self.state == "DELIVRD" else 0
        stamp = "%y%m%d%H%M"
        submit = dt.datetime.fromtimestamp(self.submitted, dt.UTC).strftime(stamp)
        done = dt.datetime.fromtimestamp(self.done, dt.UTC).strftime(stamp)
        error = "000" if self.state == "DELIVRD" else "001"
        return (
            f"id:{self.message_id} sub:{self.parts:03d} dlvrd:{delivered:03d} "
            f"submit date:{submit} done date:{done} stat:{self.state} err:{error} text:"
        ).encode("ascii")

    def tlvs(self) -> list[smpp34.Tlv]:
        return [
            smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, self.message_id.encode("ascii") + b"\x00"),
            smpp34.Tlv(TLV_MESSAGE_STATE, bytes((MESSAGE_STATES[self.state],))),
        ]
