"""The Telekom compliance check: what a server learnt about a device in, a report out.

Pure: no I/O and no clock, so every verdict is testable on hand-made inputs; the collector
(:mod:`lwm2m.compliance.collect`) gathers :class:`DeviceData` from a running server.  The rules
and units are described in ``docs/compliance.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
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
from lwm2m.model import Path, Value
from lwm2m.server.events import TimerRuleViolated
from lwm2m.server.timer_rules import (
    TIMER_RULES,
    Operand,
    Outcome,
    TimerCheck,
    default_periods,
    edrx_of,
    lifetime_operand,
    rate_controls,
    rules,
    t3412_of,
)

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
    timer_violations: tuple[TimerRuleViolated, ...] = ()
    """What the server's own watch of the timer rules reports broken now
    (:mod:`lwm2m.server.timer_audit`: it also knows network-granted timers and the
    attributes it wrote)."""


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
    timer_violations: tuple[TimerRuleViolated, ...] = ()
    """The server's own timer-rule violations for the device (:class:`DeviceData`)."""

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
            "serverTimerViolations": [v.to_json() for v in self.timer_violations],
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
        timer_violations=data.timer_violations,
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


def _timer_checks(view: _DeviceView) -> Iterator[TimerCheck]:
    values = view.data.values
    cellular = view.instance_ids(CELLULAR)
    apns = view.instance_ids(APN)
    t3412 = t3412_of(values, cellular)
    edrx = edrx_of(values, cellular, view.first_value(CONNECTIVITY, 0))
    servers = view.instance_ids(SERVER)
    lifetime = view.data.lifetime
    registration = lifetime_operand(lifetime, f"registration lifetime = {lifetime}")
    for iid in servers:
        lifetime_value = values.get(Path.of(SERVER, iid, 1))
        pmin, pmax = default_periods(values, iid)
        yield from rules(
            f"/1/{iid}",
            t3412=t3412,
            lifetime=lifetime_operand(lifetime_value, f"/1/{iid}/1")
            if isinstance(lifetime_value, int)
            else Operand("lifetime", None, f"/1/{iid}/1 not read"),
            pmin=pmin,
            pmax=pmax,
            edrx=edrx,
            rates=rate_controls(values, iid, apns),
        )
    if not servers:
        none = "no Server object instance"
        pmin, pmax = Operand("pmin", None, none), Operand("pmax", None, none)
        yield from rules(
            "registration", t3412=t3412, lifetime=registration, pmin=pmin, pmax=pmax, edrx=edrx
        )
    own = servers[0] if len(servers) == 1 else None
    for path, attributes in sorted(view.data.links.items()):
        if "pmin" not in attributes and "pmax" not in attributes:
            continue
        pmin, pmax = _attribute_periods(view, path, own)
        yield from rules(
            f"{path} attributes",
            t3412=t3412,
            lifetime=registration,
            pmin=pmin,
            pmax=pmax,
            edrx=edrx,
            rates=rate_controls(values, own, apns),
        )


def _attribute_periods(
    view: _DeviceView, path: Path, server_iid: int | None
) -> tuple[Operand, Operand]:
    """pmin and pmax at ``path``: its own attribute, else an ancestor's, else the default."""
    values = view.data.values
    defaults = default_periods(values, server_iid) if server_iid is not None else None
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


def _text(value: Value | dict[int, Value] | None) -> str | None:
    return value if isinstance(value, str) else None
