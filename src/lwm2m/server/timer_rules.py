"""The Telekom profile's timer rules ("Timer implementations", OMA Transport 1.2 §D.8.5) as
pure comparisons over values a server knows about a device.

1. extended T3412 > registration lifetime > pmax;
2. pmin < eDRX cycle < pmax <= rate-control interval;
3. pmin and pmax keep notifications within rate control (pmin >= the spacing it allows).

Shared by the compliance check (:mod:`lwm2m.compliance.checker`, over what Discover and Read
returned) and the server's own watch (:mod:`lwm2m.server.timer_audit`, over what it read,
observed, was told by the network and wrote as attributes).  No I/O, no clock.  Units and the
reading of each operand are in ``docs/compliance.md``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from lwm2m.model import ObjectLink, Path, Value

SERVER, CONNECTIVITY, CELLULAR, APN = 1, 4, 10, 11
PSM_TIMER, ACTIVE_MODES, EDRX_WB_S1, EDRX_NB_S1 = 4, 13, 8, 9
DEFAULT_PMIN, DEFAULT_PMAX, APN_LINK = 2, 3, 10
APN_RATE, SERVING_PLMN_RATE, UPLINK_TIME_UNIT = 25, 26, 27

UNIT_SECONDS = {1: 60, 2: 3600, 3: 86400, 4: 604800}
"""APN rate control uplink time unit (24.008 §10.5.6.3.2): 1 minute, 2 hour, 3 day, 4 week."""
DECI_HOUR = 360
"""Serving PLMN rate control counts messages per 6 minutes (24.301 §9.9.4.28)."""
WB_S1_EDRX = (
    5.12, 10.24, 20.48, 40.96, 61.44, 81.92, 102.4, 122.88,
    143.36, 163.84, 327.68, 655.36, 1310.72, 2621.44, 5242.88, 10485.76,
)  # fmt: skip
"""eDRX cycle (s) by value, WB-S1 mode (24.008 Table 10.5.5.32)."""
NB_S1_EDRX = {2: 20.48, 3: 40.96, 5: 81.92, 9: 163.84} | {c: WB_S1_EDRX[c] for c in range(10, 16)}
"""NB-S1 mode: values 0010, 0011, 0101, 1001 and 1010-1111; every other value means 0010."""
NB_IOT_BEARER, LTE_BEARERS = 7, (5, 6)

TIMER_RULES = {
    1: "Extended T3412 > LwM2M Registration lifetime > Pmax",
    2: "Pmin < eDRX < Pmax <= translated value of Rate control (in deci-hours) to time interval",
    3: "When rate control is applied, Pmin and Pmax avoid notifications at a higher rate than "
    "rate control allows",
}


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Operand:
    name: str
    seconds: float | None
    """None: not known; ``math.inf`` for a lifetime of 0 (no expiry) or no uplink allowed."""
    source: str

    @property
    def display(self) -> str:
        if self.seconds is None:
            return "unknown"
        if math.isinf(self.seconds):
            return "infinite"
        return f"{self.seconds:g} s"

    def to_json(self) -> dict[str, object]:
        finite = self.seconds is not None and not math.isinf(self.seconds)
        return {
            "name": self.name,
            "seconds": self.seconds if finite else None,
            "display": self.display,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class TimerCheck:
    """One comparison of a timer rule of the profile, e.g. ``T3412 > lifetime``."""

    rule: int
    """1, 2 or 3: the numbered rule of the profile's "Timer implementations"."""
    scope: str
    """Whose settings: ``/1/0`` (a Server instance's defaults), ``registration``, or the
    attributes of a node (``/3/0/9 attributes``)."""
    left: Operand
    relation: str
    right: Operand
    outcome: Outcome
    detail: str = ""

    @property
    def text(self) -> str:
        return f"{self.left.name} {self.relation} {self.right.name}"

    @property
    def explanation(self) -> str:
        """Both sides with their values and sources, e.g. ``T3412 3600 s (/10/0/4) is not >
        lifetime 86400 s (registration)``."""
        holds = "" if self.outcome is Outcome.PASS else "not "
        return (
            f"{self.left.name} {self.left.display} ({self.left.source}) is {holds}"
            f"{self.relation} {self.right.name} {self.right.display} ({self.right.source})"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "scope": self.scope,
            "text": self.text,
            "left": self.left.to_json(),
            "relation": self.relation,
            "right": self.right.to_json(),
            "outcome": self.outcome.value,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class RateControl:
    window: Operand
    """The time window the rate counts in (rule 2's "rate-control interval")."""
    spacing: Operand
    """The window divided by the messages it allows (rule 3)."""


def rules(
    scope: str,
    *,
    t3412: Operand,
    lifetime: Operand,
    pmin: Operand,
    pmax: Operand,
    edrx: Operand,
    rates: Sequence[RateControl] = (),
) -> Iterator[TimerCheck]:
    """Every comparison of the three rules for one set of settings."""
    yield compare(1, scope, t3412, ">", lifetime)
    yield compare(1, scope, lifetime, ">", pmax)
    yield compare(2, scope, pmin, "<", edrx)
    yield compare(2, scope, edrx, "<", pmax)
    if not rates:
        unknown = Operand("rate-control interval", None, "no rate control in /11")
        yield compare(2, scope, pmax, "<=", unknown)
        yield compare(3, scope, pmin, ">=", Operand("rate-control spacing", None, unknown.source))
    for rate in rates:
        yield compare(2, scope, pmax, "<=", rate.window)
        yield compare(3, scope, pmin, ">=", rate.spacing)


def compare(rule: int, scope: str, left: Operand, relation: str, right: Operand) -> TimerCheck:
    a, b = left.seconds, right.seconds
    if a is None or b is None:
        missing = " and ".join(o.name for o in (left, right) if o.seconds is None)
        return TimerCheck(rule, scope, left, relation, right, Outcome.UNKNOWN, f"{missing} unknown")
    holds = {">": a > b, "<": a < b, "<=": a <= b, ">=": a >= b}[relation]
    outcome = Outcome.PASS if holds else Outcome.FAIL
    return TimerCheck(rule, scope, left, relation, right, outcome)


def lifetime_operand(lifetime: int | None, source: str) -> Operand:
    """Lifetime 0 means the registration never expires (Server object, resource 1)."""
    if lifetime is None:
        return Operand("lifetime", None, source)
    return Operand("lifetime", math.inf if lifetime == 0 else float(lifetime), source)


# -- operands from a device's values ---------------------------------------------------------


def instances_in(values: Iterable[Path], object_id: int) -> list[int]:
    """The instance IDs of ``object_id`` among ``values``' paths."""
    return sorted({p.ids[1] for p in values if p.depth >= 2 and p.ids[0] == object_id})


def t3412_of(values: Mapping[Path, Value], cellular: Sequence[int]) -> Operand:
    """/10/x/4 PSM Timer: extended T3412 (24.008 §10.5.7.4a) in seconds."""
    for iid in cellular:
        value = values.get(Path.of(CELLULAR, iid, PSM_TIMER))
        if isinstance(value, int):
            return Operand("T3412", float(value), f"/10/{iid}/4 PSM Timer")
    return Operand("T3412", None, "/10/x/4 PSM Timer not read")


def edrx_of(values: Mapping[Path, Value], cellular: Sequence[int], bearer: object) -> Operand:
    """The eDRX cycle for the bearer /4/0/0 names (NB-IoT or unknown: NB-S1, LTE: WB-S1)."""
    if not cellular:
        return Operand("eDRX", None, "no Cellular Connectivity object")
    iid = cellular[0]
    active = values.get(Path.of(CELLULAR, iid, ACTIVE_MODES))
    if isinstance(active, int) and not active & 0b10:
        return Operand("eDRX", None, f"eDRX not active (/10/{iid}/13 = {active})")
    order = (EDRX_WB_S1, EDRX_NB_S1) if bearer in LTE_BEARERS else (EDRX_NB_S1, EDRX_WB_S1)
    for resource_id in order:
        raw = values.get(Path.of(CELLULAR, iid, resource_id))
        if raw is None:
            continue
        source = f"/10/{iid}/{resource_id}"
        if not isinstance(raw, bytes) or len(raw) != 1:
            return Operand("eDRX", None, f"{source} is not one octet (24.008 §10.5.5.32)")
        code = raw[0] & 0x0F
        if resource_id == EDRX_NB_S1:
            return Operand("eDRX", NB_S1_EDRX.get(code, 20.48), f"{source} NB-S1 value {code}")
        return Operand("eDRX", WB_S1_EDRX[code], f"{source} WB-S1 value {code}")
    return Operand("eDRX", None, f"/10/{iid}/8 and /10/{iid}/9 not read")


def default_periods(values: Mapping[Path, Value], server_iid: int) -> tuple[Operand, Operand]:
    """/1/x/2 and /1/x/3; an absent Default Minimum Period is 0 (Server object, resource 2)."""
    pmin = values.get(Path.of(SERVER, server_iid, DEFAULT_PMIN))
    pmax = values.get(Path.of(SERVER, server_iid, DEFAULT_PMAX))
    return (
        Operand("pmin", float(pmin), f"/1/{server_iid}/2")
        if isinstance(pmin, int)
        else Operand("pmin", 0.0, f"/1/{server_iid}/2 absent: 0"),
        Operand("pmax", float(pmax), f"/1/{server_iid}/3")
        if isinstance(pmax, int)
        else Operand("pmax", None, f"/1/{server_iid}/3 absent: no pmax"),
    )


def rate_controls(
    values: Mapping[Path, Value], server_iid: int | None, apn_instances: Sequence[int]
) -> list[RateControl]:
    """Rate control of the server's APN profile (/1/x/10), else of the first that has any."""
    link = values.get(Path.of(SERVER, server_iid, APN_LINK)) if server_iid is not None else None
    candidates = (
        [link.instance_id]
        if isinstance(link, ObjectLink) and link.object_id == APN
        else apn_instances
    )
    for iid in candidates:
        found: list[RateControl] = []
        serving = values.get(Path.of(APN, iid, SERVING_PLMN_RATE))
        if isinstance(serving, int):
            source = f"/11/{iid}/26 = {serving} per 6 min"
            found.append(rate_control(DECI_HOUR, serving, source))
        apn = values.get(Path.of(APN, iid, APN_RATE))
        unit = values.get(Path.of(APN, iid, UPLINK_TIME_UNIT))
        if isinstance(apn, int) and isinstance(unit, int) and unit in UNIT_SECONDS:
            source = f"/11/{iid}/25 = {apn} per /11/{iid}/27 unit {unit}"
            found.append(rate_control(UNIT_SECONDS[unit], apn, source))
        if found:
            return found
    return []


def rate_control(window: float, messages: int, source: str) -> RateControl:
    spacing = window / messages if messages > 0 else math.inf
    return RateControl(
        Operand("rate-control interval", float(window), source),
        Operand("rate-control spacing", spacing, source),
    )
