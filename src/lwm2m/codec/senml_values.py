"""How SenML record fields map to typed LwM2M values and back: the :class:`Labels` a
representation spells its fields with, the per-object :data:`Plan` that types each record
once, and the converters behind it.  Split from :mod:`lwm2m.codec.senml`, which resolves and
lays out the records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from lwm2m.model import ObjectLink, ObjectModel, ResourceModel, ResourceType, Value
from lwm2m.model.values import INT64_MAX, INT64_MIN, UINT64_MAX

Label = str | int
Plan = tuple[int, Label, type | None, Callable[[object], Value], ResourceModel]
"""How to read a resource's records: depth its paths must have (0 for an executable resource,
which no record fits), value label, the raw type that already is the typed value (no call
needed), converter, and the model for messages."""
_PLANS_MAX = 1024


@dataclass(frozen=True, slots=True)
class Labels:
    """How one representation spells each record field.

    ``bn``/``bt`` are None where records never carry them (LwM2M 1.0 JSON keeps them outside
    the record array).  ``vd`` may equal ``vs``: 1.0 JSON sends opaque as base64 in ``sv`` and
    only the model tells the two apart.
    """

    format: str
    bn: Label | None
    bt: Label | None
    n: Label
    t: Label
    v: Label
    vs: Label
    vb: Label
    vd: Label
    vlo: Label
    opaque_in: Callable[[object], bytes]
    opaque_out: Callable[[bytes], object]
    by_type: dict[ResourceType, Label] = field(init=False, repr=False, compare=False)
    value_labels: frozenset[Label] = field(init=False, repr=False, compare=False)
    plans: dict[int, tuple[ObjectModel, dict[int, Plan]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_type: dict[ResourceType, Label] = {
            ResourceType.STRING: self.vs,
            ResourceType.CORELNK: self.vs,
            ResourceType.INTEGER: self.v,
            ResourceType.UNSIGNED_INTEGER: self.v,
            ResourceType.FLOAT: self.v,
            ResourceType.TIME: self.v,
            ResourceType.BOOLEAN: self.vb,
            ResourceType.OPAQUE: self.vd,
            ResourceType.OBJLNK: self.vlo,
        }
        object.__setattr__(self, "by_type", by_type)
        values = frozenset((self.v, self.vs, self.vb, self.vd, self.vlo))
        object.__setattr__(self, "value_labels", values)
        object.__setattr__(self, "plans", {})

    def plans_for(self, model: ObjectModel) -> dict[int, Plan]:
        """How to read each resource's records: resource ID -> :data:`Plan`.

        Memoised per object model by identity (the entry holds the model, so its id stays
        unique): hashing the ResourceType enum per record costs more than reading the record.
        Object models are treated as immutable once registered.
        """
        entry = self.plans.get(id(model))
        if entry is not None and entry[0] is model:
            return entry[1]
        if len(self.plans) >= _PLANS_MAX:
            self.plans.clear()
        plans = {
            rid: (
                0 if resource.type is ResourceType.NONE else 4 if resource.multiple else 3,
                self.by_type.get(resource.type, self.v),  # never read for NONE
                _SAME.get(resource.type),
                self.opaque_in
                if resource.type is ResourceType.OPAQUE
                else CONVERTERS[resource.type],
                resource,
            )
            for rid, resource in model.resources.items()
        }
        self.plans[id(model)] = (model, plans)
        return plans


# --- values ---------------------------------------------------------------------------------


def kind_name(raw: object) -> str:
    return type(raw).__name__


def _as_str(raw: object) -> Value:
    if type(raw) is str:
        return raw
    raise TypeError(f"expected a string, got {kind_name(raw)}")


def _integral(raw: object) -> int:
    if type(raw) is int:
        return raw
    if type(raw) is float and raw.is_integer():
        return int(raw)
    if isinstance(raw, datetime):  # CBOR tag 0/1 (RFC 8949 §3.4.1), for time resources
        return _integral(raw.timestamp())
    raise TypeError(f"expected an integer, got {kind_name(raw)} {raw!r:.40}")


def _as_int(raw: object) -> Value:
    if type(raw) is int and INT64_MIN <= raw <= INT64_MAX:
        return raw
    value = _integral(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"integer {value} does not fit in 64 bits")
    return value


def _as_any_int(raw: object) -> Value:
    """An integer with no model: signed or unsigned, so anything from -2^63 to 2^64-1."""
    if type(raw) is int and INT64_MIN <= raw <= UINT64_MAX:
        return raw
    raise ValueError(f"integer {raw!r:.40} does not fit in 64 bits")


def _as_uint(raw: object) -> Value:
    value = _integral(raw)
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"unsigned integer {value} is outside 0..2^64-1")
    return value


def _as_float(raw: object) -> Value:
    if type(raw) is float:
        return raw
    if type(raw) is int:
        return float(raw)  # OverflowError past 1.8e308: the caller reports it
    raise TypeError(f"expected a number, got {kind_name(raw)}")


def _as_bool(raw: object) -> Value:
    if type(raw) is bool:
        return raw
    raise TypeError(f"expected a boolean, got {kind_name(raw)}")


def _as_objlnk(raw: object) -> Value:
    if type(raw) is str:
        return ObjectLink.parse(raw)
    raise TypeError(f"expected an object link 'o:i', got {kind_name(raw)}")


def _as_nothing(raw: object) -> Value:
    raise TypeError("an executable resource carries no value")


CONVERTERS: dict[ResourceType, Callable[[object], Value]] = {
    ResourceType.STRING: _as_str,
    ResourceType.CORELNK: _as_str,
    ResourceType.INTEGER: _as_int,
    ResourceType.TIME: _as_int,
    ResourceType.UNSIGNED_INTEGER: _as_uint,
    ResourceType.FLOAT: _as_float,
    ResourceType.BOOLEAN: _as_bool,
    ResourceType.OBJLNK: _as_objlnk,
    ResourceType.NONE: _as_nothing,
}
"""Raw parsed value -> typed value per resource type (opaque is per format); raise on mismatch."""

_SAME: dict[ResourceType, type] = {
    ResourceType.STRING: str,
    ResourceType.CORELNK: str,
    ResourceType.FLOAT: float,
    ResourceType.BOOLEAN: bool,
}
"""Types whose raw values need no conversion (integers do: their range is checked)."""

CONVERSION_ERRORS = (TypeError, ValueError, OverflowError)


def typed_value(
    raw: object, resource: ResourceModel, opaque_in: Callable[[object], bytes]
) -> Value:
    """The model's value for ``raw``; raises one of CONVERSION_ERRORS when it does not fit."""
    if resource.type is ResourceType.OPAQUE:
        return opaque_in(raw)
    return CONVERTERS[resource.type](raw)


def untyped_value(item: Mapping[object, object], labels: Labels) -> tuple[Label, Value]:
    """The value of a record whose resource has no model: the SenML field says the type."""
    found = [label for label in labels.value_labels if label in item]
    if len(found) != 1:
        raise ValueError("no value" if not found else f"several values {sorted(map(str, found))}")
    label = found[0]
    raw = item[label]
    if label == labels.v:
        return label, _as_any_int(raw) if type(raw) is int else _as_float(raw)
    if label == labels.vs:  # before vd: 1.0 JSON's "sv" is text unless the model says opaque
        return label, _as_str(raw)
    if label == labels.vd:
        return label, labels.opaque_in(raw)
    if label == labels.vlo:
        return label, _as_objlnk(raw)
    return label, _as_bool(raw)


# --- encoding -------------------------------------------------------------------------------


def number(value: float) -> int | float:
    """Integral times print without a fraction, as in the spec examples."""
    return int(value) if isinstance(value, int) or value.is_integer() else value


def wire_value(value: Value, labels: Labels) -> tuple[Label, object]:
    """The field and raw value a typed value travels as; the Python type decides."""
    if isinstance(value, bool):
        return labels.vb, value
    if isinstance(value, (int, float)):
        return labels.v, value
    if isinstance(value, str):
        return labels.vs, value
    if isinstance(value, bytes):
        return labels.vd, labels.opaque_out(value)
    return labels.vlo, str(value)
