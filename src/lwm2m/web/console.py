"""The web console: its static files at ``/``, and the API it needs beyond the device API:
the object models it names things with and the Telekom compliance report.

The console is plain HTML, CSS and ES modules under ``static/`` (no build step); it talks only
to the REST API.  Its pages live behind ``#/...`` fragments, so the server serves one index and
the assets under ``/console/``, and no console route can shadow an API route whatever the
order in which routes are added.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path as FilePath

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from lwm2m.compliance import CollectError, ServerSource, check, collect
from lwm2m.model import ObjectModel, ObjectSummary, ResourceModel
from lwm2m.server import LwM2MServer
from lwm2m.web import inputs

STATIC = FilePath(__file__).parent / "static"

_REVALIDATE = {"Cache-Control": "no-cache"}
"""Assets are small and change with the package: revalidate (ETag) rather than go stale."""


def console_routes(server: LwM2MServer) -> list[BaseRoute]:
    """``GET /api/models[/{id}]``, ``GET /api/compliance/{endpoint}``, the console at ``/``
    and its assets under ``/console/``."""
    api = _ConsoleApi(server)
    return [
        Route("/api/models", api.list_models, methods=["GET"]),
        Route("/api/models/{object_id}", api.get_model, methods=["GET"]),
        Route("/api/compliance/{endpoint}", api.compliance, methods=["GET"]),
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount("/console", _Assets(directory=STATIC), name="console"),
    ]


def object_summary(model: ObjectSummary) -> dict[str, object]:
    return {
        "id": model.id,
        "name": model.name,
        "multiple": model.multiple,
        "mandatory": model.mandatory,
        "version": model.version,
        "lwm2mVersion": model.lwm2m_version,
        "urn": model.urn,
    }


def object_json(model: ObjectModel) -> dict[str, object]:
    """Everything the console shows about an object: names, units, types, operations."""
    return {
        **object_summary(ObjectSummary.of(model)),
        "description": model.description,
        "resources": [_resource_json(model.resources[rid]) for rid in sorted(model.resources)],
    }


def _resource_json(resource: ResourceModel) -> dict[str, object]:
    return {
        "id": resource.id,
        "name": resource.name,
        "operations": resource.operations.value,
        "multiple": resource.multiple,
        "mandatory": resource.mandatory,
        "type": resource.type.value,
        "range": resource.range,
        "units": resource.units,
        "description": resource.description,
    }


class _ConsoleApi:
    def __init__(self, server: LwM2MServer) -> None:
        self._server = server
        self._models = server.models

    async def list_models(self, request: Request) -> Response:
        inputs.Query(request, ())
        # Summaries: listing the OMA registry's objects parses none of their files.
        return JSONResponse([object_summary(model) for model in self._models.summaries()])

    async def get_model(self, request: Request) -> Response:
        inputs.Query(request, ())
        # The route's segment holds no "/", so a valid path is an object ID.
        object_id = inputs.node_path(request.path_params["object_id"]).ids[0]
        model = self._models.get(object_id)
        if model is None:
            raise HTTPException(404, f"no model for object {object_id}")
        return JSONResponse(object_json(model))

    async def compliance(self, request: Request) -> Response:
        """The report of ``lwm2m check`` (docs/compliance.md): it discovers and reads the
        device, so it takes as long as the device needs to answer (bounded by ``?timeout=``
        per request)."""
        timeout = inputs.Query(request, ("timeout",)).timeout
        source = ServerSource(self._server, timeout=timeout)
        try:
            report = check(await collect(source, request.path_params["endpoint"]))
        except CollectError as exc:
            raise HTTPException(404, str(exc)) from None
        return JSONResponse(report.to_json())


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=_REVALIDATE)


class _Assets(StaticFiles):
    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_REVALIDATE)
        return response
