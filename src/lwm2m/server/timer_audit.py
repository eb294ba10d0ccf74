"""The server's watch over the Telekom timer rules (:mod:`~lwm2m.server.timer_rules`).

Per registration it keeps what it knows of the device's timers: values of /1 (lifetime,
default periods, APN link), /4/x/0 (bearer), /10 (PSM timer, active timer, eDRX) and /11 (rate
control) from the reads, observations and notifications it saw; the timers the network
granted, when a carrier reports them (:meth:`ServerCore.network_timers
<lwm2m.server.core.ServerCore.network_timers>`); and the pmin/pmax it wrote with
Write-Attributes.  Whenever one of them or the registration's lifetime changes, the rules are
evaluated again and each comparison that newly fails becomes a
:class:`~lwm2m.server.events.TimerRuleViolated` event.  With
``ServerConfig.enforce_timer_rules`` a Write-Attributes that would break a rule is refused
before it is sent (:class:`~lwm2m.operations.OperationUsageError`).

A device nothing is known about costs nothing: its session holds no :class:`DeviceTimers`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from lwm2m.model import Path, Value, node_to_values
from lwm2m.operations import (
    NodeResponse,
    NotificationAttributes,
    Observe,
    ObserveComposite,
    Read,
    ReadComposite,
    Response,
    ServerRequest,
    ValuesResponse,
    WriteAttributes,
    effective_attributes,
)
from lwm2m.server.events import TimerRuleViolated
from lwm2m.server.registration import Registration
from lwm2m.server.state import ServerState, Session
from lwm2m.server.timer_rules import (
    APN,
    CELLULAR,
    CONNECTIVITY,
    SERVER,
    Operand,
    Outcome,
    TimerCheck,
    default_periods,
    edrx_of,
    instances_in,
    lifetime_operand,
    rate_controls,
    rules,
    t3412_of,
)

RELEVANT = {
    SERVER: frozenset({1, 2, 3, 10}),
    CONNECTIVITY: frozenset({0}),
    CELLULAR: frozenset({4, 5, 8, 9, 13}),
    APN: frozenset({25, 26, 27}),
}
"""The resources the rules read, by object."""
TIMER_OBJECTS = (CELLULAR, APN)
"""What ``ServerConfig.read_timer_objects`` reads after a Register (when registered)."""
MAX_VALUES = 64
"""Values kept per device: a device reporting thousands of /11 instances cannot grow it."""
MAX_ATTRIBUTE_NODES = 64
"""Nodes with written attributes kept per device."""
_PERIODS = frozenset({"pmin", "pmax"})


@dataclass(frozen=True, slots=True)
class NetworkTimers:
    """Power-saving timers the network granted a device, as a carrier reports them (e.g. a
    T8 monitoring report's idle status: periodic TAU, active time, eDRX cycle); None: not
    reported.  They take precedence over what the device's /10 says."""

    periodic_tau: int | None = None
    """Extended T3412 in seconds."""
    active_time: int | None = None
    """T3324 in seconds."""
    edrx_cycle: float | None = None
    """Seconds."""


class DeviceTimers:
    """What the server knows of one device's timers, and the violations it reported."""

    __slots__ = ("attributes", "network", "values", "violations")

    def __init__(self) -> None:
        self.values: dict[Path, Value] = {}
        self.network: NetworkTimers | None = None
        self.attributes: dict[Path, NotificationAttributes] = {}
        self.violations: tuple[TimerCheck, ...] = ()


class TimerAudit:
    """The timer rules over every session of ``state`` (module docstring)."""

    __slots__ = ("_state",)

    def __init__(self, state: ServerState) -> None:
        self._state = state

    # -- what the engine tells it ------------------------------------------------------------

    def registered(self, session: Session, previous: Session | None) -> None:
        """A Register: what was known of the same device (same endpoint) still holds."""
        if previous is not None and previous.timers is not None:
            session.timers = previous.timers
        self._review(session)

    def updated(self, session: Session) -> None:
        """An Update (its lifetime may have changed)."""
        self._review(session)

    def objects_to_read(self, registration: Registration) -> list[Path]:
        """The timer objects to read after a Register, those the device registered."""
        root = registration.root_path.rstrip("/")
        registered = set()
        for link in registration.object_links:
            target = link.target.removeprefix(root) if root else link.target
            first = target.strip("/").split("/")[0]
            if first.isdigit():
                registered.add(int(first))
        return [Path.of(oid) for oid in TIMER_OBJECTS if oid in registered]

    def answered(self, session: Session, op: ServerRequest, response: Response) -> None:
        """A successful answer: values read or observed, attributes written."""
        if isinstance(op, WriteAttributes):
            timers = self._timers(session)
            self._write(timers.attributes, op)
            self._review(session)
        elif isinstance(op, Read | Observe) and isinstance(response, NodeResponse):
            self.reported(session, node_to_values(op.path, response.node))
        elif isinstance(op, ReadComposite | ObserveComposite) and isinstance(
            response, ValuesResponse
        ):
            self.reported(session, response.values)

    def reported(self, session: Session, values: Mapping[Path, Value]) -> None:
        """Values the device reported (a read, a notification)."""
        relevant = {
            path: value
            for path, value in values.items()
            if path.depth == 3 and path.ids[2] in RELEVANT.get(path.ids[0], ())
        }
        if not relevant:
            return
        known = self._timers(session).values
        changed = False
        for path, value in relevant.items():
            if known.get(path) != value and (path in known or len(known) < MAX_VALUES):
                known[path] = value
                changed = True
        if changed:
            self._review(session)

    def network(self, session: Session, timers: NetworkTimers) -> None:
        """The network granted ``timers`` to the device."""
        self._timers(session).network = timers
        self._review(session)

    def refusal(self, session: Session, op: WriteAttributes) -> str | None:
        """Why ``op`` would break a rule for the nodes it sets (None: it would not)."""
        known = session.timers
        attributes = dict(known.attributes) if known is not None else {}
        self._write(attributes, op)
        for check in _failures(session.registration, known, attributes):
            scope = check.scope.removesuffix(" attributes")
            if scope.startswith("/") and Path.parse(scope).startswith(op.path):
                return f"timer rule {check.rule} ({check.text}): {check.explanation}"
        return None

    # -- evaluation --------------------------------------------------------------------------

    def _timers(self, session: Session) -> DeviceTimers:
        if session.timers is None:
            session.timers = DeviceTimers()
        return session.timers

    def _review(self, session: Session) -> None:
        """Evaluate again; report what newly fails (nothing known, nothing to evaluate)."""
        known = session.timers
        if known is None:
            return
        failures = tuple(_failures(session.registration, known, known.attributes))
        seen = {(check.scope, check.text) for check in known.violations}
        endpoint = session.registration.endpoint
        for check in failures:
            if (check.scope, check.text) not in seen:
                self._state.events.append(TimerRuleViolated.of(endpoint, check))
        known.violations = failures

    @staticmethod
    def _write(attributes: dict[Path, NotificationAttributes], op: WriteAttributes) -> None:
        merged = attributes.get(op.path, NotificationAttributes()).updated(op.attributes)
        if merged.pmin is None and merged.pmax is None:
            attributes.pop(op.path, None)
        elif op.path in attributes or len(attributes) < MAX_ATTRIBUTE_NODES:
            attributes[op.path] = merged


def _failures(
    registration: Registration,
    known: DeviceTimers | None,
    attributes: Mapping[Path, NotificationAttributes],
) -> Iterator[TimerCheck]:
    """The failing comparisons: the registration with the Server object's defaults, then each
    node the server wrote pmin or pmax on."""
    values: Mapping[Path, Value] = known.values if known is not None else {}
    network = known.network if known is not None else None
    cellular = instances_in(values, CELLULAR)
    t3412 = t3412_of(values, cellular)
    edrx = edrx_of(values, cellular, values.get(Path.of(CONNECTIVITY, 0, 0)))
    if network is not None and network.periodic_tau is not None:
        t3412 = Operand("T3412", float(network.periodic_tau), "periodic TAU the network granted")
    if network is not None and network.edrx_cycle is not None:
        edrx = Operand("eDRX", network.edrx_cycle, "eDRX cycle the network granted")
    servers = instances_in(values, SERVER)
    own = servers[0] if len(servers) == 1 else None
    pmin, pmax = (
        default_periods(values, own)
        if own is not None
        else (Operand("pmin", None, "/1/x/2 not read"), Operand("pmax", None, "/1/x/3 not read"))
    )
    rates = rate_controls(values, own, instances_in(values, APN))
    lifetime = lifetime_operand(registration.lifetime, "registration")

    def evaluate(scope: str, pmin: Operand, pmax: Operand) -> Iterator[TimerCheck]:
        return rules(
            scope, t3412=t3412, lifetime=lifetime, pmin=pmin, pmax=pmax, edrx=edrx, rates=rates
        )

    checks = list(evaluate("registration", pmin, pmax))
    defaults = NotificationAttributes(
        pmin=None if pmin.seconds is None else int(pmin.seconds),
        pmax=None if pmax.seconds is None else int(pmax.seconds),
    )
    for path in sorted(attributes):
        effective = effective_attributes(path, attributes, defaults)
        node_pmin = _period("pmin", path, attributes, effective.pmin, pmin)
        node_pmax = _period("pmax", path, attributes, effective.pmax, pmax)
        checks.extend(
            check
            for check in evaluate(f"{path} attributes", node_pmin, node_pmax)
            if _PERIODS & {check.left.name, check.right.name}  # T3412 > lifetime is not theirs
        )
    return (check for check in checks if check.outcome is Outcome.FAIL)


def _period(
    name: str,
    path: Path,
    attributes: Mapping[Path, NotificationAttributes],
    value: object,
    default: Operand,
) -> Operand:
    """The operand for an effective pmin or pmax, naming the node it was written on."""
    if not isinstance(value, int):
        return Operand(name, None, f"no {name} at {path}")
    for depth in range(path.depth, 0, -1):
        node = Path(path.ids[:depth])
        level = attributes.get(node)
        if level is not None and isinstance(getattr(level, name), int):
            return Operand(name, float(value), f"{name} attribute of {node}")
    return default
