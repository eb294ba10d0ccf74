"""uvicorn in the running event loop, next to the CoAP server it exposes.

uvicorn's loggers go through the process's own logging (``log_config=None``: it installs no
handler of its own), so the server and the HTTP side log in one format; its access log is off
unless asked for.  uvicorn writes an answer's head and body separately; each HTTP connection's
writes in one turn of the event loop leave in one send (:class:`_WriteBatcher`), so that an
answer costs one system call, and wakes its client once, instead of two.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import uvicorn
from starlette.routing import BaseRoute
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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

BATCH_LIMIT = 64 * 1024
"""Bytes a connection holds back for its next send at most (a large answer leaves at once)."""


class _WriteBatcher(asyncio.Transport):
    """A connection's transport whose writes wait for the end of the loop's turn and leave
    together; everything else is the connection's own."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._held: list[bytes | bytearray | memoryview] = []
        self._size = 0
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)
        self._size += len(data)
        if self._size > BATCH_LIMIT:
            self._flush()

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            self._size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()


class _BatchingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`_WriteBatcher`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_WriteBatcher(transport))


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
                http=_BatchingHttpProtocol,
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
