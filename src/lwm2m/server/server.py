"""The asyncio façade over :class:`~lwm2m.server.core.ServerCore` (contract: docs/server-api.md).

The core does the protocol; this class drives it over UDP, and over DTLS when a ``coaps_port``
is configured, through :class:`~lwm2m.transport.dtls.Channels`: one core behind both sockets,
DTLS peers told apart as :class:`~lwm2m.transport.dtls.DtlsPeer` (why one core and not two:
see that module).  With a ``tcp_port`` or ``tls_port`` a
:class:`~lwm2m.transport.tcp.StreamTransport` feeds the same core's stream side: each
connection is a :class:`~lwm2m.transport.tcp.StreamPeer`, the registration's address is the
connection it last spoke on, and a request for a client whose connection is gone fails
(RequestFailedError) or, in queue mode, waits for it to reconnect and speak.  With
``config.nidd`` and ``config.sms`` the cellular carriers join the channels
(:class:`~lwm2m.server.cellular.Cellular`): devices added with
:meth:`LwM2MServer.add_nidd_device` are reached through a T8 SCEF, each as a
:class:`~lwm2m.transport.nidd.peer.NiddPeer` (docs/nidd.md), devices that register by SMS
through an SMSC as an :class:`~lwm2m.transport.sms.binding.SmsPeer`, and sleeping queue-mode
devices are woken by SMS or T8 trigger (docs/sms.md).

It turns request IDs into awaitables, restores the core from its
:class:`~lwm2m.server.registration.ServerStore` at start (the core writes every change there)
and hands events to subscribers.  With ``durability="strict"`` and a store that reports its
commits, what the core sends passes a :class:`~lwm2m.server.durability.DurabilityGate`: an
answer leaves only once the store writes before it are committed.  It is the only part of
the server that reads the wall clock.

Security (docs/security.md): PSK credentials live in a
:class:`~lwm2m.security.credentials.CredentialStore`, one per endpoint, and every Register,
Update, De-register and Send passes the identity binding of
:class:`~lwm2m.server.authentication.AuthenticationApi` (4.03 and a log line otherwise).  The
sockets' addresses and load are :class:`~lwm2m.server.listeners.ListenersApi`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace

from lwm2m.coap.stream import StreamCore
from lwm2m.model import ModelRegistry, ObjectNode, Path, Value, default_models, values_to_node
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
from lwm2m.security.credentials import CredentialStore, MemoryPskStore
from lwm2m.security.dtls import DtlsServer
from lwm2m.security.oscore_endpoint import OscoreServerContexts
from lwm2m.server.authentication import AuthenticationApi
from lwm2m.server.cellular import Cellular, CellularApi, is_nidd, is_sms
from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.durability import CommitLog, DurabilityGate
from lwm2m.server.errors import RequestFailedError
from lwm2m.server.events import (
    Deregistered,
    Expired,
    Registered,
    RequestAborted,
    RequestCompleted,
    ServerEvent,
    Target,
    TimerRuleViolated,
    Updated,
)
from lwm2m.server.inspection import InspectionApi, MessageLog
from lwm2m.server.listeners import ListenersApi
from lwm2m.server.registration import (
    HistoryEntry,
    MemoryNiddDeviceStore,
    MemoryStore,
    Registration,
    RegistrationStore,
    ServerStore,
)
from lwm2m.server.switching import switch_transport
from lwm2m.transport.admission import Admission
from lwm2m.transport.dtls import Channels, DtlsPeer, open_channels
from lwm2m.transport.tcp import StreamPeer, StreamTransport
from lwm2m.transport.udp import DatagramCore

logger = logging.getLogger(__name__)

PathLike = Path | str
Subscriber = Callable[[ServerEvent], None]
RequestObserver = Callable[[str, "Response | BaseException", float], None]
"""Told of each request's end: operation name, answer or exception, seconds since submission."""


class LwM2MServer(CellularApi, InspectionApi, AuthenticationApi, ListenersApi):
    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        store: ServerStore | None = None,
        models: ModelRegistry | None = None,
        rng: random.Random | None = None,
        credentials: CredentialStore | None = None,
        oscore: OscoreServerContexts | None = None,
    ) -> None:
        """``rng`` defaults to the system's: registration IDs and tokens must be unguessable.
        ``credentials`` holds the PSKs devices authenticate with (empty by default);
        ``oscore``, when given, the OSCORE contexts (and OSCORE is spoken with their peers)."""
        self.oscore = oscore
        self.config = config if config is not None else ServerConfig()
        self._store: ServerStore = store if store is not None else MemoryStore()
        rng = rng if rng is not None else random.SystemRandom()
        self._core = ServerCore(
            replace(self.config, authorize=self._authorize),
            rng,
            time.time,
            models if models is not None else default_models(),
            self._store,
            is_stream=lambda peer: isinstance(peer, StreamPeer),
            oscore=oscore,
            is_nidd=is_nidd,
            is_sms=is_sms,
        )
        self._restored = False
        self.message_log = MessageLog(self._core)
        self._credentials: CredentialStore = (
            credentials if credentials is not None else MemoryPskStore()
        )
        self._subscribers: list[Subscriber] = []
        self._request_observers: list[RequestObserver] = []
        self._futures: dict[int, asyncio.Future[Response]] = {}
        self._net: Channels[DatagramCore] | None = None
        self._gate: DurabilityGate | None = None
        self._tcp: StreamTransport[StreamCore] | None = None
        self._tcp_addresses: dict[str, tuple[str, int]] = {}
        kept = getattr(self._store, "nidd_devices", None)  # optional in a ServerStore
        self._cellular = Cellular(
            self.config,
            self._core,
            self._flush,
            self._publish,
            nidd_devices=kept if kept is not None else MemoryNiddDeviceStore(),
            rng=random.Random(rng.getrandbits(64)),
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._net is not None:
            raise RuntimeError("the server is already started")
        config = self.config
        secure = config.coaps_port is not None
        if not self._restored:  # what the store kept from the last run, once
            self._restored = True
            store = self._store
            self._core.restore(
                store.registrations.all(),
                store.observations.all(),
                store.queue.all(),
                asyncio.get_running_loop().time(),
            )
        core: DatagramCore = self.message_log.tap(self._core)
        store = self._store
        if config.durability == "strict" and isinstance(store, CommitLog):
            self._gate = DurabilityGate(store, self._flush)
            core = self._gate.datagrams(core)
        self._net = await open_channels(
            core,
            self._drain,
            (config.host, config.coap_port),
            dtls=DtlsServer(self._credentials, config.dtls) if secure else None,
            dtls_address=(config.host, config.coaps_port or 0),
            receive_buffer=config.receive_buffer,
            admission=Admission(config.admission, self._core.knows_peer),
        )
        if config.tcp_port is not None or config.tls_port is not None:
            try:
                await self._open_streams(self._net.now)
            except OSError:
                await self.stop()
                raise
        self._cellular.open(self._net)

    async def _open_streams(self, clock: Callable[[], float]) -> None:
        """CoAP over TCP and TLS: connections feed the same core (see core.ServerCore)."""
        config = self.config
        streams: StreamCore = self._core.streams
        if self._gate is not None:
            streams = self._gate.streams(streams)
        self._tcp = StreamTransport(streams, self._drain, clock)
        if config.tcp_port is not None:
            self._tcp_addresses["tcp"] = await self._tcp.listen((config.host, config.tcp_port))
        if config.tls_port is not None:
            self._tcp_addresses["tls"] = await self._tcp.listen(
                (config.host, config.tls_port), psk=self._tls_key
            )

    async def stop(self) -> None:
        """Close the socket; requests still waiting fail with RequestFailedError."""
        if self._net is None:
            return
        await self._cellular.close()
        self._net.close()
        self._net = None
        if self._gate is not None:
            self._gate.close()
            self._gate = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
            self._tcp_addresses.clear()
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(RequestFailedError("the server stopped"))

    @property
    def registrations(self) -> RegistrationStore:
        return self._store.registrations

    async def switch_transport(
        self, ep: str, transport: str, *, instance: int | None = None, timeout: float = 60.0
    ) -> Registration:
        """Move ``ep`` to ``transport`` (``"U"``...); its registration there (switching.py)."""
        return await switch_transport(self, ep, transport, instance=instance, timeout=timeout)

    def timer_violations(self, ep: str) -> tuple[TimerRuleViolated, ...]:
        """The Telekom timer rules the known settings of ``ep`` break now (docs/compliance.md)."""
        return self._core.timer_violations(ep)

    def history(self, ep: str, path: PathLike, limit: int = 100) -> list[HistoryEntry]:
        """The last ``limit`` values notified or sent at ``path`` or below it, oldest first."""
        return self._store.history.query(ep, _path(path), limit)

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

    def observe_requests(self, observer: RequestObserver) -> Callable[[], None]:
        """Call ``observer`` as each request ends (metrics); returns the function that stops it."""
        self._request_observers.append(observer)
        return lambda: self._request_observers.remove(observer)

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
        net = self._running()
        request_id = self._core.cancel_observation(
            ep, target, active=active, now=net.now(), timeout=timeout
        )
        return await self._outcome(request_id, net, "CancelObservation")

    # -- driving -----------------------------------------------------------------------------

    def _send(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        net = self._running()
        request_id = self._core.send(ep, op, fmt=fmt, now=net.now(), timeout=timeout)
        return self._outcome(request_id, net, type(op).__name__)

    async def _outcome(
        self, request_id: int, net: Channels[DatagramCore], operation: str
    ) -> Response:
        """Wait for the core's outcome event; the core keeps the timeout, so one future is
        all a request costs here."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._futures[request_id] = future
        started = net.now()
        self._flush()
        outcome: Response | BaseException
        try:
            outcome = await future
            return outcome
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            if self._futures.pop(request_id, None) is not None:  # given up on, not answered
                self._core.cancel(request_id, net.now())
                self._flush()
            for observer in self._request_observers:
                observer(operation, outcome, net.now() - started)

    def _running(self) -> Channels[DatagramCore]:
        if self._net is None:
            raise RuntimeError("the server is not started")
        return self._net

    def _flush(self) -> None:
        if self._net is not None:
            self._net.pump()
            if self._tcp is not None:
                self._tcp.pump()
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
            self._check_session_lifetime(event.registration)
        elif isinstance(event, Deregistered | Expired):
            # The device is gone: free its session or connection, after the answer.
            if self._gate is None:
                self._release_peer(event.registration.address)
            else:
                self._gate.then(lambda: self._release_peer(event.registration.address))
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                name = getattr(callback, "__qualname__", callback)
                logger.exception("event subscriber %s failed", name)
        self._cellular.on_event(event)  # after: what it publishes follows this event

    def _check_session_lifetime(self, registration: Registration) -> None:
        idle = self.config.dtls.idle_timeout
        if isinstance(registration.address, DtlsPeer) and registration.lifetime > idle:
            logger.warning(
                "%s registered for %d s over DTLS, but idle sessions end after %.0f s: raise "
                "ServerConfig.dtls.idle_timeout, or it handshakes again after each quiet period",
                registration.endpoint,
                registration.lifetime,
                idle,
            )


def _path(path: PathLike) -> Path:
    return path if isinstance(path, Path) else Path.parse(path)


def _paths(paths: Iterable[PathLike]) -> tuple[Path, ...]:
    return tuple(_path(path) for path in paths)


def _values(values: Mapping[PathLike, Value]) -> dict[Path, Value]:
    return {_path(path): value for path, value in values.items()}
