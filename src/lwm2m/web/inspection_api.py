"""What the console shows beside the protocol (docs/server-api.md, "Operator views").

- ``GET /api/clients/{endpoint}/state``: the server's observations of the device (``path`` or
  ``paths`` each), ``queueMode``, ``awake`` (queue mode only, else null) with ``awakeFor``
  seconds left, and ``queued`` requests: what a console derives its observation state from
  after a reload or a server restart.
- ``GET /api/clients/{endpoint}/messages``: the device's CoAP message log (``capturing``,
  ``limit``, ``messages`` oldest first: ``time``, ``direction`` in/out, ``type``, ``code``,
  ``mid``, ``token`` hex, ``options`` as text, ``payload`` size); ``PUT`` starts logging it
  (201, or 200 when it was logged already; 409 when the log watches its maximum of devices),
  ``DELETE`` stops and forgets (204, 404 when it was not logged).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lwm2m.model import Path
from lwm2m.server import LwM2MServer
from lwm2m.server.inspection import PER_DEVICE, TooManyWatchedError
from lwm2m.web import inputs
from lwm2m.web.jsonview import JsonResponse

_ENDPOINT = "/api/clients/{endpoint}"


def inspection_routes(server: LwM2MServer) -> list[BaseRoute]:
    """Mounted before the node routes, which would take ``state`` for a path."""

    async def state(request: Request) -> Response:
        inputs.Query(request, ())
        endpoint = request.path_params["endpoint"]
        registration = server.registrations.get(endpoint)
        if registration is None:
            raise HTTPException(404, f"no registration for endpoint {endpoint!r:.80}")
        view = server.session_view(endpoint)
        return JsonResponse(
            {
                "observations": [
                    {"path": str(target)}
                    if isinstance(target, Path)
                    else {"paths": [str(path) for path in target]}
                    for target in view.observations
                ],
                "queueMode": registration.queue_mode,
                "awake": view.awake_for > 0 if registration.queue_mode else None,
                "awakeFor": round(view.awake_for, 1),
                "queued": view.queued,
            }
        )

    def log_json(endpoint: str) -> dict[str, object]:
        messages = server.message_log.messages(endpoint)
        return {
            "capturing": messages is not None,
            "limit": PER_DEVICE,
            "messages": messages or [],
        }

    async def messages(request: Request) -> Response:
        inputs.Query(request, ())
        return JsonResponse(log_json(request.path_params["endpoint"]))

    async def watch(request: Request) -> Response:
        inputs.Query(request, ())
        endpoint = request.path_params["endpoint"]
        try:
            created = server.message_log.watch(endpoint)
        except TooManyWatchedError as exc:
            raise HTTPException(409, str(exc)) from None
        return JsonResponse(log_json(endpoint), 201 if created else 200)

    async def unwatch(request: Request) -> Response:
        inputs.Query(request, ())
        endpoint = request.path_params["endpoint"]
        if not server.message_log.unwatch(endpoint):
            raise HTTPException(404, f"the messages of {endpoint!r:.80} are not logged")
        return Response(status_code=204)

    return [
        Route(_ENDPOINT + "/state", state, methods=["GET"]),
        Route(_ENDPOINT + "/messages", messages, methods=["GET"]),
        Route(_ENDPOINT + "/messages", watch, methods=["PUT"]),
        Route(_ENDPOINT + "/messages", unwatch, methods=["DELETE"]),
    ]
