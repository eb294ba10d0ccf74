"""The console's server side: the models API, the static files, the token and the same-origin
rule, over the real app (ASGI, no sockets)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from lwm2m.server import LwM2MServer
from lwm2m.web import create_app
from lwm2m.web.auth import ApiGuard
from lwm2m.web.console import STATIC

BASE = "http://localhost"
TOKEN = "s3cr3t-token"


async def _client(auth: str | None = None) -> httpx.AsyncClient:
    app = create_app(LwM2MServer(), auth=auth)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with await _client() as client:
        yield client


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(TOKEN) as client:
        yield client


async def test_models_lists_every_object_by_id_with_names(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/models")
    assert response.status_code == 200
    models = response.json()
    ids = [model["id"] for model in models]
    assert ids == sorted(ids)
    assert {0, 1, 3, 4, 5, 19} <= set(ids)
    device = next(model for model in models if model["id"] == 3)
    assert device == {
        "id": 3,
        "name": "Device",
        "multiple": False,
        "mandatory": True,
        "version": device["version"],
        "lwm2mVersion": device["lwm2mVersion"],
        "urn": device["urn"],
    }
    assert device["urn"].startswith("urn:oma:lwm2m:oma:3")


async def test_model_names_units_types_and_operations(http: httpx.AsyncClient) -> None:
    device = (await http.get("/api/models/3")).json()
    resources = {resource["id"]: resource for resource in device["resources"]}
    assert [resource["id"] for resource in device["resources"]] == sorted(resources)
    assert resources[9] | {"description": ""} == {
        "id": 9,
        "name": "Battery Level",
        "operations": "R",
        "multiple": False,
        "mandatory": False,
        "type": "integer",
        "range": "0..100",
        "units": "%",
        "description": "",
    }
    assert (resources[4]["operations"], resources[4]["type"]) == ("E", "none")
    assert (resources[13]["operations"], resources[13]["type"]) == ("RW", "time")
    assert resources[6]["multiple"] is True
    assert device["description"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/models/42000", 404, "no model for object 42000"),
        ("/api/models/3/0", 404, None),
        ("/api/models/x", 400, None),
        ("/api/models/70000", 400, None),
        ("/api/models?x=1", 400, "unknown query parameter 'x'"),
    ],
)
async def test_model_lookup_errors(
    http: httpx.AsyncClient, path: str, status: int, message: str | None
) -> None:
    response = await http.get(path)
    assert response.status_code == status
    if message is not None:
        assert response.json() == {"message": message}


async def test_console_index_and_assets(http: httpx.AsyncClient) -> None:
    index = await http.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/js/main.js">' in index.text
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert index.headers["x-frame-options"] == "DENY"
    assert index.headers["cache-control"] == "no-cache"
    script = await http.get("/console/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    assert script.headers["x-content-type-options"] == "nosniff"
    again = await http.get("/console/js/main.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert (await http.get("/console/console.css")).status_code == 200


def test_index_references_only_files_that_exist() -> None:
    """Every module the console imports is shipped (a typo would only show in a browser)."""
    for script in STATIC.rglob("*.js"):
        for target in re.findall(r'^import .* from "(\.[^"]+)";$', script.read_text(), re.M):
            assert (script.parent / target).resolve().is_file(), (script, target)


@pytest.mark.parametrize("path", ["/console/../console.py", "/console/nothing.js", "/index.html"])
async def test_nothing_else_is_served(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 404


async def test_without_a_token_the_api_is_open(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/clients")
    assert (response.status_code, response.json()) == (200, [])
    assert "content-security-policy" not in response.headers


async def test_token_guards_every_api_route(guarded: httpx.AsyncClient) -> None:
    for path in ("/api/clients", "/api/models", "/api/events", "/api/clients/x/3/0", "/api/nope"):
        response = await guarded.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == 'Bearer realm="lwm2m"'
    wrong = await guarded.get("/api/clients", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    basic = await guarded.get("/api/clients", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    right = await guarded.get("/api/clients", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (right.status_code, right.json()) == (200, [])
    lower = await guarded.get("/api/models/3", headers={"Authorization": f"bearer {TOKEN}"})
    assert lower.status_code == 200


async def test_console_files_stay_public_behind_a_token(guarded: httpx.AsyncClient) -> None:
    assert (await guarded.get("/")).status_code == 200
    assert (await guarded.get("/console/js/api.js")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.test"},
        {"Origin": "http://localhost:8080"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_requests_from_other_origins_are_refused(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """CORS is closed, and a cross-site form POST must not reach a device either."""
    response = await http.post("/api/clients/ep/3/0/4/execute", headers=headers, content=b"{}")
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    preflight = await http.options(
        "/api/clients", headers={**headers, "Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


async def test_same_origin_requests_pass(http: httpx.AsyncClient) -> None:
    headers = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    response = await http.get("/api/clients", headers=headers)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        ApiGuard(create_app(LwM2MServer()), token="")


async def test_compliance_of_an_unknown_endpoint_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/compliance/urn:imei:000000000000000")
    assert response.status_code == 404
    assert response.json() == {"message": "no registration for endpoint 'urn:imei:000000000000000'"}
    assert (await http.get("/api/compliance/x?timeout=0")).status_code == 400
