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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from lwm2m.coap.stream import StreamCore
from lwm2m.model import ModelRegistry, default_models
from lwm2m.operations import (
    Response,
    ServerRequest,
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
from lwm2m.server.management import DeviceManagementApi, PathLike, Router, path_of
from lwm2m.server.registration import (
    HistoryEntry,
    MemoryNiddDeviceStore,
    MemoryStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
    RegistrationStore,
    ServerStore,
)
from lwm2m.server.subscribers import Subscriber, Subscribers, wait_registered
from lwm2m.server.switching import switch_transport
from lwm2m.transport.admission import Admission
from lwm2m.transport.dtls import Channels, DtlsPeer, open_channels
from lwm2m.transport.tcp import StreamPeer, StreamTransport
from lwm2m.transport.udp import DatagramCore

logger = logging.getLogger(__name__)

RequestObserver = Callable[[str, "Response | BaseException", float], None]
"""Told of each request's end: operation name, answer or exception, seconds since submission."""


class LwM2MServer(DeviceManagementApi, CellularApi, InspectionApi, AuthenticationApi, ListenersApi):
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
        self._router: Router | None = None
        self.message_log = MessageLog(self._core)
        self._credentials: CredentialStore = (
            credentials if credentials is not None else MemoryPskStore()
        )
        self._subscribers = Subscribers()
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
            registrations = store.registrations.all()
            observations, queued = store.observations.all(), store.queue.all()
            if self._router is not None:  # a cluster: this node's devices only
                registrations = [r for r in registrations if self._router.serves(r)]
                ours = {r.endpoint for r in registrations}
                observations = [o for o in observations if o.endpoint in ours]
                queued = [q for q in queued if q.endpoint in ours]
            self._core.restore(
                registrations, observations, queued, asyncio.get_running_loop().time()
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
            reuse_port=config.reuse_port,
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
            self._tcp_addresses["tcp"] = await self._tcp.listen(
                (config.host, config.tcp_port), reuse_port=config.reuse_port
            )
        if config.tls_port is not None:
            self._tcp_addresses["tls"] = await self._tcp.listen(
                (config.host, config.tls_port), psk=self._tls_key, reuse_port=config.reuse_port
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
        return self._store.history.query(ep, path_of(path), limit)

    @property
    def models(self) -> ModelRegistry:
        """The object models values are typed and encoded with."""
        return self._core.models

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every server event (a coroutine function's calls run as
        tasks; failures are logged); returns the function that unsubscribes."""
        return self._subscribers.add(callback)

    async def wait_registered(self, ep: str, *, timeout: float | None = None) -> Registration:
        """``ep``'s registration, now or at its next Register; TimeoutError after ``timeout``."""
        return await wait_registered(self.subscribe, self.registrations, ep, timeout)

    def observe_requests(self, observer: RequestObserver) -> Callable[[], None]:
        """Call ``observer`` as each request ends (metrics); returns the function that stops it."""
        self._request_observers.append(observer)
        return lambda: self._request_observers.remove(observer)

    # -- driving -----------------------------------------------------------------------------

    def route_through(self, router: Router | None) -> None:
        """Send requests for devices this node does not serve to ``router`` (a cluster; set
        before :meth:`start`, which then restores only the devices it ``serves``)."""
        self._router = router

    @property
    def clustered(self) -> bool:
        """One node of a cluster (:meth:`route_through` was given a router)."""
        return self._router is not None

    @property
    def core(self) -> ServerCore:
        """The protocol engine (a cluster reads its codecs and hooks adoption in)."""
        return self._core

    @property
    def running(self) -> bool:
        return self._net is not None

    def adopt(
        self,
        registration: Registration,
        observations: Iterable[ObservationRecord],
        queued: Iterable[QueuedRecord],
    ) -> bool:
        """Serve a device another cluster node served (:meth:`ServerCore.adopt`)."""
        adopted = self._core.adopt(registration, observations, queued, self._running().now())
        self._flush()
        return adopted

    def release(self, endpoint: str, owner: str, *, keep_observations: bool) -> bool:
        """Stop serving a device node ``owner`` serves now (:meth:`ServerCore.release`)."""
        now = self._running().now()
        released = self._core.release(endpoint, owner, keep_observations=keep_observations, now=now)
        self._flush()
        return released

    def _send(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        if self._router is not None and self._core.registration(ep) is None:
            return self._router.forward(ep, op, fmt, timeout)
        return self.send_here(ep, op, fmt, timeout)

    def send_here(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        """``op`` through this node's core, never routed (UnknownEndpointError if the device
        is not served here)."""
        net = self._running()
        request_id = self._core.send(ep, op, fmt=fmt, now=net.now(), timeout=timeout)
        return self._outcome(request_id, net, type(op).__name__)

    def _cancel(
        self, ep: str, target: Target, active: bool, timeout: float | None
    ) -> Awaitable[Response]:
        if self._router is not None and self._core.registration(ep) is None:
            return self._router.forward_cancel(ep, target, active, timeout)
        return self.cancel_here(ep, target, active, timeout)

    def cancel_here(
        self, ep: str, target: Target, active: bool, timeout: float | None
    ) -> Awaitable[Response]:
        """An observation cancelled through this node's core, never routed."""
        net = self._running()
        request_id = self._core.cancel_observation(
            ep, target, active=active, now=net.now(), timeout=timeout
        )
        return self._outcome(request_id, net, "CancelObservation")

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
        self._subscribers.publish(event)
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
