"""Typed codec errors: each names where the problem is and the CoAP code to answer with."""

from __future__ import annotations

from lwm2m.model.path import Path

BAD_REQUEST = "4.00"
NOT_ACCEPTABLE = "4.06"
UNSUPPORTED_CONTENT_FORMAT = "4.15"


class CodecError(Exception):
    """Base of every error a codec raises; ``coap_code`` is the response to send for it."""

    coap_code = BAD_REQUEST

    def __init__(self, message: str, *, path: Path | None = None, offset: int | None = None):
        self.message = message
        self.path = path
        self.offset = offset
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.path is not None:
            where.append(f"at {self.path}")
        if self.offset is not None:
            where.append(f"at byte {self.offset}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class DecodeError(CodecError):
    """A payload from the network that is malformed or does not fit the model."""


class EncodeError(CodecError):
    """Values from local code that the format or the model cannot carry."""

    coap_code = "5.00"


class UnsupportedFormatError(CodecError):
    """A content format we do not know, or one that cannot carry what was asked."""

    coap_code = UNSUPPORTED_CONTENT_FORMAT
