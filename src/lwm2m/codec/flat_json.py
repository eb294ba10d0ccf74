"""The flat JSON view of values: ``{"/3/0/0": "Example Corp", "/3/0/7/0": 3800}``.

The ``lwm2m decode``/``encode`` commands and the REST API show values this way.  JSON has no
opaque or object-link type, so opaque travels as base64 text and objlnk as ``"o:i"``, nor a
NaN or infinity literal, so those floats travel as ``"nan"``, ``"inf"`` and ``"-inf"``; the
model says which one a string is when it comes back in.  What comes in is held to the model
like any decoded payload: integers within 64 bits, strings of Unicode scalar values.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping

from lwm2m.codec.errors import DecodeError
from lwm2m.model import ModelRegistry, ObjectLink, Path, PathError, ResourceType, Value
from lwm2m.model.values import INT64_MIN, UINT64_MAX, text_problem, value_problem

JsonScalar = str | int | float | bool | None


def value_to_json(value: Value) -> JsonScalar:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, ObjectLink):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity literal
    return value


def values_to_json(values: Mapping[Path, Value]) -> dict[str, JsonScalar]:
    return {str(path): value_to_json(value) for path, value in sorted(values.items())}


def values_from_json(data: object, models: ModelRegistry) -> dict[Path, Value]:
    """Typed values from a flat JSON object, converted as the model's resource types say."""
    if not isinstance(data, dict):
        raise DecodeError("expected a JSON object mapping paths to values")
    out: dict[Path, Value] = {}
    for key, raw in data.items():
        try:
            path = Path.parse(key)
        except PathError as exc:
            raise DecodeError(str(exc)) from None
        if path.depth < 3:
            raise DecodeError("values belong to resources or resource instances", path=path)
        resource = models.resource(path)
        out[path] = value_from_json(raw, resource.type if resource is not None else None, path)
    return out


def value_from_json(raw: object, resource_type: ResourceType | None, path: Path) -> Value:
    """One JSON value as a typed value; with no model the JSON type decides."""
    if resource_type is None:
        problem = _untyped_problem(raw)
        if problem is not None:
            raise DecodeError(problem, path=path)
        assert isinstance(raw, (str, int, float, bool))
        return raw
    try:
        value = _CONVERTERS[resource_type](raw)
    except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
        raise DecodeError(
            f"{raw!r:.40} is not a valid {resource_type.value} ({exc})", path=path
        ) from None
    problem = value_problem(resource_type, value)
    if problem is not None:
        raise DecodeError(problem, path=path)
    return value


def _untyped_problem(raw: object) -> str | None:
    """Why a value for a resource with no model is none the model could hold, or None."""
    if isinstance(raw, str):
        return text_problem(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return None if INT64_MIN <= raw <= UINT64_MAX else f"integer {raw} is beyond 64 bits"
    return None if isinstance(raw, (float, bool)) else f"unsupported JSON value {raw!r:.40}"


def _to_int(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError("expected a JSON integer")
    return raw


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
"""The strings :func:`value_to_json` spells non-finite floats with."""


def _to_float(raw: object) -> float:
    if isinstance(raw, str) and raw in _NON_FINITE:
        return _NON_FINITE[raw]
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise TypeError("expected a JSON number")
    return float(raw)  # OverflowError past 1.8e308


def _to_bool(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise TypeError("expected true or false")
    return raw


def _to_str(raw: object) -> str:
    if not isinstance(raw, str):
        raise TypeError("expected a JSON string")
    return raw


def _to_bytes(raw: object) -> bytes:
    return base64.b64decode(_to_str(raw), validate=True)


def _to_objlnk(raw: object) -> ObjectLink:
    return ObjectLink.parse(_to_str(raw))


def _no_value(raw: object) -> Value:
    raise ValueError("executable resources have no value")


_CONVERTERS: dict[ResourceType, Callable[[object], Value]] = {
    ResourceType.STRING: _to_str,
    ResourceType.CORELNK: _to_str,
    ResourceType.INTEGER: _to_int,
    ResourceType.TIME: _to_int,
    ResourceType.UNSIGNED_INTEGER: _to_int,
    ResourceType.FLOAT: _to_float,
    ResourceType.BOOLEAN: _to_bool,
    ResourceType.OPAQUE: _to_bytes,
    ResourceType.OBJLNK: _to_objlnk,
    ResourceType.NONE: _no_value,
}
