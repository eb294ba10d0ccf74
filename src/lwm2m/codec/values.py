"""Typed values as every codec sees them: model look-ups, checks and the text forms.

Model policy, shared by all codecs so that every format answers the same way:

- *Decode is lenient about what the model does not know.*  A resource of an unknown object,
  or one its object model does not list, still decodes; each codec picks a ``fallback`` type
  that loses nothing (TLV and opaque: opaque bytes; plain text: string; CBOR: whatever the
  CBOR item says).  A device and a server rarely ship the same object versions.
- *Decode is strict about what the model does know.*  A value that does not fit the type the
  model declares, a value for an executable resource, or a single value where the model says
  the resource is multiple, is a :class:`DecodeError` naming the path.
- *Encode infers what the model does not know* from the Python type (:func:`infer_type`) and
  checks the value against the model otherwise, raising :class:`EncodeError`.

The text forms (:func:`value_to_text`, :func:`text_to_value`) are Core Appendix C's "Text"
column: plain text uses them directly and the SenML/JSON codecs use them for strings.
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.model import (
    ModelRegistry,
    Node,
    ObjectLink,
    Path,
    ResourceInstance,
    ResourceModel,
    ResourceType,
    SingleResource,
    Value,
)
from lwm2m.model.values import INT64_MAX, value_problem

__all__ = [
    "base64_to_opaque",
    "check_decoded",
    "checked_type",
    "decode_type",
    "encode_type",
    "infer_type",
    "leaf_node",
    "leaf_value",
    "opaque_to_base64",
    "require_single_value_path",
    "resource_model",
    "text_to_value",
    "value_to_text",
]


def resource_model(models: ModelRegistry, path: Path) -> ResourceModel | None:
    """The model of the resource ``path`` names (or whose instance it names), if known."""
    return models.resource(path)


def decode_type(models: ModelRegistry, path: Path, fallback: ResourceType) -> ResourceType:
    """The type to decode the value at ``path`` as: the model's, else ``fallback``."""
    model = models.resource(path)
    if model is None:
        return fallback
    if model.type is ResourceType.NONE:
        raise DecodeError("executable resource carries no value", path=path)
    return model.type


def infer_type(value: object) -> ResourceType:
    """The data type a Python value encodes as when no model says otherwise."""
    if isinstance(value, bool):
        return ResourceType.BOOLEAN
    if isinstance(value, int):
        return ResourceType.UNSIGNED_INTEGER if value > INT64_MAX else ResourceType.INTEGER
    if isinstance(value, float):
        return ResourceType.FLOAT
    if isinstance(value, str):
        return ResourceType.STRING
    if isinstance(value, bytes):
        return ResourceType.OPAQUE
    if isinstance(value, ObjectLink):
        return ResourceType.OBJLNK
    return ResourceType.NONE


def checked_type(model: ResourceModel | None, value: object) -> ResourceType:
    """The type to encode ``value`` as under ``model`` (None: inferred); ValueError if unfit.

    Codecs that walk many values call this and attach the path only when it fails.
    """
    resource_type = infer_type(value) if model is None else model.type
    if resource_type is ResourceType.NONE:
        what = "an executable resource" if model is not None else f"a {type(value).__name__}"
        raise ValueError(f"{what} cannot be encoded as a value")
    problem = value_problem(resource_type, value)
    if problem is not None:
        raise ValueError(problem)
    return resource_type


def encode_type(models: ModelRegistry, path: Path, value: object) -> ResourceType:
    """:func:`checked_type` for the resource at ``path``, failing with an EncodeError."""
    try:
        return checked_type(models.resource(path), value)
    except ValueError as exc:
        raise EncodeError(str(exc), path=path) from None


def check_decoded(resource_type: ResourceType, value: Value, path: Path) -> Value:
    """``value`` unchanged if it fits ``resource_type``; a DecodeError naming ``path`` if not."""
    problem = value_problem(resource_type, value)
    if problem is not None:
        raise DecodeError(problem, path=path)
    return value


def require_single_value_path(
    models: ModelRegistry, path: Path, error: type[DecodeError] | type[EncodeError]
) -> None:
    """Single-value formats (text, opaque, CBOR) carry one resource or resource instance only."""
    if path.depth == 4:
        return
    if path.depth != 3:
        raise error("a single-value format needs a resource or resource-instance path", path=path)
    if models.is_multiple(path.ids[0], path.ids[2]):
        raise error("a multiple resource needs a resource-instance path here", path=path)


def leaf_value(path: Path, node: Node) -> Value:
    """The value of the single resource or resource instance ``node`` encoded at ``path``."""
    expected = SingleResource if path.depth == 3 else ResourceInstance
    if not isinstance(node, expected) or node.id != path.ids[-1]:
        raise EncodeError(f"a single-value format needs a {expected.__name__} here", path=path)
    return node.value


def leaf_node(path: Path, value: Value) -> SingleResource | ResourceInstance:
    """The node a single value decoded at a resource or resource-instance ``path`` makes."""
    if path.depth == 3:
        return SingleResource(path.ids[2], value)
    return ResourceInstance(path.ids[3], value)


# -- text forms (Core Appendix C, "Text" column) ----------------------------------------------

_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_UNSIGNED = re.compile(r"[0-9]{1,20}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_MAX_FLOAT_TEXT = 400
"""Longer than any float needs (a float64 has 17 significant digits); bounds float()'s work."""


def value_to_text(resource_type: ResourceType, value: Value, path: Path) -> str:
    """The text form of an already checked ``value`` (see :func:`encode_type`)."""
    if resource_type is ResourceType.BOOLEAN:
        return "1" if value else "0"
    if resource_type is ResourceType.OPAQUE:
        assert isinstance(value, bytes)
        return opaque_to_base64(value)
    if resource_type is ResourceType.FLOAT:
        assert isinstance(value, (int, float))
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise EncodeError(f"{value!r:.40} has no text form as a float", path=path)
        return repr(number)
    return str(value)


def text_to_value(resource_type: ResourceType, text: str, path: Path) -> Value:
    """Parse the text form of a ``resource_type`` value; DecodeError naming ``path`` if bad."""
    if resource_type in (ResourceType.STRING, ResourceType.CORELNK):
        return text
    if resource_type in (ResourceType.INTEGER, ResourceType.TIME):
        if _INTEGER.fullmatch(text) is None:
            raise DecodeError(f"{text!r:.40} is not an integer", path=path)
        return check_decoded(resource_type, int(text), path)
    if resource_type is ResourceType.UNSIGNED_INTEGER:
        if _UNSIGNED.fullmatch(text) is None:
            raise DecodeError(f"{text!r:.40} is not an unsigned integer", path=path)
        return check_decoded(resource_type, int(text), path)
    if resource_type is ResourceType.FLOAT:
        if len(text) > _MAX_FLOAT_TEXT or _FLOAT.fullmatch(text) is None:
            raise DecodeError(f"{text!r:.40} is not a decimal number", path=path)
        number = float(text)
        if not math.isfinite(number):
            raise DecodeError(f"{text!r:.40} is out of float range", path=path)
        return number
    if resource_type is ResourceType.BOOLEAN:
        if text not in ("0", "1"):
            raise DecodeError(f"{text!r:.40} is not a boolean '0' or '1'", path=path)
        return text == "1"
    if resource_type is ResourceType.OPAQUE:
        return base64_to_opaque(text, path)
    if resource_type is ResourceType.OBJLNK:
        try:
            return ObjectLink.parse(text)
        except ValueError as exc:
            raise DecodeError(str(exc), path=path) from None
    raise DecodeError("executable resource carries no value", path=path)


def opaque_to_base64(data: bytes, *, urlsafe: bool = False) -> str:
    """Base64 (RFC 4648 §4, padded) for plain text; ``urlsafe``: §5 without padding (SenML)."""
    if urlsafe:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
    return base64.b64encode(data).decode("ascii")


def base64_to_opaque(text: str, path: Path, *, urlsafe: bool = False) -> bytes:
    """Strict inverse of :func:`opaque_to_base64` (``urlsafe`` also accepts padding)."""
    try:
        if urlsafe:
            stripped = text.rstrip("=")
            if (
                len(text) - len(stripped) > 2
                or len(stripped) % 4 == 1
                or "+" in text
                or "/" in text
            ):
                raise ValueError("bad length")
            padded = stripped + "=" * (-len(stripped) % 4)
            return base64.b64decode(padded, altchars=b"-_", validate=True)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{text!r:.40} is not base64", path=path) from None
