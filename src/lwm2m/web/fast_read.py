"""A device Read over REST without Starlette's per-request machinery.

``GET /api/clients/{endpoint}/{path}`` is the API's most common request, and Starlette spent
more on it than the Read itself costs the server: two :class:`~starlette.requests.Request`
objects, three ``send`` wrappers, the route scan and a response object.  :class:`DeviceRead`
is the route's endpoint as a plain ASGI app (no Request unless there is a query or an error),
and :class:`ReadShortcut` hands it the requests the router would give it, without the scan
and the exception middleware: it asks only the routes before the Read's that take a GET,
which refuse a Read's path on its fixed text (:mod:`lwm2m.web.routing`).  Errors become the
same answers as through the router, by the app's own exception handlers; anything they do not
handle propagates to Starlette's server-error middleware, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lwm2m.server import LwM2MServer
from lwm2m.web import inputs
from lwm2m.web.jsonview import answer_json, dumps

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

QUERY_NAMES = ("format", "timeout")
_JSON_TYPE = (b"content-type", b"application/json")


class DeviceRead:
    """The Read route's ASGI endpoint: the device's answer as HTTP 200 JSON, and errors as
    ``handlers`` (keyed by exception class, most specific first in the MRO) answer them."""

    def __init__(self, server: LwM2MServer, handlers: Mapping[type[Exception], ErrorHandler]):
        self._server = server
        self._handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        try:
            path = inputs.node_path(params["path"])
            fmt = timeout = None
            if scope["query_string"]:
                query = inputs.Query(Request(scope), QUERY_NAMES)
                fmt, timeout = query.format, query.timeout
            answer = await self._server.read(params["endpoint"], path, fmt=fmt, timeout=timeout)
            body = dumps(answer_json(answer, path)).encode()
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive, send), exc)
            exc.__traceback__ = None  # as Starlette does: a reused exception keeps no frames
            await response(scope, receive, send)
            return
        headers = [(b"content-length", b"%d" % len(body)), _JSON_TYPE]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _handler(self, exc: Exception) -> ErrorHandler | None:
        for kind in type(exc).__mro__:
            handler = self._handlers.get(kind)
            if handler is not None:
                return handler
        return None


class ReadShortcut:
    """ASGI middleware: a GET that the router would route to ``read`` goes straight to its
    endpoint; every other request to ``app``.

    ``routes`` is the app's route table, in order, ``read`` one of them.  Only a route before
    ``read`` that takes a GET (or a mount, which takes any method) can match a GET first.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], read: Route) -> None:
        self._app = app
        self._read = read
        before = routes[: routes.index(read)]
        self._rivals = [
            route
            for route in before
            if not isinstance(route, Route) or route.methods is None or "GET" in route.methods
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            match, child_scope = self._read.matches(scope)
            if match is Match.FULL and not any(
                rival.matches(scope)[0] is Match.FULL for rival in self._rivals
            ):
                scope.update(child_scope, route=self._read)
                await self._read.app(scope, receive, send)
                return
        await self._app(scope, receive, send)
