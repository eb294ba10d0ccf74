"""The GSM 7-bit default alphabet (TS 23.038 §6.2.1) and septet packing (§6.1.2.1.1).

Text is held as septet values (0..127, one per byte) between the alphabet and the packing, so
that a TPDU's user data decodes and encodes back to the same octets whatever the characters:
an escape (0x1B) the extension table cannot resolve stays a septet, never a lost character.
"""

from __future__ import annotations

from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The default alphabet by septet value; 0x1B is the escape to the extension table."""
ESCAPE = 0x1B
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
             0x3E: "]", 0x40: "|", 0x65: "€"}  # fmt: skip
"""The default alphabet extension table (§6.2.1.1), by the septet after the escape."""

_TO_SEPTET = {char: value for value, char in enumerate(BASIC) if value != ESCAPE}
_TO_EXTENDED = {char: value for value, char in EXTENSION.items()}
assert len(BASIC) == 128


def encode_text(text: str) -> bytes:
    """Septet values of ``text``; SmsEncodeError for a character the alphabet lacks."""
    septets = bytearray()
    for char in text:
        value = _TO_SEPTET.get(char)
        if value is not None:
            septets.append(value)
            continue
        extended = _TO_EXTENDED.get(char)
        if extended is None:
            raise SmsEncodeError(f"{char!r} is not in the GSM 7-bit default alphabet")
        septets += bytes((ESCAPE, extended))
    return bytes(septets)


def decode_text(septets: bytes) -> str:
    """The characters of septet values: an escape before a septet the extension table does not
    define reads as that septet's basic character, and a trailing escape as a space (§6.2.1.1)."""
    chars = []
    escaped = False
    for value in septets:
        if value > 0x7F:
            raise SmsDecodeError(f"septet value {value:#x} over 0x7f")
        if escaped:
            escaped = False
            chars.append(EXTENSION.get(value, BASIC[value]))
        elif value == ESCAPE:
            escaped = True
        else:
            chars.append(BASIC[value])
    if escaped:
        chars.append(" ")
    return "".join(chars)


def pack(septets: bytes, fill_bits: int = 0) -> bytes:
    """Septets packed LSB first into octets, after ``fill_bits`` zero bits (0..6: the padding
    that puts the first septet of text on a septet boundary after a user data header)."""
    if not 0 <= fill_bits <= 6:
        raise SmsEncodeError(f"fill bits {fill_bits} not 0..6")
    total_bits = fill_bits + 7 * len(septets)
    accumulator = 0
    for index, value in enumerate(septets):
        if value > 0x7F:
            raise SmsEncodeError(f"septet value {value:#x} over 0x7f")
        accumulator |= value << (fill_bits + 7 * index)
    return accumulator.to_bytes((total_bits + 7) // 8, "little")


def unpack(octets: bytes, count: int, fill_bits: int = 0) -> bytes:
    """``count`` septets from packed ``octets`` after ``fill_bits``; SmsDecodeError when the
    octets hold fewer."""
    if fill_bits + 7 * count > 8 * len(octets):
        raise SmsDecodeError(f"{len(octets)} octets hold fewer than {count} septets")
    accumulator = int.from_bytes(octets, "little") >> fill_bits
    return bytes((accumulator >> (7 * index)) & 0x7F for index in range(count))


def packed_length(count: int, fill_bits: int = 0) -> int:
    """Octets that ``count`` septets take after ``fill_bits``."""
    return (fill_bits + 7 * count + 7) // 8
