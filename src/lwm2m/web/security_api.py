"""The security REST API: the PSK each endpoint authenticates with over DTLS, and its OSCORE
context (docs/security.md).

``GET /api/security`` lists the credentials (endpoint, mode, identity or Sender/Recipient ID),
``GET``/``PUT``/``DELETE /api/security/{endpoint}`` reads (the PSK if there is one, else the
OSCORE context), adds or replaces (``{"mode": "psk", "identity": "..", "key": "hex"}`` or
``{"mode": "oscore", "masterSecret": "hex", "senderId": "hex", "recipientId": "hex",
"masterSalt"?, "idContext"?}``, the server's Sender ID), and removes them.  Keys and master
secrets go in and never come out, neither in an answer nor in a log line; a changed or removed
PSK closes the endpoint's DTLS sessions and TLS connections.  With a database both kinds are
kept there (the server's stores persist each change) and survive a restart.  Errors are
``{"message": ...}`` with 400 (bad input, naming the field, or OSCORE on a server without
it), 404 (no credential), 409 (the identity or Recipient ID belongs to another endpoint, or an
OSCORE context on a cluster node) or 413 (a body over :data:`MAX_BODY`).

OSCORE contexts are refused on a cluster node, as ``--oscore`` is: each node keeps its own
Sender Sequence Number for a context, from the reservation it saw when it loaded the context,
so a node taking a device over could send under nonces another node has used
(docs/cluster.md).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lwm2m.security.credentials import OscoreCredential, PskCredential
from lwm2m.server import LwM2MServer
from lwm2m.web import inputs

logger = logging.getLogger(__name__)

MAX_BODY = 4096


def security_routes(server: LwM2MServer) -> list[BaseRoute]:
    async def list_credentials(request: Request) -> Response:
        oscore = list(server.oscore) if server.oscore is not None else []
        credentials = [*server.credentials, *oscore]
        return JSONResponse([credential.to_json() for credential in credentials])

    async def get_credential(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        credential: PskCredential | OscoreCredential | None = server.credentials.get(endpoint)
        if credential is None and server.oscore is not None:
            credential = server.oscore.get(endpoint)
        if credential is None:
            raise HTTPException(404, f"no credential for {endpoint!r:.80}")
        return JSONResponse(credential.to_json())

    async def put_credential(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        entry = await inputs.read_json(request, MAX_BODY)
        if isinstance(entry, dict) and entry.get("mode") == "oscore":
            return _put_oscore(server, endpoint, entry)
        try:
            credential = PskCredential.from_json(endpoint, entry)
        except ValueError as exc:  # the messages name the field, never the key
            raise HTTPException(400, str(exc)) from None
        try:
            created = server.set_credential(credential)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        logger.info(
            "PSK of %s %s (identity %s)",
            endpoint,
            "added" if created else "replaced",
            credential.psk.identity.decode("utf-8", "backslashreplace"),
        )
        return JSONResponse(credential.to_json(), 201 if created else 200)

    async def delete_credential(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        oscore = server.oscore is not None and server.oscore.remove_endpoint(endpoint)
        if not server.remove_credential(endpoint) and not oscore:
            raise HTTPException(404, f"no credential for {endpoint!r:.80}")
        logger.info("credentials of %s removed", endpoint)
        return Response(status_code=204)

    return [
        Route("/api/security", list_credentials, methods=["GET"]),
        Route("/api/security/{endpoint}", get_credential, methods=["GET"]),
        Route("/api/security/{endpoint}", put_credential, methods=["PUT"]),
        Route("/api/security/{endpoint}", delete_credential, methods=["DELETE"]),
    ]


def _put_oscore(server: LwM2MServer, endpoint: str, entry: dict[str, object]) -> Response:
    if server.oscore is None:
        raise HTTPException(400, "mode: this server does not speak OSCORE")
    if server.clustered:
        raise HTTPException(
            409,
            "mode: OSCORE is not supported in a cluster yet: a node taking the device over could"
            " reuse OSCORE nonces (docs/cluster.md)",
        )
    try:
        credential = OscoreCredential.from_json(endpoint, entry)
    except ValueError as exc:  # the messages name the field, never the secret
        raise HTTPException(400, str(exc)) from None
    try:
        created = server.oscore.set(credential)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    logger.info(
        "OSCORE context of %s %s (recipient ID %s)",
        endpoint,
        "added" if created else "replaced",
        credential.recipient_id.hex(),
    )
    return JSONResponse(credential.to_json(), 201 if created else 200)
