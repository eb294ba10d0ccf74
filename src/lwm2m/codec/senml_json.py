"""SenML JSON (content format 110, RFC 8428 §5; LwM2M Core 1.1 §7.4.4)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from lwm2m.codec.base import ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.senml import Label, Labels, Leaf, SenmlCodec
from lwm2m.codec.values import base64_to_opaque, opaque_to_base64
from lwm2m.model import ROOT, ModelRegistry
from lwm2m.model.values import text_problem


def base64_reader(*, urlsafe: bool) -> Callable[[object], bytes]:
    """Opaque from base64 text: RFC 8428 §5's unpadded base64url (``urlsafe``) or 1.0 JSON's
    padded base64; raises ValueError/TypeError as the record resolver expects."""

    def read(raw: object) -> bytes:
        if type(raw) is not str:
            raise TypeError(f"expected base64 text, got {type(raw).__name__}")
        try:
            return base64_to_opaque(raw, ROOT, urlsafe=urlsafe)
        except DecodeError:
            raise ValueError(f"{raw!r:.40} is not base64{'url' if urlsafe else ''}") from None

    return read


def base64_writer(*, urlsafe: bool) -> Callable[[bytes], object]:
    return lambda data: opaque_to_base64(data, urlsafe=urlsafe)


LABELS = Labels(
    format="SenML JSON",
    bn="bn",
    bt="bt",
    n="n",
    t="t",
    v="v",
    vs="vs",
    vb="vb",
    vd="vd",
    vlo="vlo",
    opaque_in=base64_reader(urlsafe=True),
    opaque_out=base64_writer(urlsafe=True),
)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is out of range")
    return number


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not JSON")


def load_json(payload: bytes) -> object:
    """Strict JSON (UTF-8, no NaN/Infinity, no overflowing numbers); errors name the byte."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"JSON is not UTF-8 ({exc.reason})", offset=exc.start) from None
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        offset = len(text[: exc.pos].encode("utf-8"))
        raise DecodeError(f"malformed JSON: {exc.msg}", offset=offset) from None
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"malformed JSON: {exc}") from None


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
"""Where JSON can smuggle in a lone surrogate: UTF-8 itself cannot carry one."""


def refuse_lone_surrogates(payload: bytes, leaves: list[Leaf]) -> list[Leaf]:
    """``leaves`` unless a string value holds a lone surrogate (only a ``\\uD800``-style
    escape makes one, so payloads without such an escape are not searched)."""
    if _ESCAPED_SURROGATE.search(payload) is not None:
        for path, _, value in leaves:
            if type(value) is str and (problem := text_problem(value)) is not None:
                raise DecodeError(problem, path=path)
    return leaves


def dump_json(document: object) -> bytes:
    try:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN or infinity: JSON has no literal for them
        raise EncodeError(f"JSON cannot carry {exc}") from None
    return text.encode("utf-8")


class SenmlJsonCodec(SenmlCodec):
    content_format = ContentFormat.SENML_JSON
    labels = LABELS

    def _load(self, payload: bytes) -> object:
        return load_json(payload)

    def _leaves(self, payload: bytes, models: ModelRegistry) -> list[Leaf]:
        return refuse_lone_surrogates(payload, super()._leaves(payload, models))

    def _dump(self, items: list[dict[Label, object]]) -> bytes:
        return dump_json(items)
