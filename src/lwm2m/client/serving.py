"""The Device Management and Service Enablement Interface (Core §6.3), served to servers.

Requests from a registered server's peer are served with that server's rights (the tree
enforces them); other peers get 4.01.  Whatever device code raises becomes an error response:
the client keeps serving.
"""

from __future__ import annotations

import logging

from lwm2m.client.context import EngineContext
from lwm2m.client.objects import ObjectError
from lwm2m.client.registering import Registrar
from lwm2m.client.registration import State
from lwm2m.client.reporting import Reporter, read_values
from lwm2m.coap.codes import Code
from lwm2m.coap.events import RequestReceived
from lwm2m.codec import ContentFormat
from lwm2m.codec.link import Link
from lwm2m.model import Node, ObjectNode, Path, ResourceInstance, SingleResource
from lwm2m.operations import (
    Create,
    CreatedResponse,
    Delete,
    Discover,
    EmptyResponse,
    Execute,
    LinksResponse,
    NodeResponse,
    Observe,
    ObserveComposite,
    Operation,
    OperationError,
    Read,
    ReadComposite,
    Response,
    ValuesResponse,
    Write,
    WriteAttributes,
    WriteComposite,
    decode_request,
    encode_error,
    encode_response,
    format_arguments,
)

log = logging.getLogger(__name__)


class DeviceManagement:
    """Serves the requests of registered servers on the tree."""

    def __init__(self, ctx: EngineContext, registrar: Registrar, reporter: Reporter) -> None:
        self._ctx = ctx
        self._registrar = registrar
        self._reporter = reporter

    def serve(self, event: RequestReceived, now: float) -> None:
        ctx = self._ctx
        reg = self._registrar.by_peer.get(event.exchange.peer)
        op: Operation | None = None
        response: Response | None = None
        if reg is None or reg.state in (State.DISABLED, State.STOPPED):
            parts = encode_error(Code.UNAUTHORIZED, "not a server of this client")
        else:
            try:
                op = decode_request(event.request, ctx.codecs, ctx.tree.models)
                response, fmt = self._perform(op, reg.short_server_id, now)
                parts = encode_response(op, response, ctx.codecs, ctx.tree.models, fmt=fmt)
            except (OperationError, ObjectError) as exc:
                code = exc.code
                if response is not None and getattr(op, "accept", None) is not None:
                    code = Code.NOT_ACCEPTABLE  # the asked format cannot carry the answer
                parts = encode_error(code, exc.message)
            except Exception as exc:  # a bug in device code must not take the client down
                log.exception("client %s: %s failed", ctx.endpoint_name, type(op).__name__)
                parts = encode_error(Code.INTERNAL_SERVER_ERROR, type(exc).__name__)
        key = ctx.respond(event.exchange, parts, now)
        if (
            key is not None
            and reg is not None
            and isinstance(op, Observe | ObserveComposite)
            and isinstance(response, NodeResponse | ValuesResponse)
        ):
            self._reporter.observe(
                key, op, response, ssid=reg.short_server_id, parts=parts, now=now
            )

    def _perform(self, op: Operation, ssid: int, now: float) -> tuple[Response, int | None]:
        """Carry out a server's request on the tree; the response and its default format."""
        tree = self._ctx.tree
        match op:
            case Read(path) | Observe(path):
                node = tree.read(path, server_id=ssid)
                return NodeResponse(node), self._ctx.node_format(node)
            case ReadComposite(paths) | ObserveComposite(paths):
                values = read_values(tree, paths, ssid, skip_absent=True)
                return ValuesResponse(values), ContentFormat.SENML_CBOR
            case Discover(path, depth):
                return LinksResponse(self._discover(path, depth, ssid)), None
            case Write(path, node, partial):
                tree.write(path, node, replace=not partial, server_id=ssid)
            case WriteComposite(values):
                for path, value in values.items():
                    leaf: Node = (
                        SingleResource(path.ids[2], value)
                        if path.is_resource
                        else ResourceInstance(path.ids[-1], value)
                    )
                    tree.write(path, leaf, replace=True, server_id=ssid)
            case WriteAttributes(path, attributes):
                self._reporter.write_attributes(ssid, path, attributes, now)
            case Execute(path, arguments):
                tree.execute(path, format_arguments(arguments).decode(), server_id=ssid)
            case Create(object_id, instances):
                node = ObjectNode(object_id, {instance.id: instance for instance in instances})
                ids = tree.create(Path.of(object_id), node, server_id=ssid)
                location = Path.of(object_id, ids[0]) if len(ids) == 1 else None
                return CreatedResponse(location), None
            case Delete(path):
                tree.delete(path, server_id=ssid)
            case _:
                raise OperationError(Code.METHOD_NOT_ALLOWED, f"{type(op).__name__} is not for us")
        return EmptyResponse(), None

    def _discover(self, path: Path, depth: int | None, ssid: int) -> tuple[Link, ...]:
        assigned = self._reporter.assigned(ssid)
        links = []
        for entry in self._ctx.tree.discover(path, server_id=ssid, depth=depth):
            params: list[tuple[str, str | None]] = []
            if entry.dim is not None:
                params.append(("dim", str(entry.dim)))
            attributes = assigned.get(entry.path)
            if attributes is not None:
                params += [_attribute(item) for item in attributes.to_query()]
            links.append(Link(str(entry.path), params))
        return tuple(links)


def _attribute(item: str) -> tuple[str, str | None]:
    name, eq, value = item.partition("=")
    return name, value if eq else None
