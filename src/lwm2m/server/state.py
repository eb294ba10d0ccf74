"""What the server engine's parts share: the session table, the requests in progress and the
one timer queue and event queue of :class:`~lwm2m.server.core.ServerCore`.

:class:`ServerState` is plain data plus the few operations every part needs (finding a
session, ending a request with its outcome); the parts (:mod:`~lwm2m.server.registrar`,
:mod:`~lwm2m.server.flow`, :mod:`~lwm2m.server.reporting`) hold a reference to it and to each
other, never to a transport.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from lwm2m.coap.codes import Code
from lwm2m.coap.events import Peer
from lwm2m.coap.timers import Timer, TimerQueue
from lwm2m.codec import Clock, CodecRegistry
from lwm2m.model import ModelRegistry, Path
from lwm2m.operations import (
    Observe,
    ObserveComposite,
    OperationError,
    Response,
    ServerRequest,
)
from lwm2m.operations.mapping import CoapParts
from lwm2m.server.config import ServerConfig
from lwm2m.server.errors import UnknownEndpointError
from lwm2m.server.events import CoreEvent, RequestAborted, RequestCompleted, Target
from lwm2m.server.registration import Registration, ServerStore

if TYPE_CHECKING:
    from lwm2m.server.timer_audit import DeviceTimers


class Session:
    """One registered client: its registration and the server's state about it."""

    __slots__ = (
        "awake_until",
        "expires",
        "observations",
        "queue",
        "registration",
        "timer",
        "timers",
    )

    def __init__(self, registration: Registration, expires: float, awake_until: float) -> None:
        self.registration = registration
        self.expires = expires  # monotonic deadline (lifetime plus grace)
        self.timer: Timer | None = None
        self.awake_until = awake_until
        self.queue: deque[OutgoingRequest] | None = None
        self.observations: dict[Target, OutgoingRequest] | None = None
        self.timers: DeviceTimers | None = None  # what the timer rules know (timer_audit)


@dataclass(frozen=True, slots=True)
class SessionView:
    """A snapshot of a session for operators: its observations, how long it stays awake
    (0: asleep, for a queue-mode client) and how many requests wait in its queue."""

    observations: tuple[Target, ...]
    awake_for: float
    queued: int


class OutgoingRequest:
    """A request of ours from submission to its outcome; an observation stays one after."""

    __slots__ = (
        "cancelling",
        "deadline",
        "endpoint",
        "fallbacks",
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
        self.target = target_of(op)
        self.parts: CoapParts | None = None  # encoded by send(), kept unless it is queued
        self.handle: int | None = None  # the wire's, once sent
        self.timer: Timer | None = None  # time to live while queued
        self.deadline: Timer | None = None  # the caller's timeout, if any
        self.cancelling: OutgoingRequest | None = None  # on an observation: its active cancel
        self.token: bytes | None = None  # on an established observation: its CoAP token
        self.fallbacks: tuple[int, ...] | None = None  # formats still to try; None: the caller's


def target_of(op: ServerRequest) -> Target | None:
    """What an Observe or Observe-Composite watches; None for every other operation."""
    if isinstance(op, Observe):
        return op.path
    if isinstance(op, ObserveComposite):
        return op.paths
    return None


def is_cancel(op: ServerRequest) -> bool:
    return isinstance(op, Observe | ObserveComposite) and op.cancel


def describe(target: Target) -> str:
    return str(target) if isinstance(target, Path) else ", ".join(str(p) for p in target)


@lru_cache(maxsize=64)
def root_segments(root_path: str) -> tuple[str, ...]:
    """The Uri-Path segments of a client's alternate path (``/lwm2m`` -> ``("lwm2m",)``)."""
    return tuple(s for s in root_path.split("/") if s)


def body_format(request: CoapParts) -> int | None:
    """The Content-Format a request's body went in (the ``fmt`` it was sent with)."""
    return request.options.content_format if request.payload else None


@dataclass(slots=True, eq=False)
class ServerState:
    """The engine's tables; every part of the engine sees the same ones."""

    config: ServerConfig
    store: ServerStore
    models: ModelRegistry
    codecs: CodecRegistry
    clock: Clock
    rng: random.Random
    timers: TimerQueue = field(default_factory=TimerQueue)
    events: deque[CoreEvent] = field(default_factory=deque)
    sessions: dict[str, Session] = field(default_factory=dict)  # by endpoint name
    by_id: dict[str, Session] = field(default_factory=dict)  # by registration ID
    by_peer: dict[Peer, Session] = field(default_factory=dict)  # by current address
    requests: dict[int, OutgoingRequest] = field(default_factory=dict)  # not yet answered
    by_handle: dict[int, OutgoingRequest] = field(default_factory=dict)  # in flight, observing
    next_request_id: int = 1
    adopter: Callable[[str, float], Session | None] | None = None
    """Finds a registration ID that another node of a cluster served, and adopts it (an
    Update or De-register that reached this node: the device's path moved here)."""

    def by_registration_id(self, location: tuple[str, ...], now: float) -> Session | None:
        """The session an Update or De-register to ``location`` (``rd``, ID) is for."""
        if len(location) != 2:
            return None
        session = self.by_id.get(location[1])
        if session is None and self.adopter is not None:
            session = self.adopter(location[1], now)
        return session

    def session(self, endpoint: str) -> Session:
        session = self.sessions.get(endpoint)
        if session is None:
            raise UnknownEndpointError(f"no registration for endpoint {endpoint!r:.80}")
        return session

    def new_request_id(self) -> int:
        request_id = self.next_request_id
        self.next_request_id += 1
        return request_id

    def complete(self, request: OutgoingRequest, response: Response) -> None:
        if self.requests.pop(request.request_id, None) is not None:
            self.end_deadline(request)
            self.events.append(RequestCompleted(request.request_id, response))

    def abort(self, request: OutgoingRequest, error: Exception) -> None:
        if self.requests.pop(request.request_id, None) is not None:
            self.end_deadline(request)
            self.events.append(RequestAborted(request.request_id, error))

    def end_deadline(self, request: OutgoingRequest) -> None:
        if request.deadline is not None:
            self.timers.cancel(request.deadline)
            request.deadline = None

    def authorize(self, endpoint: str, peer: Peer) -> None:
        """4.03 unless ``config.authorize`` lets ``peer`` act for ``endpoint`` (Register,
        Update, De-register, Send: how the façade binds DTLS identities to endpoint names)."""
        authorize = self.config.authorize
        if authorize is not None and not authorize(endpoint, peer):
            raise OperationError(Code.FORBIDDEN, f"endpoint {endpoint!r:.60} is not allowed")
