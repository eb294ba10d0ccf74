"""Sans-I/O LwM2M server: the Registration, Device Management and Information Reporting
interfaces on one CoAP :class:`~lwm2m.coap.endpoint.Endpoint`.

Driven like the endpoint: :meth:`ServerCore.receive` datagrams, call
:meth:`ServerCore.handle_timer` once :meth:`ServerCore.get_timer` has passed, then drain
:meth:`ServerCore.datagrams_to_send` and :meth:`ServerCore.next_event` (the asyncio UDP adapter,
:mod:`lwm2m.transport.udp`, does exactly that).  ``now`` is monotonic seconds; Unix times for the
API come from the injected ``clock``, as the SenML codecs' relative times do.

Requests go out with :meth:`ServerCore.send` (and :meth:`ServerCore.cancel_observation`), which
return a request ID that one :class:`RequestCompleted` or :class:`RequestAborted` event ends.
Formats: the caller's, else SenML CBOR for 1.1+ clients; 1.0 clients get TLV, except single
values: their Read and Observe carry no Accept (the client picks; 1.0 clients commonly answer
text/plain, which a TLV Accept would make them refuse) and their Write goes as text/plain
(opaque values as application/octet-stream).

Memory per registration is what 100,000 clients in one process need: one slotted
:class:`_Session` holding the immutable :class:`Registration`, three dict entries (by name,
registration ID and address) and one expiry timer that an Update moves lazily (it is re-armed
when it fires early, never rescheduled per Update).  Object lists are interned, since a fleet
sends a handful of distinct ones.  Queues and observation maps exist only when used.

Every change of state a restarted server needs (registrations, established observations with
their tokens, queued requests) and every reported value goes to the injected
:class:`~lwm2m.server.registration.ServerStore` as it happens; :meth:`ServerCore.restore`
carries on from what a store kept.  A store must not block: persistent ones write behind.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache, partial

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    NotificationReceived,
    ObservationEnded,
    ObservationKey,
    Peer,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import OptionNumber
from lwm2m.coap.stream import (
    ConnectionClosed,
    CsmReceived,
    ReleaseReceived,
    StreamEndpoint,
    StreamEvent,
)
from lwm2m.coap.timers import Timer, TimerQueue
from lwm2m.codec import Clock, ContentFormat, default_codecs
from lwm2m.codec.link import Link
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    ObjectInstance,
    ObjectNode,
    Path,
    builtin_models,
    node_to_values,
)
from lwm2m.operations import (
    DEFAULT_LIFETIME,
    SUPPORTED_VERSIONS,
    Create,
    Delete,
    Deregister,
    Discover,
    EmptyResponse,
    NodeResponse,
    ObjectLinks,
    Observe,
    ObserveComposite,
    OperationError,
    OperationUsageError,
    Read,
    ReadComposite,
    Register,
    RegisteredResponse,
    Response,
    Send,
    ServerRequest,
    Update,
    ValuesResponse,
    Write,
    WriteComposite,
    decode_request,
    decode_response,
    encode_error,
    encode_request,
    encode_response,
)
from lwm2m.operations.mapping import REGISTRATION_PATH, SEND_PATH, CoapParts
from lwm2m.security.oscore_endpoint import OscoreContexts, OscoreEndpoint
from lwm2m.server.config import ServerConfig
from lwm2m.server.errors import (
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    UnknownEndpointError,
)
from lwm2m.server.events import (
    CoreEvent,
    Deregistered,
    Expired,
    ObservationCancelled,
    QueueDrained,
    Registered,
    RequestAborted,
    RequestCompleted,
    RequestQueued,
    SendReceived,
    Target,
    Updated,
)
from lwm2m.server.events import NotificationReceived as Notification
from lwm2m.server.registration import (
    MemoryStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
    ServerStore,
)

logger = logging.getLogger(__name__)

_SENML = ContentFormat.SENML_CBOR
_VERSIONS = {version: version for version in SUPPORTED_VERSIONS}  # one string object each
_INTERNED_LISTS = 1024
"""Distinct object lists kept for sharing; lists beyond it are stored per registration."""
_INTERNED_BYTES = 4096
"""Longer object lists are not interned (they are rare and would pin memory)."""
_SERVED = (REGISTRATION_PATH.encode(), SEND_PATH.encode())
"""The first Uri-Path segments the server answers (``/rd``, ``/dp``)."""
_BODILESS = frozenset({Read, Observe, Discover, Delete})
"""Operations whose request is the same bytes for the same operation, format and root."""
_SHARED_PARTS = 4096
"""Distinct bodiless requests kept encoded; more are encoded per request."""


class _Session:
    """One registered client: its registration and the server's state about it."""

    __slots__ = ("awake_until", "expires", "observations", "queue", "registration", "timer")

    def __init__(self, registration: Registration, expires: float, awake_until: float) -> None:
        self.registration = registration
        self.expires = expires  # monotonic deadline (lifetime plus grace)
        self.timer: Timer | None = None
        self.awake_until = awake_until
        self.queue: deque[_Request] | None = None
        self.observations: dict[Target, _Request] | None = None


class _Request:
    """A request of ours from submission to its outcome; an observation stays one after."""

    __slots__ = (
        "cancelling",
        "deadline",
        "endpoint",
        "fmt",
        "handle",
        "op",
        "parts",
        "request_id",
        "target",
        "timer",
        "token",
    )

    def __init__(self, request_id: int, endpoint: str, op: ServerRequest, fmt: int | None) -> None:
        self.request_id = request_id
        self.endpoint = endpoint
        self.op = op
        self.fmt = fmt  # the body's Content-Format
        self.target = _target(op)
        self.parts: CoapParts | None = None  # encoded by send(), kept unless it is queued
        self.handle: int | None = None  # the endpoint's, once sent
        self.timer: Timer | None = None  # time to live while queued
        self.deadline: Timer | None = None  # the caller's timeout, if any
        self.cancelling: _Request | None = None  # on an observation: its active cancel
        self.token: bytes | None = None  # on an established observation: its CoAP token


def _target(op: ServerRequest) -> Target | None:
    if isinstance(op, Observe):
        return op.path
    if isinstance(op, ObserveComposite):
        return op.paths
    return None


def _is_cancel(op: ServerRequest) -> bool:
    return isinstance(op, Observe | ObserveComposite) and op.cancel


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
    ) -> None:
        """``is_stream`` tells the peers of CoAP over TCP/TLS connections (served by
        :attr:`stream`, whose handles the core keeps negated so they never meet the datagram
        endpoint's) from datagram peers; without it every peer is a datagram one."""
        self.config = config
        # OSCORE (RFC 8613) lives in the endpoint: the core sees plain requests and responses.
        self.endpoint = (
            Endpoint(config.coap, rng)
            if oscore is None
            else OscoreEndpoint(config.coap, rng, oscore)
        )
        self.stream = StreamEndpoint(config.stream, random.Random(rng.getrandbits(64)))
        self.streams = _StreamSide(self)
        self._is_stream = is_stream
        self.store: ServerStore = store if store is not None else MemoryStore()
        self.models = models if models is not None else builtin_models()
        self.codecs = default_codecs(clock)
        self._rng = rng
        self._clock = clock
        self._timers = TimerQueue()
        self._events: deque[CoreEvent] = deque()
        self._sessions: dict[str, _Session] = {}
        self._by_id: dict[str, _Session] = {}
        self._by_peer: dict[Peer, _Session] = {}
        self._requests: dict[int, _Request] = {}  # submitted, not yet answered
        self._by_handle: dict[int, _Request] = {}  # in flight or observing
        self._next_request_id = 1
        self._link_lists: dict[bytes, tuple[Link, ...]] = {}
        self._shared_parts: dict[tuple[ServerRequest, int | None, str], CoapParts] = {}

    # -- driving -----------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self.endpoint.receive(data, peer, now)
        self._drain_endpoint(now)

    def handle_timer(self, now: float) -> None:
        self.endpoint.handle_timer(now)
        if len(self.stream):
            self.stream.handle_timer(now)
        self._timers.run_due(now)
        self._drain_endpoint(now)

    def get_timer(self) -> float | None:
        soonest = self._timers.next_deadline()
        for theirs in (self.endpoint.get_timer(), self.stream.get_timer()):
            if soonest is None or (theirs is not None and theirs < soonest):
                soonest = theirs
        return soonest

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        return self.endpoint.datagrams_to_send()

    def next_event(self) -> CoreEvent | None:
        return self._events.popleft() if self._events else None

    def _on_coap_event(self, event: Event, now: float) -> None:
        """Process one event of ``self.endpoint``."""
        if isinstance(event, RequestReceived):
            self._on_request(event.exchange, event.request, now)
        elif isinstance(event, ResponseReceived):
            self._on_response(event.handle, event.response, now)
        elif isinstance(event, NotificationReceived):
            self._on_notification(event.handle, event.notification, now)
        elif isinstance(event, ObservationEnded):
            self._on_observation_ended(event.handle, event.response)
        elif isinstance(event, RequestFailed):
            self._on_request_failed(event.handle, event.reason)

    def _drain_endpoint(self, now: float) -> None:
        while (event := self.endpoint.next_event()) is not None:
            self._on_coap_event(event, now)
        while (stream_event := self.stream.next_event()) is not None:
            self._on_stream_event(stream_event, now)

    def _on_stream_event(self, event: StreamEvent, now: float) -> None:
        if isinstance(event, ConnectionClosed):
            session = self._by_peer.get(event.peer)
            if session is not None:
                session.awake_until = now  # unreachable until it reconnects: queue for it
            return
        handle = getattr(event, "handle", None)
        if handle is not None:
            event = replace(event, handle=-handle)
        if not isinstance(event, CsmReceived | ReleaseReceived):
            self._on_coap_event(event, now)

    def _over_stream(self, peer: Peer) -> bool:
        return self._is_stream is not None and self._is_stream(peer)

    # -- queries -----------------------------------------------------------------------------

    def registration(self, endpoint: str) -> Registration | None:
        session = self._sessions.get(endpoint)
        return None if session is None else session.registration

    def knows_peer(self, peer: Peer) -> bool:
        """Whether ``peer`` is the current address of a live registration: one dict lookup,
        cheap enough for a transport to rank every datagram (established devices first)."""
        return peer in self._by_peer

    def __len__(self) -> int:
        return len(self._sessions)

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
        store, wall, grace = self.store, self._clock(), self.config.expiry_grace
        queued = list(queued)
        for record in queued:
            self._next_request_id = max(self._next_request_id, record.request_id + 1)
        for registration in registrations:
            left = registration.expires_at + grace - wall
            if left <= 0:
                store.registrations.delete(registration.endpoint)
                store.history.clear(registration.endpoint)
                self._events.append(Expired(registration))
                continue
            session = _Session(registration, now + left, now)
            self._sessions[registration.endpoint] = session
            self._by_id[registration.registration_id] = session
            self._by_peer[registration.address] = session
            self._arm_expiry(session)
        for observation in observations:
            self._restore_observation(observation)
        for record in queued:
            self._restore_queued(record, wall, now)

    def _restore_observation(self, record: ObservationRecord) -> None:
        session = self._sessions.get(record.endpoint)
        target = None
        if session is not None:
            op = self._decode_stored(record.request, session.registration.root_path)
            target = None if op is None or _is_cancel(op) else _target(op)
        if (
            session is None
            or op is None
            or target is None
            or target in (session.observations or {})
        ):
            self.store.observations.delete(record.endpoint, record.token)
            return
        parts = record.request
        try:
            handle = self.endpoint.restore_observation(
                ObservationKey(record.peer, record.token),
                parts.code,
                options=parts.options,
                payload=parts.payload,
            )
        except ValueError:  # the token is another stored observation's
            self.store.observations.delete(record.endpoint, record.token)
            return
        request = _Request(self._new_request_id(), record.endpoint, op, None)
        request.handle = handle
        request.token = record.token
        self._by_handle[handle] = request
        if session.observations is None:
            session.observations = {}
        session.observations[target] = request

    def _decode_stored(self, parts: CoapParts, root_path: str) -> ServerRequest | None:
        """A stored request as an operation again (None: it no longer decodes, e.g. for a
        model that changed)."""
        try:
            op = decode_request(parts, self.codecs, self.models, root=_root(root_path))
        except OperationError:
            return None
        return op if isinstance(op, ServerRequest) else None

    def _restore_queued(self, record: QueuedRecord, wall: float, now: float) -> None:
        session = self._sessions.get(record.endpoint)
        op = None
        if session is not None and record.expires_at > wall:
            op = self._decode_stored(record.request, "/")
        if session is None or op is None:
            self.store.queue.delete(record.request_id)
            return
        request = _Request(record.request_id, record.endpoint, op, _body_format(record.request))
        request.timer = self._timers.schedule(
            now + record.expires_at - wall, partial(self._on_queue_ttl, request)
        )
        if session.queue is None:
            session.queue = deque()
        session.queue.append(request)
        self._requests[request.request_id] = request

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
        if _is_cancel(op):
            raise OperationUsageError("cancel observations with cancel_observation()")
        session = self._session(endpoint)
        registration = session.registration
        op, body_format = self._formats(op, fmt, registration)
        request = _Request(self._new_request_id(), endpoint, op, body_format)
        request.parts = self._encode(request, registration)  # refuse what cannot be sent, now
        return self._submit(session, request, now, timeout)

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
        session = self._session(endpoint)
        observation = session.observations.get(target) if session.observations else None
        if observation is None:
            raise OperationUsageError(f"{endpoint} has no observation of {_describe(target)}")
        if observation.cancelling is not None:
            raise OperationUsageError(f"the observation of {_describe(target)} is being cancelled")
        op: ServerRequest = (
            Observe(target, cancel=True)
            if isinstance(target, Path)
            else ObserveComposite(target, cancel=True)
        )
        request = _Request(self._new_request_id(), endpoint, op, None)
        if active:
            return self._submit(session, request, now, timeout)
        self._requests[request.request_id] = request
        self._drop_observation(session, observation, "cancelled", now)
        self._complete(request, EmptyResponse())
        return request.request_id

    def cancel(self, request_id: int, now: float) -> None:
        """Give up on a request (the caller stopped waiting); no outcome event follows."""
        request = self._requests.pop(request_id, None)
        if request is None:
            return
        self._end_deadline(request)
        if request.timer is not None:  # still queued
            self._timers.cancel(request.timer)
            self.store.queue.delete(request_id)
            session = self._sessions.get(request.endpoint)
            if session is not None and session.queue is not None:
                session.queue.remove(request)
        elif _is_cancel(request.op):
            observation = self._by_handle.get(request.handle or 0)  # 0: no handle's
            if observation is not None and observation.cancelling is request:
                observation.cancelling = None
        elif request.handle is not None and self._by_handle.pop(request.handle, None) is request:
            self._endpoint_cancel(request.handle, now)

    def _session(self, endpoint: str) -> _Session:
        session = self._sessions.get(endpoint)
        if session is None:
            raise UnknownEndpointError(f"no registration for endpoint {endpoint!r:.80}")
        return session

    def _new_request_id(self) -> int:
        request_id = self._next_request_id
        self._next_request_id += 1
        return request_id

    def _formats(
        self, op: ServerRequest, fmt: int | None, registration: Registration
    ) -> tuple[ServerRequest, int | None]:
        """``op`` with its Accept filled in, and the Content-Format of its body."""
        legacy = registration.lwm2m_version == "1.0"
        if isinstance(op, Read | Observe):
            if op.accept is None:
                accept = fmt
                if accept is None:
                    accept = self._legacy_accept(op.path) if legacy else _SENML
                # Not dataclasses.replace: this runs for every Read, and costs a fifth of it.
                op = Read(op.path, accept) if isinstance(op, Read) else Observe(op.path, accept)
            return op, None
        if isinstance(op, ReadComposite | ObserveComposite):
            chosen = _SENML if fmt is None else fmt
            return (replace(op, accept=chosen) if op.accept is None else op), chosen
        if fmt is not None:
            return op, fmt
        if isinstance(op, Write) and legacy:
            return op, _legacy_write_format(op)
        if isinstance(op, Create) and legacy:
            return op, ContentFormat.TLV
        if isinstance(op, Write | Create | WriteComposite):
            return op, _SENML
        return op, None

    def _legacy_accept(self, path: Path) -> int | None:
        single = path.is_resource_instance or (
            path.is_resource and not self.models.is_multiple(path.ids[0], path.ids[2])
        )
        return None if single else ContentFormat.TLV

    def _encode(self, request: _Request, registration: Registration) -> CoapParts:
        """The request's CoAP parts; bodiless ones are shared per shape (a fleet reads the
        same few paths of every client, and building options dominates their encoding)."""
        op, fmt, root_path = request.op, request.fmt, registration.root_path
        shared = type(op) in _BODILESS
        if shared:
            key = (op, fmt, root_path)
            parts = self._shared_parts.get(key)
            if parts is not None:
                return parts
        parts = encode_request(op, self.codecs, self.models, fmt=fmt, root=_root(root_path))
        if shared and len(self._shared_parts) < _SHARED_PARTS:
            self._shared_parts[key] = parts
        return parts

    def _submit(
        self, session: _Session, request: _Request, now: float, timeout: float | None
    ) -> int:
        registration = session.registration
        if registration.queue_mode and now >= session.awake_until:
            queue = session.queue
            if queue is None:
                queue = session.queue = deque()
            if len(queue) >= self.config.queue_size:
                raise QueueFullError(
                    f"{registration.endpoint} already has {len(queue)} requests waiting"
                )
            queue.append(request)
            self._store_queued(request, registration)
            request.parts = None  # encoded again when it goes: the registration may change
            request.timer = self._timers.schedule(
                now + self.config.queue_ttl, partial(self._on_queue_ttl, request)
            )
            self._requests[request.request_id] = request
            self._events.append(RequestQueued(registration.endpoint, type(request.op).__name__))
        else:
            self._requests[request.request_id] = request
            self._start(session, request, now)
        if timeout is not None and request.request_id in self._requests:
            request.deadline = self._timers.schedule(
                now + timeout, partial(self._on_deadline, request, timeout)
            )
        return request.request_id

    def _store_queued(self, request: _Request, registration: Registration) -> None:
        parts = request.parts
        if parts is None or _root(registration.root_path):
            parts = encode_request(request.op, self.codecs, self.models, fmt=request.fmt)
        expires_at = self._clock() + self.config.queue_ttl
        self.store.queue.put(QueuedRecord(request.request_id, request.endpoint, parts, expires_at))

    def _start(self, session: _Session, request: _Request, now: float) -> None:
        if _is_cancel(request.op):
            assert request.target is not None
            observations = session.observations
            observation = observations.get(request.target) if observations else None
            if observation is None or observation.handle is None:
                self._complete(request, EmptyResponse())  # it ended while we waited
                return
            observation.cancelling = request
            request.handle = observation.handle
            with contextlib.suppress(StaleHandleError):  # a closed connection ended it
                if observation.handle < 0:
                    self.stream.cancel_observation(-observation.handle, now)
                else:
                    self.endpoint.cancel_observation(observation.handle, now)
            return
        parts = request.parts
        if parts is None:
            parts = self._encode(request, session.registration)
        else:
            request.parts = None
        address = session.registration.address
        if self._over_stream(address):
            try:
                handle = -self.stream.send_request(
                    address, parts.code, options=parts.options, payload=parts.payload, now=now
                )
            except StaleHandleError:
                error = RequestFailedError(f"{request.endpoint} is not connected (TCP)")
                self._abort(request, error)
                return
        else:
            handle = self.endpoint.send_request(
                address, parts.code, options=parts.options, payload=parts.payload, now=now
            )
        request.handle = handle
        self._by_handle[handle] = request

    def _on_queue_ttl(self, request: _Request, now: float) -> None:
        request.timer = None
        self.store.queue.delete(request.request_id)
        session = self._sessions.get(request.endpoint)
        if session is not None and session.queue is not None:
            session.queue.remove(request)
        self._abort(request, RequestTimeoutError(f"{request.endpoint} did not wake up in time"))

    def _on_deadline(self, request: _Request, timeout: float, now: float) -> None:
        request.deadline = None
        if request.request_id in self._requests:
            self.cancel(request.request_id, now)
            error = RequestTimeoutError(f"no answer within {timeout} s")
            self._events.append(RequestAborted(request.request_id, error))

    def _end_deadline(self, request: _Request) -> None:
        if request.deadline is not None:
            self._timers.cancel(request.deadline)
            request.deadline = None

    def _heard(self, session: _Session, now: float) -> None:
        """The client spoke: it listens for a while, so what waited for it goes out, in order."""
        session.awake_until = now + self.config.awake_window
        queue = session.queue
        if not queue:
            return
        session.queue = None
        delete = self.store.queue.delete
        for request in queue:
            self._timers.cancel(request.timer)
            request.timer = None
            delete(request.request_id)
            self._start(session, request, now)
        self._events.append(QueueDrained(session.registration.endpoint, len(queue)))

    def _complete(self, request: _Request, response: Response) -> None:
        if self._requests.pop(request.request_id, None) is not None:
            self._end_deadline(request)
            self._events.append(RequestCompleted(request.request_id, response))

    def _abort(self, request: _Request, error: Exception) -> None:
        if self._requests.pop(request.request_id, None) is not None:
            self._end_deadline(request)
            self._events.append(RequestAborted(request.request_id, error))

    # -- endpoint events for our requests ---------------------------------------------------

    def _on_response(self, handle: int, message: Message, now: float) -> None:
        request = self._by_handle.pop(handle, None)
        if request is None:
            return
        session = self._sessions.get(request.endpoint)
        try:
            response = decode_response(request.op, message, self.codecs, self.models)
        except OperationError as exc:
            if message.options.observe is not None:
                self._endpoint_cancel(handle, now)
            self._abort(request, RequestFailedError(f"bad response from the client: {exc}"))
            return
        if request.target is not None and message.options.observe is not None:
            if session is None or not message.code.is_success:
                self._endpoint_cancel(handle, now)
            else:
                self._by_handle[handle] = request
                observations = session.observations
                if observations is None:
                    observations = session.observations = {}
                previous = observations.get(request.target)
                if previous is not None:
                    self._drop_observation(session, previous, "replaced", now)
                observations[request.target] = request
                self._store_observation(session, request, handle)
        self._complete(request, response)
        if session is not None:
            self._heard(session, now)

    def _store_observation(self, session: _Session, request: _Request, handle: int) -> None:
        if handle < 0:
            return  # over TCP: it ends with its connection, a restart cannot keep it
        key = self.endpoint.observation_key(handle)
        request.token = key.token
        parts = self._encode(request, session.registration)  # what went out (parts is spent)
        self.store.observations.put(ObservationRecord(request.endpoint, key.token, key.peer, parts))

    def _on_notification(self, handle: int, message: Message, now: float) -> None:
        request = self._by_handle.get(handle)
        session = self._sessions.get(request.endpoint) if request is not None else None
        if request is None or session is None or request.target is None:
            return
        try:
            response = decode_response(request.op, message, self.codecs, self.models)
        except OperationError as exc:
            logger.warning("undecodable notification from %s: %s", request.endpoint, exc)
            response = None
        if isinstance(response, NodeResponse | ValuesResponse):
            values = (
                node_to_values(request.target, response.node)
                if isinstance(response, NodeResponse) and isinstance(request.target, Path)
                else response.values
                if isinstance(response, ValuesResponse)
                else {}
            )
            self.store.history.add(request.endpoint, self._clock(), values)
            self._events.append(
                Notification(
                    request.endpoint,
                    request.target,
                    values,
                    response.content_format,
                    response.observe,
                )
            )
        self._heard(session, now)

    def _on_observation_ended(self, handle: int, message: Message | None) -> None:
        request = self._by_handle.pop(handle, None)
        if request is None or request.target is None:
            return
        session = self._sessions.get(request.endpoint)
        observations = session.observations if session is not None else None
        if observations is not None and observations.get(request.target) is request:
            del observations[request.target]
        if request.token is not None:
            self.store.observations.delete(request.endpoint, request.token)
        cancel = request.cancelling
        if cancel is None:
            reason = "ended"
        else:
            reason = "cancelled"
            if message is None:
                self._abort(cancel, RequestTimeoutError("the cancellation was not answered"))
            else:
                try:
                    self._complete(
                        cancel, decode_response(cancel.op, message, self.codecs, self.models)
                    )
                except OperationError:
                    self._complete(cancel, EmptyResponse())  # it is over all the same
        self._events.append(ObservationCancelled(request.endpoint, request.target, reason))

    def _on_request_failed(self, handle: int, reason: FailureReason) -> None:
        request = self._by_handle.pop(handle, None)
        if request is None:
            return
        if reason is FailureReason.TIMEOUT:
            error: Exception = RequestTimeoutError(f"{request.endpoint} did not answer")
        else:
            error = RequestFailedError(f"request to {request.endpoint} failed: {reason.value}")
        self._abort(request, error)

    def _drop_observation(
        self, session: _Session, observation: _Request, reason: str, now: float
    ) -> None:
        """Forget an observation here and in the endpoint (passive: RST ends it later)."""
        assert observation.target is not None and observation.handle is not None
        if session.observations is not None:
            session.observations.pop(observation.target, None)
        if observation.token is not None:
            self.store.observations.delete(observation.endpoint, observation.token)
        if self._by_handle.pop(observation.handle, None) is not None:
            self._endpoint_cancel(observation.handle, now)
        if observation.cancelling is not None:
            self._complete(observation.cancelling, EmptyResponse())
        self._events.append(ObservationCancelled(observation.endpoint, observation.target, reason))

    def _endpoint_cancel(self, handle: int, now: float) -> None:
        # StaleHandleError: the endpoint closed it already; its event is on the way, ignored.
        with contextlib.suppress(StaleHandleError):
            if handle < 0:
                self.stream.cancel(-handle, now)
            else:
                self.endpoint.cancel(handle, now)

    # -- registration interface --------------------------------------------------------------

    def _on_request(self, exchange: ExchangeKey, request: Message, now: float) -> None:
        try:
            if request.options.get(OptionNumber.URI_PATH) not in _SERVED:
                raise OperationError(Code.NOT_FOUND, "this server serves /rd and /dp only")
            op = decode_request(request, self.codecs, self.models)
            if isinstance(op, Register):
                self._register(exchange, op, request.payload, now)
            elif isinstance(op, Update):
                self._update(exchange, op, request.payload, now)
            elif isinstance(op, Deregister):
                self._deregister(exchange, op, now)
            else:  # decode_request yields only these four under /rd and /dp
                assert isinstance(op, Send), op
                self._send_received(exchange, op, now)
        except OperationError as exc:
            self._respond(exchange, encode_error(exc.code, exc.message), now)
        except Exception:
            logger.exception("failed to handle %s from %s", request.code.name, exchange.peer)
            self._respond(exchange, encode_error(Code.INTERNAL_SERVER_ERROR), now)

    def _respond(self, exchange: ExchangeKey, parts: CoapParts, now: float) -> None:
        # StaleHandleError: answered already (we failed after responding), or expired.
        endpoint = self.stream if self._over_stream(exchange.peer) else self.endpoint
        with contextlib.suppress(StaleHandleError):
            endpoint.respond(
                exchange, parts.code, options=parts.options, payload=parts.payload, now=now
            )

    def _register(self, exchange: ExchangeKey, op: Register, payload: bytes, now: float) -> None:
        peer = exchange.peer
        self._authorize(op.endpoint, peer)
        old = self._sessions.get(op.endpoint)
        if old is None and len(self._sessions) >= self.config.max_registrations:
            raise OperationError(Code.SERVICE_UNAVAILABLE, "registration table is full")
        binding = op.binding or "U"
        version = _VERSIONS[op.lwm2m_version]
        wall = self._clock()
        lifetime = DEFAULT_LIFETIME if op.lifetime is None else op.lifetime
        registration = Registration(
            endpoint=op.endpoint,
            registration_id=self._new_registration_id(),
            lwm2m_version=version,
            binding=binding,
            lifetime=lifetime,
            queue_mode=op.queue_mode or (version == "1.0" and "Q" in binding),
            sms=op.sms,
            address=peer,
            root_path=op.objects.root,
            object_links=self._links(op.objects, payload),
            registered_at=wall,
            last_seen=wall,
        )
        session = _Session(registration, now + lifetime + self.config.expiry_grace, now)
        if old is not None:
            # The same device again (it rebooted, or lost our answer): what waited for it
            # still waits, its observations died with its old registration.
            session.queue = self._end(old, "replaced", now)
        self._sessions[registration.endpoint] = session
        self._by_id[registration.registration_id] = session
        self._by_peer[peer] = session
        self._arm_expiry(session)
        self.store.registrations.put(registration)
        response = RegisteredResponse(registration.location)
        self._respond(exchange, encode_response(op, response, self.codecs, self.models), now)
        self._events.append(Registered(registration, None if old is None else old.registration))
        self._heard(session, now)

    def _update(self, exchange: ExchangeKey, op: Update, payload: bytes, now: float) -> None:
        session = self._by_id.get(op.location[1]) if len(op.location) == 2 else None
        if session is None:
            raise OperationError(Code.NOT_FOUND, "no such registration")
        previous = session.registration
        peer = exchange.peer
        self._authorize(previous.endpoint, peer)
        binding = previous.binding if op.binding is None else op.binding
        queue_mode = previous.queue_mode
        if op.binding is not None and previous.lwm2m_version == "1.0":
            queue_mode = "Q" in binding
        registration = replace(
            previous,
            lifetime=previous.lifetime if op.lifetime is None else op.lifetime,
            binding=binding,
            queue_mode=queue_mode,
            sms=previous.sms if op.sms is None else op.sms,
            address=peer,
            last_seen=self._clock(),
        )
        if op.objects is not None:
            registration = replace(
                registration,
                root_path=op.objects.root,
                object_links=self._links(op.objects, payload),
            )
        if peer != previous.address:
            if self._by_peer.get(previous.address) is session:
                del self._by_peer[previous.address]
            self._by_peer[peer] = session
        session.registration = registration
        session.expires = now + registration.lifetime + self.config.expiry_grace
        self._arm_expiry(session)
        self.store.registrations.put(registration)
        self._respond(exchange, encode_response(op, EmptyResponse(), self.codecs, self.models), now)
        self._events.append(Updated(registration, previous))
        self._heard(session, now)

    def _deregister(self, exchange: ExchangeKey, op: Deregister, now: float) -> None:
        session = self._by_id.get(op.location[1]) if len(op.location) == 2 else None
        if session is None:
            raise OperationError(Code.NOT_FOUND, "no such registration")
        self._authorize(session.registration.endpoint, exchange.peer)
        self._respond(exchange, encode_response(op, EmptyResponse(), self.codecs, self.models), now)
        self._remove(session, "deregistered", now)
        self._events.append(Deregistered(session.registration))

    def _send_received(self, exchange: ExchangeKey, op: Send, now: float) -> None:
        session = self._by_peer.get(exchange.peer)
        if session is None:
            raise OperationError(Code.FORBIDDEN, "Send from an address that is not registered")
        self._authorize(session.registration.endpoint, exchange.peer)
        self._respond(exchange, encode_response(op, EmptyResponse(), self.codecs, self.models), now)
        endpoint = session.registration.endpoint
        wall = self._clock()
        for batch in op.batches:
            self.store.history.add(
                endpoint, wall if batch.timestamp is None else batch.timestamp, batch.values
            )
        self._events.append(SendReceived(endpoint, op.batches))
        self._heard(session, now)

    def _authorize(self, endpoint: str, peer: Peer) -> None:
        """4.03 unless ``config.authorize`` lets ``peer`` act for ``endpoint`` (Register,
        Update, De-register, Send: how the façade binds DTLS identities to endpoint names)."""
        authorize = self.config.authorize
        if authorize is not None and not authorize(endpoint, peer):
            raise OperationError(Code.FORBIDDEN, f"endpoint {endpoint!r:.60} is not allowed")

    def _arm_expiry(self, session: _Session) -> None:
        """One timer per session; a later deadline waits for it to fire (then it re-arms)."""
        timer = session.timer
        if timer is None or timer.cancelled or session.expires < timer.deadline:
            self._timers.cancel(timer)
            session.timer = self._timers.schedule(
                session.expires, partial(self._on_expiry_due, session)
            )

    def _on_expiry_due(self, session: _Session, now: float) -> None:
        session.timer = None
        if self._sessions.get(session.registration.endpoint) is not session:
            return
        if now < session.expires:
            self._arm_expiry(session)
            return
        self._remove(session, "expired", now)
        self._events.append(Expired(session.registration))

    def _remove(self, session: _Session, reason: str, now: float) -> None:
        """The client is gone: fail what waited for it and free its address's CoAP state."""
        queue = self._end(session, reason, now)
        endpoint = session.registration.endpoint
        store = self.store
        store.registrations.delete(endpoint)
        store.history.clear(endpoint)
        error = UnknownEndpointError(f"{endpoint} is {reason}")
        for request in queue or ():
            self._timers.cancel(request.timer)
            store.queue.delete(request.request_id)
            self._abort(request, error)
        address = session.registration.address
        if address not in self._by_peer:
            self.endpoint.forget_peer(address)

    def _end(self, session: _Session, reason: str, now: float) -> deque[_Request] | None:
        """Unlink a session and end its observations; returns its queue for the caller."""
        registration = session.registration
        del self._sessions[registration.endpoint]
        del self._by_id[registration.registration_id]
        if self._by_peer.get(registration.address) is session:
            del self._by_peer[registration.address]
        self._timers.cancel(session.timer)
        session.timer = None
        for observation in list((session.observations or {}).values()):
            self._drop_observation(session, observation, reason, now)
        queue, session.queue = session.queue, None
        return queue

    def _new_registration_id(self) -> str:
        """11 URL-safe characters carrying 64 random bits: short, and not guessable."""
        while True:
            raw = self._rng.getrandbits(64).to_bytes(8, "big")
            registration_id = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
            if registration_id not in self._by_id:
                return registration_id

    def _links(self, objects: ObjectLinks, payload: bytes) -> tuple[Link, ...]:
        """The object list as links, one shared tuple per distinct payload (hashing the bytes
        is far cheaper than hashing the parsed list)."""
        links = self._link_lists.get(payload)
        if links is None:
            links = tuple(objects.to_links())
            if len(self._link_lists) < _INTERNED_LISTS and len(payload) <= _INTERNED_BYTES:
                self._link_lists[payload] = links
        return links


@lru_cache(maxsize=64)
def _root(root_path: str) -> tuple[str, ...]:
    """The Uri-Path segments of a client's alternate path (``/lwm2m`` -> ``("lwm2m",)``)."""
    return tuple(s for s in root_path.split("/") if s)


def _body_format(request: CoapParts) -> int | None:
    """The Content-Format a request's body went in (the ``fmt`` it was sent with)."""
    return request.options.content_format if request.payload else None


def _legacy_write_format(op: Write) -> int:
    """TLV for structures; a single value goes as text, or octets when it is opaque."""
    node = op.node
    if isinstance(node, ObjectNode | ObjectInstance | MultipleResource):
        return ContentFormat.TLV
    return ContentFormat.OPAQUE if isinstance(node.value, bytes) else ContentFormat.TEXT


def _describe(target: Target) -> str:
    return str(target) if isinstance(target, Path) else ", ".join(str(p) for p in target)


class _StreamSide:
    """The core as a :class:`~lwm2m.coap.stream.StreamCore`, for a stream transport's adapter:
    connections feed :attr:`ServerCore.stream`.  Both transports run the whole core's timer, so
    each flushes what came due for its own peers without waiting for the other's next event."""

    __slots__ = ("_core",)

    def __init__(self, core: ServerCore) -> None:
        self._core = core

    def connection_made(self, peer: Peer, now: float) -> None:
        self._core.stream.connection_made(peer, now)
        self._core._drain_endpoint(now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._core.stream.receive(data, peer, now)
        self._core._drain_endpoint(now)

    def connection_lost(self, peer: Peer, now: float) -> None:
        self._core.stream.connection_lost(peer, now)
        self._core._drain_endpoint(now)

    def data_to_send(self) -> list[tuple[bytes, Peer]]:
        return self._core.stream.data_to_send()

    def closing(self) -> list[Peer]:
        return self._core.stream.closing()

    def get_timer(self) -> float | None:
        return self._core.get_timer()

    def handle_timer(self, now: float) -> None:
        self._core.handle_timer(now)
