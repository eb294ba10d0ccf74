"""The Read shortcut (lwm2m.web.fast_read): a GET Read skips the router yet answers exactly as
the routed endpoint does, and defers to any route before the Read's that takes the request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lwm2m.coap.codes import Code
from lwm2m.model import Path, SingleResource
from lwm2m.operations import EmptyResponse, ErrorResponse, NodeResponse, Response
from lwm2m.server.errors import RequestTimeoutError, UnknownEndpointError
from lwm2m.web import create_app, fast_read
from lwm2m.web.fast_read import DeviceRead, ReadShortcut
from lwm2m.web.routing import screened
from tests.unit.test_web_api import EP, FakeServer

BATTERY = NodeResponse(SingleResource(9, 87), content_format=11543)


def _fake(answer: Response = BATTERY, error: Exception | None = None) -> FakeServer:
    fake = FakeServer()
    fake.answer, fake.error = answer, error
    return fake


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


@pytest.mark.parametrize(
    ("fake", "url"),
    [
        (_fake(), "/3/0/9"),
        (_fake(), "/3/0/9?format=tlv&timeout=2"),
        (_fake(ErrorResponse(Code.NOT_FOUND, "no such")), "/3/0/9"),
        (_fake(EmptyResponse()), "/3/0/9"),
        (_fake(error=UnknownEndpointError("gone")), "/3/0/9"),
        (_fake(error=RequestTimeoutError("no answer in 5 s")), "/3/0/9"),
        (_fake(error=KeyError("a bug")), "/3/0/9"),
        (_fake(), "/3/x"),
        (_fake(), "/3/0/9?format=xml"),
        (_fake(), "/3/0/9?colour=red"),
        (_fake(), "/"),
    ],
)
async def test_a_shortcut_get_answers_as_the_routed_endpoint(fake: FakeServer, url: str) -> None:
    routed = create_app(fake)  # type: ignore[arg-type]
    shortcut: object = ReadShortcut
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not shortcut]
    async with _client(create_app(fake)) as fast_app, _client(routed) as router:  # type: ignore[arg-type]
        fast = await fast_app.get(f"/api/clients/{EP}{url}")
        slow = await router.get(f"/api/clients/{EP}{url}")
    assert (fast.status_code, fast.headers.multi_items()) == (
        slow.status_code,
        slow.headers.multi_items(),
    )
    assert fast.content == slow.content
    if fast.status_code != 500:  # answered outside the guards, by Starlette's last resort
        assert fast.headers["x-content-type-options"] == "nosniff"
    assert len(fake.calls) == (0 if fast.status_code == 400 else 2)


async def test_the_read_gets_the_path_format_and_timeout() -> None:
    fake = _fake()
    async with _client(create_app(fake)) as http:  # type: ignore[arg-type]
        response = await http.get(f"/api/clients/{EP}/3/0/9?format=senml-cbor&timeout=2.5")
    assert response.json() == {"status": "2.05", "contentFormat": 11543, "values": {"/3/0/9": 87}}
    assert fake.calls == [("read", (EP, Path.of(3, 0, 9)), {"fmt": 112, "timeout": 2.5})]


async def test_an_earlier_route_that_takes_the_request_wins() -> None:
    """Only routes before the Read's that accept a GET can take a Read-shaped path first."""

    async def special(request: Request) -> PlainTextResponse:
        return PlainTextResponse("special " + request.path_params["path"])

    async def create(request: Request) -> PlainTextResponse:
        return PlainTextResponse("created")

    async def state(request: Request) -> PlainTextResponse:
        return PlainTextResponse("state")

    fake = _fake()
    routes = screened(
        [
            Route("/api/clients/{endpoint}/{path:path}/special", special, methods=["GET"]),
            Route("/api/clients/{endpoint}/{object_id}", create, methods=["POST"]),
            Route("/api/clients/{endpoint}/state", state, methods=["GET"]),
            Route("/api/clients/{endpoint}/{path:path}", DeviceRead(fake, {}), methods=["GET"]),  # type: ignore[arg-type]
        ]
    )
    read = routes[-1]
    assert isinstance(read, Route)
    app = Starlette(routes=routes, middleware=[Middleware(ReadShortcut, routes=routes, read=read)])
    async with _client(app) as http:
        assert (await http.get(f"/api/clients/{EP}/3/0/special")).text == "special 3/0"
        assert (await http.post(f"/api/clients/{EP}/3")).text == "created"
        assert (await http.get(f"/api/clients/{EP}/state")).text == "state"
        assert (await http.get(f"/api/clients/{EP}/3")).json()["status"] == "2.05"
        assert (await http.put(f"/api/clients/{EP}/3/0")).status_code == 405
    assert [args for _, args, _ in fake.calls] == [(EP, Path.of(3))]


async def test_paths_past_the_kept_ones_and_bad_ones_are_parsed_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast_read, "PATHS_KEPT", 2)
    fake = _fake()
    async with _client(create_app(fake)) as http:  # type: ignore[arg-type]
        for node in ("3/0/9", "3/0/0", "3/0/1", "3/0/2", "3/x") * 2:
            await http.get(f"/api/clients/{EP}/{node}")
        assert (await http.get(f"/api/clients/{EP}/3/x")).status_code == 400
    paths = [Path.parse(f"/3/0/{r}") for r in (9, 0, 1, 2)]
    assert [args[1] for _, args, _ in fake.calls] == paths * 2
