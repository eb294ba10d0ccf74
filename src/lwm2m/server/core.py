"""Sans-I/O LwM2M server: the Registration, Device Management and Information Reporting
interfaces on CoAP endpoints.

Driven like an endpoint: :meth:`ServerCore.receive` datagrams, call
:meth:`ServerCore.handle_timer` once :meth:`ServerCore.get_timer` has passed, then drain
:meth:`ServerCore.datagrams_to_send` and :meth:`ServerCore.next_event` (the asyncio UDP adapter,
:mod:`lwm2m.transport.udp`, does exactly that).  ``now`` is monotonic seconds; Unix times for the
API come from the injected ``clock``, as the SenML codecs' relative times do.

Requests go out with :meth:`ServerCore.send` (and :meth:`ServerCore.cancel_observation`), which
return a request ID that one :class:`RequestCompleted` or :class:`RequestAborted` event ends.

The core is a dispatcher over collaborating parts that share one
:class:`~lwm2m.server.state.ServerState`: the :class:`~lwm2m.server.wire.ServerWire` (the CoAP
endpoints, keyed by peer), the :class:`~lwm2m.server.registrar.Registrar` (Register, Update,
De-register, expiry), the :class:`~lwm2m.server.flow.RequestFlow` (requests, queue mode,
deadlines, responses), :class:`~lwm2m.server.reporting.Reporting` (observations, notifications,
Send) and the :class:`~lwm2m.server.encoding.RequestEncoder` (formats, encoding).

Every change of state a restarted server needs (registrations, established observations with
their tokens, queued requests) and every reported value goes to the injected
:class:`~lwm2m.server.registration.ServerStore` as it happens; :meth:`ServerCore.restore`
carries on from what a store kept.  A store must not block: persistent ones write behind.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import replace

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    ExchangeKey,
    NotificationReceived,
    ObservationEnded,
    Peer,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import OptionNumber, Options
from lwm2m.coap.stream import ConnectionClosed, StreamEndpoint
from lwm2m.codec import Clock, CodecRegistry, default_codecs
from lwm2m.model import ModelRegistry, builtin_models
from lwm2m.operations import (
    Deregister,
    OperationError,
    Register,
    Send,
    ServerRequest,
    Update,
    decode_request,
    encode_error,
)
from lwm2m.operations.mapping import REGISTRATION_PATH, SEND_PATH
from lwm2m.security.oscore_endpoint import OscoreContexts
from lwm2m.server.config import ServerConfig
from lwm2m.server.encoding import RequestEncoder
from lwm2m.server.errors import RequestFailedError
from lwm2m.server.events import CoreEvent, Target, TimerRuleViolated
from lwm2m.server.flow import RequestFlow
from lwm2m.server.registrar import ObjectListTooLargeError, Registrar
from lwm2m.server.registration import (
    MemoryStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
    ServerStore,
)
from lwm2m.server.reporting import Reporting
from lwm2m.server.state import ServerState, Session, SessionView
from lwm2m.server.timer_audit import NetworkTimers, TimerAudit
from lwm2m.server.wire import ServerWire

logger = logging.getLogger(__name__)

_SERVED = (REGISTRATION_PATH.encode(), SEND_PATH.encode())
"""The first Uri-Path segments the server answers (``/rd``, ``/dp``)."""


class ServerCore:
    def __init__(
        self,
        config: ServerConfig,
        rng: random.Random,
        clock: Clock,
        models: ModelRegistry | None = None,
        store: ServerStore | None = None,
        *,
        is_stream: Callable[[Peer], bool] | None = None,
        oscore: OscoreContexts | None = None,
        is_nidd: Callable[[Peer], bool] | None = None,
        is_sms: Callable[[Peer], bool] | None = None,
    ) -> None:
        """``is_stream`` tells the peers of CoAP over TCP/TLS connections (served by
        :attr:`stream`) from datagram peers, ``is_nidd`` NIDD peers and ``is_sms`` SMS peers
        (served by the wire's NIDD and SMS endpoints); without them every peer is a datagram
        one."""
        self.config = config
        self.store: ServerStore = store if store is not None else MemoryStore()
        self.models = models if models is not None else builtin_models()
        self.codecs: CodecRegistry = default_codecs(clock)
        self.wire = ServerWire(
            config, rng, is_stream=is_stream, oscore=oscore, is_nidd=is_nidd, is_sms=is_sms
        )
        self.streams = _StreamSide(self)
        self._state = state = ServerState(config, self.store, self.models, self.codecs, clock, rng)
        encoder = RequestEncoder(self.codecs, self.models)
        self._audit = audit = TimerAudit(state)
        self._reporting = Reporting(state, self.wire, encoder, audit)
        self._flow = RequestFlow(state, self.wire, encoder, self._reporting, audit)
        self._registrar = Registrar(state, self.wire, self._flow, self._reporting, audit)
        self._resources = {segment.encode(): handler for segment, handler in config.resources}
        self._held: Callable[[Peer], bool] | None = None

    @property
    def endpoint(self) -> Endpoint:
        """The datagram endpoint (UDP, DTLS; an OSCORE one when given contexts)."""
        return self.wire.endpoint

    @property
    def stream(self) -> StreamEndpoint:
        """The endpoint of CoAP over TCP and TLS connections."""
        return self.wire.stream

    # -- driving -----------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        held = self._held
        if (
            held is not None
            and peer not in self._state.by_peer
            and _is_response(data)
            and held(peer)
        ):
            return  # another node's device: no RST, its retransmission finds the taker
        self.wire.datagram_endpoint(peer).receive(data, peer, now)
        self._drain(now)

    def handle_timer(self, now: float) -> None:
        self.wire.handle_timer(now)
        self._state.timers.run_due(now)
        self._drain(now)

    def get_timer(self) -> float | None:
        ours, theirs = self._state.timers.next_deadline(), self.wire.get_timer()
        if ours is None or (theirs is not None and theirs < ours):
            return theirs
        return ours

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        return self.wire.datagrams_to_send()

    # -- what a carrier reports (NIDD: the SCEF; SMS: the SMSC) ------------------------------

    def peer_reachable(self, peer: Peer, now: float) -> None:
        """The network says ``peer`` can take data now: what waits for it goes out."""
        session = self._state.by_peer.get(peer)
        if session is not None:
            self._flow.heard(session, now)

    def peer_unreachable(self, peer: Peer, now: float) -> None:
        """The network says ``peer`` sleeps (or holds data for it): queue for it."""
        session = self._state.by_peer.get(peer)
        if session is not None:
            session.awake_until = now

    def delivery_failed(self, peer: Peer, reason: str, now: float) -> None:
        """The carrier could not deliver a request to ``peer``: the requests in flight to its
        client fail now with ``reason`` instead of waiting for CoAP's timeout."""
        session = self._state.by_peer.get(peer)
        if session is None:
            return
        self._flow.fail_in_flight(session.registration.endpoint, reason, now)

    def network_timers(self, peer: Peer, timers: NetworkTimers, now: float) -> None:
        """The network reports the power-saving timers it granted ``peer`` (a carrier's
        monitoring event): the timer rules are checked against them."""
        session = self._state.by_peer.get(peer)
        if session is not None:
            self._audit.network(session, timers)

    def next_event(self) -> CoreEvent | None:
        events = self._state.events
        return events.popleft() if events else None

    def _drain(self, now: float) -> None:
        """Dispatch what the endpoints report to the part it concerns."""
        flow, reporting = self._flow, self._reporting
        for event in self.wire.events():
            if isinstance(event, RequestReceived):
                self._on_request(event.exchange, event.request, now)
            elif isinstance(event, ResponseReceived):
                flow.on_response(event.handle, event.response, now)
            elif isinstance(event, NotificationReceived):
                session = reporting.on_notification(event.handle, event.notification)
                if session is not None:
                    flow.heard(session, now)
            elif isinstance(event, ObservationEnded):
                reporting.on_observation_ended(event.handle, event.response)
            elif isinstance(event, RequestFailed):
                flow.on_request_failed(event.handle, event.reason)
            elif isinstance(event, ConnectionClosed):
                session = self._state.by_peer.get(event.peer)
                if session is not None:
                    session.awake_until = now  # unreachable until it reconnects: queue for it

    def _on_request(self, exchange: ExchangeKey, request: Message, now: float) -> None:
        try:
            interface = request.options.get(OptionNumber.URI_PATH)
            if interface not in _SERVED:
                resource = self._resources.get(interface or b"")
                if resource is None:
                    raise OperationError(Code.NOT_FOUND, "this server serves /rd and /dp only")
                session = self._state.by_peer.get(exchange.peer)
                endpoint = None if session is None else session.registration.endpoint
                self.wire.respond(exchange, resource(request, exchange.peer, endpoint, now), now)
                return
            registrar = self._registrar
            if interface == _SERVED[0]:
                registrar.check_size(request.payload)  # an object list: refused before parsing
            op = decode_request(request, self.codecs, self.models)
            if isinstance(op, Register):
                registrar.register(exchange, op, request.payload, now)
            elif isinstance(op, Update):
                registrar.update(exchange, op, request.payload, now)
            elif isinstance(op, Deregister):
                registrar.deregister(exchange, op, now)
            else:  # decode_request yields only these four under /rd and /dp
                assert isinstance(op, Send), op
                self._flow.heard(self._reporting.on_send(exchange, op, now), now)
        except OperationError as exc:
            parts = encode_error(exc.code, exc.message)
            if isinstance(exc, ObjectListTooLargeError):
                parts = replace(parts, options=Options.build(size1=exc.limit))
            self.wire.respond(exchange, parts, now)
        except Exception:
            logger.exception("failed to handle %s from %s", request.code.name, exchange.peer)
            self.wire.respond(exchange, encode_error(Code.INTERNAL_SERVER_ERROR), now)

    # -- queries -----------------------------------------------------------------------------

    def registration(self, endpoint: str) -> Registration | None:
        session = self._state.sessions.get(endpoint)
        return None if session is None else session.registration

    def timer_violations(self, endpoint: str) -> tuple[TimerRuleViolated, ...]:
        """The timer rules the known settings of ``endpoint`` break now (empty: none known)."""
        session = self._state.sessions.get(endpoint)
        known = None if session is None else session.timers
        if known is None:
            return ()
        return tuple(TimerRuleViolated.of(endpoint, check) for check in known.violations)

    def endpoint_of(self, peer: Peer) -> str | None:
        """The endpoint registered at ``peer`` now, if any (the message log's attribution)."""
        session = self._state.by_peer.get(peer)
        return None if session is None else session.registration.endpoint

    def session_view(self, endpoint: str, now: float) -> SessionView | None:
        """What the server holds for ``endpoint`` beyond its registration, for operators."""
        session = self._state.sessions.get(endpoint)
        if session is None:
            return None
        return SessionView(
            tuple(session.observations or ()),
            max(0.0, session.awake_until - now),
            len(session.queue or ()),
        )

    def knows_peer(self, peer: Peer) -> bool:
        """Whether ``peer`` is the current address of a live registration: one dict lookup,
        cheap enough for a transport to rank every datagram (established devices first)."""
        return peer in self._state.by_peer

    def __len__(self) -> int:
        return len(self._state.sessions)

    # -- restart -----------------------------------------------------------------------------

    def restore(
        self,
        registrations: Iterable[Registration],
        observations: Iterable[ObservationRecord],
        queued: Iterable[QueuedRecord],
        now: float,
    ) -> None:
        """Carry on from what a store kept, before the first datagram: registrations until
        their lifetime ends (those past it expire now, with an Expired event), observations
        under their old tokens (notifications arrive with no new Observe), queued requests
        until their time to live ends.  Clients count as asleep until they speak.  What no
        longer fits (no registration, undecodable) is dropped from the store."""
        state = self._state
        queued = list(queued)
        for record in queued:
            state.next_request_id = max(state.next_request_id, record.request_id + 1)
        self._registrar.restore(registrations, now)
        for observation in observations:
            self._reporting.restore_observation(observation)
        wall = state.clock()
        for record in queued:
            self._flow.restore_queued(record, wall, now)

    # -- a cluster: devices move between nodes (lwm2m.cluster) -----------------------------

    def adopt(
        self,
        registration: Registration,
        observations: Iterable[ObservationRecord],
        queued: Iterable[QueuedRecord],
        now: float,
    ) -> bool:
        """Serve a device another node served (it died, or the device's path moved here) as
        :meth:`restore` would after a restart: its observations under their tokens, its
        queued requests.  False when its lifetime has ended (Expired, as in a restore)."""
        state = self._state
        if registration.endpoint not in state.sessions:
            self._registrar.restore([registration], now)
            for observation in observations:
                self._reporting.restore_observation(observation)
            wall = state.clock()
            for record in queued:
                self._flow.restore_queued(record, wall, now)
        return registration.endpoint in state.sessions

    def release(self, endpoint: str, owner: str, *, keep_observations: bool, now: float) -> bool:
        """Stop serving ``endpoint``: node ``owner`` serves it now (it received the device's
        Register or Update).  No event; the store is the other node's to write.  Queued
        requests fail here (RequestFailedError); observation records are kept for ``owner``
        when it continues the registration (``keep_observations``), deleted when the
        device registered anew.  False if it was not served here."""
        error = RequestFailedError(f"{endpoint} moved to node {owner}")
        return self._registrar.release(endpoint, error, keep_observations, now)

    def adopt_by_registration_id(self, find: Callable[[str, float], bool] | None) -> None:
        """``find(registration_id, now)`` adopts (with :meth:`adopt`) the registration
        another node served under that ID, when an Update or De-register for it reaches this
        core; True if it did."""
        state = self._state
        if find is None:
            state.adopter = None
            return

        def adopter(registration_id: str, now: float) -> Session | None:
            return state.by_id.get(registration_id) if find(registration_id, now) else None

        state.adopter = adopter

    def hold_responses(self, held: Callable[[Peer], bool] | None) -> None:
        """Drop, unanswered, a response or notification from a peer no session has when
        ``held(peer)`` (a cluster: a device another node serves, whose path reached this
        node, maybe because that node died).  Its RST would end the device's observations;
        unanswered, the device retransmits until a node that took it over answers."""
        self._held = held

    def number_requests_from(self, first: int) -> None:
        """Request IDs start at ``first`` (cluster nodes keep theirs apart: queued ones are
        stored under them)."""
        self._state.next_request_id = max(self._state.next_request_id, first)

    # -- device management and information reporting ----------------------------------------

    def send(
        self,
        endpoint: str,
        op: ServerRequest,
        *,
        fmt: int | None = None,
        now: float,
        timeout: float | None = None,
    ) -> int:
        """Start ``op`` towards ``endpoint`` (or queue it for a sleeping queue-mode client).

        ``fmt`` is the format to ask for (Read, Observe) or to send (Write, Create, composites);
        None lets the client's version decide.  ``timeout`` (seconds) ends the request with
        RequestAborted(RequestTimeoutError) when it has no outcome by then; CoAP's own limits
        apply regardless.  Raises UnknownEndpointError, QueueFullError, or OperationUsageError
        when ``op`` cannot be expressed; nothing is sent then.
        """
        return self._flow.send(endpoint, op, fmt, now, timeout)

    def cancel_observation(
        self,
        endpoint: str,
        target: Target,
        *,
        active: bool,
        now: float,
        timeout: float | None = None,
    ) -> int:
        """End an observation: actively (GET/FETCH with Observe=1, its response completes the
        request, ``timeout`` as for :meth:`send`) or passively (forget it now; the client's
        next notification gets RST)."""
        return self._flow.cancel_observation(endpoint, target, active, now, timeout)

    def cancel(self, request_id: int, now: float) -> None:
        """Give up on a request (the caller stopped waiting); no outcome event follows."""
        self._flow.cancel(request_id, now)


def _is_response(data: bytes) -> bool:
    """A CON or NON datagram carrying a response code (2.xx to 5.xx), from its header."""
    return len(data) >= 4 and (data[0] >> 4) & 3 in (0, 1) and 2 <= data[1] >> 5 <= 5


class _StreamSide:
    """The core as a :class:`~lwm2m.coap.stream.StreamCore`, for a stream transport's adapter:
    connections feed :attr:`ServerCore.stream`.  Both transports run the whole core's timer, so
    each flushes what came due for its own peers without waiting for the other's next event."""

    __slots__ = ("_core",)

    def __init__(self, core: ServerCore) -> None:
        self._core = core

    def connection_made(self, peer: Peer, now: float) -> None:
        self._core.stream.connection_made(peer, now)
        self._core._drain(now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._core.stream.receive(data, peer, now)
        self._core._drain(now)

    def connection_lost(self, peer: Peer, now: float) -> None:
        self._core.stream.connection_lost(peer, now)
        self._core._drain(now)

    def data_to_send(self) -> list[tuple[bytes, Peer]]:
        return self._core.stream.data_to_send()

    def closing(self) -> list[Peer]:
        return self._core.stream.closing()

    def get_timer(self) -> float | None:
        return self._core.get_timer()

    def handle_timer(self, now: float) -> None:
        self._core.handle_timer(now)
