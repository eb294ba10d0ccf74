"""The bootstrap server's REST API: per-endpoint configurations (docs/bootstrap.md).

``GET /api/bootstrap`` lists them, ``GET``/``PUT``/``DELETE /api/bootstrap/{endpoint}`` reads,
adds or replaces, and removes one (``*`` is the default entry).  Keys go in and never come out:
answers show ``"hasKey"`` instead.  Errors are ``{"message": ...}`` with 400 (bad input, naming
the field), 404 (no such entry) or 413 (a body over :data:`MAX_BODY`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lwm2m.bootstrap.config import ConfigError, ConfigStore, parse_entry
from lwm2m.web import inputs
from lwm2m.web.auth import LOOPBACK_HOSTS, HostGuard

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024


def create_bootstrap_app(
    configs: ConfigStore, *, allowed_hosts: Iterable[str] = LOOPBACK_HOSTS
) -> Starlette:
    """The API alone, for ``lwm2m bootstrap``; ``allowed_hosts`` as for the server's API."""
    return Starlette(
        routes=bootstrap_routes(configs),
        middleware=[Middleware(HostGuard, allowed=allowed_hosts)],
        exception_handlers={HTTPException: inputs.http_error},
    )


def bootstrap_routes(configs: ConfigStore) -> list[BaseRoute]:
    """The routes, also mounted into the LwM2M server's API by ``lwm2m server``."""

    async def list_configs(request: Request) -> Response:
        return JSONResponse({name: config.to_json() for name, config in configs})

    async def get_config(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        config = configs.get(endpoint)
        if config is None:
            raise HTTPException(404, f"no bootstrap configuration for {endpoint!r:.80}")
        return JSONResponse(config.to_json())

    async def put_config(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        entry = await inputs.read_json(request, MAX_BODY)
        try:
            config = parse_entry(endpoint, entry)
        except ConfigError as exc:
            raise inputs.bad_request(str(exc)) from None
        created = configs.put(endpoint, config)
        logger.info(
            "bootstrap configuration of %s %s", endpoint, "added" if created else "replaced"
        )
        return JSONResponse(config.to_json(), 201 if created else 200)

    async def delete_config(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        if not configs.delete(endpoint):
            raise HTTPException(404, f"no bootstrap configuration for {endpoint!r:.80}")
        logger.info("bootstrap configuration of %s deleted", endpoint)
        return Response(status_code=204)

    return [
        Route("/api/bootstrap", list_configs, methods=["GET"]),
        Route("/api/bootstrap/{endpoint}", get_config, methods=["GET"]),
        Route("/api/bootstrap/{endpoint}", put_config, methods=["PUT"]),
        Route("/api/bootstrap/{endpoint}", delete_config, methods=["DELETE"]),
    ]
