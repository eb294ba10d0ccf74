"""DNS rebinding: the HTTP APIs answer only to the host names they were given (loopback ones
by default), before any route, token or origin check runs."""

from __future__ import annotations

import argparse

import httpx
import pytest

from lwm2m.bootstrap import ConfigStore
from lwm2m.cli.main import build_parser
from lwm2m.cli.options import allowed_hosts
from lwm2m.web import create_app
from lwm2m.web.auth import host_name, normalize_hosts
from lwm2m.web.bootstrap_api import create_bootstrap_app
from tests.unit.test_web_api import EP, FakeServer


async def _status(app: object, host: str, method: str = "GET", path: str = "/api/clients") -> int:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        response = await http.request(method, path, headers={"Host": host})
        return response.status_code


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"]
)
async def test_loopback_names_are_served_by_default(host: str) -> None:
    assert await _status(create_app(FakeServer()), host) == 200  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1:x", "[::1", ""],
)
async def test_other_names_get_400_before_any_handler(host: str) -> None:
    fake = FakeServer()
    app = create_app(fake)  # type: ignore[arg-type]
    assert await _status(app, host, "POST", f"/api/clients/{EP}/3/0/4/execute") == 400
    assert await _status(app, host, "GET", "/") == 400  # the console too
    assert fake.calls == []  # the Execute never reached the device


async def test_configured_names_replace_the_defaults_and_star_allows_any() -> None:
    app = create_app(FakeServer(), allowed_hosts=["lwm2m.example.net"])  # type: ignore[arg-type]
    assert await _status(app, "lwm2m.example.net:443") == 200
    assert await _status(app, "localhost") == 400
    anyone = create_app(FakeServer(), allowed_hosts=["*"])  # type: ignore[arg-type]
    assert await _status(anyone, "evil.example") == 200


async def test_the_bootstrap_api_checks_host_names_too() -> None:
    app = create_bootstrap_app(ConfigStore())
    assert await _status(app, "evil.example", path="/api/bootstrap") == 400
    assert await _status(app, "127.0.0.1:8081", path="/api/bootstrap") == 200


def test_host_header_parsing() -> None:
    assert host_name("Example.NET:8080") == "example.net"
    assert host_name("[::1]:80") == "[::1]"
    assert host_name("::1") is None  # an IPv6 address needs its brackets in Host
    assert normalize_hosts(["::1", " Localhost "]) == {"[::1]", "localhost"}
    with pytest.raises(ValueError, match="without a port"):
        normalize_hosts(["localhost:8080"])


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["server", *argv])


def test_cli_default_is_loopback_plus_a_specific_bind_address() -> None:
    assert allowed_hosts(_args("--http-host", "0.0.0.0")) == {"localhost", "127.0.0.1", "[::1]"}
    assert "192.0.2.7" in allowed_hosts(_args("--http-host", "192.0.2.7"))
    assert allowed_hosts(_args("--allowed-hosts", "a.example,b.example")) == {
        "a.example",
        "b.example",
    }


def test_cli_refuses_a_name_with_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args("--allowed-hosts", "a.example:80")
    assert "--allowed-hosts" in capsys.readouterr().err
