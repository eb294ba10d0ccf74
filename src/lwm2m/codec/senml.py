"""SenML (RFC 8428) as LwM2M uses it (Core 1.1 §7.4.4-7.4.5): what JSON and CBOR share.

The representations carry the same records and differ only in how fields are labelled and how
opaque data travels, which :class:`Labels` captures.  Everything else lives here once: base name
and base time resolution (RFC 8428 §4.5), typing values against the object model, building nodes,
and the compact ``bn`` layout encoders emit.  The legacy LwM2M 1.0 JSON format (11543) is the
same record model under other labels and reuses all of it.  How fields map to typed values
(:class:`Labels`, the converters) is :mod:`lwm2m.codec.senml_values`; this module resolves,
checks and lays out the records.

Decoding is the hot path (a server decodes every notification), so it works on the raw
dicts a parser returns, typing each value once against a per-object plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from lwm2m.codec.base import Codec
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.senml_values import (
    CONVERSION_ERRORS,
    Label,
    Labels,
    Plan,
    kind_name,
    number,
    typed_value,
    untyped_value,
    wire_value,
)
from lwm2m.codec.values import checked_type
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    Node,
    Path,
    PathError,
    TimestampedValues,
    Value,
    node_to_values,
    nodes,
)
from lwm2m.model.values import INT64_MAX, INT64_MIN

__all__ = [  # with what the formats import from senml_values, so their imports stay
    "CONVERSION_ERRORS",
    "RELATIVE_TIME_LIMIT",
    "Clock",
    "Label",
    "Labels",
    "Leaf",
    "Record",
    "SenmlCodec",
    "batch_records",
    "build_node",
    "check_timestamp",
    "check_value",
    "finite_number",
    "layout_records",
    "leaves_to_batches",
    "leaves_to_values",
    "multiplicity_problem",
    "name_to_path",
    "node_records",
    "resolve",
    "resolve_names",
    "time_number",
    "to_items",
    "typed_value",
    "value_records",
]

RELATIVE_TIME_LIMIT = 2**28
"""Resolved times below this are relative to now (RFC 8428 §4.5.3); encoders refuse them."""

Clock = Callable[[], float]
Leaf: TypeAlias = nodes.Leaf
"""A resolved record: full path, absolute time (None: "now", no time given) and typed value."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record as an encoder lays it out; None fields are left out of the output."""

    bn: str | None = None
    bt: float | None = None
    n: str | None = None
    t: float | None = None
    value: Value | None = None


# --- decoding -------------------------------------------------------------------------------


_PATHS: dict[str, Path] = {}
_PATHS_MAX = 4096


def name_to_path(name: str, index: int) -> Path:
    """Record ``index``'s resolved name as an LwM2M path (names are absolute paths, Core 7.4.4).

    Parsed paths are memoised: a server sees the same few hundred names over and over.
    """
    path = _PATHS.get(name)
    if path is None:
        try:
            path = Path.parse(name)
        except PathError as exc:
            raise DecodeError(
                f"record {index}: name {name!r:.80} is not an LwM2M path ({exc})"
            ) from None
        if len(_PATHS) >= _PATHS_MAX:
            _PATHS.clear()
        _PATHS[name] = path
    return path


def finite_number(raw: object, what: str) -> float:
    if type(raw) is int or type(raw) is float:
        try:
            number = float(raw)
        except OverflowError:  # an integer past 1.8e308
            number = math.inf
        if math.isfinite(number):
            return number
    raise DecodeError(f"{what} is not a finite number: {raw!r:.40}")


def time_number(seconds: float, what: str) -> float:
    """``seconds`` if it is a time the model can hold (within int64 seconds, as Core Appendix
    C's Time), else a DecodeError: a sum of two finite times may still overflow."""
    if INT64_MIN <= seconds <= INT64_MAX:
        return seconds
    raise DecodeError(f"{what} {seconds:g} is outside the int64 seconds a time can hold")


def _check_fields(item: Mapping[object, object], labels: Labels, expected: Label) -> None:
    """Reject what the fast path skipped: a second value or a must-understand field."""
    for key in item:
        if key in labels.value_labels and key != expected:
            raise ValueError(f"unexpected value field {key!r}")
        if type(key) is str and key.endswith("_"):
            raise ValueError(f"field {key!r} must be understood (RFC 8428 §4.4)")


def resolve(
    items: object,
    labels: Labels,
    models: ModelRegistry,
    clock: Clock,
    *,
    base_name: str = "",
    base_time: float = 0.0,
    relative_below: float = RELATIVE_TIME_LIMIT,
) -> list[Leaf]:
    """Resolve a pack's records to typed leaves (RFC 8428 §4.5, Core 7.4.4).

    ``base_name``/``base_time`` seed the resolution for formats that carry them outside the
    records.  A resolved time below ``relative_below`` (other than 0, which means no time) is
    relative to ``clock()``: RFC 8428 says below 2**28; LwM2M 1.0 JSON, whose ``bt`` is an
    absolute time, only counts negative results as relative.  Every record must name a
    resource or resource instance and carry one value of the type the model gives it (any
    SenML type where there is no model).
    """
    if type(items) is not list:
        raise DecodeError(f"a {labels.format} pack is an array of records, got {kind_name(items)}")
    bn_label, bt_label, n_label, t_label = labels.bn, labels.bt, labels.n, labels.t
    plans_for = labels.plans_for
    base, base_t = base_name, base_time
    last_object = -1
    plans: dict[int, Plan] = {}
    leaves: list[Leaf] = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise DecodeError(f"record {index} is not a map but {kind_name(item)}")
        raw = item.get(n_label)
        if len(item) == 2 and type(raw) is str:
            # The usual {name, value} record: no base fields or time to look for.
            known = 2
            path = _PATHS.get(base + raw) or name_to_path(base + raw, index)
            resolved = base_t
        else:
            known = 1  # the value
            name = item.get(bn_label)
            if name is not None:
                if type(name) is not str:
                    raise DecodeError(f"record {index}: base name is not a string")
                base = name
                known += 1
            if raw is None:
                name = base
            elif type(raw) is str:
                name = base + raw
                known += 1
            else:
                raise DecodeError(f"record {index}: name is not a string")
            path = _PATHS.get(name) or name_to_path(name, index)
            raw = item.get(bt_label)
            if raw is not None:
                base_t = time_number(
                    finite_number(raw, f"record {index}: base time"), f"record {index}: base time"
                )
                known += 1
            raw = item.get(t_label)
            if raw is None:
                resolved = base_t
            else:
                what = f"record {index}: time"
                resolved = time_number(base_t + finite_number(raw, what), what)
                known += 1
        ids = path.ids
        if len(ids) < 3:
            raise DecodeError(f"record {index} names no resource", path=path)
        if ids[0] != last_object:
            last_object = ids[0]
            model = models.get(last_object)
            plans = plans_for(model) if model is not None else {}
        plan = plans.get(ids[2])
        try:
            if plan is None:
                label, value = untyped_value(item, labels)
            else:
                depth, label, same, convert, resource = plan
                if len(ids) != depth:
                    problem = multiplicity_problem(resource.multiple, len(ids))
                    raise ValueError(problem or "an executable resource carries no value")
                raw = item.get(label)
                if raw is None:
                    raise ValueError(f"no {label!r} for a {resource.type.value} resource")
                # A raw value of type ``same`` is its typed value already.
                value = raw if type(raw) is same else convert(raw)  # type: ignore[assignment]
            if len(item) != known:
                _check_fields(item, labels, label)
        except CONVERSION_ERRORS as exc:
            raise DecodeError(f"record {index}: {exc}", path=path) from None
        if resolved == 0.0:
            leaves.append((path, None, value))
        elif resolved < relative_below:
            leaves.append((path, clock() + resolved, value))
        else:
            leaves.append((path, resolved, value))
    return leaves


def resolve_names(items: object, labels: Labels) -> list[Path]:
    """Paths of a Read-/Observe-Composite body: records with names and no values (Core 6.3.x)."""
    if type(items) is not list:
        raise DecodeError(f"a {labels.format} pack is an array of records, got {kind_name(items)}")
    base = ""
    paths: list[Path] = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise DecodeError(f"record {index} is not a map but {kind_name(item)}")
        raw_base = item.get(labels.bn)
        if raw_base is not None:
            if type(raw_base) is not str:
                raise DecodeError(f"record {index}: base name is not a string")
            base = raw_base
        raw = item.get(labels.n, "")
        if type(raw) is not str:
            raise DecodeError(f"record {index}: name is not a string")
        if any(label in item for label in labels.value_labels):
            raise DecodeError(f"record {index}: a path list carries no values")
        paths.append(name_to_path(base + raw, index))
    return paths


def leaves_to_values(leaves: Iterable[Leaf]) -> dict[Path, Value]:
    """Composite values; a path given twice is an error, not a silent overwrite."""
    values: dict[Path, Value] = {}
    for path, _, value in leaves:
        if path in values:
            raise DecodeError("value given twice", path=path)
        values[path] = value
    return values


def leaves_to_batches(leaves: Iterable[Leaf]) -> list[TimestampedValues]:
    """Consecutive records with the same resolved time make one batch (Send, Core 6.4.x)."""
    batches: list[TimestampedValues] = []
    current: dict[Path, Value] = {}
    current_time: float | None = None
    for path, when, value in leaves:
        if not current or when != current_time:
            current = {}
            current_time = when
            batches.append(TimestampedValues(when, current))
        if path in current:
            raise DecodeError("value given twice for one time", path=path)
        current[path] = value
    return batches


def build_node(path: Path, leaves: Sequence[Leaf], models: ModelRegistry) -> Node:
    """The node at ``path`` from resolved leaves under it (times are dropped).

    :func:`resolve` has held every leaf to the model, so the tree is built unchecked.
    """
    ids = path.ids
    if not leaves and len(ids) >= 3:
        if len(ids) == 3 and models.is_multiple(ids[0], ids[2]):
            return MultipleResource(ids[2], {})
        raise DecodeError("no value for the target", path=path)
    try:
        return nodes.leaves_to_node(path, leaves)
    except PathError as exc:
        outside = next((leaf for leaf, _, _ in leaves if not leaf.startswith(path)), None)
        message = str(exc) if outside is None else f"record for {outside} is outside the target"
        raise DecodeError(message, path=path) from None


# --- encoding -------------------------------------------------------------------------------


def multiplicity_problem(multiple: bool, depth: int) -> str | None:
    """Why a value at ``depth`` does not fit a (non-)multiple resource, or None if it does."""
    if multiple and depth != 4:
        return "a multiple resource needs instance IDs"
    if not multiple and depth == 4:
        return "a single resource has no instances"
    return None


def check_value(path: Path, value: Value, models: ModelRegistry) -> None:
    """EncodeError when the model gives ``path`` a type ``value`` does not have."""
    resource = models.resource(path)
    try:
        problem = resource and multiplicity_problem(resource.multiple, path.depth)
        if problem:
            raise ValueError(problem)
        checked_type(resource, value)
    except ValueError as exc:
        raise EncodeError(str(exc), path=path) from None


def check_timestamp(timestamp: float | None) -> None:
    if timestamp is not None and not (
        math.isfinite(timestamp) and timestamp >= RELATIVE_TIME_LIMIT
    ):
        raise EncodeError(
            f"timestamp {timestamp} is not an absolute time (>= 2^28 s, RFC 8428 §4.5.3)"
        )


def node_records(path: Path, node: Node, models: ModelRegistry) -> list[Record]:
    """Records for a node: one base name (the target path) and short relative names.

    A leaf target is the base name itself, with no name, as in the Core 7.4.4 examples.
    """
    values = node_to_values(path, node)
    base = str(path) if path in values else f"{path}/"
    return layout_records(((leaf, value) for leaf, value in values.items()), lambda _: base, models)


def _instance_base(path: Path) -> str:
    return f"/{path.ids[0]}/{path.ids[1]}/"


def value_records(values: Mapping[Path, Value], models: ModelRegistry) -> list[Record]:
    """Records for composite values: a new base name per object instance."""
    return layout_records(values.items(), _instance_base, models)


def batch_records(batches: Sequence[TimestampedValues], models: ModelRegistry) -> list[Record]:
    """Records for timestamped batches: each batch opens with its time as the base time.

    A batch without a time after a timed one resets the base time to 0 ("now").
    """
    records: list[Record] = []
    base_time: float | None = None
    for batch in batches:
        check_timestamp(batch.timestamp)
        if not batch.values:
            raise EncodeError("a timestamped batch needs at least one value")
        added = layout_records(batch.values.items(), _instance_base, models, records)
        if batch.timestamp != base_time and (batch.timestamp is not None or base_time):
            base_time = batch.timestamp
            first = added[0]
            added[0] = Record(first.bn, base_time or 0.0, first.n, None, first.value)
        records.extend(added)
    return records


def layout_records(
    values: Iterable[tuple[Path, Value]],
    base_of: Callable[[Path], str],
    models: ModelRegistry,
    before: Sequence[Record] = (),
) -> list[Record]:
    """Checked records with a base name wherever ``base_of`` changes (after ``before``)."""
    records: list[Record] = []
    current = next((r.bn for r in reversed(before) if r.bn is not None), None)
    for path, value in values:
        if path.depth < 3:
            raise EncodeError("only resources and resource instances carry values", path=path)
        check_value(path, value, models)
        base = base_of(path)
        name = str(path)[len(base) :] or None
        records.append(Record(bn=base if base != current else None, n=name, value=value))
        current = base
    return records


def to_items(records: Iterable[Record], labels: Labels) -> list[dict[Label, object]]:
    """Records as the dicts a JSON or CBOR writer serialises, in spec field order."""
    items: list[dict[Label, object]] = []
    for record in records:
        item: dict[Label, object] = {}
        if record.bn is not None and labels.bn is not None:
            item[labels.bn] = record.bn
        if record.bt is not None and labels.bt is not None:
            item[labels.bt] = number(record.bt)
        if record.n is not None:
            item[labels.n] = record.n
        if record.t is not None:
            item[labels.t] = number(record.t)
        value = record.value
        if value is not None:
            label, raw = wire_value(value, labels)
            item[label] = raw
        items.append(item)
    return items


# --- the codec ------------------------------------------------------------------------------


class SenmlCodec(Codec):
    """SenML JSON or CBOR: every operation, over a format's ``_load``/``_dump`` and labels.

    ``clock`` resolves relative times (RFC 8428 §4.5.3) to absolute ones when decoding.
    """

    labels: Labels

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def _load(self, payload: bytes) -> object:
        raise NotImplementedError

    def _dump(self, items: list[dict[Label, object]]) -> bytes:
        raise NotImplementedError

    def _leaves(self, payload: bytes, models: ModelRegistry) -> list[Leaf]:
        return resolve(self._load(payload), self.labels, models, self._clock)

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        return self._dump(to_items(node_records(path, node, models), self.labels))

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        return build_node(path, self._leaves(payload, models), models)

    def encode_values(self, values: Mapping[Path, Value], models: ModelRegistry) -> bytes:
        return self._dump(to_items(value_records(values, models), self.labels))

    def decode_values(self, payload: bytes, models: ModelRegistry) -> dict[Path, Value]:
        return leaves_to_values(self._leaves(payload, models))

    def encode_timestamped(
        self, batches: Sequence[TimestampedValues], models: ModelRegistry
    ) -> bytes:
        return self._dump(to_items(batch_records(batches, models), self.labels))

    def decode_timestamped(self, payload: bytes, models: ModelRegistry) -> list[TimestampedValues]:
        return leaves_to_batches(self._leaves(payload, models))

    def encode_paths(self, paths: Sequence[Path]) -> bytes:
        return self._dump(to_items((Record(n=str(path)) for path in paths), self.labels))

    def decode_paths(self, payload: bytes) -> list[Path]:
        return resolve_names(self._load(payload), self.labels)
