"""The TP-User-Data-Header (TS 23.040 §9.2.3.24): concatenation (IEI 0x00, 0x08) and
application port addressing (IEI 0x04, 0x05) typed, every other element kept as it came."""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError

IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08
MAX_UDH = 139
"""UDHL's largest value in a 140-octet TP-UD (one octet is UDHL itself)."""


@dataclass(frozen=True, slots=True)
class Concatenation:
    """One part of a concatenated message: ``reference`` (8 or 16 bits: ``wide``) is the same
    in every part, ``sequence`` counts 1..``total``."""

    reference: int
    total: int
    sequence: int
    wide: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.reference < (1 << 16 if self.wide else 1 << 8):
            raise SmsEncodeError(f"concatenation reference {self.reference} out of range")
        if not 1 <= self.sequence <= self.total <= 255:
            raise SmsEncodeError(f"part {self.sequence} of {self.total} not within 1..255")


@dataclass(frozen=True, slots=True)
class Ports:
    """Application port addressing: 16-bit ports (IEI 0x05) unless ``wide`` is false (0x04)."""

    destination: int
    source: int
    wide: bool = True

    def __post_init__(self) -> None:
        limit = 1 << 16 if self.wide else 1 << 8
        if not (0 <= self.destination < limit and 0 <= self.source < limit):
            raise SmsEncodeError(f"ports {self.destination}/{self.source} out of range")


@dataclass(frozen=True, slots=True)
class OtherElement:
    """An element this stack does not interpret; re-encoded byte for byte."""

    identifier: int
    data: bytes


Element = Concatenation | Ports | OtherElement


@dataclass(frozen=True, slots=True)
class UserDataHeader:
    elements: tuple[Element, ...] = ()

    @property
    def concatenation(self) -> Concatenation | None:
        """The last concatenation element (§9.2.3.24: a repeated one overrides earlier ones)."""
        found = None
        for element in self.elements:
            if isinstance(element, Concatenation):
                found = element
        return found

    @property
    def ports(self) -> Ports | None:
        found = None
        for element in self.elements:
            if isinstance(element, Ports):
                found = element
        return found

    def encode(self) -> bytes:
        """UDHL and the elements."""
        body = b"".join(_encode_element(element) for element in self.elements)
        if len(body) > MAX_UDH:
            raise SmsEncodeError(f"user data header of {len(body)} octets over {MAX_UDH}")
        return bytes((len(body),)) + body

    @classmethod
    def decode(cls, data: bytes) -> tuple[UserDataHeader, int]:
        """The header starting ``data`` (at UDHL) and the octets it takes, UDHL included."""
        if not data:
            raise SmsDecodeError("user data header indicated, user data empty")
        length = data[0]
        end = 1 + length
        if end > len(data):
            raise SmsDecodeError(f"UDHL {length} past the user data's {len(data) - 1} octets")
        elements: list[Element] = []
        pos = 1
        while pos < end:
            if pos + 2 > end:
                raise SmsDecodeError("information element truncated")
            identifier, size = data[pos], data[pos + 1]
            if pos + 2 + size > end:
                raise SmsDecodeError(f"IE {identifier:#04x} of {size} octets overruns the UDH")
            elements.append(_decode_element(identifier, data[pos + 2 : pos + 2 + size]))
            pos += 2 + size
        return cls(tuple(elements)), end


def _encode_element(element: Element) -> bytes:
    if isinstance(element, Concatenation):
        if element.wide:
            return (
                bytes((IEI_CONCAT_16, 4))
                + element.reference.to_bytes(2, "big")
                + bytes((element.total, element.sequence))
            )
        return bytes((IEI_CONCAT_8, 3, element.reference, element.total, element.sequence))
    if isinstance(element, Ports):
        if element.wide:
            return (
                bytes((IEI_PORTS_16, 4))
                + element.destination.to_bytes(2, "big")
                + element.source.to_bytes(2, "big")
            )
        return bytes((IEI_PORTS_8, 2, element.destination, element.source))
    if not 0 <= element.identifier <= 0xFF or len(element.data) > MAX_UDH - 2:
        raise SmsEncodeError(f"IE {element.identifier} with {len(element.data)} octets")
    return bytes((element.identifier, len(element.data))) + element.data


_TYPED_SIZES = {IEI_CONCAT_8: 3, IEI_CONCAT_16: 4, IEI_PORTS_8: 2, IEI_PORTS_16: 4}


def _decode_element(identifier: int, data: bytes) -> Element:
    """A typed element when its identifier and length are what §9.2.3.24 defines and its values
    are valid; §9.2.3.24.1 says to ignore a concatenation element with sequence 0 or past the
    total, so such an element stays uninterpreted (the message is then not reassembled)."""
    if _TYPED_SIZES.get(identifier) != len(data):
        return OtherElement(identifier, data)
    try:
        if identifier == IEI_CONCAT_8:
            return Concatenation(data[0], data[1], data[2])
        if identifier == IEI_CONCAT_16:
            return Concatenation(int.from_bytes(data[:2], "big"), data[2], data[3], wide=True)
        if identifier == IEI_PORTS_8:
            return Ports(data[0], data[1], wide=False)
        return Ports(int.from_bytes(data[:2], "big"), int.from_bytes(data[2:], "big"))
    except SmsEncodeError:
        return OtherElement(identifier, data)
