"""What a REST request asks for, parsed and checked: every problem is a 400 that says what."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import fields
from urllib.parse import unquote_plus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lwm2m.codec.base import ContentFormat, parse_format
from lwm2m.codec.errors import CodecError
from lwm2m.codec.flat_json import values_from_json
from lwm2m.model import ModelRegistry, Path, PathError, Value
from lwm2m.operations import NotificationAttributes, OperationError

MAX_BODY = 1 << 20
"""Largest request body we read (a composite write of a whole device fits many times)."""

MAX_HISTORY = 1000
MAX_TIMEOUT = 3600.0
"""Longest ``?timeout=`` we wait for a device (queue-mode devices may sleep for a while)."""

MAX_PATHS = 1000
"""Most paths in one composite request."""

ATTRIBUTE_NAMES = tuple(f.name for f in fields(NotificationAttributes))


def bad_request(message: str) -> HTTPException:
    return HTTPException(400, message)


def node_path(raw: str) -> Path:
    """``3/0/1`` from the URL as a path below the root (DM operations never address ``/``)."""
    try:
        path = Path.parse("/" + raw)
    except PathError as exc:
        raise bad_request(str(exc)) from None
    if path.is_root:
        raise bad_request("the path must name an object, instance, resource or resource instance")
    return path


def object_id(raw: str) -> int:
    path = node_path(raw)
    if not path.is_object:
        raise bad_request(f"create takes an object ID, not {path}")
    return path.ids[0]


class Query:
    """The query parameters of one request, each named at most once and all of them known."""

    def __init__(self, request: Request, allowed: Collection[str]) -> None:
        self._params = request.query_params
        for name in self._params:
            if name not in allowed:
                raise bad_request(f"unknown query parameter {name!r:.40}")
            if len(self._params.getlist(name)) > 1:
                raise bad_request(f"query parameter {name} given twice")

    @property
    def format(self) -> ContentFormat | None:
        text = self._params.get("format")
        if text is None:
            return None
        try:
            return parse_format(text)
        except CodecError as exc:
            raise bad_request(exc.describe()) from None

    @property
    def timeout(self) -> float | None:
        text = self._params.get("timeout")
        if text is None:
            return None
        try:
            seconds = float(text)
        except ValueError:
            raise bad_request(f"timeout {text!r:.40} is not a number of seconds") from None
        if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
            raise bad_request(f"timeout must be above 0 and at most {MAX_TIMEOUT:g} seconds")
        return seconds

    @property
    def since(self) -> float | None:
        """A Unix time (seconds), for replays."""
        text = self._params.get("since")
        if text is None:
            return None
        try:
            seconds = float(text)
        except ValueError:
            raise bad_request(f"since {text!r:.40} is not a Unix time in seconds") from None
        if not (math.isfinite(seconds) and seconds >= 0):
            raise bad_request("since must be a Unix time of 0 or later")
        return seconds

    @property
    def depth(self) -> int | None:
        text = self._params.get("depth")
        if text is None:
            return None
        if text not in ("0", "1", "2", "3"):
            raise bad_request(f"depth must be 0, 1, 2 or 3, not {text!r:.40}")
        return int(text)

    @property
    def limit(self) -> int:
        """How many history values, newest last: 1 to MAX_HISTORY, 100 by default."""
        text = self._params.get("limit", "100")
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_HISTORY):
            raise bad_request(f"limit must be a whole number from 1 to {MAX_HISTORY}")
        return int(text)

    @property
    def active(self) -> bool:
        """Cancel an observation actively (Observe=1) unless ``?active=false``."""
        text = self._params.get("active", "true")
        if text not in ("true", "false"):
            raise bad_request(f"active must be true or false, not {text!r:.40}")
        return text == "true"


def attributes(request: Request) -> NotificationAttributes:
    """``?pmin=10&pmax`` as attributes; a bare name (no ``=``) removes that attribute.

    Starlette's parsed query cannot tell ``pmax`` from ``pmax=``, so this reads the raw query.
    """
    items = [unquote_plus(part) for part in request.url.query.split("&") if part]
    try:
        return NotificationAttributes.from_query(
            item for item in items if item.partition("=")[0] != "timeout"
        )
    except OperationError as exc:
        raise bad_request(exc.message) from None


async def read_json(request: Request, limit: int = MAX_BODY, *, optional: bool = False) -> object:
    """The body as JSON, read in chunks and refused (413) as soon as it passes ``limit``
    bytes; None for no body if ``optional``."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"the body exceeds {limit} bytes")
    if not data and optional:
        return None
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise bad_request(f"invalid JSON at byte {exc.pos}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise bad_request(f"the body is not UTF-8 at byte {exc.start}") from None


async def http_error(request: Request, exc: Exception) -> Response:
    """Every API answers an HTTPException as ``{"message": ...}`` with its status."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, exc.status_code, headers=exc.headers)


async def json_body(
    request: Request, fields: Collection[str], *, optional: bool = False
) -> dict[str, object]:
    """The JSON object in the body, holding only ``fields``; ``{}`` for no body if ``optional``."""
    body = await read_json(request, optional=optional)
    if body is None:
        return {}
    wanted = " or ".join(repr(name) for name in fields)
    if not isinstance(body, dict):
        raise bad_request(f"expected a JSON object with {wanted}")
    for name in body:
        if name not in fields:
            raise bad_request(f"unknown field {name!r:.40}, expected {wanted}")
    if not optional and not body:
        raise bad_request(f"expected a JSON object with {wanted}")
    return body


async def values_body(request: Request, models: ModelRegistry) -> dict[Path | str, Value]:
    """``{"values": {"/3/0/14": "+02:00"}}`` as typed values (the model decides each type).

    Keyed by Path, typed with the façade's key type (it also takes path strings).
    """
    body = await json_body(request, ("values",))
    try:
        values = values_from_json(body["values"], models)
    except CodecError as exc:
        raise bad_request(f"values: {exc.describe()}") from None
    if not values:
        raise bad_request("values: expected at least one value")
    return {path: value for path, value in values.items()}


async def paths_body(request: Request) -> list[Path]:
    """``{"paths": ["/3/0/0", "/4/0"]}`` for the composite operations."""
    raw = (await json_body(request, ("paths",)))["paths"]
    if not isinstance(raw, list) or not raw:
        raise bad_request("paths: expected a non-empty list of paths")
    if len(raw) > MAX_PATHS:
        raise bad_request(f"paths: more than {MAX_PATHS} paths")
    paths = []
    for item in raw:
        if not isinstance(item, str):
            raise bad_request(f"paths: {item!r:.40} is not a path string")
        try:
            paths.append(Path.parse(item))
        except PathError as exc:
            raise bad_request(f"paths: {exc}") from None
    return paths


async def execute_args(request: Request) -> str:
    """``{"args": "0='v'"}``; no body means no arguments."""
    args = (await json_body(request, ("args",), optional=True)).get("args", "")
    if not isinstance(args, str):
        raise bad_request("args: expected a string like \"0='value',1\"")
    return args
