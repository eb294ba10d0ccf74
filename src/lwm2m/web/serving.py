"""uvicorn in the running event loop, next to the CoAP server it exposes.

uvicorn's loggers go through the process's own logging (``log_config=None``: it installs no
handler of its own), so the server and the HTTP side log in one format; its access log is off
unless asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Iterator, Sequence

import uvicorn
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from lwm2m.server import LwM2MServer
from lwm2m.web.app import create_app
from lwm2m.web.auth import LOOPBACK_HOSTS
from lwm2m.web.events import EventHub
from lwm2m.web.metrics import ServerMetrics

SEND_BUFFER = 64 * 1024
"""Kernel send buffer of each HTTP connection (Linux doubles it): an event stream that is not
read blocks once this and uvicorn's own 64 KiB are full, and from then on costs nothing."""

GRACEFUL_SHUTDOWN = 5
"""Seconds stop() lets requests in flight (a Read of a slow device) finish."""


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The owner of the loop handles SIGINT/SIGTERM and stops CoAP and HTTP together;
        # uvicorn's own handlers would re-raise the signal after its shutdown and kill us.
        yield


class HttpServer:
    """Any ASGI ``app`` on ``host:port`` in the running loop; the socket is bound here, so
    port 0 works."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        self._host = host
        self._port = port
        self._uvicorn = _Uvicorn(
            uvicorn.Config(
                app,
                log_level=log_level,
                log_config=None,
                access_log=access_log,
                lifespan="off",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
            )
        )
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) bound; only after start()."""
        assert self._socket is not None, "start() first"
        host, port = self._socket.getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        """Where to point a browser: a wildcard bind is reached as localhost."""
        host, port = self.address
        if host in ("0.0.0.0", "::"):
            return f"http://localhost:{port}"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind and listen (OSError if the port is taken); requests are served from now on."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._socket = socket.create_server((self._host, self._port), family=family)
        # Accepted connections inherit it: without it, the kernel grows the send buffer of an
        # event stream nobody reads to megabytes, and the server keeps writing into it.
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self._task = asyncio.create_task(self._uvicorn.serve(sockets=[self._socket]))

    async def stop(self) -> None:
        if self._task is not None:
            self._uvicorn.should_exit = True
            await self._task
            self._task = None


class WebServer(HttpServer):
    """The REST API and console of ``server``; ``extra_routes`` mounts further APIs (the
    bootstrap server's, when it runs in the same process); the other arguments are
    :func:`~lwm2m.web.app.create_app`'s."""

    def __init__(
        self,
        server: LwM2MServer,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        log_level: str = "warning",
        access_log: bool = False,
        events: EventHub | None = None,
        auth: str | None = None,
        extra_routes: Sequence[BaseRoute] = (),
        allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
        store: object | None = None,
    ) -> None:
        self._events = events if events is not None else EventHub(server)
        self._metrics = ServerMetrics(server, self._events, store)
        app = create_app(
            server,
            events=self._events,
            auth=auth,
            extra_routes=extra_routes,
            allowed_hosts=allowed_hosts,
            store=store,
            metrics=self._metrics,
        )
        super().__init__(app, host=host, port=port, log_level=log_level, access_log=access_log)

    async def start(self) -> None:
        await super().start()
        self._metrics.start()

    async def stop(self) -> None:
        self._metrics.close()
        self._events.close()
        await super().stop()
