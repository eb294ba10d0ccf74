"""The REST collector's handling of what a server answers: device errors and timeouts per
object, typed values, and answers that are no API at all (a canned HTTP server on loopback)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lwm2m.cli.main import main
from lwm2m.compliance import CollectError, RestSource, collect
from lwm2m.model import Path

EP = "urn:imei:1"
REGISTRATION = {
    "endpoint": EP,
    "lwm2mVersion": "1.1",
    "binding": "U",
    "lifetime": 300,
    "queueMode": False,
    "objectLinks": [
        {"target": "/", "attributes": {"rt": "oma.lwm2m"}},
        {"target": "/3/0", "attributes": {}},
        {"target": "/4/0", "attributes": {}},
        {"target": "/6/0", "attributes": {}},
        {"target": "/3303/0", "attributes": {}},
    ],
}
LINKS = {"status": "2.05", "links": [{"target": "/3/0/9", "attributes": {"pmax": "60"}}]}
ANSWERS: dict[str, tuple[int, object]] = {
    f"/api/clients/{EP}": (200, REGISTRATION),
    f"/api/clients/{EP}/3/discover": (200, LINKS),
    f"/api/clients/{EP}/3": (200, {"status": "2.05", "values": {"/3/0/9": 80}}),
    f"/api/clients/{EP}/4/discover": (504, {"message": "no answer from the device"}),
    f"/api/clients/{EP}/4": (200, {"status": "4.05", "message": ""}),
    f"/api/clients/{EP}/6/discover": (200, {"status": "2.05", "links": "nonsense"}),
    f"/api/clients/{EP}/6": (200, {"status": "2.05", "values": {"/6/0/0": "north"}}),
    "/api/clients/text": (200, "not a registration"),
    "/api/clients/broken": (502, {"message": "the device answered RST"}),
}
TOKEN = "s3cret"


class Canned(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = ANSWERS.get(self.path.replace("%3A", ":"), (404, {"message": "no"}))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            status, body = 401, {"message": "a bearer token is required"}
        data = json.dumps(body).encode() if body != "not a registration" else b"<html>"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_each_object_failure_is_recorded_and_the_rest_collected(url: str) -> None:
    data = await collect(RestSource(url, timeout=5, token=TOKEN), EP)
    assert data.lifetime == 300
    assert data.object_links == tuple(Path.parse(p) for p in ("/3/0", "/4/0", "/6/0", "/3303/0"))
    assert data.values == {Path.parse("/3/0/9"): 80}
    assert data.links == {Path.parse("/3/0/9"): {"pmax": "60"}}
    assert data.unavailable == {
        4: "Discover: HTTP 504 no answer from the device; Read: 4.05",
        6: "Discover: malformed links (not a list); "
        "Read: 'north' is not a valid float (expected a JSON number) (at /6/0/0)",
    }


async def test_an_unknown_endpoint_and_a_non_api_answer_end_the_check(url: str) -> None:
    with pytest.raises(CollectError, match="no registration for endpoint 'urn:imei:2'"):
        await collect(RestSource(url, timeout=5, token=TOKEN), "urn:imei:2")
    with pytest.raises(CollectError, match="the answer is not JSON"):
        await collect(RestSource(url, timeout=5, token=TOKEN), "text")
    with pytest.raises(CollectError, match="HTTP 502 the device answered RST"):
        await collect(RestSource(url, timeout=5, token=TOKEN), "broken")
    with pytest.raises(CollectError, match="HTTP 401 a bearer token is required"):
        await collect(RestSource(url, timeout=5, token="wrong"), EP)


def test_a_refused_token_is_status_2(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EP, "--server", url]) == 2
    assert capsys.readouterr().err == f"lwm2m check: {url}: HTTP 401 a bearer token is required\n"


def test_usage_errors_are_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EP, "--timeout", "0"]) == 2
    assert capsys.readouterr().err == "lwm2m check: --timeout must be positive\n"
    with pytest.raises(SystemExit) as exited:
        main(["check"])
    assert exited.value.code == 2
