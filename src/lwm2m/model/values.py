"""Typed resource values as device code and codecs see them.

Each LwM2M data type maps to one Python type, so a value never needs a content format to be
understood: string and corelnk are ``str``, integer, unsigned integer and time (seconds since the
Unix epoch) are ``int``, float is ``float``, boolean is ``bool``, opaque is ``bytes`` and objlnk
is :class:`ObjectLink`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from lwm2m.model.path import MAX_ID


class ResourceType(Enum):
    STRING = "string"
    INTEGER = "integer"
    UNSIGNED_INTEGER = "unsigned integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    OPAQUE = "opaque"
    TIME = "time"
    OBJLNK = "objlnk"
    CORELNK = "corelnk"
    NONE = "none"


@dataclass(frozen=True, slots=True, order=True)
class ObjectLink:
    """An objlnk value: ``object_id:instance_id``; ``65535:65535`` is the null link."""

    object_id: int
    instance_id: int

    def __post_init__(self) -> None:
        if not (0 <= self.object_id <= MAX_ID and 0 <= self.instance_id <= MAX_ID):
            raise ValueError(f"object link {self.object_id}:{self.instance_id} out of range")

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"

    @classmethod
    def parse(cls, text: str) -> ObjectLink:
        match = _OBJLNK.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not an object link 'o:i'")
        return cls(int(match[1]), int(match[2]))

    @property
    def is_null(self) -> bool:
        return self.object_id == MAX_ID and self.instance_id == MAX_ID


_OBJLNK = re.compile(r"([0-9]{1,5}):([0-9]{1,5})")

Value = str | int | float | bool | bytes | ObjectLink
"""A resource (instance) value; see the module docstring for the type mapping."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

PYTHON_TYPES: dict[ResourceType, tuple[type, ...]] = {
    ResourceType.STRING: (str,),
    ResourceType.CORELNK: (str,),
    ResourceType.INTEGER: (int,),
    ResourceType.UNSIGNED_INTEGER: (int,),
    ResourceType.TIME: (int,),
    ResourceType.FLOAT: (float, int),
    ResourceType.BOOLEAN: (bool,),
    ResourceType.OPAQUE: (bytes,),
    ResourceType.OBJLNK: (ObjectLink,),
    ResourceType.NONE: (),
}


def value_problem(resource_type: ResourceType, value: object) -> str | None:
    """Why ``value`` cannot be a value of ``resource_type``, or None when it can."""
    allowed = PYTHON_TYPES[resource_type]
    # bool is an int subclass: keep the two apart in both directions.
    if isinstance(value, bool) != (resource_type is ResourceType.BOOLEAN) or not isinstance(
        value, allowed
    ):
        return f"expected {resource_type.value}, got {type(value).__name__} {value!r:.60}"
    if resource_type in (ResourceType.INTEGER, ResourceType.TIME):
        assert isinstance(value, int)
        if not INT64_MIN <= value <= INT64_MAX:
            return f"integer {value} does not fit in 64 bits"
    elif resource_type is ResourceType.UNSIGNED_INTEGER:
        assert isinstance(value, int)
        if not 0 <= value <= UINT64_MAX:
            return f"unsigned integer {value} is outside 0..2^64-1"
    elif resource_type in (ResourceType.STRING, ResourceType.CORELNK):
        assert isinstance(value, str)
        return text_problem(value)
    return None


_RANGE = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)\.\.(-?[0-9]+(?:\.[0-9]+)?)( bytes)?")
_NUMERIC = (ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.FLOAT)
_SIZED = (ResourceType.STRING, ResourceType.OPAQUE)


def range_problem(resource_type: ResourceType, value_range: str, value: Value) -> str | None:
    """Why ``value`` (already of ``resource_type``) is outside the model's ``a..b`` range, a
    length for strings and opaque; None when it is inside or the range is not of that form."""
    match = _RANGE.fullmatch(value_range)
    if match is None:
        return None
    low, high = float(match[1]), float(match[2])
    if resource_type in _NUMERIC:
        assert isinstance(value, (int, float))
        if not low <= value <= high:
            return f"{value} is outside {value_range}"
    elif resource_type in _SIZED:
        assert isinstance(value, (str, bytes))
        if not low <= len(value) <= high:
            return f"length {len(value)} is outside {value_range}"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` is not a sequence of Unicode scalar values (it holds a lone surrogate,
    which JSON's ``\\uXXXX`` escapes can produce and UTF-8 cannot carry), or None."""
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return f"string holds the lone surrogate U+{ord(found[0]):04X} at character {found.start()}"
