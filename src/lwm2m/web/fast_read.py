"""A device Read over REST without Starlette's per-request machinery.

``GET /api/clients/{endpoint}/{path}`` is the API's most common request, and Starlette spent
more on it than the Read itself costs the server: two :class:`~starlette.requests.Request`
objects, three ``send`` wrappers, the route scan and a response object.  :class:`DeviceRead`
is the route's endpoint as a plain ASGI app (no Request unless there is a query or an error),
and :class:`ReadShortcut` hands it the requests the router would give it, without the scan
and the exception middleware: it asks only the routes before the Read's that take a GET and
a path with as many ``/`` (a table by that count), which refuse a Read's path on its fixed
text (:mod:`lwm2m.web.routing`).  Errors become the
same answers as through the router, by the app's own exception handlers; anything they do not
handle propagates to Starlette's server-error middleware, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.convertors import PathConvertor, StringConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lwm2m.model import Path
from lwm2m.server import LwM2MServer
from lwm2m.web import inputs
from lwm2m.web.jsonview import answer_json, dumps
from lwm2m.web.routing import ScreenedRoute

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

QUERY_NAMES = ("format", "timeout")
PATHS_KEPT = 1024
"""Parsed node paths kept by their URL text (a fleet is read at few paths); the first ones."""
_JSON_TYPE = (b"content-type", b"application/json")


class DeviceRead:
    """The Read route's ASGI endpoint: the device's answer as HTTP 200 JSON, and errors as
    ``handlers`` (keyed by exception class, most specific first in the MRO) answer them."""

    def __init__(self, server: LwM2MServer, handlers: Mapping[type[Exception], ErrorHandler]):
        self._server = server
        self._handlers = handlers
        self._paths: dict[str, Path] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        try:
            path = self._path(params["path"])
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

    def _path(self, text: str) -> Path:
        path = self._paths.get(text)
        if path is None:
            path = inputs.node_path(text)
            if len(self._paths) < PATHS_KEPT:
                self._paths[text] = path
        return path

    def _handler(self, exc: Exception) -> ErrorHandler | None:
        for kind in type(exc).__mro__:
            handler = self._handlers.get(kind)
            if handler is not None:
                return handler
        return None


class ReadShortcut:
    """ASGI middleware: a GET that the router would route to ``read`` goes straight to its
    endpoint; every other request to ``app``.

    ``routes`` is the app's route table, in order, ``read`` one of them, with parameters that
    are strings (``{name}`` or ``{name:path}``).  Only a route before ``read`` that takes a GET
    (or a mount, which takes any method) can match a GET first.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], read: Route) -> None:
        if any(
            type(convertor) not in (StringConvertor, PathConvertor)
            for convertor in read.param_convertors.values()
        ):
            raise ValueError(f"{read.path}: the shortcut takes string parameters only")
        self._app = app
        self._read = read
        rivals = [
            route
            for route in routes[: routes.index(read)]
            if not isinstance(route, Route) or route.methods is None or "GET" in route.methods
        ]
        screened = [route for route in rivals if isinstance(route, ScreenedRoute)]
        others = [route for route in rivals if not isinstance(route, ScreenedRoute)]
        # by the number of "/" in a path; the last entry for that many or more
        self._most = max((route.slashes for route in screened), default=0) + 1
        self._rivals = [
            (*others, *(route for route in screened if route.takes_slashes(slashes)))
            for slashes in range(self._most + 1)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            found = self._read.path_regex.match(path)
            if found is not None and not any(
                rival.matches(scope)[0] is Match.FULL
                for rival in self._rivals[min(path.count("/"), self._most)]
            ):
                scope["path_params"] = {**scope.get("path_params", {}), **found.groupdict()}
                scope["endpoint"], scope["route"] = self._read.endpoint, self._read
                await self._read.app(scope, receive, send)
                return
        await self._app(scope, receive, send)
