"""The asyncio façade over :class:`~lwm2m.server.core.ServerCore` (contract: docs/server-api.md).

The core does the protocol; this class drives it over a UDP socket through
:mod:`lwm2m.transport.udp` (which also keeps the core's timer), turns request IDs into
awaitables, mirrors registrations into a :class:`RegistrationStore` and hands events to
subscribers.  It is the only part of the server that reads the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from lwm2m.model import ModelRegistry, ObjectNode, Path, Value, values_to_node
from lwm2m.operations import (
    Create,
    Delete,
    Discover,
    Execute,
    NotificationAttributes,
    Observe,
    ObserveComposite,
    OperationError,
    OperationUsageError,
    Read,
    ReadComposite,
    Response,
    ServerRequest,
    Write,
    WriteAttributes,
    WriteComposite,
    parse_arguments,
)
from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.errors import RequestFailedError
from lwm2m.server.events import (
    Deregistered,
    Expired,
    Registered,
    RequestAborted,
    RequestCompleted,
    ServerEvent,
    Target,
    Updated,
)
from lwm2m.server.registration import MemoryRegistrationStore, RegistrationStore
from lwm2m.transport.udp import UdpTransport, open_udp

logger = logging.getLogger(__name__)

PathLike = Path | str
Subscriber = Callable[[ServerEvent], None]


class LwM2MServer:
    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        store: RegistrationStore | None = None,
        models: ModelRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``rng`` defaults to the system's: registration IDs and tokens must be unguessable."""
        self.config = config if config is not None else ServerConfig()
        self._core = ServerCore(
            self.config, rng if rng is not None else random.SystemRandom(), time.time, models
        )
        self._store: RegistrationStore = store if store is not None else MemoryRegistrationStore()
        self._subscribers: list[Subscriber] = []
        self._futures: dict[int, asyncio.Future[Response]] = {}
        self._udp: UdpTransport[ServerCore] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._udp is not None:
            raise RuntimeError("the server is already started")
        config = self.config
        self._udp = await open_udp(
            self._core,
            self._drain,
            (config.host, config.coap_port),
            receive_buffer=config.receive_buffer,
        )

    async def stop(self) -> None:
        """Close the socket; requests still waiting fail with RequestFailedError."""
        if self._udp is None:
            return
        self._udp.close()
        self._udp = None
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(RequestFailedError("the server stopped"))

    @property
    def coap_address(self) -> tuple[str, int]:
        if self._udp is None:
            raise RuntimeError("the server is not started")
        return self._udp.local_address

    @property
    def registrations(self) -> RegistrationStore:
        return self._store

    @property
    def models(self) -> ModelRegistry:
        """The object models values are typed and encoded with."""
        return self._core.models

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every server event; returns the function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    # -- device management -------------------------------------------------------------------

    async def read(
        self, ep: str, path: PathLike, *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._send(ep, Read(_path(path)), fmt, timeout)

    async def discover(
        self, ep: str, path: PathLike, *, depth: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._send(ep, Discover(_path(path), depth), None, timeout)

    async def write(
        self,
        ep: str,
        path: PathLike,
        values: Mapping[PathLike, Value],
        *,
        partial: bool = False,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Replace (PUT) or with ``partial`` update (POST) the node at ``path`` from leaves."""
        target = _path(path)
        node = values_to_node(target, _values(values), self.models.is_multiple)
        return await self._send(ep, Write(target, node, partial), fmt, timeout)

    async def execute(
        self, ep: str, path: PathLike, args: str = "", *, timeout: float | None = None
    ) -> Response:
        try:
            arguments = parse_arguments(args.encode())
        except OperationError as exc:
            raise OperationUsageError(exc.message) from None
        return await self._send(ep, Execute(_path(path), arguments), None, timeout)

    async def create(
        self,
        ep: str,
        object_id: int,
        values: Mapping[PathLike, Value],
        *,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Create the instances the leaves name (``/o/i/r``: instance ``i`` of ``o``)."""
        node = values_to_node(Path.of(object_id), _values(values), self.models.is_multiple)
        assert isinstance(node, ObjectNode)
        op = Create(object_id, tuple(node.instances.values()))
        return await self._send(ep, op, fmt, timeout)

    async def delete(self, ep: str, path: PathLike, *, timeout: float | None = None) -> Response:
        return await self._send(ep, Delete(_path(path)), None, timeout)

    async def write_attributes(
        self,
        ep: str,
        path: PathLike,
        attributes: NotificationAttributes,
        *,
        timeout: float | None = None,
    ) -> Response:
        return await self._send(ep, WriteAttributes(_path(path), attributes), None, timeout)

    async def read_composite(
        self,
        ep: str,
        paths: Iterable[PathLike],
        *,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        return await self._send(ep, ReadComposite(_paths(paths)), fmt, timeout)

    async def write_composite(
        self,
        ep: str,
        values: Mapping[PathLike, Value],
        *,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        return await self._send(ep, WriteComposite(_values(values)), fmt, timeout)

    async def observe(
        self, ep: str, path: PathLike, *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        """The first response; notifications follow as NotificationReceived events."""
        return await self._send(ep, Observe(_path(path)), fmt, timeout)

    async def observe_composite(
        self,
        ep: str,
        paths: Iterable[PathLike],
        *,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        return await self._send(ep, ObserveComposite(_paths(paths)), fmt, timeout)

    async def cancel_observation(
        self,
        ep: str,
        path_or_paths: PathLike | Iterable[PathLike],
        *,
        active: bool = True,
        timeout: float | None = None,
    ) -> Response:
        """Actively (Observe=1; the client's answer is returned) or passively (forget it now:
        the client's next notification gets RST; EmptyResponse is returned)."""
        target: Target = (
            _path(path_or_paths) if isinstance(path_or_paths, Path | str) else _paths(path_or_paths)
        )
        udp = self._running()
        request_id = self._core.cancel_observation(
            ep, target, active=active, now=udp.now(), timeout=timeout
        )
        return await self._outcome(request_id, udp)

    # -- driving -----------------------------------------------------------------------------

    def _send(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        udp = self._running()
        request_id = self._core.send(ep, op, fmt=fmt, now=udp.now(), timeout=timeout)
        return self._outcome(request_id, udp)

    async def _outcome(self, request_id: int, udp: UdpTransport[ServerCore]) -> Response:
        """Wait for the core's outcome event; the core keeps the timeout, so one future is
        all a request costs here."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._futures[request_id] = future
        udp.pump()
        try:
            return await future
        finally:
            if self._futures.pop(request_id, None) is not None:  # given up on, not answered
                self._core.cancel(request_id, udp.now())
                self._flush()

    def _running(self) -> UdpTransport[ServerCore]:
        if self._udp is None:
            raise RuntimeError("the server is not started")
        return self._udp

    def _flush(self) -> None:
        if self._udp is not None:
            self._udp.pump()
        else:
            self._drain()

    def _drain(self) -> None:
        core = self._core
        futures = self._futures
        while (event := core.next_event()) is not None:
            if isinstance(event, RequestCompleted):
                future = futures.pop(event.request_id, None)
                if future is not None and not future.done():
                    future.set_result(event.response)
            elif isinstance(event, RequestAborted):
                future = futures.pop(event.request_id, None)
                if future is not None and not future.done():
                    future.set_exception(event.error)
            else:
                self._publish(event)

    def _publish(self, event: ServerEvent) -> None:
        if isinstance(event, Registered | Updated):
            self._store.put(event.registration)
        elif isinstance(event, Deregistered | Expired):
            self._store.delete(event.registration.endpoint)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                logger.exception("event subscriber %r failed", callback)


def _path(path: PathLike) -> Path:
    return path if isinstance(path, Path) else Path.parse(path)


def _paths(paths: Iterable[PathLike]) -> tuple[Path, ...]:
    return tuple(_path(path) for path in paths)


def _values(values: Mapping[PathLike, Value]) -> dict[Path, Value]:
    return {_path(path): value for path, value in values.items()}
