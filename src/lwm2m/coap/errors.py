"""CoAP errors, split by blame: bytes from the network versus values from local code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lwm2m.coap.codes import Code, Type


class CoapError(Exception):
    """Base of every error the CoAP layer raises."""


class MessageFormatError(CoapError):
    """Malformed bytes from the network (RFC 7252 §4.2/§4.3: reject the message).

    The header fields are filled in whenever the fixed header was readable, so the endpoint can
    still answer with RST, 4.00 or 4.02 without parsing the datagram again.
    """

    def __init__(
        self,
        reason: str,
        *,
        offset: int | None = None,
        message_id: int | None = None,
        type: Type | None = None,
        code: Code | None = None,
        token: bytes | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.message_id = message_id
        self.type = type
        self.code = code
        self.token = token

    def __str__(self) -> str:
        return self.reason if self.offset is None else f"{self.reason} (at byte {self.offset})"


class BadOptionError(MessageFormatError):
    """An option that must be treated as unrecognized (RFC 7252 §5.4.3, §5.4.5).

    Raised for critical options only: an unusable elective option is dropped instead. A request
    carrying one is answered with 4.02 Bad Option; a response carrying one is rejected.
    """

    def __init__(self, reason: str, *, option: int, offset: int | None = None) -> None:
        super().__init__(reason, offset=offset)
        self.option = option


class FramingError(MessageFormatError):
    """A reliable-transport stream that cannot be resynchronised (RFC 8323 §3.2, §5.6).

    Frame boundaries are lost, so the only answer is a 7.05 Abort and closing the connection.
    """


class InvalidMessageError(CoapError, ValueError):
    """Local code asked to build or encode something CoAP cannot carry."""
