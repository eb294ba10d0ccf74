"""The Information Reporting interface, server side: observations from the response that
establishes them to their end, notifications, and Send.

Every established observation (with its token) goes to the store as it happens, so a
restarted server adopts it again (:meth:`Reporting.restore_observation`) and its client's
notifications arrive with no new Observe; reported values go to the store's history.
"""

from __future__ import annotations

import logging

from lwm2m.coap.codes import Code
from lwm2m.coap.events import ExchangeKey, ObservationKey
from lwm2m.coap.message import Message
from lwm2m.model import Path, node_to_values
from lwm2m.operations import (
    EmptyResponse,
    NodeResponse,
    OperationError,
    Send,
    ValuesResponse,
    decode_response,
    encode_response,
)
from lwm2m.server.encoding import RequestEncoder
from lwm2m.server.errors import RequestTimeoutError
from lwm2m.server.events import NotificationReceived, ObservationCancelled, SendReceived
from lwm2m.server.registration import ObservationRecord
from lwm2m.server.state import (
    OutgoingRequest,
    ServerState,
    Session,
    is_cancel,
    target_of,
)
from lwm2m.server.timer_audit import TimerAudit
from lwm2m.server.wire import ServerWire

logger = logging.getLogger(__name__)


class Reporting:
    """Observations and Send for every session of ``state``."""

    __slots__ = ("_audit", "_encoder", "_state", "_wire")

    def __init__(
        self, state: ServerState, wire: ServerWire, encoder: RequestEncoder, audit: TimerAudit
    ) -> None:
        self._state = state
        self._wire = wire
        self._encoder = encoder
        self._audit = audit

    # -- observations ------------------------------------------------------------------------

    def established(
        self, session: Session, request: OutgoingRequest, handle: int, now: float
    ) -> None:
        """A successful response with Observe: ``request`` is an observation from now on (one
        per target: a newer one replaces the older)."""
        self._state.by_handle[handle] = request
        observations = session.observations
        if observations is None:
            observations = session.observations = {}
        assert request.target is not None
        previous = observations.get(request.target)
        if previous is not None:
            self.drop(session, previous, "replaced", now)
        observations[request.target] = request
        key = self._wire.observation_key(handle)
        if key is None:
            return  # it ends with its connection, a restart cannot keep it
        request.token = key.token
        parts = self._encoder.encode(request, session.registration)  # what went out (spent)
        record = ObservationRecord(request.endpoint, key.token, key.peer, parts)
        self._state.store.observations.put(record)

    def on_notification(self, handle: int, message: Message) -> Session | None:
        """Report a notification's values; returns the session it came from (None: nobody's)."""
        state = self._state
        request = state.by_handle.get(handle)
        session = state.sessions.get(request.endpoint) if request is not None else None
        if request is None or session is None or request.target is None:
            return None
        try:
            response = decode_response(request.op, message, state.codecs, state.models)
        except OperationError as exc:
            logger.warning("undecodable notification from %s: %s", request.endpoint, exc)
            return session
        if isinstance(response, NodeResponse | ValuesResponse):
            values = (
                node_to_values(request.target, response.node)
                if isinstance(response, NodeResponse) and isinstance(request.target, Path)
                else response.values
                if isinstance(response, ValuesResponse)
                else {}
            )
            state.store.history.add(request.endpoint, state.clock(), values)
            self._audit.reported(session, values)
            state.events.append(
                NotificationReceived(
                    request.endpoint,
                    request.target,
                    values,
                    response.content_format,
                    response.observe,
                )
            )
        return session

    def on_observation_ended(self, handle: int, message: Message | None) -> None:
        """The endpoint ended an observation: the client's final response, RST, or the
        answer to our active cancel (which completes the cancel request)."""
        state = self._state
        request = state.by_handle.pop(handle, None)
        if request is None or request.target is None:
            return
        session = state.sessions.get(request.endpoint)
        observations = session.observations if session is not None else None
        if observations is not None and observations.get(request.target) is request:
            del observations[request.target]
        if request.token is not None:
            state.store.observations.delete(request.endpoint, request.token)
        cancel = request.cancelling
        if cancel is None:
            reason = "ended"
        else:
            reason = "cancelled"
            if message is None:
                state.abort(cancel, RequestTimeoutError("the cancellation was not answered"))
            else:
                try:
                    response = decode_response(cancel.op, message, state.codecs, state.models)
                except OperationError:
                    response = EmptyResponse()  # it is over all the same
                state.complete(cancel, response)
        state.events.append(ObservationCancelled(request.endpoint, request.target, reason))

    def drop(self, session: Session, observation: OutgoingRequest, reason: str, now: float) -> None:
        """Forget an observation here and in the endpoint (passive: RST ends it later)."""
        assert observation.target is not None and observation.handle is not None
        state = self._state
        if session.observations is not None:
            session.observations.pop(observation.target, None)
        if observation.token is not None:
            state.store.observations.delete(observation.endpoint, observation.token)
        if state.by_handle.pop(observation.handle, None) is not None:
            self._wire.cancel(observation.handle, now)
        if observation.cancelling is not None:
            state.complete(observation.cancelling, EmptyResponse())
        state.events.append(ObservationCancelled(observation.endpoint, observation.target, reason))

    def drop_all(self, session: Session, reason: str, now: float) -> None:
        for observation in list((session.observations or {}).values()):
            self.drop(session, observation, reason, now)

    def restore_observation(self, record: ObservationRecord) -> None:
        """Adopt a stored observation under its old token; drop what no longer fits (no
        registration, undecodable, a target observed twice, a token taken)."""
        state = self._state
        session = state.sessions.get(record.endpoint)
        op = None
        if session is not None:
            op = self._encoder.decode_stored(record.request, session.registration.root_path)
        target = None if op is None or is_cancel(op) else target_of(op)
        if (
            session is None
            or op is None
            or target is None
            or target in (session.observations or {})
        ):
            state.store.observations.delete(record.endpoint, record.token)
            return
        try:
            handle = self._wire.restore_observation(
                ObservationKey(record.peer, record.token), record.request
            )
        except ValueError:  # the token is another stored observation's
            state.store.observations.delete(record.endpoint, record.token)
            return
        request = OutgoingRequest(state.new_request_id(), record.endpoint, op, None)
        request.handle = handle
        request.token = record.token
        state.by_handle[handle] = request
        if session.observations is None:
            session.observations = {}
        session.observations[target] = request

    # -- Send ----------------------------------------------------------------------------------

    def on_send(self, exchange: ExchangeKey, op: Send, now: float) -> Session:
        """Answer a Send and report its values; returns the session it came from."""
        state = self._state
        session = state.by_peer.get(exchange.peer)
        if session is None:
            raise OperationError(Code.FORBIDDEN, "Send from an address that is not registered")
        endpoint = session.registration.endpoint
        state.authorize(endpoint, exchange.peer)
        response = encode_response(op, EmptyResponse(), state.codecs, state.models)
        self._wire.respond(exchange, response, now)
        wall = state.clock()
        for batch in op.batches:
            state.store.history.add(
                endpoint, wall if batch.timestamp is None else batch.timestamp, batch.values
            )
        state.events.append(SendReceived(endpoint, op.batches))
        return session
