"""What the server reports: every server event is a frozen dataclass with ``to_json()``.

:data:`ServerEvent` is what subscribers see.  :class:`RequestCompleted` and
:class:`RequestAborted` are the core telling its driver how a request it started ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from lwm2m.codec.flat_json import values_to_json
from lwm2m.model import Path, TimestampedValues, Value
from lwm2m.operations import Response
from lwm2m.server.registration import Registration
from lwm2m.server.timer_rules import TimerCheck

Target: TypeAlias = Path | tuple[Path, ...]
"""What an observation watches: one path, or the paths of an Observe-Composite."""


def _target_json(target: Target) -> dict[str, object]:
    if isinstance(target, Path):
        return {"path": str(target)}
    return {"paths": [str(path) for path in target]}


@dataclass(frozen=True, slots=True)
class Registered:
    """A Register; ``previous`` is the registration it replaced (same endpoint name)."""

    registration: Registration
    previous: Registration | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "type": "registered",
            "registration": self.registration.to_json(),
        }
        if self.previous is not None:
            data["previous"] = self.previous.to_json()
        return data


@dataclass(frozen=True, slots=True)
class Updated:
    registration: Registration
    previous: Registration

    def to_json(self) -> dict[str, object]:
        return {
            "type": "updated",
            "registration": self.registration.to_json(),
            "previous": self.previous.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Deregistered:
    registration: Registration

    def to_json(self) -> dict[str, object]:
        return {"type": "deregistered", "registration": self.registration.to_json()}


@dataclass(frozen=True, slots=True)
class Expired:
    registration: Registration

    def to_json(self) -> dict[str, object]:
        return {"type": "expired", "registration": self.registration.to_json()}


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """A notification after the first response; ``values`` are the leaves it carried."""

    endpoint: str
    path: Target
    values: Mapping[Path, Value]
    content_format: int | None
    sequence: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "type": "notification",
            "endpoint": self.endpoint,
            **_target_json(self.path),
            "values": values_to_json(self.values),
            "contentFormat": self.content_format,
            "sequence": self.sequence,
        }


@dataclass(frozen=True, slots=True)
class SendReceived:
    """A Send (``POST /dp``), already acknowledged with 2.04."""

    endpoint: str
    batches: tuple[TimestampedValues, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "type": "send",
            "endpoint": self.endpoint,
            "batches": [
                {"timestamp": batch.timestamp, "values": values_to_json(batch.values)}
                for batch in self.batches
            ],
        }


@dataclass(frozen=True, slots=True)
class ObservationCancelled:
    """An observation is over.

    ``reason``: ``cancelled`` (by us, actively or passively), ``ended`` (the client ended it,
    e.g. with an error notification), ``deregistered``, ``expired`` or ``replaced`` (the
    client registered anew).
    """

    endpoint: str
    paths: Target
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "type": "observationCancelled",
            "endpoint": self.endpoint,
            **_target_json(self.paths),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RequestQueued:
    """A request for a sleeping queue-mode client waits for it; ``operation`` is its name."""

    endpoint: str
    operation: str

    def to_json(self) -> dict[str, object]:
        return {"type": "requestQueued", "endpoint": self.endpoint, "operation": self.operation}


@dataclass(frozen=True, slots=True)
class QueueDrained:
    """A queue-mode client spoke and ``count`` waiting requests went out to it."""

    endpoint: str
    count: int

    def to_json(self) -> dict[str, object]:
        return {"type": "queueDrained", "endpoint": self.endpoint, "count": self.count}


@dataclass(frozen=True, slots=True)
class WakeTriggered:
    """A trigger went out to wake a device: ``channel`` ``sms`` or ``t8``, ``to`` its MSISDN or
    NIDD identity; ``reason`` ``queued`` (a request waits for it) or ``requested`` (the API)."""

    endpoint: str
    channel: str
    to: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "type": "wakeTriggered",
            "endpoint": self.endpoint,
            "channel": self.channel,
            "to": self.to,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class WakeFailed:
    """A trigger could not be sent or was reported undelivered, or (``channel`` None) none was
    sent for a queued request (the rate limit held)."""

    endpoint: str
    channel: str | None
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "type": "wakeFailed",
            "endpoint": self.endpoint,
            "channel": self.channel,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DeviceWoken:
    """A device spoke ``after`` seconds after a trigger to it went out."""

    endpoint: str
    channel: str
    after: float

    def to_json(self) -> dict[str, object]:
        return {
            "type": "woken",
            "endpoint": self.endpoint,
            "channel": self.channel,
            "after": round(self.after, 3),
        }


@dataclass(frozen=True, slots=True)
class TimerRuleViolated:
    """The device's timers break a timer rule of the Telekom profile (docs/compliance.md):
    ``rule`` is its number (1-3), ``comparison`` the one that fails (``T3412 > lifetime``),
    ``scope`` whose settings (``registration``, or ``/3303/0/5700 attributes``: the pmin/pmax
    written there), ``detail`` both values and where they came from.  Reported once when it
    starts to fail."""

    endpoint: str
    rule: int
    comparison: str
    scope: str
    detail: str

    @classmethod
    def of(cls, endpoint: str, check: TimerCheck) -> TimerRuleViolated:
        return cls(endpoint, check.rule, check.text, check.scope, check.explanation)

    def to_json(self) -> dict[str, object]:
        return {
            "type": "timerRuleViolated",
            "endpoint": self.endpoint,
            "rule": self.rule,
            "comparison": self.comparison,
            "scope": self.scope,
            "detail": self.detail,
        }


ServerEvent: TypeAlias = (
    Registered
    | Updated
    | Deregistered
    | Expired
    | NotificationReceived
    | SendReceived
    | ObservationCancelled
    | RequestQueued
    | QueueDrained
    | TimerRuleViolated
    | WakeTriggered
    | WakeFailed
    | DeviceWoken
)


@dataclass(frozen=True, slots=True)
class RequestCompleted:
    """The client answered request ``request_id`` (an error code is an ErrorResponse)."""

    request_id: int
    response: Response


@dataclass(frozen=True, slots=True)
class RequestAborted:
    """Request ``request_id`` ended without an answer; ``error`` says why."""

    request_id: int
    error: Exception


CoreEvent: TypeAlias = ServerEvent | RequestCompleted | RequestAborted
