"""How the server's requests go on the wire: which content format, and their CoAP parts.

Formats: the caller's, else SenML CBOR for 1.1+ clients; 1.0 clients get TLV, except single
values: their Read and Observe carry no Accept (the client picks; 1.0 clients commonly answer
text/plain, which a TLV Accept would make them refuse) and their Write goes as text/plain
(opaque values as application/octet-stream).
"""

from __future__ import annotations

from dataclasses import replace

from lwm2m.codec import CodecRegistry, ContentFormat
from lwm2m.model import ModelRegistry, MultipleResource, ObjectInstance, ObjectNode, Path
from lwm2m.operations import (
    Create,
    Delete,
    Discover,
    Observe,
    ObserveComposite,
    OperationError,
    Read,
    ReadComposite,
    ServerRequest,
    Write,
    WriteComposite,
    decode_request,
    encode_request,
)
from lwm2m.operations.mapping import CoapParts
from lwm2m.server.registration import Registration
from lwm2m.server.state import OutgoingRequest, root_segments

_SENML = ContentFormat.SENML_CBOR
_BODILESS = frozenset({Read, Observe, Discover, Delete})
"""Operations whose request is the same bytes for the same operation, format and root."""
_SHARED_PARTS = 4096
"""Distinct bodiless requests kept encoded; more are encoded per request."""


class RequestEncoder:
    """Chooses formats and encodes requests, sharing the parts of bodiless ones."""

    __slots__ = ("_codecs", "_models", "_shared_parts")

    def __init__(self, codecs: CodecRegistry, models: ModelRegistry) -> None:
        self._codecs = codecs
        self._models = models
        self._shared_parts: dict[tuple[ServerRequest, int | None, str], CoapParts] = {}

    def formats(
        self, op: ServerRequest, fmt: int | None, registration: Registration
    ) -> tuple[ServerRequest, int | None]:
        """``op`` with its Accept filled in, and the Content-Format of its body."""
        legacy = registration.lwm2m_version == "1.0"
        if isinstance(op, Read | Observe):
            if op.accept is None:
                accept = fmt
                if accept is None:
                    accept = self._legacy_accept(op.path) if legacy else _SENML
                # Not dataclasses.replace: this runs for every Read, and costs a fifth of it.
                op = Read(op.path, accept) if isinstance(op, Read) else Observe(op.path, accept)
            return op, None
        if isinstance(op, ReadComposite | ObserveComposite):
            chosen = _SENML if fmt is None else fmt
            return (replace(op, accept=chosen) if op.accept is None else op), chosen
        if fmt is not None:
            return op, fmt
        if isinstance(op, Write) and legacy:
            return op, _legacy_write_format(op)
        if isinstance(op, Create) and legacy:
            return op, ContentFormat.TLV
        if isinstance(op, Write | Create | WriteComposite):
            return op, _SENML
        return op, None

    def _legacy_accept(self, path: Path) -> int | None:
        single = path.is_resource_instance or (
            path.is_resource and not self._models.is_multiple(path.ids[0], path.ids[2])
        )
        return None if single else ContentFormat.TLV

    def encode(self, request: OutgoingRequest, registration: Registration) -> CoapParts:
        """The request's CoAP parts; bodiless ones are shared per shape (a fleet reads the
        same few paths of every client, and building options dominates their encoding)."""
        op, fmt, root_path = request.op, request.fmt, registration.root_path
        shared = type(op) in _BODILESS
        if shared:
            key = (op, fmt, root_path)
            parts = self._shared_parts.get(key)
            if parts is not None:
                return parts
        parts = encode_request(
            op, self._codecs, self._models, fmt=fmt, root=root_segments(root_path)
        )
        if shared and len(self._shared_parts) < _SHARED_PARTS:
            self._shared_parts[key] = parts
        return parts

    def encode_unrooted(self, request: OutgoingRequest) -> CoapParts:
        """The request without the client's alternate path (how a queued one is stored)."""
        return encode_request(request.op, self._codecs, self._models, fmt=request.fmt)

    def decode_stored(self, parts: CoapParts, root_path: str) -> ServerRequest | None:
        """A stored request as an operation again (None: it no longer decodes, e.g. for a
        model that changed)."""
        try:
            op = decode_request(parts, self._codecs, self._models, root=root_segments(root_path))
        except OperationError:
            return None
        return op if isinstance(op, ServerRequest) else None


def _legacy_write_format(op: Write) -> int:
    """TLV for structures; a single value goes as text, or octets when it is opaque."""
    node = op.node
    if isinstance(node, ObjectNode | ObjectInstance | MultipleResource):
        return ContentFormat.TLV
    return ContentFormat.OPAQUE if isinstance(node.value, bytes) else ContentFormat.TEXT
