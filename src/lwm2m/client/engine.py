"""The sans-I/O LwM2M client: registration, device management, observations, Send, queue mode.

:class:`ClientEngine` owns a CoAP :class:`~lwm2m.coap.endpoint.Endpoint` and an
:class:`~lwm2m.client.tree.ObjectTree` and is driven like the endpoint: feed datagrams with
:meth:`~ClientEngine.receive`, call :meth:`~ClientEngine.handle_timer` once
:meth:`~ClientEngine.get_timer` has passed (or after device code changed values), then drain
:meth:`~ClientEngine.datagrams_to_send` and :meth:`~ClientEngine.next_event`.  It never reads a
clock: ``now`` is seconds since the Unix epoch on a monotonic scale (the asyncio façade anchors
its loop clock to the wall clock once), because Send and SenML carry absolute times.

Server accounts come from the tree (Server instances and the Security instances with the same
Short Server ID); each gets a :class:`~lwm2m.client.registration.Registration`.  Requests from
a server's address are served with that server's rights; other peers get 4.01.

Bootstrap (:mod:`lwm2m.client.bootstrap`): without a server account, after N failed Register
attempts to a server whose /1/x/16 allows it, or when a server executes /1/x/9, the client
suspends its registrations, asks its bootstrap server (the Security instance with /0/x/1 true)
and serves it with the device's own rights (``server_id=None``) until Bootstrap-Finish; then it
registers with the accounts it was given.

Queue mode: when every registered server has ``Q`` in its binding, the client falls asleep
``awake_window`` seconds after its last datagram and drops what arrives while asleep.  It wakes
when it has something to send (an Update, a Send); notifications that come due while it
sleeps are kept (if the server's /1/x/6 Notification Storing says so) and sent on waking.
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol, TypeAlias
from urllib.parse import urlsplit

from lwm2m.client import bootstrap as bs
from lwm2m.client.objects import (
    Changed,
    DeviceEvent,
    MethodNotAllowedError,
    NotFoundError,
    ObjectError,
    ObjectImplementation,
    UnauthorizedError,
)
from lwm2m.client.observe import (
    Observation,
    Timing,
    must_evaluate,
    should_notify,
    wake_at,
)
from lwm2m.client.registration import (
    Action,
    Parameters,
    Registration,
    State,
    Trigger,
    backoff_delay,
    update_delay,
)
from lwm2m.client.standard import security as sec
from lwm2m.client.standard import server as srv
from lwm2m.client.standard.server import (
    BootstrapRequestTrigger,
    DisableServer,
    RegistrationUpdateTrigger,
)
from lwm2m.client.tree import OSCORE, SECURITY, SERVER, ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    ObservationCancelled,
    ObservationKey,
    Peer,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.options import Options
from lwm2m.coap.timers import Timer, TimerQueue
from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.codec.link import Link
from lwm2m.model import (
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    ResourceInstance,
    SingleResource,
    TimestampedValues,
    Value,
    node_to_values,
)
from lwm2m.operations import (
    BootstrapFinish,
    BootstrapRequest,
    ClientRequest,
    CoapParts,
    Create,
    CreatedResponse,
    Delete,
    Deregister,
    Discover,
    EmptyResponse,
    ErrorResponse,
    Execute,
    Inventory,
    InventoryEntry,
    LinksResponse,
    NodeResponse,
    NotificationAttributes,
    ObjectLinks,
    Observe,
    ObserveComposite,
    Operation,
    OperationError,
    Read,
    ReadComposite,
    Register,
    RegisteredResponse,
    Response,
    Send,
    Update,
    ValuesResponse,
    Write,
    WriteAttributes,
    WriteComposite,
    check_bootstrap,
    decode_request,
    decode_response,
    effective_attributes,
    encode_error,
    encode_request,
    encode_response,
    format_arguments,
)

Resolver = Callable[[int, str], Peer]
"""``resolve(short_server_id, server_uri)``: the peer address of a server account (Short Server
ID 0: the bootstrap server); ClientError for a URI the client cannot reach."""

BOOTSTRAP_SSID = 0
"""What the resolver is told for the bootstrap server, which has no Short Server ID."""
DEVICE = 3
"""The Device object, whose instance Bootstrap-Delete of ``/`` leaves (Core 1.1 §5.2.7.5)."""


def server_address(uri: str) -> tuple[bool, tuple[str, int]]:
    """``coap[s]://host[:port]`` to (secure, ``(host, port)``); names are left to the caller
    to resolve."""
    parts = urlsplit(uri)
    if parts.scheme not in ("coap", "coaps") or not parts.hostname:
        raise ClientError(f"server URI {uri!r}: only coap:// and coaps://host[:port] are supported")
    secure = parts.scheme == "coaps"
    return secure, (parts.hostname, parts.port or (5684 if secure else 5683))


def udp_peer(short_server_id: int, uri: str) -> tuple[str, int]:
    """The resolver of a client without DTLS: ``coap://host:port`` to ``(host, port)``."""
    secure, address = server_address(uri)
    if secure:
        raise ClientError(f"server URI {uri!r}: this client reaches coap:// only (no DTLS)")
    return address


class CoapEndpoint(Protocol):
    """What the engine needs of its CoAP endpoint: :class:`~lwm2m.coap.endpoint.Endpoint`'s
    API (``config`` supplies the timing Updates and queue mode are planned with)."""

    @property
    def config(self) -> EndpointConfig: ...

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Event | None: ...

    def send_request(
        self, peer: Peer, code: Code, *, now: float, options: Options, payload: bytes
    ) -> int: ...

    def cancel(self, handle: int, now: float) -> None: ...

    def respond(
        self, exchange: ExchangeKey, code: Code, *, now: float, options: Options, payload: bytes
    ) -> ObservationKey | None: ...

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        now: float,
        options: Options = ...,
        payload: bytes = ...,
        confirmable: bool = ...,
    ) -> None: ...


class ClientError(Exception):
    """Local misuse of the client: nothing was sent (not registered, Send muted, bad path)."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    lwm2m_version: str = "1.1"
    awake_window: float | None = None
    """Queue mode: seconds to listen after the last datagram; None is MAX_TRANSMIT_WAIT, the
    minimum Core §6.5 allows."""
    confirmable_interval: float = 86400.0
    """A notification is confirmable when the last confirmable one of its observation is this
    old, so a server that went away is noticed (RFC 7641 §4.5) while most stay NON."""
    retry_base: float = 60.0
    retry_cap: float = 3600.0
    """Back-off after failed registrations: d = min(cap, base * 2**n), waited in [d/2, d]."""
    max_stored_notifications: int = 256
    """Notifications kept while asleep; beyond it the oldest go."""
    bootstrap_after: int = 5
    """Failed Register attempts to one server before falling back to bootstrap (when the
    server's /1/x/16 allows it); /1/x/17 Communication Retry Count overrides it."""
    bootstrap_timeout: float | None = None
    """Seconds the bootstrap server may stay silent before Bootstrap-Finish; None is
    EXCHANGE_LIFETIME."""


DEFAULT_CONFIG = ClientConfig()


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registered:
    short_server_id: int
    location: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Updated:
    short_server_id: int


@dataclass(frozen=True, slots=True)
class Deregistered:
    short_server_id: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    """Register or Update failed (``code`` None: no answer); the next try is at ``retry_at``."""

    short_server_id: int
    code: Code | None
    retry_at: float


@dataclass(frozen=True, slots=True)
class SendCompleted:
    """The answer to the Send ``send_id`` (``code`` None: no answer)."""

    send_id: int
    short_server_id: int
    code: Code | None


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A device event the engine does not handle itself (Reboot, Factory Reset, bootstrap)."""

    event: DeviceEvent


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """Bootstrap-Finish accepted: registration starts with these accounts."""

    short_server_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BootstrapFailed:
    """A bootstrap failed (``code``: the bootstrap server's answer to Bootstrap-Request, or 4.06
    when its configuration failed the check; None: no answer); the next try is at ``retry_at``
    (None: there is no bootstrap server account)."""

    code: Code | None
    reason: str
    retry_at: float | None


@dataclass(frozen=True, slots=True)
class Stopped:
    """Every registration is over after :meth:`ClientEngine.stop`."""


@dataclass(frozen=True, slots=True)
class ServerSilent:
    """A request to ``peer`` went unanswered until CoAP gave up: a secure transport should
    start its session over (the server may have lost it, or a NAT the address)."""

    peer: Peer


ClientEvent: TypeAlias = (
    Registered
    | Updated
    | Deregistered
    | RegistrationFailed
    | SendCompleted
    | DeviceRequest
    | Bootstrapped
    | BootstrapFailed
    | Stopped
    | ServerSilent
)

_Stored = tuple[ObservationKey, CoapParts, bool]


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
    ) -> None:
        """``endpoint`` replaces the datagram endpoint (CoAP over TCP: ``LwM2MClient``)."""
        self.tree = tree
        self.endpoint_name = endpoint_name
        self.config = config
        self._rng = rng
        self._resolve = resolve
        self._endpoint: CoapEndpoint = (
            Endpoint(coap, random.Random(rng.getrandbits(64))) if endpoint is None else endpoint
        )
        self._now = 0.0
        self._codecs = default_codecs(lambda: self._now)
        self._timers = TimerQueue()
        self._out: list[tuple[bytes, Peer]] = []
        self._events: deque[ClientEvent] = deque()
        self._registrations: dict[int, Registration] = {}
        self._by_peer: dict[Peer, Registration] = {}
        self._reg_timers: dict[int, Timer] = {}
        self._requests: dict[int, tuple[Registration, ClientRequest]] = {}
        self._attributes: dict[int, dict[Path, NotificationAttributes]] = {}
        self._observations: dict[ObservationKey, Observation] = {}
        self._obs_timers: dict[ObservationKey, Timer] = {}
        self._changed: list[Path] = []
        self._device_events: deque[DeviceEvent] = deque()
        self._stored: deque[_Stored] = deque(maxlen=config.max_stored_notifications)
        self._asleep = False
        self._sleep_timer: Timer | None = None
        self._stopping = False
        self._bootstrap = bs.Bootstrap()
        self._bs_timer: Timer | None = None
        self._hold_off = 0.0
        tree.subscribe(self._on_tree_event)

    # -- driving -------------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> ClientEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [self._endpoint.get_timer(), self._timers.next_deadline()]
        if self._changed or self._device_events:
            times.append(self._now)
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        """Advance to ``now``: run what is due and act on what device code changed since."""
        self._now = now
        self._endpoint.handle_timer(now)
        self._timers.run_due(now)
        self._settle(now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        """A datagram from the network; dropped while asleep (the radio is off)."""
        self._now = now
        if self._asleep:
            return
        self._endpoint.receive(data, peer, now)
        self._settle(now)

    @property
    def asleep(self) -> bool:
        return self._asleep

    @property
    def registrations(self) -> Mapping[int, Registration]:
        """Registration state by Short Server ID (to look at, not to change)."""
        return dict(self._registrations)

    # -- API -----------------------------------------------------------------------------------

    @property
    def bootstrap_state(self) -> bs.State:
        return self._bootstrap.state

    def start(self, now: float) -> None:
        """Register with every server account in the tree; without one, bootstrap first."""
        self._now = now
        accounts = self._accounts()
        if accounts or self._bootstrap_account() is None:
            self._register_all(accounts, now)
        else:
            self._begin_bootstrap(now, cold=True)
        self._settle(now)

    def _register_all(self, accounts: list[Registration], now: float) -> None:
        for reg in accounts:
            self._registrations[reg.short_server_id] = reg
            self._by_peer[reg.peer] = reg
            self._step(reg, Trigger.START, now)

    def stop(self, now: float) -> None:
        """De-register everywhere; :class:`Stopped` follows once every server answered or
        gave up."""
        self._now = now
        self._stopping = True
        self._bootstrap_step(bs.Trigger.STOP, now)
        for reg in self._registrations.values():
            self._step(reg, Trigger.STOP, now)
        self._check_stopped()
        self._settle(now)

    def trigger_update(self, now: float, server_id: int | None = None) -> None:
        """Send an Update now (to every server, or to ``server_id``)."""
        self._now = now
        for reg in self._select(server_id):
            self._step(reg, Trigger.UPDATE, now)
        self._settle(now)

    def unreachable(self, peer: Peer, now: float) -> None:
        """The transport to ``peer`` failed (a DTLS handshake was refused or timed out): what
        is in flight to it fails now, as if unanswered, instead of being retransmitted into one
        handshake after another; registrations back off, a bootstrap retries later."""
        self._now = now
        for handle, (reg, _) in list(self._requests.items()):
            if reg.peer == peer:
                with contextlib.suppress(StaleHandleError):
                    self._endpoint.cancel(handle, now)
                self._on_response(handle, None, None, now)
        boot = self._bootstrap
        if boot.handle is not None and boot.peer == peer:
            with contextlib.suppress(StaleHandleError):
                self._endpoint.cancel(boot.handle, now)
            self._on_bootstrap_answer(None, b"", now)
        self._settle(now)

    def send(self, paths: Iterable[Path], now: float, *, server_id: int | None = None) -> list[int]:
        """Send the current values at ``paths`` (``POST /dp``, SenML CBOR, timestamped ``now``)
        to every registered server (or ``server_id``) that has not muted Send (/1/x/23).

        Returns one send ID per server; :class:`SendCompleted` reports each answer.
        """
        self._now = now
        paths = tuple(paths)
        online = [reg for reg in self._select(server_id) if reg.online]
        if not online:
            raise ClientError("not registered" + ("" if server_id is None else f" to {server_id}"))
        targets = [reg for reg in online if not self._server_flag(reg, srv.MUTE_SEND)]
        if not targets:
            raise ClientError("Send is muted (/1/x/23)")
        send_ids = []
        for reg in targets:
            try:
                values = self._read_values(paths, reg.short_server_id, skip_absent=False)
            except ObjectError as exc:
                raise ClientError(str(exc)) from None
            if not values:
                raise ClientError("nothing to send")
            op = Send((TimestampedValues(now, values),))
            send_ids.append(self._request(reg, op, now, track=False))
        self._settle(now)
        return send_ids

    # -- the event loop ------------------------------------------------------------------------

    def _settle(self, now: float) -> None:
        """Act on everything that happened until nothing is left, then collect datagrams."""
        while True:
            event = self._endpoint.next_event()
            if event is not None:
                self._on_endpoint_event(event, now)
            elif self._device_events:
                self._on_device_event(self._device_events.popleft(), now)
            elif self._changed:
                changed, self._changed = self._changed, []
                self._on_changes(changed, now)
            else:
                out = self._endpoint.datagrams_to_send()
                if not out:
                    return
                self._on_activity(now)
                self._out.extend(out)

    def _on_endpoint_event(self, event: Event, now: float) -> None:
        if isinstance(event, RequestFailed) and event.reason is FailureReason.TIMEOUT:
            self._went_silent(event.handle)
        if isinstance(event, RequestReceived):
            if self._bootstrap.busy and event.exchange.peer == self._bootstrap.peer:
                self._serve_bootstrap(event, now)
            else:
                self._serve(event, now)
        elif isinstance(event, ResponseReceived) and event.handle == self._bootstrap.handle:
            self._on_bootstrap_answer(event.response.code, event.response.payload, now)
        elif isinstance(event, RequestFailed) and event.handle == self._bootstrap.handle:
            self._on_bootstrap_answer(None, b"", now)
        elif isinstance(event, ResponseReceived):
            self._on_response(event.handle, event.response.code, event, now)
        elif isinstance(event, RequestFailed):
            self._on_response(event.handle, None, None, now)
        elif isinstance(event, ObservationCancelled):
            self._forget_observation(event.observation)

    def _went_silent(self, handle: int) -> None:
        entry = self._requests.get(handle)
        boot = self._bootstrap
        peer = entry[0].peer if entry is not None else boot.peer if handle == boot.handle else None
        if peer is not None:
            self._events.append(ServerSilent(peer))

    def _on_tree_event(self, event: DeviceEvent) -> None:
        if isinstance(event, Changed):
            self._changed.append(event.path)
        else:
            self._device_events.append(event)

    def _on_device_event(self, event: DeviceEvent, now: float) -> None:
        if isinstance(event, RegistrationUpdateTrigger):
            # Only UDP is spoken here: an Update asked for over another transport goes over
            # UDP rather than not at all.
            for reg in self._select(event.short_server_id):
                self._step(reg, Trigger.UPDATE, now)
        elif isinstance(event, DisableServer):
            for reg in self._select(event.short_server_id):
                reg.disable_timeout = float(event.timeout)
                self._step(reg, Trigger.DISABLE, now)
        elif isinstance(event, BootstrapRequestTrigger):
            self._begin_bootstrap(now, cold=False)
        else:
            self._events.append(DeviceRequest(event))

    def _on_changes(self, changed: list[Path], now: float) -> None:
        if any(path.depth <= 2 or path.ids[0] == SERVER for path in changed):
            for reg in self._registrations.values():
                if reg.online and self._parameters(reg) != reg.registered:
                    self._step(reg, Trigger.UPDATE, now)
        for obs in list(self._observations.values()):
            if obs.key in self._observations and any(obs.watches(p) for p in changed):
                obs.dirty = True
                self._review(obs, now)

    def _on_activity(self, now: float) -> None:
        """Datagrams go out: the radio is on, and stays on for the awake window."""
        if self._asleep:
            self._asleep = False
            self._flush_stored(now)
        self._stay_awake(now)

    def _stay_awake(self, now: float) -> None:
        self._timers.cancel(self._sleep_timer)
        window = self.config.awake_window
        if window is None:
            window = self._endpoint.config.max_transmit_wait
        self._sleep_timer = self._timers.schedule(now + window, self._fall_asleep)

    def _fall_asleep(self, now: float) -> None:
        """The awake window is over: sleep, unless a request of ours still waits for its answer."""
        self._sleep_timer = None
        if not self._queue_mode():
            return
        if self._requests:
            self._stay_awake(now)
        else:
            self._asleep = True

    def _queue_mode(self) -> bool:
        online = [reg for reg in self._registrations.values() if reg.online]
        return bool(online) and all(
            reg.registered is not None and reg.registered.queue_mode for reg in online
        )

    # -- registration --------------------------------------------------------------------------

    def _accounts(self) -> list[Registration]:
        servers = self.tree.object(SERVER)
        if not isinstance(servers, srv.ServerObject):
            raise ClientError("the Server object is not a ServerObject")
        uris: dict[int, str] = {}
        security = self.tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            if sec.SHORT_SERVER_ID not in present or security.read(iid, sec.BOOTSTRAP_SERVER):
                continue
            ssid, uri = security.read(iid, sec.SHORT_SERVER_ID), security.read(iid, sec.SERVER_URI)
            if isinstance(ssid, int) and isinstance(uri, str):
                uris[ssid] = uri
        accounts = []
        for iid in servers.list_instances():
            ssid = servers.short_server_id(iid)
            if ssid not in uris:
                raise ClientError(f"server {ssid} has no Security instance")
            accounts.append(Registration(ssid, iid, self._resolve(ssid, uris[ssid])))
        return accounts

    def _select(self, server_id: int | None) -> list[Registration]:
        if server_id is None:
            return list(self._registrations.values())
        reg = self._registrations.get(server_id)
        return [] if reg is None else [reg]

    def _step(self, reg: Registration, trigger: Trigger, now: float) -> None:
        action = reg.step(trigger)
        if action is None:
            return
        if action is Action.REGISTER:
            self._forget_server(reg)
            reg.sent = self._parameters(reg)
            self._request(reg, self._register_op(reg.sent), now)
        elif action is Action.UPDATE:
            self._update(reg, now)
        elif action is Action.DEREGISTER:
            self._forget_server(reg)
            self._request(reg, Deregister(reg.location), now)
        elif action is Action.SCHEDULE_UPDATE:
            reg.attempts = 0
            lifetime = reg.registered.lifetime if reg.registered is not None else 0
            delay = update_delay(lifetime, self._endpoint.config.max_transmit_wait)
            self._schedule(reg, now + delay)
            if reg.update_queued or self._parameters(reg) != reg.registered:
                reg.update_queued = False
                self._step(reg, Trigger.UPDATE, now)
        elif action is Action.BACK_OFF:
            self._forget_server(reg)
            config = self.config
            delay = backoff_delay(reg.attempts, config.retry_base, config.retry_cap, self._rng)
            reg.attempts += 1
            self._schedule(reg, now + delay)
            if self._falls_back(reg):
                self._begin_bootstrap(now, cold=False)
        elif action is Action.WAIT_DISABLED:
            self._schedule(reg, now + reg.disable_timeout)
        elif action is Action.QUEUE_UPDATE:
            reg.update_queued = True
        elif action is Action.CANCEL:
            self._cancel_request(reg, now)
        if reg.state is State.STOPPED:
            self._timers.cancel(self._reg_timers.pop(reg.short_server_id, None))
            self._check_stopped()

    def _check_stopped(self) -> None:
        if (
            self._stopping
            and not self._bootstrap.busy
            and all(reg.state is State.STOPPED for reg in self._registrations.values())
        ):
            self._stopping = False
            self._events.append(Stopped())

    def _schedule(self, reg: Registration, when: float) -> None:
        ssid = reg.short_server_id
        self._timers.cancel(self._reg_timers.pop(ssid, None))
        reg.deadline = when
        self._reg_timers[ssid] = self._timers.schedule(
            when, lambda now: self._step(reg, Trigger.TIMER, now)
        )

    def _parameters(self, reg: Registration) -> Parameters:
        servers = self.tree.object(SERVER)
        iid = reg.server_instance
        present = servers.list_resources(iid)
        lifetime = servers.read(iid, srv.LIFETIME) if srv.LIFETIME in present else 86400
        binding = servers.read(iid, srv.BINDING) if srv.BINDING in present else "U"
        assert isinstance(lifetime, int) and isinstance(binding, str)
        links = ObjectLinks.from_payload(self.tree.object_links().encode())
        if self.config.lwm2m_version != "1.0":
            links = replace(links, content_formats=_ADVERTISED_FORMATS)
        return Parameters(lifetime, binding, "Q" in binding, links)

    def _register_op(self, params: Parameters) -> Register:
        legacy = self.config.lwm2m_version == "1.0"
        return Register(
            endpoint=self.endpoint_name,
            objects=params.objects,
            lifetime=params.lifetime,
            lwm2m_version=self.config.lwm2m_version,
            binding=params.binding if legacy else params.binding.replace("Q", ""),
            queue_mode=params.queue_mode and not legacy,
        )

    def _update(self, reg: Registration, now: float) -> None:
        old, new = reg.registered, self._parameters(reg)
        assert old is not None
        reg.sent = new
        legacy = self.config.lwm2m_version == "1.0"
        if new.queue_mode != old.queue_mode and not legacy:
            # 1.1 says Q in Register only: entering or leaving queue mode is a new registration.
            self._forget_server(reg)
            self._request(reg, self._register_op(new), now)
            return
        binding = new.binding if legacy else new.binding.replace("Q", "")
        op = Update(
            reg.location,
            lifetime=new.lifetime if new.lifetime != old.lifetime else None,
            binding=binding if new.binding != old.binding else None,
            objects=new.objects if new.objects != old.objects else None,
        )
        self._request(reg, op, now)

    def _request(
        self, reg: Registration, op: ClientRequest, now: float, *, track: bool = True
    ) -> int:
        """Send ``op`` to the server; ``track`` makes it the registration's request in flight."""
        if track:
            self._cancel_request(reg, now)
        parts = encode_request(op, self._codecs, self.tree.models, fmt=ContentFormat.SENML_CBOR)
        handle = self._endpoint.send_request(
            reg.peer, parts.code, options=parts.options, payload=parts.payload, now=now
        )
        self._requests[handle] = (reg, op)
        if track:
            reg.handle = handle
        return handle

    def _cancel_request(self, reg: Registration, now: float) -> None:
        if reg.handle is not None:
            self._requests.pop(reg.handle, None)
            self._endpoint.cancel(reg.handle, now)
            reg.handle = None

    def _on_response(
        self, handle: int, code: Code | None, event: ResponseReceived | None, now: float
    ) -> None:
        entry = self._requests.pop(handle, None)
        if entry is None:
            return  # cancelled, or an answer we stopped waiting for
        reg, op = entry
        if isinstance(op, Send):
            self._events.append(SendCompleted(handle, reg.short_server_id, code))
            return
        reg.handle = None
        response: Response | None = None
        if event is not None:
            try:
                response = decode_response(op, event.response, self._codecs, self.tree.models)
            except OperationError:
                response = None
        if isinstance(op, Deregister):
            self._events.append(Deregistered(reg.short_server_id))
            self._step(reg, Trigger.SUCCESS, now)
        elif isinstance(response, RegisteredResponse | EmptyResponse):
            reg.registered = reg.sent
            if isinstance(response, RegisteredResponse):
                reg.location = response.location
                self._events.append(Registered(reg.short_server_id, reg.location))
            else:
                self._events.append(Updated(reg.short_server_id))
            self._step(reg, Trigger.SUCCESS, now)
        else:
            not_found = isinstance(response, ErrorResponse) and response.code == Code.NOT_FOUND
            self._step(reg, Trigger.NOT_FOUND if not_found else Trigger.FAILURE, now)
            if reg.state is State.BACKING_OFF and reg.deadline is not None:
                self._events.append(RegistrationFailed(reg.short_server_id, code, reg.deadline))

    def _forget_server(self, reg: Registration) -> None:
        """The server's observations end with its registration."""
        for key, obs in list(self._observations.items()):
            if obs.short_server_id == reg.short_server_id:
                self._forget_observation(key)

    def _server_flag(self, reg: Registration, resource_id: int) -> bool:
        servers = self.tree.object(SERVER)
        iid = reg.server_instance
        return resource_id in servers.list_resources(iid) and servers.read(iid, resource_id) is True

    # -- bootstrap -----------------------------------------------------------------------------

    def _bootstrap_account(self) -> tuple[int, str, int] | None:
        """The bootstrap server's Security instance, URI and Client Hold Off Time."""
        security = self.tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            if sec.BOOTSTRAP_SERVER in present and security.read(iid, sec.BOOTSTRAP_SERVER):
                uri = security.read(iid, sec.SERVER_URI)
                hold_off = (
                    security.read(iid, sec.CLIENT_HOLD_OFF_TIME)
                    if sec.CLIENT_HOLD_OFF_TIME in present
                    else 0
                )
                assert isinstance(uri, str) and isinstance(hold_off, int)
                return iid, uri, hold_off
        return None

    def _falls_back(self, reg: Registration) -> bool:
        """Whether failed Register attempts to ``reg`` now call for a bootstrap (ETS int-7)."""
        if self._bootstrap_account() is None or self._bootstrap.busy:
            return False
        servers = self.tree.object(SERVER)
        iid = reg.server_instance
        if iid not in servers.list_instances():
            return False
        present = servers.list_resources(iid)
        allowed = (
            servers.read(iid, srv.BOOTSTRAP_ON_FAILURE)
            if srv.BOOTSTRAP_ON_FAILURE in present
            else True
        )
        limit = (
            servers.read(iid, srv.RETRY_COUNT)
            if srv.RETRY_COUNT in present
            else self.config.bootstrap_after
        )
        assert isinstance(limit, int)
        return allowed is True and reg.attempts >= max(1, limit)

    def _begin_bootstrap(self, now: float, *, cold: bool) -> None:
        """Suspend every registration and ask the bootstrap server (after the hold-off when
        ``cold``)."""
        account = self._bootstrap_account()
        if account is None:
            self._events.append(BootstrapFailed(None, "no bootstrap server account", None))
            return
        for reg in self._registrations.values():
            self._cancel_request(reg, now)
            self._forget_server(reg)
            self._timers.cancel(self._reg_timers.pop(reg.short_server_id, None))
            reg.deadline = None
        self._registrations.clear()
        self._by_peer.clear()
        self._hold_off = float(account[2]) if cold else 0.0
        self._bootstrap_step(bs.Trigger.START, now)

    def _bootstrap_step(self, trigger: bs.Trigger, now: float) -> None:
        boot = self._bootstrap
        action = boot.step(trigger)
        if action is None:
            return
        self._timers.cancel(self._bs_timer)
        self._bs_timer = None
        if action is bs.Action.HOLD_OFF:
            self._bootstrap_timer(now + self._hold_off)
        elif action is bs.Action.REQUEST:
            self._bootstrap_request(now)
        elif action is bs.Action.WAIT_FINISH:
            self._bootstrap_timer(now + self._bootstrap_timeout())
        elif action is bs.Action.BACK_OFF:
            config = self.config
            delay = backoff_delay(boot.attempts, config.retry_base, config.retry_cap, self._rng)
            boot.attempts += 1
            self._bootstrap_timer(now + delay)
        elif action is bs.Action.APPLY:
            boot.attempts = 0
            boot.peer = None
            self._apply_bootstrap(now)
        elif action is bs.Action.CANCEL:
            if boot.handle is not None:
                with contextlib.suppress(StaleHandleError):
                    self._endpoint.cancel(boot.handle, now)
            boot.handle = boot.peer = None
            self._check_stopped()

    def _bootstrap_timer(self, when: float) -> None:
        self._bs_timer = self._timers.schedule(when, self._on_bootstrap_timer)

    def _on_bootstrap_timer(self, now: float) -> None:
        self._bs_timer = None
        if self._bootstrap.state is bs.State.BOOTSTRAPPING:
            reason = "no Bootstrap-Finish in time"
            self._bootstrap_failed(None, reason, now, bs.Trigger.TIMER)
        else:
            self._bootstrap_step(bs.Trigger.TIMER, now)

    def _bootstrap_timeout(self) -> float:
        timeout = self.config.bootstrap_timeout
        return self._endpoint.config.exchange_lifetime if timeout is None else timeout

    def _bootstrap_request(self, now: float) -> None:
        boot = self._bootstrap
        account = self._bootstrap_account()
        try:
            if account is None:
                raise ClientError("the bootstrap server account was deleted")
            boot.peer = self._resolve(BOOTSTRAP_SSID, account[1])
        except ClientError as exc:
            self._bootstrap_failed(None, str(exc), now)
            return
        pct = None if self.config.lwm2m_version == "1.0" else ContentFormat.SENML_CBOR
        parts = encode_request(
            BootstrapRequest(self.endpoint_name, pct), self._codecs, self.tree.models
        )
        boot.handle = self._endpoint.send_request(
            boot.peer, parts.code, options=parts.options, payload=parts.payload, now=now
        )

    def _on_bootstrap_answer(self, code: Code | None, payload: bytes, now: float) -> None:
        self._bootstrap.handle = None
        if code == Code.CHANGED:
            self._bootstrap_step(bs.Trigger.ACCEPTED, now)
        elif self._bootstrap.state is bs.State.REQUESTING:
            reason = (
                "no answer" if code is None else payload.decode(errors="replace") or code.dotted
            )
            self._bootstrap_failed(code, reason, now)

    def _bootstrap_failed(
        self, code: Code | None, reason: str, now: float, trigger: bs.Trigger = bs.Trigger.REFUSED
    ) -> None:
        self._bootstrap_step(trigger, now)
        retry_at = self._bs_timer.deadline if self._bs_timer is not None else None
        self._events.append(BootstrapFailed(code, reason, retry_at))

    def _serve_bootstrap(self, event: RequestReceived, now: float) -> None:
        """A request of the bootstrap server, served with the device's own rights."""
        if self._bootstrap.state is bs.State.REQUESTING:  # its first request overtook the 2.04
            self._bootstrap_step(bs.Trigger.ACCEPTED, now)
        if not self._bootstrap.active:
            self._respond(event, encode_error(Code.UNAUTHORIZED, "no bootstrap under way"), now)
            return
        self._timers.cancel(self._bs_timer)  # the bootstrap server is alive: wait again
        self._bootstrap_timer(now + self._bootstrap_timeout())
        try:
            op = check_bootstrap(decode_request(event.request, self._codecs, self.tree.models))
            if isinstance(op, BootstrapFinish):
                self._finish_bootstrap(event, now)
                return
            response, fmt = self._perform_bootstrap(op)
            parts = encode_response(op, response, self._codecs, self.tree.models, fmt=fmt)
        except (OperationError, ObjectError) as exc:
            parts = encode_error(exc.code, exc.message)
        except Exception as exc:  # a bug in device code must not take the client down
            parts = encode_error(Code.INTERNAL_SERVER_ERROR, type(exc).__name__)
        self._respond(event, parts, now)

    def _finish_bootstrap(self, event: RequestReceived, now: float) -> None:
        """Bootstrap-Finish: 2.04 and register, or 4.06 and bootstrap again later."""
        problem = self._inconsistency()
        if problem is None:
            self._respond(event, CoapParts(Code.CHANGED, Options()), now)
            self._bootstrap_step(bs.Trigger.FINISHED, now)
        else:
            self._respond(event, encode_error(Code.NOT_ACCEPTABLE, problem), now)
            self._bootstrap_failed(Code.NOT_ACCEPTABLE, problem, now, bs.Trigger.INCONSISTENT)

    def _respond(self, event: RequestReceived, parts: CoapParts, now: float) -> None:
        self._endpoint.respond(
            event.exchange, parts.code, options=parts.options, payload=parts.payload, now=now
        )

    def _perform_bootstrap(self, op: Operation) -> tuple[Response, int | None]:
        tree = self.tree
        match op:
            case Discover(path):
                return LinksResponse(self._inventory(path).to_links()), None
            case Read(path):
                node = tree.read(path, server_id=None)
                return NodeResponse(node), self._node_format(node)
            case Write(path, node):
                self._bootstrap_write(path, node)
            case Delete(path):
                self._bootstrap_delete(path)
        return EmptyResponse(), None

    def _inventory(self, path: Path) -> Inventory:
        """What Bootstrap-Discover of ``/`` or an object shows."""
        objects = list(self.tree) if path.is_root else [self.tree.object(path.ids[0])]
        entries = []
        for obj in objects:
            oid = obj.object_id
            version = None if obj.model.version == "1.0" else obj.model.version
            instances = obj.list_instances()
            if version is not None or not instances:
                entries.append(InventoryEntry(Path.of(oid), version=version))
            for iid in instances:
                ssid, uri = None, None
                if oid == SECURITY:
                    uri = _str_or_none(_present_value(obj, iid, sec.SERVER_URI))
                    if not self._is_bootstrap_account(iid):
                        ssid = _int_or_none(_present_value(obj, iid, sec.SHORT_SERVER_ID))
                elif oid == SERVER:
                    ssid = _int_or_none(_present_value(obj, iid, srv.SHORT_SERVER_ID))
                entries.append(InventoryEntry(Path.of(oid, iid), ssid, uri))
        return Inventory(tuple(entries), self.config.lwm2m_version)

    def _is_bootstrap_account(self, security_iid: int) -> bool:
        security = self.tree.object(SECURITY)
        present = security.list_resources(security_iid)
        return (
            sec.BOOTSTRAP_SERVER in present
            and security.read(security_iid, sec.BOOTSTRAP_SERVER) is True
        )

    def _protected(self, path: Path) -> bool:
        """Instances Bootstrap-Delete leaves: the bootstrap account, its OSCORE context and the
        Device instance."""
        oid, iid = path.ids
        if oid == DEVICE:
            return True
        if oid == SECURITY:
            return self._is_bootstrap_account(iid)
        if oid == OSCORE:
            security = self.tree.object(SECURITY)
            return any(
                self._is_bootstrap_account(sid)
                and sec.OSCORE_SECURITY_MODE in security.list_resources(sid)
                and security.read(sid, sec.OSCORE_SECURITY_MODE) == ObjectLink(OSCORE, iid)
                for sid in security.list_instances()
            )
        return False

    def _bootstrap_delete(self, path: Path) -> None:
        if path.is_instance:
            if self._protected(path):
                raise OperationError(Code.BAD_REQUEST, f"{path} is not deleted by bootstrap")
            try:
                self.tree.delete(path, server_id=None)
            except ObjectError as exc:
                raise OperationError(Code.BAD_REQUEST, str(exc)) from None
            return
        objects = list(self.tree) if path.is_root else [self.tree.object(path.ids[0])]
        for obj in objects:
            for iid in obj.list_instances():
                target = Path.of(obj.object_id, iid)
                if not self._protected(target):
                    # Instances the device cannot delete (single-instance objects) stay.
                    with contextlib.suppress(MethodNotAllowedError):
                        self.tree.delete(target, server_id=None)

    def _bootstrap_write(self, path: Path, node: Node) -> None:
        """Bootstrap-Write: instances are created as needed, resources not named are kept."""
        obj = self.tree.object(path.ids[0])
        if path.depth > 2 and path.ids[1] not in obj.list_instances():
            if not isinstance(node, SingleResource | MultipleResource):
                raise OperationError(Code.NOT_FOUND, f"{path.parent} does not exist")
            instance = Path(path.ids[:2])
            self.tree.write(
                instance,
                ObjectInstance(path.ids[1], {node.id: node}),
                replace=False,
                server_id=None,
            )
            return
        self.tree.write(path, node, replace=path.depth > 2, server_id=None)

    def _inconsistency(self) -> str | None:
        """Why the configuration cannot be used (the Bootstrap-Finish check), None if it can."""
        try:
            accounts = self._accounts()
        except ClientError as exc:
            return str(exc)
        if not accounts:
            return "no LwM2M server account"
        return None

    def _apply_bootstrap(self, now: float) -> None:
        servers = self.tree.object(SERVER)
        assert isinstance(servers, srv.ServerObject)
        for iid in servers.list_instances():
            if servers.model.resource(srv.LAST_BOOTSTRAPPED) is not None:
                servers.set(iid, srv.LAST_BOOTSTRAPPED, int(now))
        accounts = self._accounts()
        self._events.append(Bootstrapped(tuple(reg.short_server_id for reg in accounts)))
        self._register_all(accounts, now)

    # -- device management ---------------------------------------------------------------------

    def _serve(self, event: RequestReceived, now: float) -> None:
        reg = self._by_peer.get(event.exchange.peer)
        op: Operation | None = None
        response: Response | None = None
        if reg is None or reg.state in (State.DISABLED, State.STOPPED):
            parts = encode_error(Code.UNAUTHORIZED, "not a server of this client")
        else:
            try:
                op = decode_request(event.request, self._codecs, self.tree.models)
                response, fmt = self._perform(op, reg.short_server_id)
                parts = encode_response(op, response, self._codecs, self.tree.models, fmt=fmt)
            except (OperationError, ObjectError) as exc:
                code = exc.code
                if response is not None and getattr(op, "accept", None) is not None:
                    code = Code.NOT_ACCEPTABLE  # the asked format cannot carry the answer
                parts = encode_error(code, exc.message)
            except Exception as exc:  # a bug in device code must not take the client down
                parts = encode_error(Code.INTERNAL_SERVER_ERROR, type(exc).__name__)
        key = self._endpoint.respond(
            event.exchange, parts.code, options=parts.options, payload=parts.payload, now=now
        )
        if (
            key is not None
            and reg is not None
            and isinstance(op, Observe | ObserveComposite)
            and isinstance(response, NodeResponse | ValuesResponse)
        ):
            self._observe(key, op, response, ssid=reg.short_server_id, parts=parts, now=now)

    def _perform(self, op: Operation, ssid: int) -> tuple[Response, int | None]:
        """Carry out a server's request on the tree; the response and its default format."""
        tree = self.tree
        match op:
            case Read(path) | Observe(path):
                node = tree.read(path, server_id=ssid)
                return NodeResponse(node), self._node_format(node)
            case ReadComposite(paths) | ObserveComposite(paths):
                values = self._read_values(paths, ssid, skip_absent=True)
                return ValuesResponse(values), ContentFormat.SENML_CBOR
            case Discover(path, depth):
                return LinksResponse(self._discover(path, depth, ssid)), None
            case Write(path, node, partial):
                tree.write(path, node, replace=not partial, server_id=ssid)
            case WriteComposite(values):
                for path, value in values.items():
                    leaf: Node = (
                        SingleResource(path.ids[2], value)
                        if path.is_resource
                        else ResourceInstance(path.ids[-1], value)
                    )
                    tree.write(path, leaf, replace=True, server_id=ssid)
            case WriteAttributes(path, attributes):
                self._write_attributes(ssid, path, attributes)
            case Execute(path, arguments):
                tree.execute(path, format_arguments(arguments).decode(), server_id=ssid)
            case Create(object_id, instances):
                node = ObjectNode(object_id, {instance.id: instance for instance in instances})
                ids = tree.create(Path.of(object_id), node, server_id=ssid)
                location = Path.of(object_id, ids[0]) if len(ids) == 1 else None
                return CreatedResponse(location), None
            case Delete(path):
                tree.delete(path, server_id=ssid)
            case _:
                raise OperationError(Code.METHOD_NOT_ALLOWED, f"{type(op).__name__} is not for us")
        return EmptyResponse(), None

    def _node_format(self, node: Node) -> int:
        """Without Accept: plain text for one value (what 1.0 servers expect), else TLV for a
        1.0 client and SenML CBOR for 1.1."""
        if isinstance(node, SingleResource | ResourceInstance):
            return ContentFormat.TEXT
        if self.config.lwm2m_version == "1.0":
            return ContentFormat.TLV
        return ContentFormat.SENML_CBOR

    def _read_values(
        self, paths: Iterable[Path], ssid: int, *, skip_absent: bool
    ) -> dict[Path, Value]:
        values: dict[Path, Value] = {}
        for path in paths:
            if path.is_root:  # "/" in a composite: every object this server may read
                for obj in self.tree:
                    top = Path.of(obj.object_id)
                    with contextlib.suppress(UnauthorizedError):
                        values.update(node_to_values(top, self.tree.read(top, server_id=ssid)))
                continue
            try:
                values.update(node_to_values(path, self.tree.read(path, server_id=ssid)))
            except NotFoundError:
                if not skip_absent:
                    raise
        return values

    def _discover(self, path: Path, depth: int | None, ssid: int) -> tuple[Link, ...]:
        assigned = self._attributes.get(ssid, {})
        links = []
        for entry in self.tree.discover(path, server_id=ssid, depth=depth):
            params: list[tuple[str, str | None]] = []
            if entry.dim is not None:
                params.append(("dim", str(entry.dim)))
            attributes = assigned.get(entry.path)
            if attributes is not None:
                params += [_attribute(item) for item in attributes.to_query()]
            links.append(Link(str(entry.path), params))
        return tuple(links)

    def _write_attributes(self, ssid: int, path: Path, change: NotificationAttributes) -> None:
        target = path.parent if path.is_resource_instance else path
        self.tree.discover(target, server_id=ssid, depth=0)  # 4.04 for what is absent
        assigned = self._attributes.setdefault(ssid, {})
        attributes = assigned.get(path, NotificationAttributes()).updated(change)
        if attributes.is_empty:
            assigned.pop(path, None)
        else:
            assigned[path] = attributes
        for obs in list(self._observations.values()):
            if obs.short_server_id == ssid:
                self._review(obs, self._now)

    # -- observations --------------------------------------------------------------------------

    def _observe(
        self,
        key: ObservationKey,
        op: Observe | ObserveComposite,
        response: NodeResponse | ValuesResponse,
        *,
        ssid: int,
        parts: CoapParts,
        now: float,
    ) -> None:
        if isinstance(response, NodeResponse):
            assert isinstance(op, Observe)
            values = node_to_values(op.path, response.node)
        else:
            values = dict(response.values)
        content_format = parts.options.content_format
        obs = Observation(
            key,
            ssid,
            op,
            ContentFormat.TEXT if content_format is None else content_format,
            values,
            last_sent=now,
            last_eval=now,
            last_confirmable=now,
        )
        self._forget_observation(key)
        self._observations[key] = obs
        self._review(obs, now)

    def _attributes_of(self, obs: Observation) -> dict[Path, NotificationAttributes]:
        ssid = obs.short_server_id
        reg = self._registrations[ssid]
        servers = self.tree.object(SERVER)
        present = servers.list_resources(reg.server_instance)
        defaults = {
            name: servers.read(reg.server_instance, rid)
            for name, rid in (("pmin", srv.DEFAULT_PMIN), ("pmax", srv.DEFAULT_PMAX))
            if rid in present
        }
        base = NotificationAttributes(**defaults)  # type: ignore[arg-type]
        assigned = self._attributes.get(ssid, {})
        return {path: effective_attributes(path, assigned, base) for path in obs.paths}

    def _review(self, obs: Observation, now: float) -> None:
        """Sample and notify if the attributes say so, then arm the observation's timer."""
        attributes = self._attributes_of(obs)
        timing = Timing.of(list(attributes.values()))
        if must_evaluate(obs, timing, now):
            try:
                response = self._observed(obs)
            except ObjectError as exc:
                self._end_observation(obs, exc.code, now)
                return
            values = (
                dict(response.values)
                if isinstance(response, ValuesResponse)
                else node_to_values(obs.paths[0], response.node)
            )
            if should_notify(obs, timing, attributes, values, now):
                self._notify(obs, response, values, timing, now)
        self._timers.cancel(self._obs_timers.pop(obs.key, None))
        when = wake_at(obs, timing)
        if when is not None and obs.key in self._observations:
            self._obs_timers[obs.key] = self._timers.schedule(
                when, partial(self._on_observation_timer, obs.key)
            )

    def _on_observation_timer(self, key: ObservationKey, now: float) -> None:
        self._obs_timers.pop(key, None)
        obs = self._observations.get(key)
        if obs is not None:
            self._review(obs, now)

    def _observed(self, obs: Observation) -> NodeResponse | ValuesResponse:
        request = obs.request
        if isinstance(request, ObserveComposite):
            values = self._read_values(request.paths, obs.short_server_id, skip_absent=True)
            return ValuesResponse(values, obs.content_format)
        node = self.tree.read(request.path, server_id=obs.short_server_id)
        return NodeResponse(node, obs.content_format)

    def _notify(
        self,
        obs: Observation,
        response: NodeResponse | ValuesResponse,
        values: dict[Path, Value],
        timing: Timing,
        now: float,
    ) -> None:
        try:
            parts = encode_response(obs.request, response, self._codecs, self.tree.models)
        except OperationError as exc:
            self._end_observation(obs, exc.code, now)
            return
        confirmable = timing.confirmable
        if confirmable is None:
            confirmable = now - obs.last_confirmable >= self.config.confirmable_interval
        if confirmable:
            obs.last_confirmable = now
        obs.sent_values = values
        obs.last_sent = now
        obs.pending = False
        if not self._asleep:
            self._endpoint.notify(
                obs.key,
                parts.code,
                options=parts.options,
                payload=parts.payload,
                now=now,
                confirmable=confirmable,
            )
        elif self._server_flag(self._registrations[obs.short_server_id], srv.NOTIFICATION_STORING):
            self._stored.append((obs.key, parts, confirmable))

    def _flush_stored(self, now: float) -> None:
        stored, self._stored = self._stored, deque(maxlen=self.config.max_stored_notifications)
        for key, parts, confirmable in stored:
            if key in self._observations:
                self._endpoint.notify(
                    key,
                    parts.code,
                    options=parts.options,
                    payload=parts.payload,
                    now=now,
                    confirmable=confirmable,
                )

    def _end_observation(self, obs: Observation, code: Code, now: float) -> None:
        """Tell the observer why its observation ends (the endpoint forgets it too)."""
        self._forget_observation(obs.key)
        if not self._asleep:
            self._endpoint.notify(obs.key, code, now=now)

    def _forget_observation(self, key: ObservationKey) -> None:
        self._observations.pop(key, None)
        self._timers.cancel(self._obs_timers.pop(key, None))


_ADVERTISED_FORMATS = (
    ContentFormat.SENML_CBOR,
    ContentFormat.SENML_JSON,
    ContentFormat.TLV,
    ContentFormat.LWM2M_CBOR,
)
"""``ct=`` on the root link of a 1.1 Register: the formats we answer in, preferred first."""


def _present_value(obj: ObjectImplementation, iid: int, rid: int) -> object:
    return obj.read(iid, rid) if rid in obj.list_resources(iid) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _attribute(item: str) -> tuple[str, str | None]:
    name, eq, value = item.partition("=")
    return name, value if eq else None
