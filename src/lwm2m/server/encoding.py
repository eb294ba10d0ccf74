"""How the server's requests go on the wire: which content format, and their CoAP parts.

Formats: the caller's ``fmt`` (or an Accept the operation carries) is never overridden.
Otherwise a 1.1+ client gets the format its registration names (what its Register announced
with ``ct`` on the root link, or what worked before), else SenML CBOR; when it answers 4.06
or 4.15, the request goes again in the next of SenML CBOR, SenML JSON and TLV (composites:
the SenML ones), and what worked becomes the registration's format.  1.0 clients get TLV,
except single values: their Read and Observe carry no Accept (the client picks; 1.0 clients
commonly answer text/plain, which a TLV Accept would make them refuse) and their Write goes as
text/plain (opaque values as application/octet-stream); composite operations do not exist in
1.0 and are refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache

from lwm2m.codec import CodecRegistry, ContentFormat
from lwm2m.model import ModelRegistry, MultipleResource, ObjectInstance, ObjectNode, Path
from lwm2m.operations import (
    Create,
    Delete,
    Discover,
    Observe,
    ObserveComposite,
    OperationError,
    OperationUsageError,
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
_FALLBACK = (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON, ContentFormat.TLV)
"""The formats tried in turn when a client refuses one and announced none."""
_COMPOSITE_FORMATS = (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON)
"""The formats a composite operation can go in (its body is a list of paths or values)."""
_ANNOUNCED = (*_FALLBACK, ContentFormat.LWM2M_CBOR, ContentFormat.LWM2M_JSON)
"""Our preference among the structured formats a client announces."""
_COMPOSITES = (ReadComposite, ObserveComposite, WriteComposite)
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
    ) -> tuple[ServerRequest, int | None, tuple[int, ...] | None]:
        """``op`` with its Accept filled in, the Content-Format of its body, and the formats
        to try next if the client refuses this one (None: the caller chose, or a 1.0 client)."""
        legacy = registration.lwm2m_version == "1.0"
        if legacy and isinstance(op, _COMPOSITES):
            raise OperationUsageError(
                f"{type(op).__name__} needs LwM2M 1.1; {registration.endpoint!r:.80} "
                "registered with 1.0"
            )
        if isinstance(op, Read | Observe):
            if op.accept is not None:
                return op, None, None
            accept: int | None
            fallbacks: tuple[int, ...] | None = None
            if fmt is not None:
                accept = fmt
            elif legacy:
                accept = self._legacy_accept(op.path)
            else:
                chosen = _start(registration.content_format, composite=False)
                accept, fallbacks = chosen, _after(chosen, False)
            # Not dataclasses.replace: this runs for every Read, and costs a fifth of it.
            op = Read(op.path, accept) if isinstance(op, Read) else Observe(op.path, accept)
            return op, None, fallbacks
        if isinstance(op, ReadComposite | ObserveComposite):
            if op.accept is not None:
                return op, op.accept if fmt is None else fmt, None
            if fmt is not None:
                return replace(op, accept=fmt), fmt, None
            chosen = _start(registration.content_format, composite=True)
            return replace(op, accept=chosen), chosen, _after(chosen, True)
        if fmt is not None:
            return op, fmt, None
        if isinstance(op, Write) and legacy:
            return op, _legacy_write_format(op), None
        if isinstance(op, Create) and legacy:
            return op, ContentFormat.TLV, None
        if isinstance(op, Write | Create | WriteComposite):
            composite = isinstance(op, WriteComposite)
            chosen = _start(registration.content_format, composite=composite)
            return op, chosen, _after(chosen, composite)
        return op, None, None

    def fall_back(self, request: OutgoingRequest) -> bool:
        """Switch a request the client refused (4.06, 4.15) to the next format to try;
        False when there is none (the caller chose the format, or all were tried)."""
        fallbacks = request.fallbacks
        if not fallbacks:
            return False
        chosen, request.fallbacks = fallbacks[0], fallbacks[1:]
        op = request.op
        if isinstance(op, Read):
            request.op = Read(op.path, chosen)
        elif isinstance(op, Observe):
            request.op = Observe(op.path, chosen)
        elif isinstance(op, ReadComposite | ObserveComposite):
            request.op, request.fmt = replace(op, accept=chosen), chosen
        else:
            request.fmt = chosen
        request.parts = None
        return True

    @staticmethod
    def used_format(request: OutgoingRequest) -> int | None:
        """The format a request asked for (Read, Observe) or sent its body in."""
        op = request.op
        return op.accept if isinstance(op, Read | Observe) else request.fmt

    @staticmethod
    def learns(request: OutgoingRequest, registration: Registration) -> int | None:
        """The format to remember for ``registration`` after ``request`` succeeded in it: one
        the server chose by falling back (composites teach nothing: they never try TLV)."""
        if request.fallbacks is None or isinstance(request.op, _COMPOSITES):
            return None
        used = RequestEncoder.used_format(request)
        return used if used != _start(registration.content_format, composite=False) else None

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


def announced_format(formats: Iterable[int]) -> int | None:
    """The format to use for a client that announced ``formats`` (``ct`` on its root link):
    our preferred one among them; None when it announced none we read and write."""
    announced = set(formats)
    return next((cf for cf in _ANNOUNCED if cf in announced), None)


def _start(preferred: int | None, *, composite: bool) -> int:
    if preferred is None or (composite and preferred not in _COMPOSITE_FORMATS):
        return _SENML
    return preferred


@lru_cache(maxsize=32)
def _after(chosen: int, composite: bool) -> tuple[int, ...]:
    """The formats to try after ``chosen``, in order (shared tuples: one per request)."""
    return tuple(cf for cf in (_COMPOSITE_FORMATS if composite else _FALLBACK) if cf != chosen)
