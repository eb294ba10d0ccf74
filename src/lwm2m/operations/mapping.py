"""Operations to and from CoAP requests and responses (Transport 6.x: methods, paths, codes).

Four pure functions cover both directions: a server encodes DM requests and decodes
registration requests, a client the reverse.  Whatever comes from the network and does not
fit raises :class:`OperationError` with the code to answer; what local code asks for and
cannot be expressed raises :class:`OperationUsageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from lwm2m.coap.codes import Code
from lwm2m.coap.errors import InvalidMessageError
from lwm2m.coap.options import Options
from lwm2m.codec.base import Codec, CodecRegistry, ContentFormat
from lwm2m.codec.errors import CodecError
from lwm2m.codec.link import format_links, parse_links
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectNode,
    Path,
    PathError,
    ResourceInstance,
    SingleResource,
)
from lwm2m.operations.attributes import NotificationAttributes
from lwm2m.operations.errors import OperationError, OperationUsageError
from lwm2m.operations.execute import format_arguments, parse_arguments
from lwm2m.operations.messages import (
    BootstrapFinish,
    BootstrapRequest,
    Create,
    CreatedResponse,
    Delete,
    Deregister,
    Discover,
    EmptyResponse,
    ErrorResponse,
    Execute,
    LinksResponse,
    NodeResponse,
    Observe,
    ObserveComposite,
    Operation,
    Read,
    ReadComposite,
    Register,
    RegisteredResponse,
    Response,
    Send,
    Update,
    ValuesResponse,
    Write,
    WriteAttributes,
    WriteComposite,
)
from lwm2m.operations.registration import (
    ObjectLinks,
    parse_binding,
    parse_endpoint,
    parse_format_number,
    parse_lifetime,
    parse_sms,
    parse_version,
    require_value,
    split_query,
)

DEFAULT_FORMAT = ContentFormat.SENML_CBOR
"""Used for bodies and responses when neither the operation nor the caller names a format."""

MAX_DIAGNOSTIC = 128
"""Bytes of an error message we put in a diagnostic payload (RFC 7252 5.5.2)."""

T = TypeVar("T")

REGISTRATION_PATH = "rd"
BOOTSTRAP_PATH = "bs"
SEND_PATH = "dp"


@dataclass(frozen=True, slots=True)
class CoapParts:
    """What an operation puts in a CoAP request or response; the endpoint adds type, ID, token."""

    code: Code
    options: Options
    payload: bytes = b""


class CoapContent(Protocol):
    """What decoding reads: a received :class:`~lwm2m.coap.message.Message`, or CoapParts."""

    @property
    def code(self) -> Code: ...
    @property
    def options(self) -> Options: ...
    @property
    def payload(self) -> bytes: ...


_SUCCESS: dict[type, tuple[Code, type]] = {
    Register: (Code.CREATED, RegisteredResponse),
    Update: (Code.CHANGED, EmptyResponse),
    Deregister: (Code.DELETED, EmptyResponse),
    BootstrapRequest: (Code.CHANGED, EmptyResponse),
    BootstrapFinish: (Code.CHANGED, EmptyResponse),
    Send: (Code.CHANGED, EmptyResponse),
    Read: (Code.CONTENT, NodeResponse),
    Discover: (Code.CONTENT, LinksResponse),
    Write: (Code.CHANGED, EmptyResponse),
    WriteAttributes: (Code.CHANGED, EmptyResponse),
    Execute: (Code.CHANGED, EmptyResponse),
    Create: (Code.CREATED, CreatedResponse),
    Delete: (Code.DELETED, EmptyResponse),
    ReadComposite: (Code.CONTENT, ValuesResponse),
    WriteComposite: (Code.CHANGED, EmptyResponse),
    Observe: (Code.CONTENT, NodeResponse),
    ObserveComposite: (Code.CONTENT, ValuesResponse),
}


def success_code(op: Operation) -> Code:
    """The response code that means ``op`` succeeded (Transport 6.x tables)."""
    return _SUCCESS[type(op)][0]


# -- Requests ---------------------------------------------------------------------------


def encode_request(
    op: Operation,
    codecs: CodecRegistry,
    models: ModelRegistry,
    *,
    fmt: int | None = None,
    root: Sequence[str] = (),
) -> CoapParts:
    """The CoAP request for ``op``.

    ``fmt`` is the Content-Format of a body (Write, Create, composites, Send), DEFAULT_FORMAT
    if None; ``root`` is the client's alternate path (``("lwm2m",)``), prefixed to DM paths.
    """
    body_format = DEFAULT_FORMAT if fmt is None else fmt
    try:
        return _encode_request(op, codecs, models, body_format, tuple(root))
    except CodecError as exc:
        raise OperationUsageError(exc.describe()) from None
    except InvalidMessageError as exc:
        raise OperationUsageError(str(exc)) from None
    except OperationError as exc:
        # Our own parser rejected what we were about to send.
        raise OperationUsageError(exc.message) from None


def _encode_request(
    op: Operation, codecs: CodecRegistry, models: ModelRegistry, fmt: int, root: tuple[str, ...]
) -> CoapParts:
    match op:
        case Register():
            query, payload = _register_query(op), op.objects.to_payload()
            _decode_register(query, payload)  # the checks a server applies, on what we send
            opts = Options.build(
                uri_path=(REGISTRATION_PATH,), uri_query=query, content_format=ContentFormat.LINK
            )
            return CoapParts(Code.POST, opts, payload)
        case Update():
            if not op.location:
                raise OperationUsageError("Update needs the location Register returned")
            query = _update_query(op)
            payload = op.objects.to_payload() if op.objects is not None else b""
            _decode_update(op.location, query, payload)
            cf = ContentFormat.LINK if op.objects is not None else None
            opts = Options.build(uri_path=op.location, uri_query=query, content_format=cf)
            return CoapParts(Code.POST, opts, payload)
        case Deregister():
            if not op.location:
                raise OperationUsageError("De-register needs the location Register returned")
            return CoapParts(Code.DELETE, Options.build(uri_path=op.location))
        case BootstrapRequest():
            query = (f"ep={op.endpoint}",)
            if op.preferred_format is not None:
                query += (f"pct={op.preferred_format}",)
            _decode_bootstrap_request(query)
            return CoapParts(Code.POST, Options.build(uri_path=(BOOTSTRAP_PATH,), uri_query=query))
        case BootstrapFinish():
            return CoapParts(Code.POST, Options.build(uri_path=(BOOTSTRAP_PATH,)))
        case Send():
            if not op.batches:
                raise OperationUsageError("Send needs at least one value")
            payload = codecs.get(fmt).encode_timestamped(op.batches, models)
            opts = Options.build(uri_path=(SEND_PATH,), content_format=fmt)
            return CoapParts(Code.POST, opts, payload)
        case Read():
            return _get(root, op.path, op.accept)
        case Discover():
            query = () if op.depth is None else (f"depth={op.depth}",)
            _parse_depth(query)
            opts = Options.build(
                uri_path=(*root, *op.path.segments), uri_query=query, accept=ContentFormat.LINK
            )
            return CoapParts(Code.GET, opts)
        case Observe():
            return _get(root, op.path, op.accept, observe=1 if op.cancel else 0)
        case Write():
            problem = _node_problem(op.path, op.node)
            if op.partial and op.path.is_resource and not isinstance(op.node, MultipleResource):
                # POST with a single value to a resource is how Execute looks on the wire.
                problem = "a partial update of a resource needs a multiple resource"
            if problem is not None:
                raise OperationUsageError(problem)
            payload = codecs.get(fmt).encode(op.path, op.node, models)
            method = Code.POST if op.partial else Code.PUT
            opts = Options.build(uri_path=(*root, *op.path.segments), content_format=fmt)
            return CoapParts(method, opts, payload)
        case WriteAttributes():
            if op.attributes.is_empty:
                raise OperationUsageError("Write-Attributes needs at least one attribute")
            op.attributes.check(op.path, models)
            opts = Options.build(
                uri_path=(*root, *op.path.segments), uri_query=op.attributes.to_query()
            )
            return CoapParts(Code.PUT, opts)
        case Execute():
            if not op.path.is_resource:
                raise OperationUsageError(f"Execute targets a resource, not {op.path}")
            opts = Options.build(uri_path=(*root, *op.path.segments))
            return CoapParts(Code.POST, opts, format_arguments(op.arguments))
        case Create():
            if not op.instances:
                raise OperationUsageError("Create needs at least one instance")
            path = Path.of(op.object_id)
            node = ObjectNode(op.object_id, {inst.id: inst for inst in op.instances})
            payload = codecs.get(fmt).encode(path, node, models)
            opts = Options.build(uri_path=(*root, *path.segments), content_format=fmt)
            return CoapParts(Code.POST, opts, payload)
        case Delete():
            return CoapParts(Code.DELETE, Options.build(uri_path=(*root, *op.path.segments)))
        case ReadComposite() | ObserveComposite():
            if not op.paths:
                raise OperationUsageError("a composite operation needs at least one path")
            observe = None
            if isinstance(op, ObserveComposite):
                observe = 1 if op.cancel else 0
            opts = Options.build(
                uri_path=root, content_format=fmt, accept=op.accept, observe=observe
            )
            return CoapParts(Code.FETCH, opts, codecs.get(fmt).encode_paths(op.paths))
        case WriteComposite():
            if not op.values:
                raise OperationUsageError("Write-Composite needs at least one value")
            payload = codecs.get(fmt).encode_values(op.values, models)
            return CoapParts(Code.IPATCH, Options.build(uri_path=root, content_format=fmt), payload)
    raise OperationUsageError(f"not an operation: {op!r:.80}")


def _get(
    root: tuple[str, ...], path: Path, accept: int | None, observe: int | None = None
) -> CoapParts:
    opts = Options.build(uri_path=(*root, *path.segments), accept=accept, observe=observe)
    return CoapParts(Code.GET, opts)


def _register_query(op: Register) -> tuple[str, ...]:
    query = [f"ep={op.endpoint}"]
    if op.lifetime is not None:
        query.append(f"lt={op.lifetime}")
    query.append(f"lwm2m={op.lwm2m_version}")
    if op.binding is not None:
        query.append(f"b={op.binding}")
    if op.queue_mode:
        query.append("Q")
    if op.sms is not None:
        query.append(f"sms={op.sms}")
    return (*query, *op.extra)


def _update_query(op: Update) -> tuple[str, ...]:
    query = []
    if op.lifetime is not None:
        query.append(f"lt={op.lifetime}")
    if op.binding is not None:
        query.append(f"b={op.binding}")
    if op.sms is not None:
        query.append(f"sms={op.sms}")
    return (*query, *op.extra)


def decode_request(
    message: CoapContent,
    codecs: CodecRegistry,
    models: ModelRegistry,
    *,
    root: Sequence[str] = (),
) -> Operation:
    """The operation a CoAP request carries; OperationError says how to refuse it.

    ``root`` is this client's alternate path: DM requests must start with it.  Registration,
    bootstrap and Send requests are recognised by their first segment (``rd``, ``bs``, ``dp``).
    """
    code, options, payload = message.code, message.options, message.payload
    segments = options.uri_path
    query = options.uri_query
    head = segments[0] if segments else None
    if head == REGISTRATION_PATH:
        if code == Code.POST and len(segments) == 1:
            return _decode_register(query, payload)
        if code == Code.POST:
            return _decode_update(segments, query, payload)
        if code == Code.DELETE and len(segments) > 1:
            return Deregister(segments)
        raise _not_allowed(code, segments)
    if head in (BOOTSTRAP_PATH, SEND_PATH):
        if code != Code.POST or len(segments) != 1:
            raise _not_allowed(code, segments)
        if head == SEND_PATH:
            codec = _codec(codecs, options.content_format)
            batches = tuple(_decoding(codec.decode_timestamped, payload, models))
            if not batches:
                raise OperationError(Code.BAD_REQUEST, "Send without values")
            return Send(batches)
        return _decode_bootstrap_request(query) if query else BootstrapFinish()
    path = _dm_path(segments, tuple(root))
    return _decode_dm(path, message, codecs, models)


def _decode_register(query: Sequence[str], payload: bytes) -> Register:
    params, extra = split_query(query, ("ep", "lt", "lwm2m", "b", "Q", "sms"))
    if params.get("Q") is not None:
        raise OperationError(Code.BAD_REQUEST, "queue mode Q takes no value")
    endpoint = parse_endpoint(require_value(params, "ep"))
    lifetime = parse_lifetime(require_value(params, "lt"))
    binding = parse_binding(require_value(params, "b"))
    sms = parse_sms(require_value(params, "sms"))
    version = parse_version(require_value(params, "lwm2m"))
    if not payload:
        raise OperationError(Code.BAD_REQUEST, "Register without the object list")
    return Register(
        endpoint=endpoint,
        objects=ObjectLinks.from_payload(payload),
        lifetime=lifetime,
        lwm2m_version=version,
        binding=binding,
        queue_mode="Q" in params,
        sms=sms,
        extra=extra,
    )


def _decode_update(location: tuple[str, ...], query: Sequence[str], payload: bytes) -> Update:
    params, extra = split_query(query, ("lt", "b", "sms"))
    return Update(
        location=location,
        lifetime=parse_lifetime(require_value(params, "lt")),
        binding=parse_binding(require_value(params, "b")),
        sms=parse_sms(require_value(params, "sms")),
        objects=ObjectLinks.from_payload(payload) if payload else None,
        extra=extra,
    )


def _decode_bootstrap_request(query: Sequence[str]) -> BootstrapRequest:
    params, _ = split_query(query, ("ep", "pct"))
    return BootstrapRequest(
        endpoint=parse_endpoint(require_value(params, "ep")),
        preferred_format=parse_format_number(require_value(params, "pct")),
    )


def _dm_path(segments: tuple[str, ...], root: tuple[str, ...]) -> Path:
    if segments[: len(root)] != root:
        raise OperationError(Code.NOT_FOUND, f"/{'/'.join(segments)} is outside /{'/'.join(root)}")
    try:
        return Path.from_segments(segments[len(root) :])
    except PathError as exc:
        raise OperationError(Code.NOT_FOUND, str(exc)) from None


def _decode_dm(
    path: Path, message: CoapContent, codecs: CodecRegistry, models: ModelRegistry
) -> Operation:
    code, options, payload = message.code, message.options, message.payload
    query = options.uri_query
    cf = options.content_format
    if code == Code.PUT and cf is None and not payload:
        attributes = NotificationAttributes.from_query(query)
        if attributes.is_empty:
            raise OperationError(Code.BAD_REQUEST, "Write-Attributes without attributes")
        attributes.check(path, models)
        return WriteAttributes(path, attributes)
    if code == Code.GET and options.accept == ContentFormat.LINK and options.observe is None:
        return Discover(path, _parse_depth(query))
    if query:
        raise OperationError(Code.BAD_REQUEST, f"unexpected query {'&'.join(query)!r:.60}")
    if code == Code.GET:
        observe = options.observe
        if observe is None:
            return Read(path, options.accept)
        if observe not in (0, 1):
            raise OperationError(Code.BAD_REQUEST, f"Observe={observe} in a request")
        return Observe(path, options.accept, cancel=observe == 1)
    if code == Code.DELETE:
        return Delete(path)
    if code == Code.PUT:
        return Write(path, _decode_node(path, options, payload, codecs, models))
    if code == Code.POST:
        if path.is_resource and cf in (None, ContentFormat.TEXT):
            return Execute(path, parse_arguments(payload))
        if path.is_object:
            node = _decode_node(path, options, payload, codecs, models)
            assert isinstance(node, ObjectNode)
            if not node.instances:
                raise OperationError(Code.BAD_REQUEST, "Create without an instance")
            return Create(node.id, tuple(node.instances.values()))
        if path.is_instance or path.is_resource:
            return Write(path, _decode_node(path, options, payload, codecs, models), partial=True)
        raise _not_allowed(code, path.segments)
    if code in (Code.FETCH, Code.IPATCH):
        if not path.is_root:
            raise _not_allowed(code, path.segments)
        codec = _codec(codecs, cf)
        if code == Code.IPATCH:
            values = _decoding(codec.decode_values, payload, models)
            if not values:
                raise OperationError(Code.BAD_REQUEST, "Write-Composite without values")
            return WriteComposite(values)
        paths = tuple(_decoding(codec.decode_paths, payload))
        if not paths:
            raise OperationError(Code.BAD_REQUEST, "composite request without paths")
        observe = options.observe
        if observe is None:
            return ReadComposite(paths, options.accept)
        if observe not in (0, 1):
            raise OperationError(Code.BAD_REQUEST, f"Observe={observe} in a request")
        return ObserveComposite(paths, options.accept, cancel=observe == 1)
    raise _not_allowed(code, path.segments)


def _parse_depth(query: Sequence[str]) -> int | None:
    params, extra = split_query(query, ("depth",))
    if extra:
        raise OperationError(Code.BAD_REQUEST, f"unexpected query {'&'.join(extra)!r:.60}")
    text = require_value(params, "depth")
    if text is None:
        return None
    if text not in ("0", "1", "2", "3"):
        raise OperationError(Code.BAD_REQUEST, f"depth={text!r:.20} is not 0..3")
    return int(text)


def _not_allowed(code: Code, segments: Sequence[str]) -> OperationError:
    return OperationError(
        Code.METHOD_NOT_ALLOWED, f"{code.name} is not an operation on /{'/'.join(segments)}"
    )


# -- Responses --------------------------------------------------------------------------


def encode_error(code: Code, message: str = "") -> CoapParts:
    """An error response; ``message`` becomes the diagnostic payload, cut to MAX_DIAGNOSTIC."""
    diagnostic = message.encode()[:MAX_DIAGNOSTIC].decode(errors="ignore").encode()
    return CoapParts(code, Options(), diagnostic)


def encode_response(
    op: Operation,
    response: Response,
    codecs: CodecRegistry,
    models: ModelRegistry,
    *,
    fmt: int | None = None,
) -> CoapParts:
    """The CoAP response to ``op``.

    A body's format is the request's Accept, else the response's ``content_format``, else
    ``fmt``, else DEFAULT_FORMAT.  A node or values that format cannot carry raise
    OperationError 4.06 (or 5.00 when they do not fit the model): answer with
    :func:`encode_error`.
    """
    if isinstance(response, ErrorResponse):
        return encode_error(response.code, response.message)
    code, expected = _SUCCESS[type(op)]
    if not isinstance(response, expected):
        raise OperationUsageError(f"{type(op).__name__} is answered by {expected.__name__}")
    match response:
        case NodeResponse():
            assert isinstance(op, Read | Observe)
            cf = _response_format(op.accept, response.content_format, fmt, codecs)
            payload = _encoding(lambda c: c.encode(op.path, response.node, models), codecs, cf)
            return CoapParts(
                code, Options.build(content_format=cf, observe=response.observe), payload
            )
        case ValuesResponse():
            assert isinstance(op, ReadComposite | ObserveComposite)
            cf = _response_format(op.accept, response.content_format, fmt, codecs)
            payload = _encoding(lambda c: c.encode_values(response.values, models), codecs, cf)
            return CoapParts(
                code, Options.build(content_format=cf, observe=response.observe), payload
            )
        case LinksResponse():
            try:
                payload = format_links(response.links).encode()
            except CodecError as exc:
                raise OperationError(Code.INTERNAL_SERVER_ERROR, exc.describe()) from None
            return CoapParts(code, Options.build(content_format=ContentFormat.LINK), payload)
        case CreatedResponse():
            location = () if response.location is None else response.location.segments
            return CoapParts(code, Options.build(location_path=location))
        case RegisteredResponse():
            if not response.location:
                raise OperationUsageError("a registration needs a location")
            return CoapParts(code, Options.build(location_path=response.location))
    return CoapParts(code, Options())


def _response_format(
    accept: int | None, chosen: int | None, fmt: int | None, codecs: CodecRegistry
) -> int:
    if accept is not None:
        if accept not in codecs:
            raise OperationError(Code.NOT_ACCEPTABLE, f"content format {accept} is not supported")
        return accept
    for candidate in (chosen, fmt):
        if candidate is not None:
            return candidate
    return DEFAULT_FORMAT


def _encoding(encode: Callable[[Codec], bytes], codecs: CodecRegistry, cf: int) -> bytes:
    try:
        return encode(codecs.get(cf))
    except CodecError as exc:
        error = OperationError.from_codec(exc)
        if error.code == Code.UNSUPPORTED_CONTENT_FORMAT:
            error = OperationError(Code.NOT_ACCEPTABLE, error.message)
        raise error from None


def decode_response(
    op: Operation, message: CoapContent, codecs: CodecRegistry, models: ModelRegistry
) -> Response:
    """The typed response to ``op`` (a notification too, for Observe and Observe-Composite).

    Error codes become ErrorResponse; an unexpected success code or a body that does not
    decode raises OperationError.
    """
    code, options, payload = message.code, message.options, message.payload
    if code.is_error:
        return ErrorResponse(code, payload.decode(errors="replace"))
    expected = success_code(op)
    if code != expected:
        raise OperationError(
            Code.BAD_REQUEST, f"{code.dotted} to {type(op).__name__}, expected {expected.dotted}"
        )
    match op:
        case Register():
            if not options.location_path:
                raise OperationError(Code.BAD_REQUEST, "2.01 to Register without Location-Path")
            return RegisteredResponse(options.location_path)
        case Read() | Observe():
            node = _decode_node(op.path, options, payload, codecs, models, response=True)
            return NodeResponse(node, _format_of(options), options.observe)
        case ReadComposite() | ObserveComposite():
            codec = _codec(codecs, _format_of(options))
            values = _decoding(codec.decode_values, payload, models)
            return ValuesResponse(values, codec.content_format, options.observe)
        case Discover():
            try:
                return LinksResponse(tuple(parse_links(payload.decode())))
            except UnicodeDecodeError:
                raise OperationError(Code.BAD_REQUEST, "link format is not UTF-8") from None
            except CodecError as exc:
                raise OperationError.from_codec(exc) from None
        case Create():
            return CreatedResponse(_created_location(op, options.location_path))
    return EmptyResponse()


def _created_location(op: Create, location: tuple[str, ...]) -> Path | None:
    if not location:
        return None
    try:
        path = Path.from_segments(location)
    except PathError as exc:
        raise OperationError(Code.BAD_REQUEST, f"Location-Path of Create: {exc}") from None
    if not path.is_instance or path.ids[0] != op.object_id:
        raise OperationError(Code.BAD_REQUEST, f"Create answered with location {path}")
    return path


# -- Helpers ----------------------------------------------------------------------------


def _format_of(options: Options) -> int:
    """The payload's Content-Format; plain text when absent (Transport 6.1 default)."""
    cf = options.content_format
    return ContentFormat.TEXT if cf is None else cf


def _codec(codecs: CodecRegistry, cf: int | None) -> Codec:
    if cf is None:
        raise OperationError(Code.BAD_REQUEST, "payload without Content-Format")
    try:
        return codecs.get(cf)
    except CodecError as exc:
        raise OperationError.from_codec(exc) from None


def _decoding(decode: Callable[..., T], *args: object) -> T:
    try:
        return decode(*args)
    except CodecError as exc:
        raise OperationError.from_codec(exc) from None


def _decode_node(
    path: Path,
    options: Options,
    payload: bytes,
    codecs: CodecRegistry,
    models: ModelRegistry,
    *,
    response: bool = False,
) -> Node:
    cf = _format_of(options) if response else options.content_format
    node: Node = _decoding(_codec(codecs, cf).decode, payload, path, models)
    problem = _node_problem(path, node)
    if problem is not None:
        raise OperationError(Code.BAD_REQUEST, problem)
    return node


_NODE_TYPES: dict[int, tuple[type, ...]] = {
    1: (ObjectNode,),
    2: (ObjectInstance,),
    3: (SingleResource, MultipleResource),
    4: (ResourceInstance,),
}


def _node_problem(path: Path, node: Node) -> str | None:
    if path.is_root or not isinstance(node, _NODE_TYPES[path.depth]) or node.id != path.ids[-1]:
        return f"{type(node).__name__} {node.id} does not belong at {path}"
    return None
