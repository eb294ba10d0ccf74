"""One registration state machine per LwM2M server account (Core §6.2), as a table.

The :class:`~lwm2m.client.engine.ClientEngine` feeds each :class:`Registration` triggers (its
request succeeded, failed, got 4.04; a timer fired; something asked for an Update; Disable;
shutdown) and performs the :class:`Action` the table names.  Trigger/state pairs missing from
:data:`TRANSITIONS` are ignored: an Update asked for while registering is already covered by
the Register on its way, a second shutdown changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, auto

from lwm2m.client import fsm
from lwm2m.coap.events import Peer
from lwm2m.operations import ObjectLinks


class State(Enum):
    IDLE = auto()
    REGISTERING = auto()
    REGISTERED = auto()
    UPDATING = auto()
    BACKING_OFF = auto()  # the server was unreachable or refused us; Register again later
    DISABLING = auto()  # De-register in flight before a Disable period
    DISABLED = auto()
    DEREGISTERING = auto()
    STOPPED = auto()


class Trigger(Enum):
    START = auto()
    SUCCESS = auto()
    NOT_FOUND = auto()  # 4.04: the server forgot us
    FAILURE = auto()  # any other error, or no answer
    TIMER = auto()
    UPDATE = auto()  # parameters changed, Registration Update Trigger, or the API
    DISABLE = auto()
    STOP = auto()


class Action(Enum):
    REGISTER = auto()
    UPDATE = auto()
    DEREGISTER = auto()
    SCHEDULE_UPDATE = auto()
    BACK_OFF = auto()
    WAIT_DISABLED = auto()
    QUEUE_UPDATE = auto()  # send another Update once the one in flight is answered
    CANCEL = auto()  # forget the request in flight
    NONE = auto()


_S, _T, _A = State, Trigger, Action
TRANSITIONS: dict[tuple[State, Trigger], tuple[State, Action]] = {
    (_S.IDLE, _T.START): (_S.REGISTERING, _A.REGISTER),
    (_S.IDLE, _T.STOP): (_S.STOPPED, _A.NONE),
    (_S.REGISTERING, _T.SUCCESS): (_S.REGISTERED, _A.SCHEDULE_UPDATE),
    (_S.REGISTERING, _T.NOT_FOUND): (_S.BACKING_OFF, _A.BACK_OFF),
    (_S.REGISTERING, _T.FAILURE): (_S.BACKING_OFF, _A.BACK_OFF),
    (_S.REGISTERING, _T.STOP): (_S.STOPPED, _A.CANCEL),
    (_S.REGISTERED, _T.TIMER): (_S.UPDATING, _A.UPDATE),
    (_S.REGISTERED, _T.UPDATE): (_S.UPDATING, _A.UPDATE),
    (_S.REGISTERED, _T.DISABLE): (_S.DISABLING, _A.DEREGISTER),
    (_S.REGISTERED, _T.STOP): (_S.DEREGISTERING, _A.DEREGISTER),
    (_S.UPDATING, _T.SUCCESS): (_S.REGISTERED, _A.SCHEDULE_UPDATE),
    (_S.UPDATING, _T.NOT_FOUND): (_S.REGISTERING, _A.REGISTER),
    (_S.UPDATING, _T.FAILURE): (_S.BACKING_OFF, _A.BACK_OFF),
    (_S.UPDATING, _T.UPDATE): (_S.UPDATING, _A.QUEUE_UPDATE),
    (_S.UPDATING, _T.DISABLE): (_S.DISABLING, _A.DEREGISTER),
    (_S.UPDATING, _T.STOP): (_S.DEREGISTERING, _A.DEREGISTER),
    (_S.BACKING_OFF, _T.TIMER): (_S.REGISTERING, _A.REGISTER),
    (_S.BACKING_OFF, _T.UPDATE): (_S.REGISTERING, _A.REGISTER),
    (_S.BACKING_OFF, _T.STOP): (_S.STOPPED, _A.NONE),
    (_S.DISABLING, _T.SUCCESS): (_S.DISABLED, _A.WAIT_DISABLED),
    (_S.DISABLING, _T.NOT_FOUND): (_S.DISABLED, _A.WAIT_DISABLED),
    (_S.DISABLING, _T.FAILURE): (_S.DISABLED, _A.WAIT_DISABLED),
    (_S.DISABLING, _T.STOP): (_S.DEREGISTERING, _A.NONE),
    (_S.DISABLED, _T.TIMER): (_S.REGISTERING, _A.REGISTER),
    (_S.DISABLED, _T.STOP): (_S.STOPPED, _A.NONE),
    (_S.DEREGISTERING, _T.SUCCESS): (_S.STOPPED, _A.NONE),
    (_S.DEREGISTERING, _T.NOT_FOUND): (_S.STOPPED, _A.NONE),
    (_S.DEREGISTERING, _T.FAILURE): (_S.STOPPED, _A.NONE),
}

ONLINE = frozenset({State.REGISTERED, State.UPDATING})
"""States in which the server knows us: it may send requests, we may notify and Send."""


@dataclass(frozen=True, slots=True)
class Parameters:
    """What a Register told the server; an Update sends what differs from it."""

    lifetime: int
    binding: str
    queue_mode: bool
    objects: ObjectLinks
    sms: str | None = None
    """The device's MSISDN, announced while SMS is (``sms=``)."""


@dataclass(slots=True)
class Registration:
    """The client's side of one server account: where it is and what the server knows."""

    short_server_id: int
    server_instance: int
    peer: Peer
    """The server on the transport in use (``routes[transport]``)."""
    routes: Mapping[str, Peer] = field(default_factory=dict)
    """The server on each transport the client can reach it over (client/transports.py)."""
    transport: str = ""
    state: State = State.IDLE
    location: tuple[str, ...] = ()
    registered: Parameters | None = None
    handle: int | None = None
    """The endpoint request in flight for this server."""
    sent: Parameters | None = None
    """The parameters of the Register or Update in flight."""
    attempts: int = 0
    update_queued: bool = False
    deadline: float | None = None
    disable_timeout: float = 0.0

    def step(self, trigger: Trigger) -> Action | None:
        """Apply ``trigger``; the action to carry out, None when this state ignores it."""
        self.state, action = fsm.step(TRANSITIONS, self.state, trigger)
        return action

    @property
    def online(self) -> bool:
        return self.state in ONLINE


def update_delay(lifetime: int, max_transmit_wait: float) -> float:
    """When to send the Update after a registration: early enough that one Update, with all
    its retransmissions, lands before the lifetime runs out, and never sooner than half way."""
    margin = max(0.1 * lifetime, max_transmit_wait)
    return max(lifetime - margin, lifetime / 2)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential back-off with jitter: in [d/2, d] for d = min(cap, base * 2**attempt), so a
    fleet that lost its server at once does not come back at once."""
    delay = min(cap, base * 2.0 ** min(attempt, 32))
    return delay * rng.uniform(0.5, 1.0)
