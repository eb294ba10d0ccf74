"""What cluster nodes say to each other about a routed request: the request and its answer as
CoAP (what the device itself would get and give, without the client's alternate path), in a
CBOR envelope.  Nothing is pickled: a node decodes what another wrote with the same strict
decoders it uses for devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from lwm2m.codec import CodecRegistry
from lwm2m.model import ModelRegistry
from lwm2m.operations import (
    EmptyResponse,
    OperationUsageError,
    Response,
    ServerRequest,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from lwm2m.server import (
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    UnknownEndpointError,
)
from lwm2m.storage.rows import decode_parts, encode_parts

SEND = "send"
CANCEL = "cancel"

_ERRORS: dict[str, type[Exception]] = {
    error.__name__: error
    for error in (
        UnknownEndpointError,
        QueueFullError,
        RequestFailedError,
        RequestTimeoutError,
        OperationUsageError,
    )
}


class ClusterError(RequestFailedError):
    """A routed request got no answer: the node serving the device is gone or silent."""


@dataclass(frozen=True, slots=True)
class RoutedRequest:
    """``op`` for ``endpoint`` from node ``sender``; ``option``: the format (send) or whether
    to cancel actively (cancel)."""

    request_id: str
    sender: str
    kind: str
    endpoint: str
    op: ServerRequest
    option: Any
    timeout: float | None


class Codec:
    """Routed requests and answers to and from bytes, with the server's codecs and models."""

    def __init__(self, codecs: CodecRegistry, models: ModelRegistry) -> None:
        self._codecs = codecs
        self._models = models

    def request(self, message: RoutedRequest) -> bytes:
        fmt = message.option if message.kind == SEND else None
        parts = encode_request(message.op, self._codecs, self._models, fmt=fmt)
        return cbor2.dumps(
            [
                *(message.request_id, message.sender, message.kind, message.endpoint),
                *(encode_parts(parts), message.option, message.timeout),
            ]
        )

    def parse_request(self, data: bytes) -> RoutedRequest:
        """ValueError (or a CBOR or CoAP error) for bytes no node of ours wrote."""
        request_id, sender, kind, endpoint, parts, option, timeout = cbor2.loads(data)
        op = decode_request(decode_parts(parts), self._codecs, self._models)
        if kind not in (SEND, CANCEL) or not isinstance(op, ServerRequest):
            raise ValueError(f"not a routed request: {kind!r} {type(op).__name__}")
        return RoutedRequest(request_id, sender, kind, endpoint, op, option, timeout)

    def answer(self, request_id: str, op: ServerRequest, outcome: Response | Exception) -> bytes:
        if isinstance(outcome, Exception):
            name = type(outcome).__name__
            return cbor2.dumps([request_id, "error", name if name in _ERRORS else "", str(outcome)])
        if isinstance(outcome, EmptyResponse):  # a passive cancel's
            return cbor2.dumps([request_id, "empty"])
        parts = encode_response(op, outcome, self._codecs, self._models)
        return cbor2.dumps([request_id, "ok", encode_parts(parts)])

    @staticmethod
    def answer_id(data: list[Any]) -> str:
        return str(data[0])

    def outcome(self, op: ServerRequest, data: list[Any]) -> Response | Exception:
        """The answer as the caller gets it: a Response, or the exception to raise."""
        if data[1] == "empty":
            return EmptyResponse()
        if data[1] == "ok":
            return decode_response(op, decode_parts(data[2]), self._codecs, self._models)
        return _ERRORS.get(data[2], RequestFailedError)(data[3])
