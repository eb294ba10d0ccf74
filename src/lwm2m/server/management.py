"""The façade's device management operations (Read, Write, Execute, Observe...) with their
Python signatures, over one ``_send`` that :class:`~lwm2m.server.server.LwM2MServer` provides:
the core's, or in a cluster the owner node's (:class:`Router`)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import Protocol

from lwm2m.model import ModelRegistry, ObjectNode, Path, Value, values_to_node
from lwm2m.operations import (
    Create,
    Delete,
    Discover,
    Execute,
    NodeResponse,
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
from lwm2m.server.events import Target
from lwm2m.server.registration import Registration

PathLike = Path | str


class Router(Protocol):
    """Where requests for devices this node does not serve go (:mod:`lwm2m.cluster`)."""

    def forward(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        """``op`` performed by the node that serves ``ep``; UnknownEndpointError if none."""

    def forward_cancel(
        self, ep: str, target: Target, active: bool, timeout: float | None
    ) -> Awaitable[Response]:
        """An observation cancelled by the node that serves ``ep``."""

    def serves(self, registration: Registration) -> bool:
        """Whether this node serves a stored registration when it starts."""


class DeviceManagementApi:
    """Inherited by :class:`~lwm2m.server.server.LwM2MServer`."""

    @property
    def models(self) -> ModelRegistry:
        raise NotImplementedError

    def _send(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        raise NotImplementedError

    def _cancel(
        self, ep: str, target: Target, active: bool, timeout: float | None
    ) -> Awaitable[Response]:
        raise NotImplementedError

    async def request(
        self, ep: str, op: ServerRequest, *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        """Any operation, as the methods below build them."""
        return await self._send(ep, op, fmt, timeout)

    async def read(
        self, ep: str, path: PathLike, *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        target = path_of(path)
        return _located(await self._send(ep, Read(target), fmt, timeout), target)

    async def discover(
        self, ep: str, path: PathLike, *, depth: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._send(ep, Discover(path_of(path), depth), None, timeout)

    async def write(
        self,
        ep: str,
        path: PathLike,
        values: Mapping[PathLike, Value] | Value,
        *,
        partial: bool = False,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Replace (PUT) or with ``partial`` update (POST) the node at ``path`` from leaves,
        or write one resource or resource instance: ``write(ep, "/3/0/14", "+02:00")``."""
        target = path_of(path)
        leaves = _values(values) if isinstance(values, Mapping) else {target: values}
        node = values_to_node(target, leaves, self.models.is_multiple)
        return await self._send(ep, Write(target, node, partial), fmt, timeout)

    async def execute(
        self, ep: str, path: PathLike, args: str = "", *, timeout: float | None = None
    ) -> Response:
        try:
            arguments = parse_arguments(args.encode())
        except OperationError as exc:
            raise OperationUsageError(exc.message) from None
        return await self._send(ep, Execute(path_of(path), arguments), None, timeout)

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
        return await self._send(ep, Delete(path_of(path)), None, timeout)

    async def write_attributes(
        self,
        ep: str,
        path: PathLike,
        attributes: NotificationAttributes,
        *,
        timeout: float | None = None,
    ) -> Response:
        return await self._send(ep, WriteAttributes(path_of(path), attributes), None, timeout)

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
        target = path_of(path)
        return _located(await self._send(ep, Observe(target), fmt, timeout), target)

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
            path_of(path_or_paths)
            if isinstance(path_or_paths, Path | str)
            else _paths(path_or_paths)
        )
        return await self._cancel(ep, target, active, timeout)


def path_of(path: PathLike) -> Path:
    return path if isinstance(path, Path) else Path.parse(path)


def _paths(paths: Iterable[PathLike]) -> tuple[Path, ...]:
    return tuple(path_of(path) for path in paths)


def _values(values: Mapping[PathLike, Value]) -> dict[Path, Value]:
    return {path_of(path): value for path, value in values.items()}


def _located(response: Response, path: Path) -> Response:
    """A node response that knows its path, so that its ``values`` name every leaf."""
    return response.at(path) if isinstance(response, NodeResponse) else response
