"""The NIDD REST API and the T8 notification route (docs/nidd.md).

``GET /api/nidd/devices`` lists the devices the server reaches over NIDD with their state at
the SCEF (configuration, maximum packet size, last reachability event, registered endpoint);
``GET``/``PUT``/``DELETE /api/nidd/devices/{address}`` reads, adds (201, or 200 when it is
served already) and removes one; ``address`` is an external identifier (``dev@domain``) or
``msisdn:NUMBER``.  A server without NIDD answers 404.

``/t8/{token}/nidd`` and ``/t8/{token}/monitoring`` take the SCEF's notifications (the
notificationDestination of each configuration and subscription).  They are outside ``/api``:
the SCEF cannot present the API token, and the shared token in the path stands for it
(:mod:`lwm2m.transport.nidd.callbacks`).  Every MO packet is one such request, so
:class:`CallbackShortcut` answers them as plain ASGI, before Starlette's router and
``Request``/``Response`` objects; the route stays for everything else (other methods).
"""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lwm2m.server import LwM2MServer
from lwm2m.transport.nidd.callbacks import MAX_BODY
from lwm2m.transport.nidd.peer import NiddPeer

logger = logging.getLogger(__name__)

CALLBACK_PREFIX = "/t8"
CALLBACK_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PROBLEM_TYPE = (b"content-type", b"application/problem+json")


def nidd_routes(server: LwM2MServer) -> list[BaseRoute]:
    def nidd() -> None:
        """404 without NIDD (without listing every device, as a PUT of one did)."""
        try:
            server.nidd  # noqa: B018  (the property raises without NIDD)
        except RuntimeError:
            raise HTTPException(404, "this server has no NIDD (lwm2m server --nidd URL)") from None

    def devices() -> list[dict[str, object]]:
        nidd()
        listed = server.nidd_devices()
        endpoints = {
            str(r.address): r.endpoint
            for r in server.registrations.all()
            if isinstance(r.address, NiddPeer)
        }
        return [{**device, "endpoint": endpoints.get(str(device["address"]))} for device in listed]

    def peer_of(request: Request) -> NiddPeer:
        try:
            return NiddPeer.parse(request.path_params["address"])
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    async def list_devices(request: Request) -> Response:
        return JSONResponse(devices())

    async def get_device(request: Request) -> Response:
        peer = peer_of(request)
        for device in devices():
            if device["address"] == str(peer):
                return JSONResponse(device)
        raise HTTPException(404, f"{peer} is not a NIDD device of this server")

    async def put_device(request: Request) -> Response:
        peer = peer_of(request)
        nidd()
        created = server.add_nidd_device(peer)
        logger.info("NIDD device %s %s", peer, "added" if created else "kept")
        return JSONResponse(server.nidd.describe(peer), 201 if created else 200)

    async def delete_device(request: Request) -> Response:
        peer = peer_of(request)
        nidd()
        if not await server.remove_nidd_device(peer):
            raise HTTPException(404, f"{peer} is not a NIDD device of this server")
        logger.info("NIDD device %s removed", peer)
        return Response(status_code=204)

    async def notification(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                break  # the handler answers 413
        reply = server.nidd_notification(
            request.method,
            "/" + request.path_params["rest"],
            request.headers.get("content-type"),
            bytes(body),
        )
        if reply.body is None:
            return Response(status_code=reply.status)
        return JSONResponse(reply.body, reply.status, media_type="application/problem+json")

    return [
        Route("/api/nidd/devices", list_devices, methods=["GET"]),
        Route("/api/nidd/devices/{address}", get_device, methods=["GET"]),
        Route("/api/nidd/devices/{address}", put_device, methods=["PUT"]),
        Route("/api/nidd/devices/{address}", delete_device, methods=["DELETE"]),
        Route(
            CALLBACK_PREFIX + "/{rest:path}",
            notification,
            methods=list(CALLBACK_METHODS),
        ),
    ]


class CallbackShortcut:
    """ASGI middleware: a request the router would give the ``/t8/{rest:path}`` route is
    answered here, the same way (no route before it takes ``/t8/``), without the route scan,
    the exception middleware and the Request and Response objects; others go to ``app``."""

    def __init__(self, app: ASGIApp, *, server: LwM2MServer) -> None:
        self._app = app
        self._server = server
        self._prefix = CALLBACK_PREFIX + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in CALLBACK_METHODS
            or not scope["path"].startswith(self._prefix)
            or scope.get("root_path")
        ):
            await self._app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > MAX_BODY:
                break  # too long: the handler answers 413
        content_type = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
                break
        path = scope["path"][len(CALLBACK_PREFIX) :]
        reply = self._server.nidd_notification(scope["method"], path, content_type, body)
        if reply.body is None:
            await send({"type": "http.response.start", "status": reply.status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        problem = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = [(b"content-length", b"%d" % len(problem)), _PROBLEM_TYPE]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": problem})
