"""The OpenAPI 3.1 description of the REST API (``GET /openapi.json``) and its browsable docs
(``GET /docs``: Swagger UI from the ``swagger-ui-bundle-v2`` package, served from here, so the
page works offline).

The paths come from the mounted route table, so a route added anywhere appears with its
methods and path parameters; what each operation takes and answers comes from
:data:`lwm2m.web.openapi_operations.OPERATIONS`, keyed ``"METHOD /path"``.  A route missing
there is still listed, marked ``x-undescribed`` (``tests/rest`` fails on it), never hidden.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path as FilePath
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from lwm2m.web import inputs
from lwm2m.web.jsonview import dumps
from lwm2m.web.openapi_console import OPERATOR_OPERATIONS
from lwm2m.web.openapi_operations import OPERATIONS, error_responses
from lwm2m.web.openapi_schemas import SCHEMAS

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
DOCS_STATIC = FilePath(__file__).parent / "static" / "docs"
SWAGGER_UI = FilePath(
    str(next(importlib.resources.files("swagger_ui_bundle").joinpath("vendor").iterdir()))
)
"""Swagger UI's files as the package ships them (one ``vendor/swagger-ui-VERSION``)."""

_PARAMETER = re.compile(r"{([^}:]+)(?::([^}]+))?}")
_DESCRIBED = OPERATIONS | OPERATOR_OPERATIONS


def route_operations(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str, BaseRoute]]:
    """``(METHOD, /openapi/path, route)`` for every method of every route, in routing order;
    a mount of static files is one ``GET /prefix/{file}``."""
    for route in routes:
        if isinstance(route, Route):
            path = _PARAMETER.sub(lambda match: "{" + match[1] + "}", route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, path, route
        elif isinstance(route, Mount):
            yield "GET", route.path + "/{file}", route


def undescribed(routes: Sequence[BaseRoute]) -> list[str]:
    """The ``"METHOD /path"`` of mounted routes that :data:`OPERATIONS` does not describe."""
    return [f"{m} {p}" for m, p, _ in route_operations(routes) if f"{m} {p}" not in _DESCRIBED]


def openapi_document(routes: Sequence[BaseRoute], *, auth: bool) -> dict[str, Any]:
    """The description of ``routes``; ``auth``: the API needs a bearer token (401 described)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, route in route_operations(routes):
        key = f"{method} {path}"
        operation = _DESCRIBED.get(key) or _undescribed(route)
        operation = {
            **operation,
            "operationId": _operation_id(method, path),
            "parameters": [*_path_parameters(route, path), *operation.get("parameters", ())],
        }
        if operation.get("security") != []:
            operation["responses"] = {**error_responses(auth), **operation["responses"]}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lwm2m server REST API",
            "version": "1",
            "description": (
                "Device management of LwM2M devices through the server: registrations, the "
                "LwM2M operations (a device's answer, success or CoAP error, is HTTP 200 with "
                "the CoAP code in `status`), server-sent events, security, firmware. HTTP "
                'errors are `{"message": ...}`. See docs/server-api.md.'
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}] if auth else [],
    }


def openapi_routes(routes: Callable[[], Sequence[BaseRoute]], *, auth: bool) -> list[BaseRoute]:
    """``/openapi.json`` over what ``routes()`` returns when first asked (the app's final
    table), and the docs page with its assets."""
    cached: list[bytes] = []

    async def document(request: Request) -> Response:
        inputs.Query(request, ())
        if not cached:
            cached.append(dumps(openapi_document(routes(), auth=auth)).encode())
        return Response(cached[0], media_type="application/json")

    async def docs(request: Request) -> Response:
        return FileResponse(DOCS_STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return [
        Route(OPENAPI_PATH, document, methods=["GET"]),
        Route(DOCS_PATH, docs, methods=["GET"]),
        Mount(DOCS_PATH + "/app", StaticFiles(directory=DOCS_STATIC), name="docs-app"),
        Mount(DOCS_PATH + "/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui"),
    ]


def _path_parameters(route: BaseRoute, path: str) -> list[dict[str, Any]]:
    names = re.findall(r"{([^}]+)}", path)
    wide = {m[1] for m in _PARAMETER.finditer(getattr(route, "path", "")) if m[2] == "path"}
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _PATH_HELP.get(name, "")
            + (" (may hold `/`)" if name in wide or isinstance(route, Mount) else ""),
            "schema": {"type": "string", "minLength": 1},
        }
        for name in names
    ]


_PATH_HELP = {
    "endpoint": "The device's endpoint name.",
    "path": "An LwM2M path below the root without the leading `/`: `3/0`, `3/0/9`, `6/0/0/1`.",
    "object_id": "An object ID.",
    "sha256": "The package's SHA-256 in lower-case hex.",
    "address": "External identifier (`dev@domain`) or `msisdn:NUMBER`.",
    "token": "The download token of a URL issued by `POST /api/firmware/{sha256}/url`.",
    "rest": "The SCEF's notification path.",
    "file": "A file name.",
    "campaign_id": "A campaign's ID.",
}


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[{}]", "", path).replace("-", "/").split("/")
    return method.lower() + "".join(word[:1].upper() + word[1:] for word in words if word)


def _undescribed(route: BaseRoute) -> dict[str, Any]:
    name = getattr(getattr(route, "endpoint", None), "__name__", type(route).__name__)
    return {
        "summary": f"{name} (not described yet)",
        "x-undescribed": True,
        "responses": {"default": {"description": "Not described yet."}},
    }
