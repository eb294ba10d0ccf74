"""The repository's REST API and the HTTP download, over a real HTTP server (uvicorn) with
httpx as the client."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from lwm2m.firmware import FirmwareDelivery
from lwm2m.web.firmware_api import firmware_routes
from lwm2m.web.serving import WebServer
from tests.firmware_server.conftest import PACKAGE, Device

pytestmark = pytest.mark.timeout(30)

SHA = hashlib.sha256(PACKAGE).hexdigest()
ETAG = f'"{SHA[:16]}"'


@pytest.fixture
async def http(delivery: FirmwareDelivery) -> AsyncIterator[httpx.AsyncClient]:
    web = WebServer(delivery.server, port=0, extra_routes=firmware_routes(delivery))
    await web.start()
    async with httpx.AsyncClient(base_url=web.url) as client:
        yield client
    await web.stop()


async def _upload(http: httpx.AsyncClient, data: bytes = PACKAGE, **params: str) -> httpx.Response:
    query = {"version": "2.0", "model": "m1", **params}
    return await http.post("/api/firmware", params=query, content=data)


async def test_raw_upload_list_get_delete(
    http: httpx.AsyncClient, delivery: FirmwareDelivery
) -> None:
    signature = base64.b64encode(b"\x01" * 64).decode()
    created = await _upload(http, signature=signature)
    assert created.status_code == 201
    body = created.json()
    assert body["sha256"] == SHA and body["size"] == len(PACKAGE)
    assert body["version"] == "2.0" and body["model"] == "m1" and body["signature"] == signature
    with open(delivery.repository.path(SHA), "rb") as file:
        assert file.read() == PACKAGE
    listed = (await http.get("/api/firmware")).json()
    assert [p["sha256"] for p in listed] == [SHA]
    assert (await http.get(f"/api/firmware/{SHA}")).json() == body
    assert (await http.delete(f"/api/firmware/{SHA}")).status_code == 204
    assert (await http.get(f"/api/firmware/{SHA}")).status_code == 404
    assert (await http.delete(f"/api/firmware/{SHA}")).status_code == 404
    assert (await http.get("/api/firmware")).json() == []
    assert _files(delivery) == []


def _files(delivery: FirmwareDelivery) -> list[str]:
    return os.listdir(delivery.repository.directory)


async def test_multipart_upload_with_a_signature_file(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/api/firmware",
        data={"version": "3.1", "model": "m2"},
        files={"file": ("fw.bin", PACKAGE), "signature": ("fw.sig", b"\x02" * 70)},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["sha256"] == SHA and body["version"] == "3.1"
    assert base64.b64decode(body["signature"]) == b"\x02" * 70


async def test_the_same_bytes_are_one_package(
    http: httpx.AsyncClient, delivery: FirmwareDelivery
) -> None:
    assert (await _upload(http)).status_code == 201
    again = await _upload(http)
    assert again.status_code == 200 and again.json()["sha256"] == SHA
    other = await _upload(http, version="2.1")
    assert other.status_code == 409
    assert len((await http.get("/api/firmware")).json()) == 1
    assert sorted(_files(delivery)) == [SHA]  # no upload left behind


async def test_a_package_over_the_limit_is_413_and_leaves_nothing(
    http: httpx.AsyncClient, delivery: FirmwareDelivery
) -> None:
    big = b"x" * (delivery.repository.max_size + 1)
    assert (await _upload(http, big)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(5):
            yield b"y" * (delivery.repository.max_size // 4)

    streamed = await http.post(
        "/api/firmware", params={"version": "1", "model": "m"}, content=chunks()
    )
    assert streamed.status_code == 413
    form = await http.post(
        "/api/firmware", data={"version": "1", "model": "m"}, files={"file": ("f", big)}
    )
    assert form.status_code == 413
    assert _files(delivery) == []


@pytest.mark.parametrize(
    ("params", "data"),
    [
        ({"version": "1"}, PACKAGE),  # no model
        ({"model": "m"}, PACKAGE),  # no version
        ({"version": "1", "model": "m"}, b""),  # empty
        ({"version": "1", "model": "m", "signature": "not base64!"}, PACKAGE),
        ({"version": "1\n", "model": "m"}, PACKAGE),  # not printable
        ({"version": "1", "model": "m", "colour": "red"}, PACKAGE),  # unknown parameter
    ],
)
async def test_bad_uploads_are_400(
    http: httpx.AsyncClient, delivery: FirmwareDelivery, params: dict[str, str], data: bytes
) -> None:
    answer = await http.post("/api/firmware", params=params, content=data)
    assert answer.status_code == 400, answer.text
    assert "message" in answer.json()
    assert _files(delivery) == []


async def test_multipart_without_a_file_part_is_400(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/api/firmware", data={"version": "1", "model": "m"}, files={"other": ("f", b"1")}
    )
    assert answer.status_code == 400


async def test_unknown_or_malformed_sha_is_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/firmware/" + "0" * 64)).status_code == 404
    assert (await http.get("/api/firmware/nothex")).status_code == 404
    assert (await http.delete("/api/firmware/..")).status_code == 404


# -- HTTP download ---------------------------------------------------------------------------


async def _url(http: httpx.AsyncClient, endpoint: str = "dev-a", **fields: object) -> str:
    assert (await _upload(http)).status_code in (200, 201)
    answer = await http.post(
        f"/api/firmware/{SHA}/url", json={"endpoint": endpoint, "scheme": "http", **fields}
    )
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["url"]
    assert url.startswith("http://127.0.0.1:1/fw/")  # FirmwareConfig.http_url
    return "/fw/" + url.rsplit("/", 1)[1]


async def test_http_download_whole_and_in_ranges(http: httpx.AsyncClient) -> None:
    path = await _url(http, uses=1)
    whole = await http.get(path)
    assert whole.status_code == 200 and whole.content == PACKAGE
    assert whole.headers["etag"] == ETAG and whole.headers["accept-ranges"] == "bytes"
    part = await http.get(path, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == PACKAGE[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(PACKAGE)}"
    resumed = await http.get(path, headers={"Range": "bytes=4000-", "If-Range": ETAG})
    assert resumed.status_code == 206 and resumed.content == PACKAGE[4000:]
    assert (await http.get(path)).status_code == 404  # its one start is used
    beyond = await http.get(path, headers={"Range": "bytes=9000-"})
    assert beyond.status_code == 416


async def test_if_range_that_no_longer_holds_starts_over(http: httpx.AsyncClient) -> None:
    path = await _url(http, uses=2)
    assert (await http.get(path, headers={"Range": "bytes=0-99"})).status_code == 206
    stale = await http.get(path, headers={"Range": "bytes=100-", "If-Range": '"0123"'})
    assert stale.status_code == 200 and stale.content == PACKAGE  # a second start
    assert (await http.get(path)).status_code == 404


async def test_if_none_match_is_304_and_head_has_no_body(http: httpx.AsyncClient) -> None:
    path = await _url(http, uses=1)
    cached = await http.get(path, headers={"If-None-Match": ETAG})
    assert cached.status_code == 304 and cached.headers["etag"] == ETAG
    head = await http.head(path)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(PACKAGE)


async def test_http_refusals_are_plain_404(
    http: httpx.AsyncClient, delivery: FirmwareDelivery
) -> None:
    expired = await _url(http, ttl=1e-6)
    unknown = "/fw/AAAAAAAAAAAAAAAAAAAAAA"
    deleted = await _url(http)
    delivery.repository.delete(SHA)
    for path in (expired, unknown, deleted):
        answer = await http.get(path)
        assert answer.status_code == 404 and answer.content == b""


async def test_url_requests_with_bad_fields_are_400_or_404(http: httpx.AsyncClient) -> None:
    assert (await _upload(http)).status_code == 201
    for body in (
        {"scheme": "coap"},  # no endpoint
        {"endpoint": "dev-a", "scheme": "ftp"},
        {"endpoint": "dev-a", "ttl": -1},
        {"endpoint": "dev-a", "uses": 0},
        {"endpoint": "dev-a", "what": 1},
        ["dev-a"],
    ):
        answer = await http.post(f"/api/firmware/{SHA}/url", json=body)
        assert answer.status_code == 400, (body, answer.text)
    missing = await http.post("/api/firmware/" + "1" * 64 + "/url", json={"endpoint": "d"})
    assert missing.status_code == 404
    no_https = await http.post(
        f"/api/firmware/{SHA}/url", json={"endpoint": "dev-a", "scheme": "https"}
    )
    assert no_https.status_code == 400


async def test_push_and_offer_over_rest(http: httpx.AsyncClient, devices: list[Device]) -> None:
    assert (await _upload(http)).status_code == 201
    pushed = await http.post(f"/api/firmware/{SHA}/push", json={"endpoint": "dev-a"})
    assert pushed.status_code == 200 and pushed.json() == {"status": "2.04"}
    assert devices[0].package.bodies == [PACKAGE]
    offered = await http.post(
        f"/api/firmware/{SHA}/offer", json={"endpoint": "dev-b", "scheme": "coap"}
    )
    assert offered.status_code == 200 and offered.json()["status"] == "2.04"
    url = offered.json()["url"]
    assert devices[1].uri.bodies == [url.encode()]
    assert (await devices[1].get(url)).payload == PACKAGE
    nobody = await http.post(f"/api/firmware/{SHA}/push", json={"endpoint": "nobody"})
    assert nobody.status_code == 404
