"""Waking sleeping devices over REST (docs/sms.md, "Waking"; docs/server-api.md).

- ``GET /api/clients/{endpoint}/wake-policy``: the device's policy (``mode`` ``trigger`` or
  ``wait``, ``channel`` ``sms``/``t8``/null, ``maxPerHour``, ``serverInstance``), its trigger
  ``paths``, ``sentLastHour`` and the ``pending`` trigger.
- ``PUT`` the same: replace the policy (fields left out take their defaults; ``{}`` is the
  default policy); the answer is what ``GET`` shows.
- ``POST /api/clients/{endpoint}/wake`` (optional body ``{"channel": "sms" | "t8"}``): send one
  trigger now; 200 with what was sent (``channel``, ``to``, ``serverInstance``, ``payload``:
  the CoAP bytes in hex, ``transaction`` for T8), 409 when there is no such path or the rate
  limit holds, 400 for a bad body, 404 for an unknown endpoint.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lwm2m.server import LwM2MServer
from lwm2m.server.waking import WakePolicy, WakeRefusedError, parse_channel
from lwm2m.web import inputs
from lwm2m.web.jsonview import JsonResponse

_ENDPOINT = "/api/clients/{endpoint}"


def wake_routes(server: LwM2MServer) -> list[BaseRoute]:
    """Mounted before the node routes, which would take ``wake-policy`` for a path."""

    async def get_policy(request: Request) -> Response:
        inputs.Query(request, ())
        return JsonResponse(server.wake_state(request.path_params["endpoint"]))

    async def put_policy(request: Request) -> Response:
        inputs.Query(request, ())
        endpoint = request.path_params["endpoint"]
        try:
            policy = WakePolicy.from_json(await inputs.read_json(request))
        except ValueError as exc:
            raise inputs.bad_request(str(exc)) from None
        server.set_wake_policy(endpoint, policy)
        return JsonResponse(server.wake_state(endpoint))

    async def wake(request: Request) -> Response:
        inputs.Query(request, ())
        body = await inputs.json_body(request, ("channel",), optional=True)
        try:
            channel = None if body.get("channel") is None else parse_channel(body["channel"])
        except ValueError as exc:
            raise inputs.bad_request(str(exc)) from None
        try:
            sent = await server.wake(request.path_params["endpoint"], channel)
        except WakeRefusedError as refusal:
            return JsonResponse({"message": str(refusal)}, refusal.status)
        return JsonResponse(sent)

    return [
        Route(_ENDPOINT + "/wake-policy", get_policy, methods=["GET"]),
        Route(_ENDPOINT + "/wake-policy", put_policy, methods=["PUT"]),
        Route(_ENDPOINT + "/wake", wake, methods=["POST"]),
    ]
