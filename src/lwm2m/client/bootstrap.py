"""The client's bootstrap state machine (Core 1.1 §5.2.7, §6.1), as a table.

The :class:`~lwm2m.client.engine.ClientEngine` starts it when it has no LwM2M server account,
when a server stayed unreachable for N Register attempts (ETS int-7), or when a server executed
the Bootstrap-Request Trigger (/1/x/9).  It waits the Client Hold Off Time (/0/x/11) on a cold
start, sends the Bootstrap-Request, serves the bootstrap server until Bootstrap-Finish and
checks the result; a refusal, no answer, a configuration that fails the check (4.06 to Finish)
or no Finish in time backs off and asks again.  Registration starts after a good Finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from lwm2m.client import fsm
from lwm2m.coap.events import Peer


class State(Enum):
    IDLE = auto()
    HOLDING_OFF = auto()
    REQUESTING = auto()  # Bootstrap-Request in flight
    BOOTSTRAPPING = auto()  # serving the bootstrap server until Bootstrap-Finish
    BACKING_OFF = auto()


class Trigger(Enum):
    START = auto()
    TIMER = auto()
    ACCEPTED = auto()  # 2.04 to the Bootstrap-Request, or the bootstrap server's first request
    REFUSED = auto()  # an error or no answer to the Bootstrap-Request
    FINISHED = auto()  # Bootstrap-Finish with a consistent configuration
    INCONSISTENT = auto()  # Bootstrap-Finish answered 4.06
    STOP = auto()


class Action(Enum):
    HOLD_OFF = auto()
    REQUEST = auto()
    WAIT_FINISH = auto()
    BACK_OFF = auto()
    APPLY = auto()  # register with the new accounts
    CANCEL = auto()
    NONE = auto()


_S, _T, _A = State, Trigger, Action
TRANSITIONS: dict[tuple[State, Trigger], tuple[State, Action]] = {
    (_S.IDLE, _T.START): (_S.HOLDING_OFF, _A.HOLD_OFF),
    (_S.HOLDING_OFF, _T.TIMER): (_S.REQUESTING, _A.REQUEST),
    (_S.HOLDING_OFF, _T.STOP): (_S.IDLE, _A.CANCEL),
    (_S.REQUESTING, _T.ACCEPTED): (_S.BOOTSTRAPPING, _A.WAIT_FINISH),
    (_S.REQUESTING, _T.REFUSED): (_S.BACKING_OFF, _A.BACK_OFF),
    (_S.REQUESTING, _T.STOP): (_S.IDLE, _A.CANCEL),
    (_S.BOOTSTRAPPING, _T.FINISHED): (_S.IDLE, _A.APPLY),
    (_S.BOOTSTRAPPING, _T.INCONSISTENT): (_S.BACKING_OFF, _A.BACK_OFF),
    (_S.BOOTSTRAPPING, _T.TIMER): (_S.BACKING_OFF, _A.BACK_OFF),
    (_S.BOOTSTRAPPING, _T.STOP): (_S.IDLE, _A.CANCEL),
    (_S.BACKING_OFF, _T.TIMER): (_S.REQUESTING, _A.REQUEST),
    (_S.BACKING_OFF, _T.START): (_S.REQUESTING, _A.REQUEST),
    (_S.BACKING_OFF, _T.STOP): (_S.IDLE, _A.CANCEL),
}
"""Pairs missing here are ignored: a second trigger while a bootstrap runs changes nothing."""

ACTIVE = frozenset({State.REQUESTING, State.BOOTSTRAPPING})
"""States in which the bootstrap server's requests are served."""


@dataclass(slots=True)
class Bootstrap:
    """The client's side of its bootstrap server account."""

    state: State = State.IDLE
    peer: Peer | None = None
    handle: int | None = None
    """The Bootstrap-Request in flight."""
    attempts: int = 0
    """Failed bootstraps since the last good one (for the back-off)."""

    def step(self, trigger: Trigger) -> Action | None:
        self.state, action = fsm.step(TRANSITIONS, self.state, trigger)
        return action

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def busy(self) -> bool:
        """A bootstrap is under way (registration waits for it)."""
        return self.state is not State.IDLE
