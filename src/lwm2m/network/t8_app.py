"""The T8 northbound HTTP face (Starlette): routes of the three TS 29.122 APIs onto the
:class:`~lwm2m.network.scef.Scef`, a bearer token, bounded JSON bodies, ProblemDetails for
every error, and ``GET /api/network``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lwm2m.network.monitoring import MONITORING_ROOT, TRIGGERING_ROOT
from lwm2m.network.nidd import NIDD_ROOT
from lwm2m.network.scef import Scef
from lwm2m.network.t8_body import Reply, T8Error

MAX_BODY = 64 * 1024
"""Largest request body (a 1358-octet packet is 1,812 characters of base64)."""


class T8Host(Protocol):
    """What the HTTP face needs from the service around it."""

    scef: Scef

    def now(self) -> float: ...

    def pump(self) -> None:
        """Send the callbacks and URCs a request caused, and re-arm the timers."""

    def status(self) -> dict[str, Any]: ...


Handler = Callable[[Request, float, Any], Reply]


def _problem(status: int, title: str, detail: str | None = None) -> Response:
    return _respond(T8Error(status, title, detail=detail).reply())


def _respond(reply: Reply) -> Response:
    if reply.status == 204:
        return Response(status_code=204, headers=reply.headers)
    return JSONResponse(
        reply.body, reply.status, headers=reply.headers, media_type=reply.media_type
    )


async def _read_json(request: Request) -> Any:
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise T8Error(413, "Content Too Large", detail=f"bodies up to {MAX_BODY} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        raise T8Error(415, "Unsupported Media Type", detail="send application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise T8Error(413, "Content Too Large", detail=f"bodies up to {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise T8Error(400, "Bad Request", cause="INVALID_PARAMETERS",
                      invalid=[{"param": "/", "reason": "not JSON"}]) from None  # fmt: skip


def create_t8_app(host: T8Host, *, token: str | None = None) -> Starlette:
    """The ASGI app; ``token``: every request needs ``Authorization: Bearer <token>``."""
    scef = host.scef
    nidd, monitoring, triggering = scef.nidd, scef.monitoring, scef.triggering

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            if token is not None:
                offered = request.headers.get("authorization", "")
                if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
                    response = _problem(401, "Unauthorized", "a bearer token is required")
                    response.headers["WWW-Authenticate"] = "Bearer"
                    return response
            try:
                body = await _read_json(request)
                reply = handler(request, host.now(), body)
            except T8Error as error:
                return _respond(error.reply())
            host.pump()
            return _respond(reply)

        return run

    def root(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def p(request: Request, name: str) -> str:
        return str(request.path_params[name])

    def rds_ports(request: Request, now: float, body: Any) -> Reply:
        nidd.get_configuration(p(request, "scs"), p(request, "config"))
        return Reply(200, [])  # reliable data service (RDS) is not supported: no ports

    def rds_port(request: Request, now: float, body: Any) -> Reply:
        nidd.get_configuration(p(request, "scs"), p(request, "config"))
        if request.method == "PUT":
            raise T8Error(403, "Forbidden", detail="reliable data service is not supported")
        raise T8Error(404, "Not Found", detail="no RDS port is configured")

    config_path = f"{NIDD_ROOT}/{{scs}}/configurations/{{config}}"
    delivery_path = f"{config_path}/downlink-data-deliveries/{{delivery}}"
    routes: list[tuple[str, str, Handler]] = [
        ("GET", f"{NIDD_ROOT}/{{scs}}/configurations",
         lambda r, now, b: nidd.list_configurations(p(r, "scs"))),
        ("POST", f"{NIDD_ROOT}/{{scs}}/configurations",
         lambda r, now, b: nidd.create_configuration(p(r, "scs"), b, now, root(r))),
        ("GET", config_path,
         lambda r, now, b: nidd.get_configuration(p(r, "scs"), p(r, "config"))),
        ("PATCH", config_path,
         lambda r, now, b: nidd.patch_configuration(p(r, "scs"), p(r, "config"), b, now)),
        ("DELETE", config_path,
         lambda r, now, b: nidd.delete_configuration(p(r, "scs"), p(r, "config"))),
        ("GET", f"{config_path}/downlink-data-deliveries",
         lambda r, now, b: nidd.list_deliveries(p(r, "scs"), p(r, "config"))),
        ("POST", f"{config_path}/downlink-data-deliveries",
         lambda r, now, b: nidd.create_delivery(p(r, "scs"), p(r, "config"), b, now)),
        ("GET", delivery_path,
         lambda r, now, b: nidd.get_delivery(p(r, "scs"), p(r, "config"), p(r, "delivery"))),
        ("PUT", delivery_path,
         lambda r, now, b: nidd.update_delivery(
             p(r, "scs"), p(r, "config"), p(r, "delivery"), b, now, patch=False)),
        ("PATCH", delivery_path,
         lambda r, now, b: nidd.update_delivery(
             p(r, "scs"), p(r, "config"), p(r, "delivery"), b, now, patch=True)),
        ("DELETE", delivery_path,
         lambda r, now, b: nidd.delete_delivery(p(r, "scs"), p(r, "config"), p(r, "delivery"))),
        ("GET", f"{config_path}/rds-ports", rds_ports),
        ("GET", f"{config_path}/rds-ports/{{port}}", rds_port),
        ("PUT", f"{config_path}/rds-ports/{{port}}", rds_port),
        ("DELETE", f"{config_path}/rds-ports/{{port}}", rds_port),
        ("GET", f"{MONITORING_ROOT}/{{scs}}/subscriptions",
         lambda r, now, b: monitoring.list_all(p(r, "scs"))),
        ("POST", f"{MONITORING_ROOT}/{{scs}}/subscriptions",
         lambda r, now, b: monitoring.create(p(r, "scs"), b, now, root(r))),
        ("GET", f"{MONITORING_ROOT}/{{scs}}/subscriptions/{{sub}}",
         lambda r, now, b: monitoring.get(p(r, "scs"), p(r, "sub"))),
        ("PUT", f"{MONITORING_ROOT}/{{scs}}/subscriptions/{{sub}}",
         lambda r, now, b: monitoring.replace(p(r, "scs"), p(r, "sub"), b, now)),
        ("PATCH", f"{MONITORING_ROOT}/{{scs}}/subscriptions/{{sub}}",
         lambda r, now, b: monitoring.patch(p(r, "scs"), p(r, "sub"))),
        ("DELETE", f"{MONITORING_ROOT}/{{scs}}/subscriptions/{{sub}}",
         lambda r, now, b: monitoring.delete(p(r, "scs"), p(r, "sub"))),
        ("GET", f"{TRIGGERING_ROOT}/{{scs}}/transactions",
         lambda r, now, b: triggering.list_all(p(r, "scs"))),
        ("POST", f"{TRIGGERING_ROOT}/{{scs}}/transactions",
         lambda r, now, b: triggering.create(p(r, "scs"), b, now, root(r))),
        ("GET", f"{TRIGGERING_ROOT}/{{scs}}/transactions/{{tid}}",
         lambda r, now, b: triggering.get(p(r, "scs"), p(r, "tid"))),
        ("PUT", f"{TRIGGERING_ROOT}/{{scs}}/transactions/{{tid}}",
         lambda r, now, b: triggering.update(p(r, "scs"), p(r, "tid"), b, now, patch=False)),
        ("PATCH", f"{TRIGGERING_ROOT}/{{scs}}/transactions/{{tid}}",
         lambda r, now, b: triggering.update(p(r, "scs"), p(r, "tid"), b, now, patch=True)),
        ("DELETE", f"{TRIGGERING_ROOT}/{{scs}}/transactions/{{tid}}",
         lambda r, now, b: triggering.delete(p(r, "scs"), p(r, "tid"))),
        ("GET", "/api/network", lambda r, now, b: Reply(200, host.status())),
    ]  # fmt: skip

    by_path: dict[str, dict[str, Handler]] = {}
    for method, path, handler in routes:
        by_path.setdefault(path, {})[method] = handler

    def dispatch(handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
        bound = {method: endpoint(handler) for method, handler in handlers.items()}

        async def run(request: Request) -> Response:
            return await bound[request.method](request)

        return run

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = _problem(exc.status_code, exc.detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    return Starlette(
        routes=[
            Route(path, dispatch(handlers), methods=list(handlers))
            for path, handlers in by_path.items()
        ],
        exception_handlers={HTTPException: http_error},
    )
