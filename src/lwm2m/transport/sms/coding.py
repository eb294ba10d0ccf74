"""TP-DCS (TS 23.038 §4) and TP-SCTS (TS 23.040 §9.2.3.11): the octets that say how user
data is coded and when the SMSC took a message."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError


class Alphabet(enum.Enum):
    GSM7 = "gsm7"
    EIGHT_BIT = "8bit"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class DataCoding:
    """A TP-DCS octet, kept whole; the alphabet, class and compression are read from it.

    Reserved codings read as the GSM 7-bit alphabet, as TS 23.038 §4 tells a receiver to.
    """

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= 0xFF:
            raise SmsEncodeError(f"TP-DCS {self.value} is not an octet")

    @classmethod
    def binary(cls, message_class: int | None = None) -> DataCoding:
        """8-bit data: 0x04 without a class, 0xF4..0xF7 (group 1111) with one."""
        if message_class is None:
            return cls(0x04)
        if not 0 <= message_class <= 3:
            raise SmsEncodeError(f"message class {message_class} not 0..3")
        return cls(0xF4 | message_class)

    @property
    def group(self) -> int:
        return self.value >> 4

    @property
    def alphabet(self) -> Alphabet:
        group = self.group
        if group <= 0x7:  # general data coding and automatic deletion groups
            bits = (self.value >> 2) & 3
            return (Alphabet.GSM7, Alphabet.EIGHT_BIT, Alphabet.UCS2, Alphabet.GSM7)[bits]
        if group == 0xE:
            return Alphabet.UCS2
        if group == 0xF:
            return Alphabet.EIGHT_BIT if self.value & 0x04 else Alphabet.GSM7
        return Alphabet.GSM7  # message waiting groups C, D; reserved 8..B

    @property
    def compressed(self) -> bool:
        return self.group <= 0x7 and bool(self.value & 0x20)

    @property
    def message_class(self) -> int | None:
        """0 (flash) .. 3 (TE specific); None when the octet gives none."""
        group = self.group
        if group == 0xF or (group <= 0x7 and self.value & 0x10):
            return self.value & 3
        return None


SCTS_OCTETS = 7
_MAX_QUARTERS = 79  # two BCD digits with the sign in bit 3 of the tens: ±79 quarter hours


def _bcd(value: int) -> int:
    return (value % 10) << 4 | value // 10


def _from_bcd(octet: int) -> int:
    low, high = octet & 0xF, octet >> 4
    if low > 9 or high > 9:
        raise SmsDecodeError(f"semi-octets {octet:02x} are not decimal")
    return low * 10 + high


def encode_timestamp(moment: dt.datetime) -> bytes:
    """TP-SCTS of an aware datetime in 2000..2099, offset in whole quarter hours."""
    offset = moment.utcoffset()
    if offset is None:
        raise SmsEncodeError("a service centre time stamp needs a UTC offset")
    quarters, remainder = divmod(int(offset.total_seconds()), 900)
    if remainder or abs(quarters) > _MAX_QUARTERS or not 2000 <= moment.year <= 2099:
        raise SmsEncodeError(f"{moment.isoformat()} has no TP-SCTS spelling")
    fields = (moment.year - 2000, moment.month, moment.day, moment.hour, moment.minute)
    zone = _bcd(abs(quarters)) | (0x08 if quarters < 0 else 0)
    return bytes(_bcd(value) for value in (*fields, moment.second)) + bytes((zone,))


def decode_timestamp(data: bytes) -> dt.datetime:
    """An aware datetime (years 2000..2099: two digits say no more)."""
    if len(data) != SCTS_OCTETS:
        raise SmsDecodeError("time stamp truncated")
    year, month, day, hour, minute, second = (_from_bcd(octet) for octet in data[:6])
    zone = data[6]
    quarters = _from_bcd(zone & 0xF7)
    if zone & 0x08:
        quarters = -quarters
    try:
        return dt.datetime(
            2000 + year,
            month,
            day,
            hour,
            minute,
            second,
            tzinfo=dt.timezone(dt.timedelta(minutes=15 * quarters)),
        )
    except ValueError as error:
        raise SmsDecodeError(f"time stamp {data.hex()}: {error}") from None
