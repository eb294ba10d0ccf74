"""The firmware campaign REST API (docs/firmware.md, "Campaigns").

``POST /api/campaigns`` starts one (201 with its progress), ``GET /api/campaigns`` lists them,
``GET /api/campaigns/{id}`` is one campaign with its devices (``?state=failed`` for those in
one state), ``POST /api/campaigns/{id}/pause``, ``/resume``, ``/cancel`` (409 when the
campaign's status does not allow it).  ``GET /api/campaigns/{id}/events`` streams its progress
as server-sent events: a ``campaignProgress`` frame (status, counts by state) after each burst
of changes, at most every half second, followed by a ``campaignDevice`` frame for each device
that changed state, with its last error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from lwm2m.firmware.campaign import CampaignInputError, CampaignSpec, DeviceState, Status
from lwm2m.firmware.campaign_engine import CampaignEngine
from lwm2m.firmware.campaign_runner import (
    CampaignConflictError,
    CampaignNotFoundError,
    CampaignRunner,
)
from lwm2m.firmware.package import UnknownPackageError
from lwm2m.web import inputs
from lwm2m.web.events import KEEPALIVE, sse_frame

THROTTLE = 0.5
"""Seconds between two progress frames of a stream."""


def campaign_routes(runner: CampaignRunner, *, keepalive: float = 15.0) -> list[BaseRoute]:
    api = _CampaignApi(runner, keepalive)
    one = "/api/campaigns/{campaign_id}"
    return [
        Route("/api/campaigns", api.list_campaigns, methods=["GET"]),
        Route("/api/campaigns", api.create, methods=["POST"]),
        Route(one, api.get_campaign, methods=["GET"]),
        Route(one + "/events", api.events, methods=["GET"]),
        *(
            Route(f"{one}/{action}", api.action(action), methods=["POST"])
            for action in ("pause", "resume", "cancel")
        ),
    ]


class _CampaignApi:
    def __init__(self, runner: CampaignRunner, keepalive: float) -> None:
        self._runner = runner
        self._keepalive = keepalive

    async def list_campaigns(self, request: Request) -> Response:
        inputs.Query(request, ())
        return JSONResponse([engine.progress() for engine in self._runner.campaigns()])

    async def create(self, request: Request) -> Response:
        inputs.Query(request, ())
        body = await inputs.read_json(request, 64 << 20)
        try:
            engine = self._runner.create(CampaignSpec.from_json(body))
        except (CampaignInputError, UnknownPackageError) as exc:
            raise inputs.bad_request(str(exc)) from None
        except CampaignConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        return JSONResponse(engine.progress(), 201)

    async def get_campaign(self, request: Request) -> Response:
        query = request.query_params
        unknown = set(query) - {"state"}
        if unknown:
            raise inputs.bad_request(f"unknown parameter {sorted(unknown)[0]!r:.40}")
        wanted = query.get("state")
        if wanted is not None and wanted not in {state.value for state in DeviceState}:
            raise inputs.bad_request(f"state must be one of {', '.join(DeviceState)}")
        engine = self._engine(request)
        devices = [
            device.to_json()
            for device in engine.devices.values()
            if wanted is None or device.state.value == wanted
        ]
        return JSONResponse({**engine.progress(), "deviceList": devices})

    def action(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        async def act(request: Request) -> Response:
            inputs.Query(request, ())
            campaign_id = self._engine(request).record.id
            try:
                engine = getattr(self._runner, name)(campaign_id)
            except CampaignConflictError as exc:
                raise HTTPException(409, str(exc)) from None
            return JSONResponse(engine.progress())

        return act

    async def events(self, request: Request) -> Response:
        inputs.Query(request, ())
        engine = self._engine(request)
        return StreamingResponse(
            self._frames(engine),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _frames(self, engine: CampaignEngine) -> AsyncIterator[str]:
        campaign_id = engine.record.id
        changed = asyncio.Event()
        unsubscribe = self._runner.listen(
            lambda changed_id: changed.set() if changed_id == campaign_id else None
        )

        def latest() -> float:
            return max((device.changed for device in engine.devices.values()), default=0.0)

        try:
            mark = latest()  # the device list is GET /api/campaigns/{id}: changes from now on
            while True:
                yield sse_frame({"type": "campaignProgress", **engine.progress()})
                since, mark = mark, latest()
                for device in engine.devices.values():
                    if device.changed > since:
                        yield sse_frame(
                            {"type": "campaignDevice", "campaign": campaign_id, **device.to_json()}
                        )
                if engine.record.status in (Status.CANCELLED, Status.COMPLETED):
                    return
                while not changed.is_set():
                    try:
                        await asyncio.wait_for(changed.wait(), self._keepalive)
                    except TimeoutError:
                        yield KEEPALIVE
                await asyncio.sleep(THROTTLE)
                changed.clear()
        finally:
            unsubscribe()

    def _engine(self, request: Request) -> CampaignEngine:
        try:
            return self._runner.campaign(request.path_params["campaign_id"])
        except CampaignNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
