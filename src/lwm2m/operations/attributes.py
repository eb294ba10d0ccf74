"""Notification attributes (Core 5.1.2): Uri-Query form, validation and inheritance.

Each field is ``None`` (not mentioned), a value, or :data:`UNSET`: Write-Attributes names an
attribute without a value to remove it (Core 5.4.4, Transport 6.3), so a write is a change set
that :meth:`NotificationAttributes.updated` applies to what is stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import Enum

from lwm2m.coap.codes import Code
from lwm2m.model import ModelRegistry, Path, ResourceType
from lwm2m.operations.errors import OperationError


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET
"""Remove the attribute: ``?pmin`` in a Write-Attributes query."""

MAX_PERIOD = 2**31 - 1
"""Largest pmin/pmax/epmin/epmax/hqmax we accept, in seconds (about 68 years)."""

NUMERIC_TYPES = frozenset({ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.FLOAT})
"""Resource types gt, lt and st may be attached to (Core 5.1.2: numerical resources only)."""

_VALUE_ATTRIBUTES = frozenset({"gt", "lt", "st"})


@dataclass(frozen=True, slots=True)
class NotificationAttributes:
    """The <NOTIFICATION> class attributes; ``edge``, ``con`` and ``hqmax`` are LwM2M 1.2."""

    pmin: int | Unset | None = None
    pmax: int | Unset | None = None
    gt: float | Unset | None = None
    lt: float | Unset | None = None
    st: float | Unset | None = None
    epmin: int | Unset | None = None
    epmax: int | Unset | None = None
    edge: bool | Unset | None = None
    con: bool | Unset | None = None
    hqmax: int | Unset | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def updated(self, change: NotificationAttributes) -> NotificationAttributes:
        """These attributes after a Write-Attributes ``change`` (UNSET removes, None keeps)."""
        new = {}
        for f in fields(change):
            value = getattr(change, f.name)
            if value is not None:
                new[f.name] = None if value is UNSET else value
        return replace(self, **new)

    def overridden_by(self, other: NotificationAttributes) -> NotificationAttributes:
        """These attributes with every value ``other`` sets taking precedence."""
        new = {f.name: getattr(other, f.name) for f in fields(other)}
        return replace(self, **{k: v for k, v in new.items() if v is not None and v is not UNSET})

    def to_query(self) -> tuple[str, ...]:
        """Uri-Query options: ``pmin=10``, or a bare ``pmin`` for UNSET."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is UNSET:
                out.append(f.name)
            elif value is not None:
                out.append(f"{f.name}={_FORMATTERS[f.name](value)}")
        return tuple(out)

    @classmethod
    def from_query(cls, query: Iterable[str]) -> NotificationAttributes:
        """Parse Uri-Query options; unknown, repeated or malformed attributes are 4.00."""
        values: dict[str, object] = {}
        for item in query:
            name, eq, text = item.partition("=")
            parser = _PARSERS.get(name)
            if parser is None:
                raise OperationError(Code.BAD_REQUEST, f"unknown attribute {name!r:.40}")
            if name in values:
                raise OperationError(Code.BAD_REQUEST, f"attribute {name} given twice")
            if not eq:
                values[name] = UNSET
                continue
            value = parser(text)
            if value is None:
                raise OperationError(Code.BAD_REQUEST, f"bad value for {name}: {text!r:.40}")
            values[name] = value
        return cls(**values)  # type: ignore[arg-type]

    def check(self, path: Path, models: ModelRegistry | None = None) -> None:
        """Raise 4.00 unless these attributes may sit on ``path`` together (Core 5.1.2).

        Rules: gt/lt/st only on numerical resources (or their instances); pmin <= pmax;
        epmin <= epmax; lt < gt; lt + 2*st < gt; st >= 0.  UNSET values are ignored.
        """
        given = {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}
        if path.is_root and given:
            raise OperationError(Code.BAD_REQUEST, "attributes cannot be attached to /")
        value_attrs = _VALUE_ATTRIBUTES & {k for k, v in given.items() if v is not UNSET}
        if value_attrs:
            if path.depth < 3:
                raise OperationError(
                    Code.BAD_REQUEST, f"{', '.join(sorted(value_attrs))} need a resource path"
                )
            resource = models.resource(path) if models is not None else None
            if resource is not None and resource.type not in NUMERIC_TYPES:
                raise OperationError(
                    Code.BAD_REQUEST, f"{path} is {resource.type.value}, not numerical"
                )
        set_ = {k: v for k, v in given.items() if v is not UNSET}
        _ordered(set_, "pmin", "pmax")
        _ordered(set_, "epmin", "epmax")
        st = set_.get("st")
        if isinstance(st, float | int) and st < 0:
            raise OperationError(Code.BAD_REQUEST, f"st={st} is negative")
        gt, lt = set_.get("gt"), set_.get("lt")
        if isinstance(gt, float | int) and isinstance(lt, float | int):
            step = st if isinstance(st, float | int) else 0
            if not lt + 2 * step < gt:
                raise OperationError(
                    Code.BAD_REQUEST, f"need lt + 2*st < gt, got lt={lt} st={step} gt={gt}"
                )


NO_ATTRIBUTES = NotificationAttributes()


def _ordered(values: Mapping[str, object], low: str, high: str) -> None:
    lo, hi = values.get(low), values.get(high)
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        raise OperationError(Code.BAD_REQUEST, f"{low}={lo} exceeds {high}={hi}")


def effective_attributes(
    path: Path,
    assigned: Mapping[Path, NotificationAttributes],
    defaults: NotificationAttributes = NO_ATTRIBUTES,
) -> NotificationAttributes:
    """The attributes in force at ``path``: the most specific level wins (Core 5.1.1).

    Precedence, weakest first: ``defaults`` (the Server object's Default Minimum/Maximum
    Period, /1/x/2 and /1/x/3), then what is assigned to the object, the object instance, the
    resource and the resource instance on the way down to ``path``.
    """
    result = defaults
    for depth in range(1, path.depth + 1):
        level = assigned.get(Path(path.ids[:depth]))
        if level is not None:
            result = result.overridden_by(level)
    return result


_INT = re.compile(r"[0-9]{1,10}")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def _parse_period(text: str) -> int | None:
    if not _INT.fullmatch(text) or int(text) > MAX_PERIOD:
        return None
    return int(text)


def _parse_float(text: str) -> float | None:
    if len(text) > 40 or not _FLOAT.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _parse_flag(text: str) -> bool | None:
    return {"0": False, "1": True}.get(text)


def _format_number(value: object) -> str:
    return repr(value)


def _format_flag(value: object) -> str:
    return "1" if value else "0"


_PARSERS: dict[str, Callable[[str], object]] = {
    "pmin": _parse_period,
    "pmax": _parse_period,
    "gt": _parse_float,
    "lt": _parse_float,
    "st": _parse_float,
    "epmin": _parse_period,
    "epmax": _parse_period,
    "edge": _parse_flag,
    "con": _parse_flag,
    "hqmax": _parse_period,
}

_FORMATTERS: dict[str, Callable[[object], str]] = {
    name: _format_flag if name in ("edge", "con") else _format_number for name in _PARSERS
}
