"""The REST API: routes, and the mapping of device answers and server errors to HTTP.

A device's answer, success or CoAP error, is HTTP 200 with the CoAP code in ``"status"``; HTTP
error codes are for what happened before or instead of an answer: bad input (400), an unknown
endpoint (404), a full queue-mode queue (503), no answer in time (504), an answer that is no
usable response (502).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from lwm2m.coap.codes import Code
from lwm2m.codec.errors import CodecError
from lwm2m.codec.flat_json import value_to_json
from lwm2m.model import Path
from lwm2m.operations import Response as DeviceAnswer
from lwm2m.server import LwM2MServer, Registration
from lwm2m.server.errors import (
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    UnknownEndpointError,
)
from lwm2m.web import inputs
from lwm2m.web.auth import LOOPBACK_HOSTS, ApiGuard
from lwm2m.web.console import console_routes
from lwm2m.web.events import EventHub, TooManySubscribersError
from lwm2m.web.fast_read import DeviceRead, ErrorHandler, ReadShortcut
from lwm2m.web.health import health_routes
from lwm2m.web.inspection_api import inspection_routes
from lwm2m.web.jsonview import JsonResponse, answer_json, registration_json
from lwm2m.web.listing import QUERY_NAMES, ClientQuery, list_page
from lwm2m.web.metrics import ServerMetrics
from lwm2m.web.network_api import network_routes
from lwm2m.web.nidd_api import CallbackShortcut, nidd_routes
from lwm2m.web.openapi import openapi_routes
from lwm2m.web.routing import screened
from lwm2m.web.security_api import security_routes
from lwm2m.web.transport_api import transport_routes
from lwm2m.web.wake_api import wake_routes

_ENDPOINT = "/api/clients/{endpoint}"
_NODE = _ENDPOINT + "/{path:path}"


def create_app(
    server: LwM2MServer,
    *,
    events: EventHub | None = None,
    auth: str | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    store: object | None = None,
    metrics: ServerMetrics | None = None,
) -> Starlette:
    """The API and the web console over ``server``; incoming values are typed by its models.

    Pass ``events`` to close the event streams yourself before an HTTP shutdown, ``auth`` to
    require ``Authorization: Bearer <auth>`` on every API request (``extra_routes`` too),
    ``allowed_hosts`` to serve other ``Host`` names than the loopback ones (``*``: any),
    ``store`` (the server's) to show its ``stats()`` at ``/metrics`` and judge ``/ready``,
    ``metrics`` to start and close its lag sampler yourself.
    """
    hub = events if events is not None else EventHub(server)
    metrics = metrics if metrics is not None else ServerMetrics(server, hub, store)
    api = _Api(server, hub)
    reader = DeviceRead(server, _ERROR_HANDLERS)
    routes = [
        Route("/api/clients", api.list_clients, methods=["GET"]),
        Route("/api/events", api.events, methods=["GET"]),
        Route(_ENDPOINT, api.get_client, methods=["GET"]),
        *wake_routes(server),
        *inspection_routes(server),
        *transport_routes(server),
        Route(_ENDPOINT + "/composite/read", api.read_composite, methods=["POST"]),
        Route(_ENDPOINT + "/composite/write", api.write_composite, methods=["POST"]),
        Route(_ENDPOINT + "/composite/observe", api.observe_composite, methods=["POST"]),
        Route(_ENDPOINT + "/composite/observe", api.cancel_composite, methods=["DELETE"]),
        Route(_NODE + "/discover", api.discover, methods=["GET"]),
        Route(_NODE + "/history", api.history, methods=["GET"]),
        Route(_NODE + "/attributes", api.write_attributes, methods=["PUT"]),
        Route(_NODE + "/execute", api.execute, methods=["POST"]),
        Route(_NODE + "/observe", api.observe, methods=["POST"]),
        Route(_NODE + "/observe", api.cancel_observation, methods=["DELETE"]),
        Route(_ENDPOINT + "/{object_id}", api.create, methods=["POST"]),
        Route(_NODE, reader, methods=["GET"]),
        Route(_NODE, api.write, methods=["PUT", "PATCH"]),
        Route(_NODE, api.delete, methods=["DELETE"]),
        *security_routes(server),
        *nidd_routes(server),
        *network_routes(server),
        metrics.route(),
        *health_routes(server, store),
        *extra_routes,
        *console_routes(server),
    ]
    routes += openapi_routes(lambda: routes, auth=auth is not None)
    table = screened(routes)
    read = next(r for r in table if isinstance(r, Route) and r.endpoint is reader)
    return Starlette(
        routes=table,
        middleware=[
            Middleware(ApiGuard, token=auth, allowed_hosts=allowed_hosts),
            Middleware(CallbackShortcut, server=server),
            Middleware(ReadShortcut, routes=table, read=read),
        ],
        exception_handlers={**_ERROR_HANDLERS, Exception: _internal_error},
    )


class _Api:
    """One handler per route; each parses its input fully before it asks the server."""

    def __init__(self, server: LwM2MServer, hub: EventHub) -> None:
        self._server = server
        self._models = server.models
        self._hub = hub

    async def list_clients(self, request: Request) -> Response:
        """Registered devices, filtered and sorted; a page of them with ``limit``."""
        inputs.Query(request, QUERY_NAMES)
        page = list_page(self._server.registrations.all(), ClientQuery.parse(request.query_params))
        headers = {"X-Total-Count": str(page.total)}
        if page.cursor is not None:
            following = request.url.include_query_params(cursor=page.cursor)
            headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return JsonResponse([self._device_json(r) for r in page.devices], headers=headers)

    async def get_client(self, request: Request) -> Response:
        inputs.Query(request, ())
        endpoint = request.path_params["endpoint"]
        registration = self._server.registrations.get(endpoint)
        if registration is None:
            raise HTTPException(404, f"no registration for endpoint {endpoint!r:.80}")
        return JsonResponse(self._device_json(registration))

    def _device_json(self, registration: Registration) -> dict[str, object]:
        """The registration, and the Telekom timer rules its device breaks now."""
        violations = self._server.timer_violations(registration.endpoint)
        return {
            **registration_json(registration),
            "timerRuleViolations": [violation.to_json() for violation in violations],
        }

    async def history(self, request: Request) -> Response:
        """Values the device notified or sent at the path or below, oldest first."""
        endpoint, path = _target(request)
        limit = inputs.Query(request, ("limit",)).limit
        if self._server.registrations.get(endpoint) is None:
            raise HTTPException(404, f"no registration for endpoint {endpoint!r:.80}")
        entries = self._server.history(endpoint, path, limit)
        return JsonResponse(
            {
                "values": [
                    {"time": e.time, "path": str(e.path), "value": value_to_json(e.value)}
                    for e in entries
                ]
            }
        )

    async def events(self, request: Request) -> Response:
        """The event stream, resumed after ``Last-Event-ID`` if the client sends one; one
        device's with ``?endpoint=``, after its values since ``?since=`` (Unix time)."""
        query = inputs.Query(request, ("endpoint", "since"))
        endpoint = request.query_params.get("endpoint")
        if query.since is not None and endpoint is None:
            raise inputs.bad_request("since needs endpoint (it replays one device's values)")
        try:
            stream = self._hub.open(
                request.headers.get("last-event-id"), endpoint=endpoint, since=query.since
            )
        except TooManySubscribersError as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "30"}) from None
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def write(self, request: Request) -> Response:
        endpoint, path = _target(request)
        query = inputs.Query(request, ("format", "timeout"))
        values = await inputs.values_body(request, self._models)
        answer = await self._server.write(
            endpoint,
            path,
            values,
            partial=request.method == "PATCH",
            fmt=query.format,
            timeout=query.timeout,
        )
        return _answer(answer, path)

    async def delete(self, request: Request) -> Response:
        endpoint, path = _target(request)
        query = inputs.Query(request, ("timeout",))
        answer = await self._server.delete(endpoint, path, timeout=query.timeout)
        return _answer(answer, path, success=Code.DELETED)

    async def execute(self, request: Request) -> Response:
        endpoint, path = _target(request)
        query = inputs.Query(request, ("timeout",))
        args = await inputs.execute_args(request)
        answer = await self._server.execute(endpoint, path, args, timeout=query.timeout)
        return _answer(answer, path)

    async def create(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        object_id = inputs.object_id(request.path_params["object_id"])
        query = inputs.Query(request, ("format", "timeout"))
        values = await inputs.values_body(request, self._models)
        answer = await self._server.create(
            endpoint, object_id, values, fmt=query.format, timeout=query.timeout
        )
        return _answer(answer, Path.of(object_id))

    async def discover(self, request: Request) -> Response:
        endpoint, path = _target(request)
        query = inputs.Query(request, ("depth", "timeout"))
        answer = await self._server.discover(
            endpoint, path, depth=query.depth, timeout=query.timeout
        )
        return _answer(answer, path)

    async def write_attributes(self, request: Request) -> Response:
        endpoint, path = _target(request)
        timeout = inputs.Query(request, ("timeout", *inputs.ATTRIBUTE_NAMES)).timeout
        attributes = inputs.attributes(request)
        answer = await self._server.write_attributes(endpoint, path, attributes, timeout=timeout)
        return _answer(answer, path)

    async def observe(self, request: Request) -> Response:
        endpoint, path = _target(request)
        query = inputs.Query(request, ("format", "timeout"))
        answer = await self._server.observe(endpoint, path, fmt=query.format, timeout=query.timeout)
        return _answer(answer, path)

    async def cancel_observation(self, request: Request) -> Response:
        endpoint, path = _target(request)
        query = inputs.Query(request, ("active", "timeout"))
        answer = await self._server.cancel_observation(
            endpoint, path, active=query.active, timeout=query.timeout
        )
        return _answer(answer, path)

    async def read_composite(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        query = inputs.Query(request, ("format", "timeout"))
        paths = await inputs.paths_body(request)
        answer = await self._server.read_composite(
            endpoint, paths, fmt=query.format, timeout=query.timeout
        )
        return _answer(answer)

    async def write_composite(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        query = inputs.Query(request, ("format", "timeout"))
        values = await inputs.values_body(request, self._models)
        answer = await self._server.write_composite(
            endpoint, values, fmt=query.format, timeout=query.timeout
        )
        return _answer(answer)

    async def observe_composite(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        query = inputs.Query(request, ("format", "timeout"))
        paths = await inputs.paths_body(request)
        answer = await self._server.observe_composite(
            endpoint, paths, fmt=query.format, timeout=query.timeout
        )
        return _answer(answer)

    async def cancel_composite(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        query = inputs.Query(request, ("active", "timeout"))
        paths = await inputs.paths_body(request)
        answer = await self._server.cancel_observation(
            endpoint, paths, active=query.active, timeout=query.timeout
        )
        return _answer(answer)


def _target(request: Request) -> tuple[str, Path]:
    return request.path_params["endpoint"], inputs.node_path(request.path_params["path"])


def _answer(
    answer: DeviceAnswer, path: Path | None = None, *, success: Code = Code.CHANGED
) -> Response:
    """The device's answer as HTTP 200; ``success`` is the code an empty success stands for."""
    return JsonResponse(answer_json(answer, path, success=success))


def _status(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        return JsonResponse({"message": str(exc)}, status)

    return handler


_ERROR_HANDLERS: dict[type[Exception], ErrorHandler] = {
    HTTPException: inputs.http_error,
    UnknownEndpointError: _status(404),
    QueueFullError: _status(503),
    RequestTimeoutError: _status(504),
    # The device answered with something unusable (RST, undecodable payload).
    RequestFailedError: _status(502),
    # What the server refuses as bad input: OperationUsageError and PathError are
    # ValueErrors too.
    ValueError: _status(400),
    CodecError: _status(400),
}
"""How an exception becomes an answer, most specific class first; anything else is a 500."""


async def _internal_error(request: Request, exc: Exception) -> Response:
    """No traceback leaves the process; Starlette re-raises so the server log has it."""
    return JsonResponse({"message": "internal error"}, 500)
