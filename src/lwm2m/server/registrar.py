"""The Registration interface, server side: Register, Update, De-register and expiry.

Memory per registration is what 100,000 clients in one process need: one slotted
:class:`~lwm2m.server.state.Session` holding the immutable :class:`Registration`, three dict
entries (by name, registration ID and address) and one expiry timer that an Update moves
lazily (it is re-armed when it fires early, never rescheduled per Update).  Object lists are
bounded (``ServerConfig.max_object_list_size`` and ``max_object_links``, 4.13 beyond them),
held as text (:class:`~lwm2m.server.registration.ObjectList`) and interned, since a fleet
sends a handful of distinct ones.
"""

from __future__ import annotations

import base64
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from functools import partial

from lwm2m.coap.codes import Code
from lwm2m.coap.events import ExchangeKey
from lwm2m.operations import (
    DEFAULT_LIFETIME,
    SUPPORTED_VERSIONS,
    Deregister,
    EmptyResponse,
    ObjectLinks,
    OperationError,
    Read,
    Register,
    RegisteredResponse,
    Update,
    encode_response,
)
from lwm2m.operations.registration import ROOT_RT
from lwm2m.server.encoding import announced_format
from lwm2m.server.errors import ServerError, UnknownEndpointError
from lwm2m.server.events import Deregistered, Expired, Registered, Updated
from lwm2m.server.flow import RequestFlow
from lwm2m.server.registration import ObjectList, Registration
from lwm2m.server.reporting import Reporting
from lwm2m.server.state import OutgoingRequest, ServerState, Session
from lwm2m.server.timer_audit import TimerAudit
from lwm2m.server.wire import ServerWire

logger = logging.getLogger(__name__)

_VERSIONS = {version: version for version in SUPPORTED_VERSIONS}  # one string object each
_INTERNED_LISTS = 1024
"""Distinct object lists kept for sharing; lists beyond it are stored per registration."""
_INTERNED_BYTES = 4096
"""Longer object lists are not interned (they are rare and would pin memory)."""


class Registrar:
    """Registrations of ``state``: created, updated, removed and expired here only."""

    __slots__ = ("_audit", "_flow", "_link_lists", "_reporting", "_state", "_wire")

    def __init__(
        self,
        state: ServerState,
        wire: ServerWire,
        flow: RequestFlow,
        reporting: Reporting,
        audit: TimerAudit,
    ) -> None:
        self._state = state
        self._wire = wire
        self._flow = flow
        self._reporting = reporting
        self._audit = audit
        self._link_lists: dict[bytes, ObjectList] = {}

    def register(self, exchange: ExchangeKey, op: Register, payload: bytes, now: float) -> None:
        state = self._state
        peer = exchange.peer
        state.authorize(op.endpoint, peer)
        old = state.sessions.get(op.endpoint)
        if old is None and len(state.sessions) >= state.config.max_registrations:
            raise OperationError(Code.SERVICE_UNAVAILABLE, "registration table is full")
        binding = op.binding or "U"
        version = _VERSIONS[op.lwm2m_version]
        wall = state.clock()
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
            content_format=announced_format(op.objects.content_formats),
        )
        session = Session(registration, now + lifetime + state.config.expiry_grace, now)
        if old is not None:
            # The same device again (it rebooted, or lost our answer): what waited for it
            # still waits, its observations died with its old registration.
            session.queue = self._end(old, "replaced", now)
        self._add(session)
        state.store.registrations.put(registration)
        response = RegisteredResponse(registration.location)
        self._wire.respond(exchange, encode_response(op, response, state.codecs, state.models), now)
        state.events.append(Registered(registration, None if old is None else old.registration))
        self._audit.registered(session, old)
        self._flow.heard(session, now)
        if state.config.read_timer_objects:
            self._read_timer_objects(session, now)

    def update(self, exchange: ExchangeKey, op: Update, payload: bytes, now: float) -> None:
        state = self._state
        session = state.by_registration_id(op.location, now)
        if session is None:
            raise OperationError(Code.NOT_FOUND, "no such registration")
        previous = session.registration
        peer = exchange.peer
        state.authorize(previous.endpoint, peer)
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
            last_seen=state.clock(),
        )
        if op.objects is not None:
            registration = replace(
                registration,
                root_path=op.objects.root,
                object_links=self._links(op.objects, payload),
            )
            if op.objects.content_formats:
                formats = op.objects.content_formats
                registration = replace(registration, content_format=announced_format(formats))
        if peer != previous.address:
            if state.by_peer.get(previous.address) is session:
                del state.by_peer[previous.address]
            state.by_peer[peer] = session
            if type(peer) is not type(previous.address):
                # Another transport (docs/transports.md): the client ended the observations
                # made over the old one, whose notifications could not reach us on this one.
                self._reporting.drop_all(session, "transport changed", now)
        session.registration = registration
        session.expires = now + registration.lifetime + state.config.expiry_grace
        self._arm_expiry(session)
        state.store.registrations.put(registration)
        response = encode_response(op, EmptyResponse(), state.codecs, state.models)
        self._wire.respond(exchange, response, now)
        state.events.append(Updated(registration, previous))
        if registration.lifetime != previous.lifetime:
            self._audit.updated(session)
        self._flow.heard(session, now)

    def _read_timer_objects(self, session: Session, now: float) -> None:
        """Read /10 and /11 for the timer rules (``ServerConfig.read_timer_objects``); the
        answers reach the audit like any read's, the outcome events go unclaimed."""
        registration = session.registration
        for path in self._audit.objects_to_read(registration):
            try:
                self._flow.send(registration.endpoint, Read(path), None, now, None)
            except ServerError as exc:  # a full queue: the device is busy enough
                logger.info(
                    "timer rules: %s not read from %s: %s", path, registration.endpoint, exc
                )

    def deregister(self, exchange: ExchangeKey, op: Deregister, now: float) -> None:
        state = self._state
        session = state.by_registration_id(op.location, now)
        if session is None:
            raise OperationError(Code.NOT_FOUND, "no such registration")
        state.authorize(session.registration.endpoint, exchange.peer)
        response = encode_response(op, EmptyResponse(), state.codecs, state.models)
        self._wire.respond(exchange, response, now)
        self._remove(session, "deregistered", now)
        state.events.append(Deregistered(session.registration))

    def restore(self, registrations: Iterable[Registration], now: float) -> None:
        """Registrations a store kept, until their lifetime ends (those past it expire now,
        with an Expired event); their clients count as asleep until they speak."""
        state = self._state
        store, wall, grace = state.store, state.clock(), state.config.expiry_grace
        for registration in registrations:
            left = registration.expires_at + grace - wall
            if left <= 0:
                store.registrations.delete(registration.endpoint)
                store.history.clear(registration.endpoint)
                state.events.append(Expired(registration))
                continue
            self._add(Session(_with_announced_format(registration), now + left, now))

    def release(self, endpoint: str, error: Exception, keep_observations: bool, now: float) -> bool:
        """Forget a session another node serves now, leaving the store to it: no event, its
        observations forgotten here only (their records deleted unless ``keep_observations``:
        the other node goes on with them), its queued requests failed with ``error``."""
        state = self._state
        session = state.sessions.get(endpoint)
        if session is None:
            return False
        del state.sessions[endpoint]
        registration = session.registration
        if state.by_id.get(registration.registration_id) is session:
            del state.by_id[registration.registration_id]
        if state.by_peer.get(registration.address) is session:
            del state.by_peer[registration.address]
        state.timers.cancel(session.timer)
        session.timer = None
        for observation in list((session.observations or {}).values()):
            handle = observation.handle
            if handle is not None and state.by_handle.pop(handle, None) is not None:
                self._wire.cancel(handle, now)  # forgotten: the other node has the token
            if observation.token is not None and not keep_observations:
                state.store.observations.delete(endpoint, observation.token)
        session.observations = None
        queue, session.queue = session.queue, None
        self._flow.fail_queue(queue, error)
        if registration.address not in state.by_peer:
            self._wire.forget_peer(registration.address)
        return True

    # -- the table ---------------------------------------------------------------------------

    def _add(self, session: Session) -> None:
        state = self._state
        registration = session.registration
        state.sessions[registration.endpoint] = session
        state.by_id[registration.registration_id] = session
        state.by_peer[registration.address] = session
        self._arm_expiry(session)

    def _arm_expiry(self, session: Session) -> None:
        """One timer per session; a later deadline waits for it to fire (then it re-arms)."""
        timers = self._state.timers
        timer = session.timer
        if timer is None or timer.cancelled or session.expires < timer.deadline:
            timers.cancel(timer)
            session.timer = timers.schedule(session.expires, partial(self._on_expiry_due, session))

    def _on_expiry_due(self, session: Session, now: float) -> None:
        session.timer = None
        if self._state.sessions.get(session.registration.endpoint) is not session:
            return
        if now < session.expires:
            self._arm_expiry(session)
            return
        self._remove(session, "expired", now)
        self._state.events.append(Expired(session.registration))

    def _remove(self, session: Session, reason: str, now: float) -> None:
        """The client is gone: fail what waited for it and free its address's CoAP state."""
        state = self._state
        queue = self._end(session, reason, now)
        endpoint = session.registration.endpoint
        state.store.registrations.delete(endpoint)
        state.store.history.clear(endpoint)
        self._flow.fail_queue(queue, UnknownEndpointError(f"{endpoint} is {reason}"))
        address = session.registration.address
        if address not in state.by_peer:
            self._wire.forget_peer(address)

    def _end(self, session: Session, reason: str, now: float) -> deque[OutgoingRequest] | None:
        """Unlink a session and end its observations; returns its queue for the caller."""
        state = self._state
        registration = session.registration
        del state.sessions[registration.endpoint]
        del state.by_id[registration.registration_id]
        if state.by_peer.get(registration.address) is session:
            del state.by_peer[registration.address]
        state.timers.cancel(session.timer)
        session.timer = None
        self._reporting.drop_all(session, reason, now)
        queue, session.queue = session.queue, None
        return queue

    def _new_registration_id(self) -> str:
        """11 URL-safe characters carrying 64 random bits: short, and not guessable."""
        rng, by_id = self._state.rng, self._state.by_id
        while True:
            raw = rng.getrandbits(64).to_bytes(8, "big")
            registration_id = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
            if registration_id not in by_id:
                return registration_id

    def _links(self, objects: ObjectLinks, payload: bytes) -> ObjectList:
        """The object list, one shared :class:`ObjectList` per distinct payload (hashing the
        bytes is far cheaper than hashing the parsed list); 4.13 beyond the configured link
        count (its size was checked before it was parsed: :meth:`check_size`)."""
        object_list = self._link_lists.get(payload)
        if object_list is None:
            links = objects.to_links()
            limit = self._state.config.max_object_links
            if len(links) > limit:
                raise OperationError(
                    Code.REQUEST_ENTITY_TOO_LARGE, f"{len(links)} object links exceed {limit}"
                )
            object_list = ObjectList.of(links)
            if len(self._link_lists) < _INTERNED_LISTS and len(payload) <= _INTERNED_BYTES:
                self._link_lists[payload] = object_list
        return object_list

    def check_size(self, payload: bytes) -> None:
        """4.13 for an object list over the configured size, before anything parses it."""
        limit = self._state.config.max_object_list_size
        if len(payload) > limit:
            raise ObjectListTooLargeError(len(payload), limit)


class ObjectListTooLargeError(OperationError):
    """4.13 with Size1 = ``limit`` (RFC 7959 §2.9.3): the body itself is refused, so a client
    does not retry it in smaller blocks."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            Code.REQUEST_ENTITY_TOO_LARGE, f"object list of {size} bytes exceeds {limit}"
        )
        self.limit = limit


def _with_announced_format(registration: Registration) -> Registration:
    """A restored registration with no format (its store keeps none) gets the one its root
    link's ``ct`` announces."""
    if registration.content_format is not None:
        return registration
    for link in registration.object_links:
        if link.attributes.get("rt") == ROOT_RT:
            cts = (link.attributes.get("ct") or "").split()
            announced = announced_format(int(ct) for ct in cts if ct.isdigit())
            if announced is not None:
                return replace(registration, content_format=announced)
    return registration
