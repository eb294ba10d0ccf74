"""Message types and codes (RFC 7252 §3, §12.1; RFC 8323 §5; RFC 8132; RFC 8516).

Both enums keep values they do not name as pseudo-members, so a code from a newer peer
round-trips and still answers ``is_request`` and friends.
"""

from __future__ import annotations

from enum import IntEnum


class Type(IntEnum):
    CON = 0
    NON = 1
    ACK = 2
    RST = 3


class Code(IntEnum):
    EMPTY = 0x00
    GET = 0x01
    POST = 0x02
    PUT = 0x03
    DELETE = 0x04
    FETCH = 0x05
    PATCH = 0x06
    IPATCH = 0x07
    CREATED = 0x41
    DELETED = 0x42
    VALID = 0x43
    CHANGED = 0x44
    CONTENT = 0x45
    CONTINUE = 0x5F
    BAD_REQUEST = 0x80
    UNAUTHORIZED = 0x81
    BAD_OPTION = 0x82
    FORBIDDEN = 0x83
    NOT_FOUND = 0x84
    METHOD_NOT_ALLOWED = 0x85
    NOT_ACCEPTABLE = 0x86
    REQUEST_ENTITY_INCOMPLETE = 0x88
    CONFLICT = 0x89
    PRECONDITION_FAILED = 0x8C
    REQUEST_ENTITY_TOO_LARGE = 0x8D
    UNSUPPORTED_CONTENT_FORMAT = 0x8F
    UNPROCESSABLE_ENTITY = 0x96
    TOO_MANY_REQUESTS = 0x9D
    INTERNAL_SERVER_ERROR = 0xA0
    NOT_IMPLEMENTED = 0xA1
    BAD_GATEWAY = 0xA2
    SERVICE_UNAVAILABLE = 0xA3
    GATEWAY_TIMEOUT = 0xA4
    PROXYING_NOT_SUPPORTED = 0xA5
    CSM = 0xE1
    PING = 0xE2
    PONG = 0xE3
    RELEASE = 0xE4
    ABORT = 0xE5

    @classmethod
    def _missing_(cls, value: object) -> Code | None:
        if type(value) is not int or not 0 <= value <= 0xFF:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"CODE_{value >> 5}_{value & 0x1F:02d}"
        member._value_ = value
        # Cached like a real member: at most 256 of them, and Code(x) stays a dict hit.
        return cls._value2member_map_.setdefault(value, member)  # type: ignore[return-value]

    @classmethod
    def from_dotted(cls, text: str) -> Code:
        """``Code.from_dotted("2.05")`` is ``Code.CONTENT``."""
        klass, dot, detail = text.partition(".")
        if not (dot and klass.isdigit() and detail.isdigit() and len(detail) == 2):
            raise ValueError(f"{text!r} is not a CoAP code 'c.dd'")
        if int(klass) > 7 or int(detail) > 31:
            raise ValueError(f"CoAP code {text!r} out of range")
        return cls(int(klass) << 5 | int(detail))

    @property
    def dotted(self) -> str:
        return f"{self >> 5}.{self & 0x1F:02d}"

    @property
    def is_empty(self) -> bool:
        return self == 0

    @property
    def is_request(self) -> bool:
        return 1 <= self <= 31

    @property
    def is_response(self) -> bool:
        return 64 <= self <= 191

    @property
    def is_success(self) -> bool:
        return 64 <= self <= 95

    @property
    def is_error(self) -> bool:
        return 128 <= self <= 191

    @property
    def is_signal(self) -> bool:
        return self >= 224

    def __str__(self) -> str:
        name = self.name or ""
        if name.startswith("CODE_"):
            return self.dotted
        if self.is_request:
            return f"{self.dotted} {name}"
        return f"{self.dotted} {name.replace('_', ' ').title()}"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else int.__format__(self, spec)


CODES = tuple(Code(value) for value in range(256))
"""Every code indexed by its byte, unnamed ones included: the decoders' lookup table."""
