"""Moving a device to another transport over REST (docs/transports.md).

``POST /api/clients/{endpoint}/transport`` with ``{"transport": "U"}`` (``"U"``, ``"T"``,
``"S"`` or ``"N"``; optional ``"instance"``, the device's Server instance, and ``"timeout"``
in seconds, 60 by default) executes the Registration Update Trigger ``/1/x/8`` with
``0='U'`` and answers once the device's Update has arrived over the new transport: 200 with
``transport``, ``address`` and the registration.  409 when the device refuses (its reason:
it does not hold that transport), 504 when its Update does not come, 400 for a bad body or
transport, 404 for an unknown endpoint.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lwm2m.server import LwM2MServer
from lwm2m.server.registration import format_address
from lwm2m.server.switching import TransportRefusedError, transport_of
from lwm2m.web import inputs
from lwm2m.web.jsonview import JsonResponse


def transport_routes(server: LwM2MServer) -> list[BaseRoute]:
    """Mounted before the node routes, which would take ``transport`` for a path."""

    async def switch(request: Request) -> Response:
        inputs.Query(request, ())
        body = await inputs.json_body(request, ("transport", "instance", "timeout"))
        transport, instance, timeout = (
            body.get("transport"),
            body.get("instance"),
            body.get("timeout", 60.0),
        )
        if not isinstance(transport, str):
            raise inputs.bad_request("transport must be one of U, T, S, N")
        if instance is not None and (not isinstance(instance, int) or isinstance(instance, bool)):
            raise inputs.bad_request("instance must be a Server object instance ID")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
            raise inputs.bad_request("timeout must be a positive number of seconds")
        endpoint = request.path_params["endpoint"]
        try:
            registration = await server.switch_transport(
                endpoint, transport, instance=instance, timeout=float(timeout)
            )
        except TransportRefusedError as refusal:
            return JsonResponse({"message": str(refusal)}, 409)
        return JsonResponse(
            {
                "transport": transport_of(registration.address),
                "address": format_address(registration.address),
                "registration": registration.to_json(),
            }
        )

    return [Route("/api/clients/{endpoint}/transport", switch, methods=["POST"])]
