"""ApiGuard on its own: one pass makes the Host check, and the headers it adds replace any the
app set (one of each, never two)."""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from lwm2m.web.auth import ApiGuard


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"x-frame-options", b"SAMEORIGIN"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def _client(app: ApiGuard) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


async def test_added_headers_replace_the_apps_own() -> None:
    async with _client(ApiGuard(_answer)) as http:
        page, api = await http.get("/"), await http.get("/api/clients")
    assert page.headers.get_list("x-frame-options") == ["DENY"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert api.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert (api.headers["x-content-type-options"], api.headers["referrer-policy"]) == (
        "nosniff",
        "no-referrer",
    )


async def test_the_host_is_checked_first_and_probes_pass() -> None:
    guard = ApiGuard(_answer, token="t0ken", allowed_hosts=["lwm2m.example.net"])
    async with _client(guard) as http:
        assert (await http.get("/api/clients", headers={"Host": "localhost"})).status_code == 400
        assert (await http.get("/health", headers={"Host": "10.0.0.7"})).status_code == 200
        named = {"Host": "lwm2m.example.net:8080"}
        assert (await http.get("/api/clients", headers=named)).status_code == 401
        named["Authorization"] = "Bearer t0ken"
        assert (await http.get("/api/clients", headers=named)).status_code == 200
