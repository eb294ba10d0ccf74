"""The bootstrap server's REST API: per-endpoint configurations (docs/bootstrap.md).

``GET /api/bootstrap`` lists them, ``GET``/``PUT``/``DELETE /api/bootstrap/{endpoint}`` reads,
adds or replaces, and removes one (``*`` is the default entry).  Keys go in and never come out:
answers show ``"hasKey"`` instead.  Errors are ``{"message": ...}`` with 400 (bad input, naming
the field), 404 (no such entry) or 413 (a body over :data:`MAX_BODY`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lwm2m.bootstrap.config import ConfigError, ConfigStore, parse_entry

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
GRACEFUL_SHUTDOWN = 5


def create_app(configs: ConfigStore) -> Starlette:
    async def list_configs(request: Request) -> Response:
        return JSONResponse({name: config.to_json() for name, config in configs})

    async def get_config(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        config = configs.get(endpoint)
        if config is None:
            return _error(404, f"no bootstrap configuration for {endpoint!r:.80}")
        return JSONResponse(config.to_json())

    async def put_config(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"body over {MAX_BODY} bytes")
        try:
            config = parse_entry(endpoint, json.loads(body))
        except ValueError as exc:  # ConfigError, or JSON that does not parse
            return _error(400, str(exc) if isinstance(exc, ConfigError) else f"not JSON: {exc}")
        created = configs.put(endpoint, config)
        logger.info(
            "bootstrap configuration of %r %s", endpoint, "added" if created else "replaced"
        )
        return JSONResponse(config.to_json(), 201 if created else 200)

    async def delete_config(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        if not configs.delete(endpoint):
            return _error(404, f"no bootstrap configuration for {endpoint!r:.80}")
        logger.info("bootstrap configuration of %r deleted", endpoint)
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/api/bootstrap", list_configs, methods=["GET"]),
            Route("/api/bootstrap/{endpoint}", get_config, methods=["GET"]),
            Route("/api/bootstrap/{endpoint}", put_config, methods=["PUT"]),
            Route("/api/bootstrap/{endpoint}", delete_config, methods=["DELETE"]),
        ]
    )


def _error(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status)


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Whoever owns the loop handles SIGINT/SIGTERM and stops every service together.
        yield


class ApiServer:
    """The API on ``host:port`` in the running loop; the socket is bound here, so port 0 works."""

    def __init__(
        self,
        configs: ConfigStore,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        log_level: str = "warning",
    ) -> None:
        self._address = (host, port)
        config = uvicorn.Config(
            create_app(configs),
            log_level=log_level,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        )
        self._uvicorn = _Uvicorn(config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self._socket is not None, "start() first"
        host, port = self._socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind and listen (OSError if the port is taken)."""
        family = socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET
        self._socket = socket.create_server(self._address, family=family)
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[self._socket]))

    async def stop(self) -> None:
        if self._task is not None:
            self._uvicorn.should_exit = True
            await self._task
            self._task = None
