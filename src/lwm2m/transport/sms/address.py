"""TS 23.040 §9.1.2.5 addresses (TP-OA, TP-DA) and the SMSC address TS 27.005 puts before a
TPDU in PDU mode (TS 24.011 §8.2.5.1 RP address: its length counts octets, not digits)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lwm2m.transport.sms import gsm7
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError

MAX_ADDRESS_OCTETS = 10
"""Address-Value octets of a TP address (20 digits)."""
MAX_SMSC_OCTETS = 10
"""Address-Value octets of an SMSC address (TS 24.011: at most 11 octets with the type)."""
_DIGITS = "0123456789*#abc"  # semi-octet values 0..14; 15 is the filler


class NumberType(enum.IntEnum):
    """Type-of-number (bits 6..4 of the type-of-address octet)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6
    RESERVED = 7


class NumberingPlan(enum.IntEnum):
    """Numbering-plan-identification (bits 3..0); values not named here are kept as ints."""

    UNKNOWN = 0
    ISDN = 1  # E.164
    DATA = 3
    TELEX = 4
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10


@dataclass(frozen=True, slots=True)
class Address:
    """A number (digits, ``*#abc``) or, with ALPHANUMERIC, a GSM 7-bit name; ``plan`` keeps
    numbering plans TS 23.040 reserves as plain ints."""

    number: str
    type: NumberType = NumberType.INTERNATIONAL
    plan: NumberingPlan | int = NumberingPlan.ISDN

    @classmethod
    def international(cls, msisdn: str) -> Address:
        """An E.164 number, with or without its leading ``+``."""
        return cls(msisdn.removeprefix("+"))

    @property
    def type_octet(self) -> int:
        return 0x80 | self.type << 4 | int(self.plan)

    def __str__(self) -> str:
        prefix = "+" if self.type == NumberType.INTERNATIONAL else ""
        return prefix + self.number


def _semi_octets(digits: str, limit: int) -> bytes:
    if len(digits) > 2 * limit:
        raise SmsEncodeError(f"{len(digits)} digits over {2 * limit}")
    try:
        values = [_DIGITS.index(char) for char in digits.lower()]
    except ValueError:
        raise SmsEncodeError(f"{digits!r:.40} is not a semi-octet number") from None
    if len(values) % 2:
        values.append(0xF)
    return bytes(values[i] | values[i + 1] << 4 for i in range(0, len(values), 2))


def _digits(octets: bytes, count: int) -> str:
    chars: list[str] = []
    for octet in octets:
        for value in (octet & 0xF, octet >> 4):
            if len(chars) == count or value == 0xF:
                return "".join(chars)
            chars.append(_DIGITS[value])
    return "".join(chars)


def _type(octet: int) -> tuple[NumberType, NumberingPlan | int]:
    plan = octet & 0x0F
    named = plan in NumberingPlan._value2member_map_
    return NumberType((octet >> 4) & 7), NumberingPlan(plan) if named else plan


def encode_address(address: Address) -> bytes:
    """Address-Length (useful semi-octets), Type-of-Address, Address-Value (TP-OA/TP-DA)."""
    if address.type == NumberType.ALPHANUMERIC:
        septets = gsm7.encode_text(address.number)
        value = gsm7.pack(septets)
        if len(value) > MAX_ADDRESS_OCTETS:
            raise SmsEncodeError(f"alphanumeric address {address.number!r} over 11 characters")
        # The length counts the semi-octets the septets fill, not characters (§9.1.2.5).
        return bytes(((7 * len(septets) + 3) // 4, address.type_octet)) + value
    value = _semi_octets(address.number, MAX_ADDRESS_OCTETS)
    return bytes((len(address.number), address.type_octet)) + value


def decode_address(data: bytes, pos: int) -> tuple[Address, int]:
    """The address at ``data[pos:]`` and the position after it."""
    if pos + 2 > len(data):
        raise SmsDecodeError("address truncated")
    semi_octets, type_octet = data[pos], data[pos + 1]
    octets = (semi_octets + 1) // 2
    if octets > MAX_ADDRESS_OCTETS:
        raise SmsDecodeError(f"address of {semi_octets} semi-octets over 20")
    end = pos + 2 + octets
    if end > len(data):
        raise SmsDecodeError("address value truncated")
    number_type, plan = _type(type_octet)
    value = data[pos + 2 : end]
    if number_type == NumberType.ALPHANUMERIC:
        text = gsm7.decode_text(gsm7.unpack(value, semi_octets * 4 // 7))
        return Address(text, number_type, plan), end
    return Address(_digits(value, semi_octets), number_type, plan), end


def encode_smsc(smsc: Address | None) -> bytes:
    """TS 27.005's SMSC address before the TPDU: ``00`` for the SMSC the SIM names."""
    if smsc is None:
        return b"\x00"
    value = _semi_octets(smsc.number, MAX_SMSC_OCTETS)
    return bytes((len(value) + 1, smsc.type_octet)) + value


def decode_smsc(data: bytes) -> tuple[Address | None, int]:
    """The SMSC address that starts a PDU-mode PDU, and where the TPDU begins."""
    if not data:
        raise SmsDecodeError("empty PDU")
    length = data[0]
    if length == 0:
        return None, 1
    if length > MAX_SMSC_OCTETS + 1 or 1 + length > len(data):
        raise SmsDecodeError(f"SMSC address of {length} octets does not fit")
    number_type, plan = _type(data[1])
    return Address(_digits(data[2 : 1 + length], 2 * (length - 1)), number_type, plan), 1 + length
