"""``GET /api/network``: the status of the emulated operator network behind NIDD.

``lwm2m network`` serves ``GET /api/network`` beside its T8 APIs (docs/network.md), so a
server started with ``--nidd URL`` relays ``URL/api/network`` (with its T8 token) for the
console's Network page.  Nothing is made up: a server without NIDD answers 404, an SCEF that
has no such status (a real operator's) 404 with that reason, one that cannot be reached 502.
"""

from __future__ import annotations

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lwm2m.server import LwM2MServer
from lwm2m.web import inputs
from lwm2m.web.jsonview import JsonResponse

TIMEOUT = 5.0
"""Seconds the status may take."""
MAX_STATUS = 4 << 20
"""Bytes of status relayed at most (about 10,000 UEs)."""


def network_routes(server: LwM2MServer) -> list[BaseRoute]:
    async def status(request: Request) -> Response:
        inputs.Query(request, ())
        nidd = server.config.nidd
        if nidd is None:
            raise HTTPException(404, "this server has no network: start it with --nidd URL")
        url = nidd.url.rstrip("/") + "/api/network"
        headers = {"Accept": "application/json"}
        if nidd.t8_token:
            headers["Authorization"] = f"Bearer {nidd.t8_token}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                answer = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"the network at {nidd.url} is unreachable: {exc}") from None
        if answer.status_code == 404:
            raise HTTPException(
                404, f"{nidd.url} has no /api/network (only lwm2m network's emulator has it)"
            )
        if answer.status_code != 200 or len(answer.content) > MAX_STATUS:
            raise HTTPException(502, f"{url} answered HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            raise HTTPException(502, f"{url} answered with no JSON") from None
        return JsonResponse({"source": url, **body} if isinstance(body, dict) else body)

    return [Route("/api/network", status, methods=["GET"])]
