"""The sans-I/O LwM2M client: registration, device management, observations, Send, queue mode.

:class:`ClientEngine` owns a CoAP endpoint (:class:`~lwm2m.client.context.CoapEndpoint`) and an
:class:`~lwm2m.client.tree.ObjectTree` and is driven like the endpoint: feed datagrams with
:meth:`~ClientEngine.receive`, call :meth:`~ClientEngine.handle_timer` once
:meth:`~ClientEngine.get_timer` has passed (or after device code changed values), then drain
:meth:`~ClientEngine.datagrams_to_send` and :meth:`~ClientEngine.next_event`.  It never reads a
clock: ``now`` is seconds since the Unix epoch on a monotonic scale (the asyncio façade anchors
its loop clock to the wall clock once), because Send and SenML carry absolute times.

The engine routes between the interfaces, each in its own module and sharing one
:class:`~lwm2m.client.context.EngineContext`: registration (:mod:`~lwm2m.client.registering`),
bootstrap (:mod:`~lwm2m.client.bootstrapping`), device management
(:mod:`~lwm2m.client.serving`) and observations and Send (:mod:`~lwm2m.client.reporting`).

Queue mode: when every registered server has ``Q`` in its binding, the client falls asleep
``awake_window`` seconds after its last datagram and drops what arrives while asleep.  It wakes
when it has something to send (an Update, a Send, a notification whose pmax expired, with the
Update if that would come due before the next pmax); other notifications that come due while
it sleeps are kept (if the server's /1/x/6 Notification Storing says so) and sent on waking.
With PSM granted (:meth:`ClientEngine.psm_granted`) the registration lifetime stays below the
extended T3412.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import deque
from collections.abc import Iterable, Mapping

from lwm2m.client import bootstrap as bs
from lwm2m.client.bootstrapping import BootstrapClient
from lwm2m.client.context import (
    BOOTSTRAP_SSID,
    DEFAULT_CONFIG,
    ClientConfig,
    ClientError,
    CoapEndpoint,
    EngineContext,
    Resolver,
    server_address,
    udp_peer,
)
from lwm2m.client.events import (
    BootstrapFailed,
    Bootstrapped,
    ClientEvent,
    Deregistered,
    DeviceRequest,
    Registered,
    RegistrationFailed,
    SendCompleted,
    ServerSilent,
    Stopped,
    Updated,
)
from lwm2m.client.objects import Changed, DeviceEvent
from lwm2m.client.registering import Registrar
from lwm2m.client.registration import Registration, Trigger
from lwm2m.client.reporting import Reporter
from lwm2m.client.serving import DeviceManagement
from lwm2m.client.standard.server import (
    BootstrapRequestTrigger,
    DisableServer,
    RegistrationUpdateTrigger,
    ServerObject,
)
from lwm2m.client.transports import Router, SingleRoute
from lwm2m.client.tree import SERVER, ObjectTree
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import (
    Event,
    FailureReason,
    ObservationCancelled,
    Peer,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.timers import Timer
from lwm2m.model import Path
from lwm2m.transport.sms.binding import Trigger as SmsTrigger

log = logging.getLogger(__name__)


class ClientEngine:
    """One LwM2M client (one endpoint name, one local address); see the module docstring."""

    def __init__(
        self,
        tree: ObjectTree,
        endpoint_name: str,
        *,
        rng: random.Random,
        config: ClientConfig = DEFAULT_CONFIG,
        coap: EndpointConfig = DEFAULT,
        resolve: Resolver = udp_peer,
        endpoint: CoapEndpoint | None = None,
        router: Router | None = None,
    ) -> None:
        """``endpoint`` replaces the datagram endpoint (CoAP over TCP: ``LwM2MClient``);
        ``router`` gives each account's peers by transport (default: ``resolve``'s one)."""
        self.tree = tree
        self.endpoint_name = endpoint_name
        self.config = config
        if endpoint is None:
            endpoint = Endpoint(coap, random.Random(rng.getrandbits(64)))
        ctx = self._ctx = EngineContext(
            tree, endpoint_name, config=config, endpoint=endpoint, rng=rng, resolve=resolve
        )
        self._registrar = Registrar(
            ctx,
            SingleRoute(resolve) if router is None else router,
            on_server_gone=self._on_server_gone,
            on_back_off=self._on_back_off,
            on_stopped=self._check_stopped,
        )
        self._reporter = Reporter(ctx, self._registrar)
        self._dm = DeviceManagement(ctx, self._registrar, self._reporter)
        self._bootstrap = BootstrapClient(ctx, self._registrar, on_stopped=self._check_stopped)
        self._out: list[tuple[bytes, Peer]] = []
        self._changed: list[Path] = []
        self._device_events: deque[DeviceEvent] = deque()
        self._sleep_timer: Timer | None = None
        self._stopping = False
        servers = tree.object(SERVER) if SERVER in tree else None
        if isinstance(servers, ServerObject):
            servers.transport_check = self._registrar.transport_problem
        tree.subscribe(self._on_tree_event)

    # -- driving -------------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> ClientEvent | None:
        events = self._ctx.events
        return events.popleft() if events else None

    def get_timer(self) -> float | None:
        ctx = self._ctx
        times = [ctx.endpoint.get_timer(), ctx.timers.next_deadline()]
        if self._changed or self._device_events:
            times.append(ctx.now)
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        """Advance to ``now``: run what is due and act on what device code changed since."""
        ctx = self._ctx
        ctx.now = now
        ctx.endpoint.handle_timer(now)
        while True:
            try:
                ctx.timers.run_due(now)  # a timer is off the queue before it fires
                break
            except Exception:
                log.exception("client %s: a timer failed; carrying on", self.endpoint_name)
        self._settle(now)

    def receive(self, data: bytes, peer: Peer, now: float, *, reachable: bool = False) -> None:
        """A datagram from the network; dropped while asleep (the radio is off), unless its
        carrier delivers only to a reachable device (``reachable``): then it wakes us."""
        ctx = self._ctx
        ctx.now = now
        if ctx.asleep:
            if not reachable:
                return
            self._wake_up(now)
        ctx.endpoint.receive(data, peer, now)
        self._settle(now)

    def sms_trigger(
        self, trigger: SmsTrigger, server_instance: int, sender: Peer | None, now: float
    ) -> bool:
        """An SMS trigger (``parse_trigger``) from ``sender`` for the account of
        ``server_instance``: wake, then Update (or Bootstrap-Request).  False, and nothing
        done, when ``sender`` is not that account's server over SMS.  ``sender`` None: a
        device trigger the network delivered (TS 23.682), sent from its number, not the
        server's."""
        self._ctx.now = now
        reg = next(
            (
                r
                for r in self._registrar.registrations.values()
                if r.server_instance == server_instance
            ),
            None,
        )
        if reg is None or (sender is not None and reg.routes.get("S") != sender):
            return False
        if self._ctx.asleep:
            self._wake_up(now)
        if trigger is SmsTrigger.BOOTSTRAP_REQUEST:
            self._bootstrap.begin(now, cold=False)
        else:
            self._registrar.switch(reg, None, now)
        self._settle(now)
        return True

    @property
    def queue_mode(self) -> bool:
        """Every registered server has ``Q`` in its binding (the client sleeps when idle)."""
        return self._registrar.queue_mode()

    @property
    def asleep(self) -> bool:
        return self._ctx.asleep

    @property
    def registrations(self) -> Mapping[int, Registration]:
        """Registration state by Short Server ID (to look at, not to change)."""
        return dict(self._registrar.registrations)

    # -- API -----------------------------------------------------------------------------------

    @property
    def bootstrap_state(self) -> bs.State:
        return self._bootstrap.state

    def start(self, now: float) -> None:
        """Register with every server account in the tree; without one, bootstrap first."""
        self._ctx.now = now
        accounts = self._registrar.accounts()
        if accounts or not self._bootstrap.has_account():
            self._registrar.register_all(accounts, now)
        else:
            self._bootstrap.begin(now, cold=True)
        self._settle(now)

    def stop(self, now: float) -> None:
        """De-register everywhere; :class:`Stopped` follows once every server answered or
        gave up."""
        self._ctx.now = now
        self._stopping = True
        self._bootstrap.stop(now)
        for reg in self._registrar.select(None):
            self._registrar.step(reg, Trigger.STOP, now)
        self._check_stopped()
        self._settle(now)

    def trigger_update(self, now: float, server_id: int | None = None) -> None:
        """Send an Update now (to every server, or to ``server_id``)."""
        self._ctx.now = now
        for reg in self._registrar.select(server_id):
            self._registrar.step(reg, Trigger.UPDATE, now)
        self._settle(now)

    def psm_granted(self, t3412: int | None, now: float) -> None:
        """The network granted PSM with extended T3412 ``t3412`` seconds, or none (None): the
        hook a modem binding calls with ``+CEREG``'s periodic TAU.  The registration lifetime
        is kept below it (Telekom timer rule 1); without a grant it is /1/x/1's."""
        self._ctx.now = now
        self._registrar.psm_granted(t3412, now)
        self._settle(now)

    def unreachable(self, peer: Peer, now: float) -> None:
        """The transport to ``peer`` failed (a DTLS handshake was refused or timed out): what
        is in flight to it fails now, as if unanswered, instead of being retransmitted into one
        handshake after another; registrations back off, a bootstrap retries later."""
        self._ctx.now = now
        for handle, (reg, _) in list(self._registrar.requests.items()):
            if reg.peer == peer:
                with contextlib.suppress(StaleHandleError):
                    self._ctx.endpoint.cancel(handle, now)
                self._registrar.on_response(handle, None, None, now)
        self._bootstrap.unreachable(peer, now)
        self._settle(now)

    def send(self, paths: Iterable[Path], now: float, *, server_id: int | None = None) -> list[int]:
        """Send the current values at ``paths`` (``POST /dp``, SenML CBOR, timestamped ``now``)
        to every registered server (or ``server_id``) that has not muted Send (/1/x/23).

        Returns one send ID per server; :class:`SendCompleted` reports each answer.
        """
        self._ctx.now = now
        send_ids = self._reporter.send(paths, now, server_id=server_id)
        self._settle(now)
        return send_ids

    # -- the event loop ------------------------------------------------------------------------

    def _settle(self, now: float) -> None:
        """Act on everything that happened until nothing is left, then collect datagrams.

        Whatever device code raises while one input is handled is logged and that input
        dropped: the engine never raises to its driver and goes on with the next one."""
        endpoint = self._ctx.endpoint
        while True:
            try:
                event = endpoint.next_event()
                if event is not None:
                    self._on_endpoint_event(event, now)
                elif self._device_events:
                    self._on_device_event(self._device_events.popleft(), now)
                elif self._changed:
                    changed, self._changed = self._changed, []
                    self._registrar.on_changes(changed, now)
                    self._reporter.on_changes(changed, now)
                else:
                    out = endpoint.datagrams_to_send()
                    if not out:
                        return
                    self._on_activity(now)
                    self._out.extend(out)
            except Exception:
                log.exception("client %s: an input failed; carrying on", self.endpoint_name)

    def _on_endpoint_event(self, event: Event, now: float) -> None:
        boot, registrar = self._bootstrap, self._registrar
        if isinstance(event, RequestFailed) and event.reason is FailureReason.TIMEOUT:
            self._went_silent(event.handle)
        if isinstance(event, RequestReceived):
            if boot.serves(event.exchange.peer):
                boot.serve(event, now)
            else:
                self._dm.serve(event, now)
        elif isinstance(event, ResponseReceived) and boot.is_request(event.handle):
            boot.on_answer(event.response.code, event.response.payload, now)
        elif isinstance(event, RequestFailed) and boot.is_request(event.handle):
            boot.on_answer(None, b"", now)
        elif isinstance(event, ResponseReceived):
            registrar.on_response(event.handle, event.response.code, event, now)
        elif isinstance(event, RequestFailed):
            registrar.on_response(event.handle, None, None, now)
        elif isinstance(event, ObservationCancelled):
            self._reporter.forget(event.observation)

    def _went_silent(self, handle: int) -> None:
        entry = self._registrar.requests.get(handle)
        boot = self._bootstrap
        peer = (
            entry[0].peer if entry is not None else boot.peer if boot.is_request(handle) else None
        )
        if peer is not None:
            self._ctx.events.append(ServerSilent(peer))

    def _on_tree_event(self, event: DeviceEvent) -> None:
        if isinstance(event, Changed):
            self._changed.append(event.path)
        else:
            self._device_events.append(event)

    def _on_device_event(self, event: DeviceEvent, now: float) -> None:
        registrar = self._registrar
        if isinstance(event, RegistrationUpdateTrigger):
            for reg in registrar.select(event.short_server_id):
                try:
                    registrar.switch(reg, event.transport, now)
                except ClientError as exc:  # the Execute was refused already; a bootstrap race
                    log.warning("client %s: %s", self.endpoint_name, exc)
        elif isinstance(event, DisableServer):
            for reg in registrar.select(event.short_server_id):
                reg.disable_timeout = float(event.timeout)
                registrar.step(reg, Trigger.DISABLE, now)
        elif isinstance(event, BootstrapRequestTrigger):
            self._bootstrap.begin(now, cold=False)
        else:
            self._ctx.events.append(DeviceRequest(event))

    def _on_server_gone(self, ssid: int) -> None:
        self._reporter.forget_server(ssid)

    def _on_back_off(self, reg: Registration, now: float) -> None:
        self._bootstrap.fall_back(reg, now)

    def _check_stopped(self) -> None:
        if self._stopping and not self._bootstrap.busy and self._registrar.all_stopped():
            self._stopping = False
            self._ctx.events.append(Stopped())

    # -- queue mode ----------------------------------------------------------------------------

    def _on_activity(self, now: float) -> None:
        """Datagrams go out: the radio is on, and stays on for the awake window."""
        if self._ctx.asleep:
            self._wake_up(now)
        self._stay_awake(now)

    def _wake_up(self, now: float) -> None:
        self._ctx.asleep = False
        self._reporter.flush_stored(now)
        self._stay_awake(now)

    def _stay_awake(self, now: float) -> None:
        ctx = self._ctx
        ctx.timers.cancel(self._sleep_timer)
        window = self.config.awake_window
        if window is None:
            window = ctx.endpoint.config.max_transmit_wait
        self._sleep_timer = ctx.timers.schedule(now + window, self._fall_asleep)

    def _fall_asleep(self, now: float) -> None:
        """The awake window is over: sleep, unless a request of ours still waits for its answer.
        Requests come first: a Register still in flight decides whether queue mode starts, and
        its answer, which sends nothing, would not start another window."""
        self._sleep_timer = None
        if self._registrar.requests:
            self._stay_awake(now)
        elif self._registrar.queue_mode():
            self._ctx.asleep = True


__all__ = [
    "BOOTSTRAP_SSID",
    "DEFAULT_CONFIG",
    "BootstrapFailed",
    "Bootstrapped",
    "ClientConfig",
    "ClientEngine",
    "ClientError",
    "ClientEvent",
    "CoapEndpoint",
    "Deregistered",
    "DeviceRequest",
    "Registered",
    "RegistrationFailed",
    "Resolver",
    "SendCompleted",
    "ServerSilent",
    "Stopped",
    "Updated",
    "server_address",
    "udp_peer",
]
