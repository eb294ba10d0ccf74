"""Operation errors, split by blame: what the peer sent versus what local code asked for."""

from __future__ import annotations

from lwm2m.coap.codes import Code
from lwm2m.codec.errors import CodecError


class OperationError(Exception):
    """A request or response from the peer that we cannot accept.

    ``code`` is the CoAP error response to answer a request with (Transport 6.x tables); for a
    bad response it says what kind of problem it was, for logs and metrics.
    """

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code.dotted} {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_codec(cls, exc: CodecError) -> OperationError:
        return cls(Code.from_dotted(exc.coap_code), exc.describe())


class OperationUsageError(ValueError):
    """Local code built an operation that LwM2M or the chosen format cannot express."""
