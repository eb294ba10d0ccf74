"""When an observation notifies: the <NOTIFICATION> attributes of Core §5.1.2, as pure rules.

The engine keeps one :class:`Observation` per observer and, whenever a value under it changed
or one of its deadlines passed, asks :func:`evaluate` whether to send now and when to look
again.  Attributes are the effective ones (:func:`~lwm2m.operations.effective_attributes`):
Server-object defaults, then object, instance, resource and resource instance.

- pmin: no notification sooner than pmin after the last one; a change in between is sent
  when pmin has passed (with the value current then, if it still qualifies).
- pmax: a notification at the latest pmax after the last one, changed or not (ignored when
  not above pmin).
- gt / lt: only changes that cross the threshold qualify; st: only changes of at least st
  since the last notified value.  With several, any one qualifies.  They apply to numerical
  leaves of a resource observation only.
- epmin / epmax: the device samples values at most every epmin and at least every epmax
  (for values that change without telling).
- con (LwM2M 1.2): force confirmable (1) or non-confirmable (0) notifications.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lwm2m.coap.events import ObservationKey
from lwm2m.model import Path, Value
from lwm2m.operations import (
    NotificationAttributes,
    Observe,
    ObserveComposite,
)


@dataclass(slots=True)
class Observation:
    """One observer: what it watches and what it was last told."""

    key: ObservationKey
    short_server_id: int
    request: Observe | ObserveComposite
    content_format: int
    sent_values: dict[Path, Value]
    last_sent: float
    last_eval: float
    last_confirmable: float
    dirty: bool = False
    """A change was reported but not evaluated yet (epmin holds it back)."""
    pending: bool = False
    """A qualifying change waits for pmin."""

    @property
    def paths(self) -> tuple[Path, ...]:
        request = self.request
        return request.paths if isinstance(request, ObserveComposite) else (request.path,)

    def watches(self, changed: Path) -> bool:
        return any(p.startswith(changed) or changed.startswith(p) for p in self.paths)


@dataclass(frozen=True, slots=True)
class Timing:
    """The periods in force for one observation (composites take the most demanding)."""

    pmin: float = 0.0
    pmax: float | None = None
    epmin: float = 0.0
    epmax: float | None = None
    confirmable: bool | None = None

    @classmethod
    def of(cls, attributes: Sequence[NotificationAttributes]) -> Timing:
        def ints(name: str) -> list[int]:
            values = (getattr(a, name) for a in attributes)
            return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]

        pmin = min(ints("pmin"), default=0)
        pmax = min((v for v in ints("pmax") if v > 0 and v >= pmin), default=None)
        epmin = min(ints("epmin"), default=0)
        epmax = min((v for v in ints("epmax") if v > 0 and v >= epmin), default=None)
        cons = [a.con for a in attributes if isinstance(a.con, bool)]
        return cls(pmin, pmax, epmin, epmax, any(cons) if cons else None)


def must_evaluate(obs: Observation, timing: Timing, now: float) -> bool:
    """Whether to sample the values now: a change, pending or pmax/epmax due, and epmin allows."""
    pmax_due = timing.pmax is not None and now >= obs.last_sent + timing.pmax
    epmax_due = timing.epmax is not None and now >= obs.last_eval + timing.epmax
    wanted = obs.dirty or obs.pending or pmax_due or epmax_due
    return wanted and (pmax_due or now >= obs.last_eval + timing.epmin)


def should_notify(
    obs: Observation,
    timing: Timing,
    attributes: Mapping[Path, NotificationAttributes],
    values: Mapping[Path, Value],
    now: float,
) -> bool:
    """Record a sample taken at ``now``; whether it is to be sent now."""
    obs.last_eval = now
    obs.dirty = False
    obs.pending = qualifies(obs.request, attributes, obs.sent_values, values)
    pmax_due = timing.pmax is not None and now >= obs.last_sent + timing.pmax
    return pmax_due or (obs.pending and now >= obs.last_sent + timing.pmin)


def wake_at(obs: Observation, timing: Timing) -> float | None:
    """When this observation next needs attention, None if only a change would wake it."""
    times = []
    if timing.pmax is not None:
        times.append(obs.last_sent + timing.pmax)
    if timing.epmax is not None:
        times.append(obs.last_eval + timing.epmax)
    if obs.pending:
        times.append(obs.last_sent + timing.pmin)
    if obs.dirty:
        times.append(obs.last_eval + timing.epmin)
    return min(times, default=None)


def qualifies(
    request: Observe | ObserveComposite,
    attributes: Mapping[Path, NotificationAttributes],
    old: Mapping[Path, Value],
    new: Mapping[Path, Value],
) -> bool:
    """Whether the change from ``old`` to ``new`` is worth a notification (gt, lt, st rules)."""
    for path, attrs in attributes.items():
        before = {p: v for p, v in old.items() if p.startswith(path)}
        after = {p: v for p, v in new.items() if p.startswith(path)}
        if before == after:
            continue
        if isinstance(request, Observe) and path.depth >= 3 and _has_value_rules(attrs):
            if any(_crosses(attrs, before.get(p), v) for p, v in after.items()):
                return True
            if set(before) != set(after):
                return True  # instances of a multiple resource came or went
            continue
        return True
    return False


def _has_value_rules(attrs: NotificationAttributes) -> bool:
    return any(_number(getattr(attrs, name)) is not None for name in ("gt", "lt", "st"))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _crosses(attrs: NotificationAttributes, old: Value | None, new: Value) -> bool:
    before, after = _number(old), _number(new)
    if after is None:
        return old != new  # not numerical: the value rules do not apply
    if before is None:
        return True
    gt, lt, st = _number(attrs.gt), _number(attrs.lt), _number(attrs.st)
    return (
        (gt is not None and (before > gt) != (after > gt))
        or (lt is not None and (before < lt) != (after < lt))
        or (st is not None and abs(after - before) >= st)
    )
