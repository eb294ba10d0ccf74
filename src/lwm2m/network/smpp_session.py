"""One SMPP 3.4 session as the SMSC sees it: bytes in, PDUs out, the bind state as a table.

Sans-I/O: :meth:`SmppSession.receive` takes what the TCP connection read,
:meth:`SmppSession.take_output` gives what to write, :attr:`SmppSession.closed` says when to
close.  What the session cannot decide alone (is this password right, is this submit_sm
taken, what became of a deliver_sm) it asks its :class:`SessionOwner`, the SMSC core.  No
timers: an ESME that never answers a deliver_sm holds its window until it unbinds or goes
away, and then the messages in that window go back to the SMSC's queue.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

import smpp34

from lwm2m.network.smpp_pdu import (
    RESPONSE,
    SC_INTERFACE_VERSION_TLV,
    BindKind,
    BindRequest,
    CommandId,
    Framer,
    Header,
    PduError,
    Status,
    c_string,
    decode_submit,
    generic_nack,
    header,
    parse_bind,
    response,
)

MAX_SEQUENCE = 0x7FFFFFFF


class SessionState(enum.Enum):
    OPEN = "open"
    """Connected, not bound (§2.2)."""
    BOUND = "bound"
    CLOSED = "closed"
    """Unbound or broken: write what is left, then close the connection."""


class SessionOwner(Protocol):
    """The SMSC core behind every session."""

    def authenticate(self, session: SmppSession, request: BindRequest) -> Status: ...

    def submit(self, session: SmppSession, pdu: smpp34.SubmitSm) -> tuple[Status, str]:
        """A submit_sm: its command_status and, when ROK, the message_id."""

    def answered(self, session: SmppSession, sequence: int, status: int) -> None:
        """The ESME answered our deliver_sm ``sequence`` (deliver_sm_resp or generic_nack)."""

    def ended(self, session: SmppSession, unanswered: list[int]) -> None:
        """The session is over; ``unanswered`` are the deliver_sm sequences it never
        answered."""


Handler = Callable[["SmppSession", Header, bytes], None]


class SmppSession:
    """SMPP 3.4 server side of one connection (module docstring)."""

    def __init__(self, session_id: int, owner: SessionOwner, *, window: int = 10) -> None:
        self.id = session_id
        self.owner = owner
        self.window = window
        self.state = SessionState.OPEN
        self.kind: BindKind | None = None
        self.system_id = ""
        self.address_range = ""
        self.in_flight: set[int] = set()
        self._framer = Framer()
        self._out = bytearray()
        self._sequence = 0

    # -- the connection ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def can_receive(self) -> bool:
        """Bound as a receiver or transceiver, with room in its deliver_sm window."""
        return (
            self.state is SessionState.BOUND
            and self.kind is not None
            and self.kind.receives
            and len(self.in_flight) < self.window
        )

    def receive(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            pdus = self._framer.feed(data)
        except PduError as error:
            self._out += generic_nack(0, error.status)
            self.close()
            return
        for pdu in pdus:
            self._dispatch(pdu)
            if self.closed:
                return

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def close(self) -> None:
        """The connection ends (unbind, a framing error, or the peer went away)."""
        if self.state is SessionState.CLOSED:
            return
        was_bound = self.state is SessionState.BOUND
        self.state = SessionState.CLOSED
        if was_bound:
            unanswered = sorted(self.in_flight)
            self.in_flight.clear()
            self.owner.ended(self, unanswered)

    # -- sending ----------------------------------------------------------------------------
    def deliver(self, encode: Callable[[int], bytes]) -> int:
        """Send a deliver_sm built by ``encode(sequence)``; its sequence number (the owner
        hears of it through :meth:`SessionOwner.answered`).  Only when :attr:`can_receive`."""
        assert self.can_receive, "deliver only to a bound receiver with room in its window"
        self._sequence = self._sequence % MAX_SEQUENCE + 1
        self.in_flight.add(self._sequence)
        self._out += encode(self._sequence)
        return self._sequence

    # -- receiving --------------------------------------------------------------------------
    def _dispatch(self, pdu: bytes) -> None:
        request = header(pdu)
        handler = TABLE.get((self.state, request.command_id))
        if handler is not None:
            handler(self, request, pdu)
        elif request.command_id in REQUESTS:
            self._out += response(request, Status.RINVBNDSTS)
        elif not request.command_id & RESPONSE:
            self._out += generic_nack(request.sequence, Status.RINVCMDID)
        # a response this state does not expect is dropped: nothing answers a response

    def _bind(self, request: Header, pdu: bytes) -> None:
        kind = BindKind.of(request.command_id)
        assert kind is not None
        try:
            bind = parse_bind(kind, pdu[16:])
        except PduError as error:
            self._out += response(request, error.status)
            return
        status = self.owner.authenticate(self, bind)
        if status is not Status.ROK:
            self._out += response(request, status)
            return
        self.state = SessionState.BOUND
        self.kind, self.system_id, self.address_range = kind, bind.system_id, bind.address_range
        self._out += response(request, body=c_string("lwm2m-smsc") + SC_INTERFACE_VERSION_TLV)

    def _already_bound(self, request: Header, pdu: bytes) -> None:
        self._out += response(request, Status.RALYBND)

    def _submit(self, request: Header, pdu: bytes) -> None:
        if self.kind is None or not self.kind.sends:
            self._out += response(request, Status.RINVBNDSTS)
            return
        try:
            submit = decode_submit(pdu)
        except PduError as error:
            self._out += response(request, error.status)
            return
        status, message_id = self.owner.submit(self, submit)
        self._out += response(request, status, c_string(message_id))

    def _enquire_link(self, request: Header, pdu: bytes) -> None:
        self._out += response(request)

    def _unbind(self, request: Header, pdu: bytes) -> None:
        self._out += response(request)
        self.close()

    def _unbind_resp(self, request: Header, pdu: bytes) -> None:
        self.close()

    def _deliver_answered(self, request: Header, pdu: bytes) -> None:
        if request.sequence in self.in_flight:
            self.in_flight.discard(request.sequence)
            self.owner.answered(self, request.sequence, request.status)

    def _ignore(self, request: Header, pdu: bytes) -> None:
        pass


BINDS = (CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER)
REQUESTS = frozenset({*BINDS, CommandId.SUBMIT_SM, CommandId.UNBIND, CommandId.ENQUIRE_LINK})
"""Requests this SMSC knows: in the wrong state they are answered ESME_RINVBNDSTS; any other
request is an unknown command (generic_nack ESME_RINVCMDID)."""
OPEN, BOUND = SessionState.OPEN, SessionState.BOUND
TABLE: dict[tuple[SessionState, int], Handler] = {
    **{(OPEN, bind): SmppSession._bind for bind in BINDS},
    **{(BOUND, bind): SmppSession._already_bound for bind in BINDS},
    (OPEN, CommandId.ENQUIRE_LINK): SmppSession._enquire_link,
    (BOUND, CommandId.ENQUIRE_LINK): SmppSession._enquire_link,
    (BOUND, CommandId.SUBMIT_SM): SmppSession._submit,
    (BOUND, CommandId.UNBIND): SmppSession._unbind,
    (BOUND, CommandId.UNBIND_RESP): SmppSession._unbind_resp,
    (BOUND, CommandId.DELIVER_SM_RESP): SmppSession._deliver_answered,
    (BOUND, CommandId.GENERIC_NACK): SmppSession._deliver_answered,
    (OPEN, CommandId.GENERIC_NACK): SmppSession._ignore,
    (BOUND, CommandId.ENQUIRE_LINK_RESP): SmppSession._ignore,
}
"""(state, command_id) → handler: the SMPP 3.4 §2.3 operations this SMSC takes."""
