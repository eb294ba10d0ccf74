"""The server's requests from submission to outcome: started at once, or queued for a sleeping
queue-mode client until it speaks; the caller's deadlines; responses and failures.

Every request ends with one :class:`~lwm2m.server.events.RequestCompleted` or
:class:`~lwm2m.server.events.RequestAborted` event, unless its caller cancels it.  Queued
requests go to the store as they wait (encoded without the client's alternate path, which
an Update may change), so a restarted server sends them when their client wakes up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from functools import partial

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import FailureReason
from lwm2m.coap.message import Message
from lwm2m.model import Path
from lwm2m.operations import (
    EmptyResponse,
    Observe,
    ObserveComposite,
    OperationError,
    OperationUsageError,
    ServerRequest,
    WriteAttributes,
    decode_response,
)
from lwm2m.server.encoding import RequestEncoder
from lwm2m.server.errors import QueueFullError, RequestFailedError, RequestTimeoutError
from lwm2m.server.events import QueueDrained, RequestAborted, RequestQueued, Target
from lwm2m.server.registration import QueuedRecord
from lwm2m.server.reporting import Reporting
from lwm2m.server.state import (
    OutgoingRequest,
    ServerState,
    Session,
    body_format,
    describe,
    is_cancel,
    root_segments,
)
from lwm2m.server.timer_audit import TimerAudit
from lwm2m.server.wire import ServerWire

_REFUSED_FORMAT = (Code.NOT_ACCEPTABLE, Code.UNSUPPORTED_CONTENT_FORMAT)
"""What a client answers a request in a format it does not read or write."""


class RequestFlow:
    """Device management and observation requests towards the sessions of ``state``."""

    __slots__ = ("_audit", "_encoder", "_reporting", "_state", "_wire")

    def __init__(
        self,
        state: ServerState,
        wire: ServerWire,
        encoder: RequestEncoder,
        reporting: Reporting,
        audit: TimerAudit,
    ) -> None:
        self._state = state
        self._wire = wire
        self._encoder = encoder
        self._reporting = reporting
        self._audit = audit

    # -- the caller's side -------------------------------------------------------------------

    def send(
        self, endpoint: str, op: ServerRequest, fmt: int | None, now: float, timeout: float | None
    ) -> int:
        """See :meth:`ServerCore.send <lwm2m.server.core.ServerCore.send>`."""
        if is_cancel(op):
            raise OperationUsageError("cancel observations with cancel_observation()")
        state = self._state
        session = state.session(endpoint)
        if isinstance(op, WriteAttributes) and state.config.enforce_timer_rules:
            refusal = self._audit.refusal(session, op)
            if refusal is not None:
                raise OperationUsageError(f"refused by the Telekom {refusal}")
        registration = session.registration
        encoder = self._encoder
        op, fmt, fallbacks = encoder.formats(op, fmt, registration)
        request = OutgoingRequest(state.new_request_id(), endpoint, op, fmt)
        request.fallbacks = fallbacks
        request.parts = encoder.encode(request, registration)  # refuse what cannot be sent, now
        return self._submit(session, request, now, timeout)

    def cancel_observation(
        self, endpoint: str, target: Target, active: bool, now: float, timeout: float | None
    ) -> int:
        """See :meth:`ServerCore.cancel_observation
        <lwm2m.server.core.ServerCore.cancel_observation>`."""
        state = self._state
        session = state.session(endpoint)
        observation = session.observations.get(target) if session.observations else None
        if observation is None:
            raise OperationUsageError(f"{endpoint} has no observation of {describe(target)}")
        if observation.cancelling is not None:
            raise OperationUsageError(f"the observation of {describe(target)} is being cancelled")
        op: ServerRequest = (
            Observe(target, cancel=True)
            if isinstance(target, Path)
            else ObserveComposite(target, cancel=True)
        )
        request = OutgoingRequest(state.new_request_id(), endpoint, op, None)
        if active:
            return self._submit(session, request, now, timeout)
        state.requests[request.request_id] = request
        self._reporting.drop(session, observation, "cancelled", now)
        state.complete(request, EmptyResponse())
        return request.request_id

    def cancel(self, request_id: int, now: float) -> None:
        """Give up on a request (the caller stopped waiting); no outcome event follows."""
        state = self._state
        request = state.requests.pop(request_id, None)
        if request is None:
            return
        state.end_deadline(request)
        if request.timer is not None:  # still queued
            state.timers.cancel(request.timer)
            state.store.queue.delete(request_id)
            session = state.sessions.get(request.endpoint)
            if session is not None and session.queue is not None:
                session.queue.remove(request)
        elif is_cancel(request.op):
            observation = state.by_handle.get(request.handle or 0)  # 0: no handle's
            if observation is not None and observation.cancelling is request:
                observation.cancelling = None
        elif request.handle is not None and state.by_handle.pop(request.handle, None) is request:
            self._wire.cancel(request.handle, now)

    # -- on its way --------------------------------------------------------------------------

    def _submit(
        self, session: Session, request: OutgoingRequest, now: float, timeout: float | None
    ) -> int:
        state = self._state
        config = state.config
        registration = session.registration
        if registration.queue_mode and now >= session.awake_until:
            queue = session.queue
            if queue is None:
                queue = session.queue = deque()
            if len(queue) >= config.queue_size:
                raise QueueFullError(
                    f"{registration.endpoint} already has {len(queue)} requests waiting"
                )
            queue.append(request)
            parts = request.parts
            if parts is None or root_segments(registration.root_path):
                parts = self._encoder.encode_unrooted(request)
            expires_at = state.clock() + config.queue_ttl
            record = QueuedRecord(request.request_id, request.endpoint, parts, expires_at)
            state.store.queue.put(record)
            request.parts = None  # encoded again when it goes: the registration may change
            request.timer = state.timers.schedule(
                now + config.queue_ttl, partial(self._on_queue_ttl, request)
            )
            state.requests[request.request_id] = request
            state.events.append(RequestQueued(registration.endpoint, type(request.op).__name__))
        else:
            state.requests[request.request_id] = request
            self._start(session, request, now)
        if timeout is not None and request.request_id in state.requests:
            request.deadline = state.timers.schedule(
                now + timeout, partial(self._on_deadline, request, timeout)
            )
        return request.request_id

    def _start(self, session: Session, request: OutgoingRequest, now: float) -> None:
        state = self._state
        if is_cancel(request.op):
            assert request.target is not None
            observations = session.observations
            observation = observations.get(request.target) if observations else None
            if observation is None or observation.handle is None:
                state.complete(request, EmptyResponse())  # it ended while we waited
                return
            observation.cancelling = request
            request.handle = observation.handle
            self._wire.cancel_observation(observation.handle, now)
            return
        parts = request.parts
        if parts is None:
            parts = self._encoder.encode(request, session.registration)
        else:
            request.parts = None
        try:
            handle = self._wire.send_request(session.registration.address, parts, now)
        except StaleHandleError:
            state.abort(request, RequestFailedError(f"{request.endpoint} is not connected (TCP)"))
            return
        request.handle = handle
        state.by_handle[handle] = request

    def _on_queue_ttl(self, request: OutgoingRequest, now: float) -> None:
        state = self._state
        request.timer = None
        state.store.queue.delete(request.request_id)
        session = state.sessions.get(request.endpoint)
        if session is not None and session.queue is not None:
            session.queue.remove(request)
        state.abort(request, RequestTimeoutError(f"{request.endpoint} did not wake up in time"))

    def _on_deadline(self, request: OutgoingRequest, timeout: float, now: float) -> None:
        request.deadline = None
        if request.request_id in self._state.requests:
            self.cancel(request.request_id, now)
            error = RequestTimeoutError(f"no answer within {timeout} s")
            self._state.events.append(RequestAborted(request.request_id, error))

    def heard(self, session: Session, now: float) -> None:
        """The client spoke: it listens for a while, so what waited for it goes out, in order."""
        state = self._state
        session.awake_until = now + state.config.awake_window
        queue = session.queue
        if not queue:
            return
        session.queue = None
        delete = state.store.queue.delete
        for request in queue:
            state.timers.cancel(request.timer)
            request.timer = None
            delete(request.request_id)
            self._start(session, request, now)
        state.events.append(QueueDrained(session.registration.endpoint, len(queue)))

    def fail_in_flight(self, endpoint: str, reason: str, now: float) -> None:
        """End the requests sent to ``endpoint`` and not answered yet (not its established
        observations) with RequestFailedError(``reason``)."""
        state = self._state
        doomed = [
            request
            for request in state.by_handle.values()
            if request.endpoint == endpoint and request.request_id in state.requests
        ]
        for request in doomed:
            self.cancel(request.request_id, now)
            state.events.append(RequestAborted(request.request_id, RequestFailedError(reason)))

    def fail_queue(self, queue: deque[OutgoingRequest] | None, error: Exception) -> None:
        """End what waited for a client that is gone."""
        state = self._state
        for request in queue or ():
            state.timers.cancel(request.timer)
            state.store.queue.delete(request.request_id)
            state.abort(request, error)

    # -- outcomes ----------------------------------------------------------------------------

    def on_response(self, handle: int, message: Message, now: float) -> None:
        state = self._state
        request = state.by_handle.pop(handle, None)
        if request is None:
            return
        session = state.sessions.get(request.endpoint)
        negotiated = session if request.fallbacks is not None else None  # the server's format
        if (
            negotiated is not None
            and message.code in _REFUSED_FORMAT
            and self._encoder.fall_back(request)
        ):
            self._start(negotiated, request, now)  # the same request, in the next format
            return
        try:
            response = decode_response(request.op, message, state.codecs, state.models)
        except OperationError as exc:
            if message.options.observe is not None:
                self._wire.cancel(handle, now)
            state.abort(request, RequestFailedError(f"bad response from the client: {exc}"))
            return
        if negotiated is not None and message.code.is_success:
            self._learn(negotiated, request)
        if request.target is not None and message.options.observe is not None:
            if session is None or not message.code.is_success:
                self._wire.cancel(handle, now)
            else:
                self._reporting.established(session, request, handle, now)
        state.complete(request, response)
        if session is not None:
            if message.code.is_success:
                self._audit.answered(session, request.op, response)
            self.heard(session, now)

    def _learn(self, session: Session, request: OutgoingRequest) -> None:
        """Remember the format a fallback found for this client (in its registration, so a
        store keeps it too)."""
        registration = session.registration
        learned = self._encoder.learns(request, registration)
        if learned is not None:
            session.registration = replace(registration, content_format=learned)
            self._state.store.registrations.put(session.registration)

    def on_request_failed(self, handle: int, reason: FailureReason) -> None:
        request = self._state.by_handle.pop(handle, None)
        if request is None:
            return
        if reason is FailureReason.TIMEOUT:
            error: Exception = RequestTimeoutError(f"{request.endpoint} did not answer")
        else:
            error = RequestFailedError(f"request to {request.endpoint} failed: {reason.value}")
        self._state.abort(request, error)

    # -- restart -----------------------------------------------------------------------------

    def restore_queued(self, record: QueuedRecord, wall: float, now: float) -> None:
        """Queue a stored request again until its time to live ends (dropped when its client
        is gone or it no longer decodes)."""
        state = self._state
        session = state.sessions.get(record.endpoint)
        op = None
        if session is not None and record.expires_at > wall:
            op = self._encoder.decode_stored(record.request, "/")
        if session is None or op is None:
            state.store.queue.delete(record.request_id)
            return
        request = OutgoingRequest(
            record.request_id, record.endpoint, op, body_format(record.request)
        )
        request.timer = state.timers.schedule(
            now + record.expires_at - wall, partial(self._on_queue_ttl, request)
        )
        if session.queue is None:
            session.queue = deque()
        session.queue.append(request)
        state.requests[request.request_id] = request
