"""The Telekom compliance check: what a server learnt about a device in, a report out.

Pure: no I/O and no clock, so every verdict is testable on hand-made inputs; the collector
(:mod:`lwm2m.compliance.collect`) gathers :class:`DeviceData` from a running server.  The rules
and units are described in ``docs/compliance.md``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from lwm2m.codec.flat_json import JsonScalar, value_to_json
from lwm2m.compliance.profile import (
    OBJECTS,
    PROFILE_NAME,
    PROFILE_SECURITY_MODES,
    Condition,
    ObjectProfile,
    ObjectRequirement,
    Obligation,
    ResourceProfile,
    SecurityMode,
    object_requirement,
)
from lwm2m.model import ObjectLink, Path, Value

REPORT_VERSION = 1
BOOTSTRAP_ONLY = frozenset({0, 21})
"""Security and OSCORE: never in Register (Core §6.2.1), only the bootstrap server reads them."""
SERVER, DEVICE, CONNECTIVITY, CELLULAR, APN = 1, 3, 4, 10, 11


class Verdict(enum.Enum):
    PASS = "pass"
    MISSING_MANDATORY = "missing mandatory"
    MISSING_RECOMMENDED = "missing recommended"
    OPTIONAL_ABSENT = "optional absent"
    EMPTY_VALUE = "empty value"
    NOT_VERIFIABLE = "not verifiable"
    NOT_REQUIRED = "not required"


VERDICT_MEANING = {
    Verdict.PASS: "present as the profile requires",
    Verdict.MISSING_MANDATORY: "the profile requires it and the device does not have it",
    Verdict.MISSING_RECOMMENDED: "the profile recommends it and the device does not have it",
    Verdict.OPTIONAL_ABSENT: "optional (or mandatory only if supported) and not there",
    Verdict.EMPTY_VALUE: "present but empty where the profile requires a value",
    Verdict.NOT_VERIFIABLE: "a management server cannot see it, or the device did not answer",
    Verdict.NOT_REQUIRED: "the profile does not require this object",
}


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


# -- input -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceData:
    """What the server knows and what the device answered; see :mod:`.collect`."""

    endpoint: str
    lwm2m_version: str
    binding: str
    queue_mode: bool = False
    lifetime: int | None = None
    """The registration's lifetime in seconds."""
    object_links: tuple[Path, ...] = ()
    """Objects and instances of the Register/Update payload."""
    links: Mapping[Path, Mapping[str, str | None]] = field(default_factory=dict)
    """Every node Discover reported, with its attributes (pmin, pmax, dim, ...)."""
    values: Mapping[Path, Value] = field(default_factory=dict)
    """Read values of resources and resource instances."""
    unavailable: Mapping[int, str] = field(default_factory=dict)
    """Object ID -> why Discover or Read of it failed."""
    security_mode: int | None = None
    """The security mode of the registration's transport, when the server knows it."""


# -- output ----------------------------------------------------------------------------------

JsonValue = JsonScalar | dict[str, JsonScalar]


@dataclass(frozen=True, slots=True)
class ResourceResult:
    object_id: int
    instance_id: int | None
    """None when the object has no instance to look in."""
    profile: ResourceProfile
    required: Obligation
    """The Telekom obligation as it applies to this device (a battery condition resolved)."""
    present: bool | None
    """None when it cannot be known (the object is not verifiable)."""
    value: Value | dict[int, Value] | None
    empty: bool | None
    """None when no value was read (not readable, or the read failed)."""
    verdict: Verdict
    failed: bool
    detail: str = ""

    @property
    def path(self) -> str:
        instance = "*" if self.instance_id is None else str(self.instance_id)
        return f"/{self.object_id}/{instance}/{self.profile.resource_id}"

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "resourceId": self.profile.resource_id,
            "instanceId": self.instance_id,
            "name": self.profile.name,
            "operations": self.profile.operations,
            "multiple": self.profile.multiple,
            "oma": self.profile.oma.value,
            "telekom": self.profile.telekom.value,
            "required": self.required.value,
            "comment": self.profile.comment,
            "present": self.present,
            "value": _json_value(self.value),
            "empty": self.empty,
            "verdict": self.verdict.value,
            "failed": self.failed,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ObjectResult:
    profile: ObjectProfile
    present: bool | None
    """None when a management server cannot know (Security, OSCORE)."""
    instances: tuple[int, ...]
    verdict: Verdict
    failed: bool
    detail: str
    resources: tuple[ResourceResult, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "objectId": self.profile.object_id,
            "name": self.profile.name,
            "required": self.profile.telekom.value,
            "oma": None if self.profile.oma is None else self.profile.oma.value,
            "note": self.profile.note,
            "comments": list(self.profile.comments),
            "present": self.present,
            "instances": list(self.instances),
            "verdict": self.verdict.value,
            "failed": self.failed,
            "detail": self.detail,
            "resources": [resource.to_json() for resource in self.resources],
        }


@dataclass(frozen=True, slots=True)
class DeviceValue:
    """A Device object value the profile wants that is missing, empty or unread."""

    path: str
    name: str
    required: Obligation
    problem: str

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "required": self.required.value,
            "problem": self.problem,
        }


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
    """Whose settings: ``/1/0`` (a Server instance's defaults) or ``/3/0/9 attributes``."""
    left: Operand
    relation: str
    right: Operand
    outcome: Outcome
    detail: str = ""

    @property
    def text(self) -> str:
        return f"{self.left.name} {self.relation} {self.right.name}"

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
class SecurityResult:
    mode: int | None
    outcome: Outcome
    detail: str

    def to_json(self) -> dict[str, object]:
        known = self.mode is not None and self.mode in SecurityMode._value2member_map_
        name = SecurityMode(self.mode).name if known and self.mode is not None else None
        return {
            "mode": self.mode,
            "name": name,
            "allowed": [{"mode": m.value, "name": m.name} for m in PROFILE_SECURITY_MODES],
            "outcome": self.outcome.value,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class BindingResult:
    registration: str
    queue_mode: bool
    server_bindings: tuple[tuple[str, str], ...]
    """(path, value) of every read /1/x/7."""
    supported: str | None
    """/3/0/16 Supported Binding and Modes."""

    def to_json(self) -> dict[str, object]:
        return {
            "registration": self.registration,
            "queueMode": self.queue_mode,
            "servers": {path: value for path, value in self.server_bindings},
            "supported": self.supported,
        }


TIMER_RULES = {
    1: "Extended T3412 > LwM2M Registration lifetime > Pmax",
    2: "Pmin < eDRX < Pmax <= translated value of Rate control (in deci-hours) to time interval",
    3: "When rate control is applied, Pmin and Pmax avoid notifications at a higher rate than "
    "rate control allows",
}


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    endpoint: str
    lwm2m_version: str
    security: SecurityResult
    binding: BindingResult
    objects: tuple[ObjectResult, ...]
    device_values: tuple[DeviceValue, ...]
    timers: tuple[TimerCheck, ...]
    other_objects: tuple[int, ...]
    """Objects the device has that the profile does not name."""

    @property
    def passed(self) -> bool:
        """Every mandatory object and resource is there (and has a value where one is due)."""
        return not self.failures

    @property
    def failures(self) -> tuple[str, ...]:
        """One line per unmet mandatory item, e.g. ``/4/*/0 Network Bearer: missing ...``."""
        lines: list[str] = []
        for obj in self.objects:
            if obj.failed:
                lines.append(f"/{obj.profile.object_id} {obj.profile.name}: {_why(obj)}")
            lines.extend(
                f"{res.path} {res.profile.name}: {_why(res)}" for res in obj.resources if res.failed
            )
        return tuple(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "reportVersion": REPORT_VERSION,
            "profile": PROFILE_NAME,
            "endpoint": self.endpoint,
            "lwm2mVersion": self.lwm2m_version,
            "passed": self.passed,
            "failures": list(self.failures),
            "security": self.security.to_json(),
            "binding": self.binding.to_json(),
            "objects": [obj.to_json() for obj in self.objects],
            "deviceValues": [value.to_json() for value in self.device_values],
            "timers": [check.to_json() for check in self.timers],
            "otherObjects": list(self.other_objects),
            "legend": {
                "verdicts": {verdict.value: text for verdict, text in VERDICT_MEANING.items()},
                "timerRules": {str(number): text for number, text in TIMER_RULES.items()},
                "outcomes": [outcome.value for outcome in Outcome],
                "obligations": [obligation.value for obligation in Obligation],
            },
        }


def _why(item: ObjectResult | ResourceResult) -> str:
    return item.verdict.value + (f" ({item.detail})" if item.detail else "")


def _json_value(value: Value | dict[int, Value] | None) -> JsonValue:
    if isinstance(value, dict):
        return {str(iid): value_to_json(v) for iid, v in sorted(value.items())}
    return None if value is None else value_to_json(value)


# -- the check -------------------------------------------------------------------------------


def check(data: DeviceData) -> ComplianceReport:
    view = _DeviceView(data)
    objects = tuple(_check_object(view, profile) for profile in OBJECTS)
    return ComplianceReport(
        endpoint=data.endpoint,
        lwm2m_version=data.lwm2m_version,
        security=_check_security(data.security_mode),
        binding=BindingResult(
            registration=data.binding,
            queue_mode=data.queue_mode,
            server_bindings=tuple(
                (str(path), str(value))
                for path, value in sorted(data.values.items())
                if path.object_id == SERVER and path.resource_id == 7
            ),
            supported=_text(view.first_value(DEVICE, 16)),
        ),
        objects=objects,
        device_values=_device_values(objects),
        timers=tuple(_timer_checks(view)),
        other_objects=tuple(
            sorted(oid for oid in view.object_ids if object_requirement(oid) is None)
        ),
    )


class _DeviceView:
    """Indexes over DeviceData: which objects, instances and resources exist."""

    def __init__(self, data: DeviceData) -> None:
        self.data = data
        nodes = [*data.object_links, *data.links, *data.values]
        self.object_ids = {p.object_id for p in nodes if p.object_id is not None}
        self.instances: dict[int, set[int]] = {}
        for path in nodes:
            if path.depth >= 2:
                assert path.object_id is not None and path.instance_id is not None
                self.instances.setdefault(path.object_id, set()).add(path.instance_id)
        self.resources = {Path(p.ids[:3]) for p in (*data.links, *data.values) if p.depth >= 3}
        self.discovered = {p.object_id for p in data.links}

    def instance_ids(self, object_id: int) -> list[int]:
        return sorted(self.instances.get(object_id, ()))

    def value(self, path: Path) -> Value | dict[int, Value] | None:
        """A single value, or a multiple resource's instances (None: nothing read)."""
        single = self.data.values.get(path)
        if single is not None:
            return single
        instances = {
            p.ids[3]: v
            for p, v in self.data.values.items()
            if p.depth == 4 and p.ids[:3] == path.ids
        }
        if instances:
            return instances
        dim = self.data.links.get(path, {}).get("dim")
        return {} if dim == "0" else None

    def first_value(self, object_id: int, resource_id: int) -> Value | dict[int, Value] | None:
        for iid in self.instance_ids(object_id):
            value = self.value(Path.of(object_id, iid, resource_id))
            if value is not None:
                return value
        return None

    def has_battery(self) -> bool | None:
        """From /3/0/6 Available Power Sources: 1 internal, 2 external battery."""
        sources = self.first_value(DEVICE, 6)
        if sources is None:
            return None
        values = sources.values() if isinstance(sources, dict) else (sources,)
        return any(v in (1, 2) for v in values)


def _check_object(view: _DeviceView, profile: ObjectProfile) -> ObjectResult:
    oid = profile.object_id
    present = oid in view.object_ids
    instances = tuple(view.instance_ids(oid))
    failure = view.data.unavailable.get(oid, "")
    # Nothing learnt beyond the Register payload: presence of resources cannot be judged.
    blind = (
        present
        and oid not in view.discovered
        and not any(p.object_id == oid for p in view.data.values)
    )
    mandatory = profile.telekom is ObjectRequirement.MANDATORY
    if profile.telekom is ObjectRequirement.NOT_REQUIRED:
        verdict, failed, detail = Verdict.NOT_REQUIRED, False, ""
    elif oid in BOOTSTRAP_ONLY and (not present or blind):
        verdict, failed = Verdict.NOT_VERIFIABLE, False
        detail = "not in the Register payload and readable by the bootstrap server only"
    elif blind:
        verdict, failed, detail = Verdict.NOT_VERIFIABLE, mandatory, failure or "not discovered"
    elif present:
        verdict, failed, detail = Verdict.PASS, False, failure
    elif mandatory:
        verdict, failed, detail = Verdict.MISSING_MANDATORY, True, "object not registered"
    else:
        verdict, failed, detail = Verdict.OPTIONAL_ABSENT, False, ""
    resources: list[ResourceResult] = []
    if verdict is not Verdict.NOT_REQUIRED:
        applies = (verdict is Verdict.PASS and bool(instances)) or mandatory
        resources = [
            _check_resource(view, oid, iid, resource, applies=applies, verdict=verdict)
            for iid in instances or (None,)
            for resource in profile.resources
        ]
    known = present or verdict is not Verdict.NOT_VERIFIABLE
    return ObjectResult(
        profile, present if known else None, instances, verdict, failed, detail, tuple(resources)
    )


def _check_resource(
    view: _DeviceView,
    object_id: int,
    instance_id: int | None,
    profile: ResourceProfile,
    *,
    applies: bool,
    verdict: Verdict,
) -> ResourceResult:
    """``applies``: the object's table binds this device; ``verdict``: the object's."""
    required, detail = profile.telekom, ""
    if profile.condition is Condition.BATTERY and required is Obligation.MANDATORY:
        battery = view.has_battery()
        if battery is False:
            required, detail = Obligation.OPTIONAL, "no battery among /3/0/6 power sources"
        elif battery is None:
            detail = "power sources (/3/0/6) unknown: taken as battery-powered"
    path = None if instance_id is None else Path.of(object_id, instance_id, profile.resource_id)
    present = path is not None and path in view.resources
    value = view.value(path) if present and path is not None else None
    empty = None if value is None else value in ("", b"") or value == {}

    def result(found: Verdict, failed: bool, why: str = detail) -> ResourceResult:
        return ResourceResult(
            object_id, instance_id, profile, required, present, value, empty, found, failed, why
        )

    if verdict is Verdict.NOT_VERIFIABLE:
        return ResourceResult(
            object_id, instance_id, profile, required, None, None, None, verdict, False
        )
    if present:
        if empty and profile.value_required and required is Obligation.MANDATORY:
            return result(Verdict.EMPTY_VALUE, True)
        if profile.readable and value is None:
            return result(Verdict.PASS, False, detail or "discovered, value not read")
        return result(Verdict.PASS, False)
    if not applies or required in (Obligation.OPTIONAL, Obligation.IF_SUPPORTED):
        return result(Verdict.OPTIONAL_ABSENT, False)
    if required is Obligation.RECOMMENDED:
        return result(Verdict.MISSING_RECOMMENDED, False)
    return result(Verdict.MISSING_MANDATORY, True)


def _device_values(objects: tuple[ObjectResult, ...]) -> tuple[DeviceValue, ...]:
    out: list[DeviceValue] = []
    for obj in objects:
        if obj.profile.object_id != DEVICE:
            continue
        for res in obj.resources:
            if not res.profile.value_required or res.required is Obligation.OPTIONAL:
                continue
            if res.present is False:
                problem = "missing"
            elif res.empty:
                problem = "empty"
            elif res.value is None:
                problem = "not read"
            else:
                continue
            out.append(DeviceValue(res.path, res.profile.name, res.required, problem))
    return tuple(out)


def _check_security(mode: int | None) -> SecurityResult:
    allowed = ", ".join(f"{m.value} ({m.name})" for m in PROFILE_SECURITY_MODES)
    if mode is None:
        return SecurityResult(
            None, Outcome.UNKNOWN, f"the server does not report it; the profile wants {allowed}"
        )
    if mode in PROFILE_SECURITY_MODES:
        return SecurityResult(mode, Outcome.PASS, "")
    return SecurityResult(mode, Outcome.FAIL, f"the profile wants {allowed}")


# -- timer rules -----------------------------------------------------------------------------

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


@dataclass(frozen=True, slots=True)
class _RateControl:
    window: Operand
    spacing: Operand


def _timer_checks(view: _DeviceView) -> Iterator[TimerCheck]:
    t3412 = _t3412(view)
    edrx = _edrx(view)
    servers = view.instance_ids(SERVER)
    registration = Operand(
        "lifetime",
        _lifetime_seconds(view.data.lifetime),
        f"registration lifetime = {view.data.lifetime}",
    )
    for iid in servers:
        lifetime_value = view.data.values.get(Path.of(SERVER, iid, 1))
        lifetime = (
            Operand("lifetime", _lifetime_seconds(lifetime_value), f"/1/{iid}/1")
            if isinstance(lifetime_value, int)
            else Operand("lifetime", None, f"/1/{iid}/1 not read")
        )
        pmin, pmax = _default_periods(view, iid)
        rates = _rate_controls(view, iid)
        yield from _rules(
            f"/1/{iid}",
            t3412=t3412,
            lifetime=lifetime,
            pmin=pmin,
            pmax=pmax,
            edrx=edrx,
            rates=rates,
        )
    if not servers:
        none = "no Server object instance"
        pmin, pmax = Operand("pmin", None, none), Operand("pmax", None, none)
        yield from _rules(
            "registration", t3412=t3412, lifetime=registration, pmin=pmin, pmax=pmax, edrx=edrx
        )
    own = servers[0] if len(servers) == 1 else None
    for path, attributes in sorted(view.data.links.items()):
        if "pmin" not in attributes and "pmax" not in attributes:
            continue
        pmin, pmax = _attribute_periods(view, path, own)
        yield from _rules(
            f"{path} attributes",
            t3412=t3412,
            lifetime=registration,
            pmin=pmin,
            pmax=pmax,
            edrx=edrx,
            rates=_rate_controls(view, own),
        )


def _rules(
    scope: str,
    *,
    t3412: Operand,
    lifetime: Operand,
    pmin: Operand,
    pmax: Operand,
    edrx: Operand,
    rates: Sequence[_RateControl] = (),
) -> Iterator[TimerCheck]:
    yield _compare(1, scope, t3412, ">", lifetime)
    yield _compare(1, scope, lifetime, ">", pmax)
    yield _compare(2, scope, pmin, "<", edrx)
    yield _compare(2, scope, edrx, "<", pmax)
    if not rates:
        unknown = Operand("rate-control interval", None, "no rate control in /11")
        yield _compare(2, scope, pmax, "<=", unknown)
        yield _compare(3, scope, pmin, ">=", Operand("rate-control spacing", None, unknown.source))
    for rate in rates:
        yield _compare(2, scope, pmax, "<=", rate.window)
        yield _compare(3, scope, pmin, ">=", rate.spacing)


def _compare(rule: int, scope: str, left: Operand, relation: str, right: Operand) -> TimerCheck:
    a, b = left.seconds, right.seconds
    if a is None or b is None:
        missing = " and ".join(o.name for o in (left, right) if o.seconds is None)
        return TimerCheck(rule, scope, left, relation, right, Outcome.UNKNOWN, f"{missing} unknown")
    holds = {">": a > b, "<": a < b, "<=": a <= b, ">=": a >= b}[relation]
    outcome = Outcome.PASS if holds else Outcome.FAIL
    return TimerCheck(rule, scope, left, relation, right, outcome)


def _lifetime_seconds(lifetime: int | None) -> float | None:
    """Lifetime 0 means the registration never expires (Server object, resource 1)."""
    if lifetime is None:
        return None
    return math.inf if lifetime == 0 else float(lifetime)


def _t3412(view: _DeviceView) -> Operand:
    for iid in view.instance_ids(CELLULAR):
        value = view.data.values.get(Path.of(CELLULAR, iid, 4))
        if isinstance(value, int):
            return Operand("T3412", float(value), f"/10/{iid}/4 PSM Timer")
    return Operand("T3412", None, "/10/x/4 PSM Timer not read")


def _edrx(view: _DeviceView) -> Operand:
    """The eDRX cycle requested for the bearer /4/0/0 names (NB-IoT: NB-S1, LTE: WB-S1)."""
    instances = view.instance_ids(CELLULAR)
    if not instances:
        return Operand("eDRX", None, "no Cellular Connectivity object")
    iid = instances[0]
    active = view.data.values.get(Path.of(CELLULAR, iid, 13))
    if isinstance(active, int) and not active & 0b10:
        return Operand("eDRX", None, f"eDRX not active (/10/{iid}/13 = {active})")
    bearer = view.first_value(CONNECTIVITY, 0)
    order = (8, 9) if bearer in LTE_BEARERS else (9, 8)
    for resource_id in order:
        raw = view.data.values.get(Path.of(CELLULAR, iid, resource_id))
        if raw is None:
            continue
        source = f"/10/{iid}/{resource_id}"
        if not isinstance(raw, bytes) or len(raw) != 1:
            return Operand("eDRX", None, f"{source} is not one octet (24.008 §10.5.5.32)")
        code = raw[0] & 0x0F
        if resource_id == 9:
            return Operand("eDRX", NB_S1_EDRX.get(code, 20.48), f"{source} NB-S1 value {code}")
        return Operand("eDRX", WB_S1_EDRX[code], f"{source} WB-S1 value {code}")
    return Operand("eDRX", None, f"/10/{iid}/8 and /10/{iid}/9 not read")


def _default_periods(view: _DeviceView, server_iid: int) -> tuple[Operand, Operand]:
    """/1/x/2 and /1/x/3; an absent Default Minimum Period is 0 (Server object, resource 2)."""
    values = view.data.values
    pmin = values.get(Path.of(SERVER, server_iid, 2))
    pmax = values.get(Path.of(SERVER, server_iid, 3))
    return (
        Operand("pmin", float(pmin), f"/1/{server_iid}/2")
        if isinstance(pmin, int)
        else Operand("pmin", 0.0, f"/1/{server_iid}/2 absent: 0"),
        Operand("pmax", float(pmax), f"/1/{server_iid}/3")
        if isinstance(pmax, int)
        else Operand("pmax", None, f"/1/{server_iid}/3 absent: no pmax"),
    )


def _attribute_periods(
    view: _DeviceView, path: Path, server_iid: int | None
) -> tuple[Operand, Operand]:
    """pmin and pmax at ``path``: its own attribute, else an ancestor's, else the default."""
    defaults = _default_periods(view, server_iid) if server_iid is not None else None
    found: list[Operand] = []
    for index, name in enumerate(("pmin", "pmax")):
        operand = None
        for depth in range(path.depth, 0, -1):
            node = Path(path.ids[:depth])
            raw = view.data.links.get(node, {}).get(name)
            if raw is not None:
                try:
                    operand = Operand(name, float(raw), f"{name} attribute of {node}")
                except ValueError:
                    operand = Operand(name, None, f"{name} attribute of {node} is {raw!r:.20}")
                break
        if operand is None:
            operand = defaults[index] if defaults else Operand(name, None, "no default known")
        found.append(operand)
    return found[0], found[1]


def _rate_controls(view: _DeviceView, server_iid: int | None) -> list[_RateControl]:
    """Rate control of the server's APN profile (/1/x/10), else of the first that has any."""
    values = view.data.values
    link = values.get(Path.of(SERVER, server_iid, 10)) if server_iid is not None else None
    candidates = (
        [link.instance_id]
        if isinstance(link, ObjectLink) and link.object_id == APN
        else view.instance_ids(APN)
    )
    for iid in candidates:
        found: list[_RateControl] = []
        serving = values.get(Path.of(APN, iid, 26))
        if isinstance(serving, int):
            source = f"/11/{iid}/26 = {serving} per 6 min"
            found.append(_rate_control(DECI_HOUR, serving, source))
        apn = values.get(Path.of(APN, iid, 25))
        unit = values.get(Path.of(APN, iid, 27))
        if isinstance(apn, int) and isinstance(unit, int) and unit in UNIT_SECONDS:
            source = f"/11/{iid}/25 = {apn} per /11/{iid}/27 unit {unit}"
            found.append(_rate_control(UNIT_SECONDS[unit], apn, source))
        if found:
            return found
    return []


def _rate_control(window: int, messages: int, source: str) -> _RateControl:
    spacing = window / messages if messages > 0 else math.inf
    return _RateControl(
        Operand("rate-control interval", float(window), source),
        Operand("rate-control spacing", spacing, source),
    )


def _text(value: Value | dict[int, Value] | None) -> str | None:
    return value if isinstance(value, str) else None
