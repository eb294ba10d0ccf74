"""REST API routing, status mapping and 400 messages, against a fake that follows the façade
contract in docs/server-api.md (the real server is in tests/integration/test_rest_*.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from lwm2m.coap.codes import Code
from lwm2m.codec.base import ContentFormat
from lwm2m.codec.link import Link
from lwm2m.model import ObjectInstance, ObjectLink, Path, SingleResource, Value, builtin_models
from lwm2m.operations import (
    UNSET,
    CreatedResponse,
    EmptyResponse,
    ErrorResponse,
    LinksResponse,
    NodeResponse,
    NotificationAttributes,
    OperationUsageError,
    Response,
    ValuesResponse,
)
from lwm2m.server.errors import (
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    UnknownEndpointError,
)
from lwm2m.web import create_app

EP = "urn:imei:490154203237518"


@dataclass
class FakeRegistration:
    endpoint: str
    address: object = ("192.0.2.1", 5683)
    binding: str = "U"
    lwm2m_version: str = "1.1"

    def to_json(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "registrationId": "r1", "lwm2mVersion": "1.1"}


@dataclass
class FakeRegistrations:
    by_endpoint: dict[str, FakeRegistration] = field(default_factory=dict)

    def all(self) -> list[FakeRegistration]:
        return list(self.by_endpoint.values())

    def get(self, endpoint: str) -> FakeRegistration | None:
        return self.by_endpoint.get(endpoint)


class FakeServer:
    """Records each call; answers with ``answer`` or raises ``error``; knows only ``EP``."""

    def __init__(self) -> None:
        self.registrations = FakeRegistrations({EP: FakeRegistration(EP)})
        self.models = builtin_models()
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answer: Response = EmptyResponse()
        self.error: Exception | None = None
        self.subscribers: list[Callable[[Any], None]] = []
        self.request_observers: list[Callable[[str, Any, float], None]] = []
        self.dtls_sessions = 0
        self.oscore = None
        self.coap_address = ("127.0.0.1", 5683)

    def observe_requests(self, observer: Callable[[str, Any, float], None]) -> Callable[[], None]:
        self.request_observers.append(observer)
        return lambda: self.request_observers.remove(observer)

    def load(self) -> tuple[int, None, int]:
        return 0, None, 0

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def emit(self, event: Any) -> None:
        for callback in list(self.subscribers):
            callback(event)

    def timer_violations(self, endpoint: str) -> tuple[()]:
        return ()

    async def _call(self, name: str, endpoint: str, *args: Any, **kwargs: Any) -> Response:
        self.calls.append((name, (endpoint, *args), kwargs))
        if self.error is not None:
            raise self.error
        if endpoint != EP:
            raise UnknownEndpointError(endpoint)
        return self.answer

    async def read(
        self, ep: str, path: Path, *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._call("read", ep, path, fmt=fmt, timeout=timeout)

    async def discover(
        self, ep: str, path: Path, *, depth: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._call("discover", ep, path, depth=depth, timeout=timeout)

    async def write(
        self,
        ep: str,
        path: Path,
        values: Mapping[Path, Any],
        *,
        partial: bool = False,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        return await self._call(
            "write", ep, path, values, partial=partial, fmt=fmt, timeout=timeout
        )

    async def execute(
        self, ep: str, path: Path, args: str = "", *, timeout: float | None = None
    ) -> Response:
        return await self._call("execute", ep, path, args, timeout=timeout)

    async def create(
        self,
        ep: str,
        object_id: int,
        values: Mapping[Path, Any],
        *,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        return await self._call("create", ep, object_id, values, fmt=fmt, timeout=timeout)

    async def delete(self, ep: str, path: Path, *, timeout: float | None = None) -> Response:
        return await self._call("delete", ep, path, timeout=timeout)

    async def write_attributes(
        self,
        ep: str,
        path: Path,
        attributes: NotificationAttributes,
        *,
        timeout: float | None = None,
    ) -> Response:
        return await self._call("write_attributes", ep, path, attributes, timeout=timeout)

    async def read_composite(
        self, ep: str, paths: list[Path], *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._call("read_composite", ep, paths, fmt=fmt, timeout=timeout)

    async def write_composite(
        self,
        ep: str,
        values: Mapping[Path, Any],
        *,
        fmt: int | None = None,
        timeout: float | None = None,
    ) -> Response:
        return await self._call("write_composite", ep, values, fmt=fmt, timeout=timeout)

    async def observe(
        self, ep: str, path: Path, *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._call("observe", ep, path, fmt=fmt, timeout=timeout)

    async def observe_composite(
        self, ep: str, paths: list[Path], *, fmt: int | None = None, timeout: float | None = None
    ) -> Response:
        return await self._call("observe_composite", ep, paths, fmt=fmt, timeout=timeout)

    async def cancel_observation(
        self,
        ep: str,
        path_or_paths: Path | list[Path],
        *,
        active: bool = True,
        timeout: float | None = None,
    ) -> Response:
        return await self._call(
            "cancel_observation", ep, path_or_paths, active=active, timeout=timeout
        )

    @property
    def last(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        return self.calls[-1]


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


@pytest.fixture
async def client(fake: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fake)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


def api(node: str = "") -> str:
    return f"/api/clients/{EP}{node}"


DEVICE = ObjectInstance(0, {0: SingleResource(0, "Example Corp"), 9: SingleResource(9, 87)})


# -- Registrations ----------------------------------------------------------------------


async def test_clients_list_and_one(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/clients")).json() == [
        {
            "endpoint": EP,
            "registrationId": "r1",
            "lwm2mVersion": "1.1",
            "address": {"transport": "U", "secure": False, "address": "192.0.2.1:5683"},
            "timerRuleViolations": [],
        }
    ]
    assert (await client.get(api())).json()["endpoint"] == EP
    missing = await client.get("/api/clients/nobody")
    assert missing.status_code == 404
    assert missing.json() == {"message": "no registration for endpoint 'nobody'"}


# -- Read and what an answer looks like -------------------------------------------------


async def test_read_passes_path_format_and_timeout_and_flattens_the_node(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.answer = NodeResponse(DEVICE, content_format=ContentFormat.SENML_CBOR)
    response = await client.get(api("/3/0"), params={"format": "senml-json", "timeout": "2.5"})
    assert response.status_code == 200
    assert response.json() == {
        "status": "2.05",
        "contentFormat": 112,
        "values": {"/3/0/0": "Example Corp", "/3/0/9": 87},
    }
    assert fake.last == (
        "read",
        (EP, Path.of(3, 0)),
        {"fmt": ContentFormat.SENML_JSON, "timeout": 2.5},
    )


@pytest.mark.parametrize(
    ("node", "expected"),
    [("/3", Path.of(3)), ("/3/0/7", Path.of(3, 0, 7)), ("/3/0/7/1", Path.of(3, 0, 7, 1))],
)
async def test_read_every_depth(
    client: httpx.AsyncClient, fake: FakeServer, node: str, expected: Path
) -> None:
    fake.answer = ErrorResponse(Code.NOT_FOUND)
    assert (await client.get(api(node), params={"format": "11542"})).json() == {
        "status": "4.04",
        "message": "",
    }
    assert fake.last[1] == (EP, expected)
    assert fake.last[2]["fmt"] == ContentFormat.TLV


async def test_device_errors_are_http_200_with_the_coap_status(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.answer = ErrorResponse(Code.METHOD_NOT_ALLOWED, "read-only")
    response = await client.get(api("/3/0/0"))
    assert (response.status_code, response.json()) == (
        200,
        {"status": "4.05", "message": "read-only"},
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UnknownEndpointError("gone"), 404),
        (QueueFullError("queue of gone is full"), 503),
        (RequestTimeoutError("no answer from gone in 5 s"), 504),
        (RequestFailedError("reset by the device"), 502),
        (OperationUsageError("TLV cannot carry that"), 400),
    ],
)
async def test_server_errors_map_to_http_statuses(
    client: httpx.AsyncClient, fake: FakeServer, error: Exception, status: int
) -> None:
    fake.error = error
    response = await client.get(api("/3/0"))
    assert response.status_code == status
    assert response.json() == {"message": str(error)}


async def test_unknown_endpoint_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/clients/nobody/3/0")).status_code == 404


async def test_a_bug_is_500_without_a_traceback(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.error = KeyError("internal detail")
    response = await client.get(api("/3/0"))
    assert (response.status_code, response.json()) == (500, {"message": "internal error"})


# -- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("GET", api("/3/x"), None, "segment 'x' is not a decimal ID"),
        ("GET", api("/3/0/1/2/3"), None, "deeper than /o/i/r/ri"),
        ("GET", api("/3/70000"), None, "outside 0..65535"),
        ("GET", api("/3/0/"), None, "segment '' is not a decimal ID"),
        ("GET", api("/3/0?format=xml"), None, "unknown content format 'xml'"),
        ("GET", api("/3/0?timeout=soon"), None, "timeout 'soon' is not a number"),
        ("GET", api("/3/0?timeout=0"), None, "timeout must be above 0"),
        ("GET", api("/3/0?fromat=tlv"), None, "unknown query parameter 'fromat'"),
        ("GET", api("/3/0?format=tlv&format=text"), None, "format given twice"),
        ("GET", api("/3/0/discover?depth=9"), None, "depth must be 0, 1, 2 or 3"),
        ("PUT", api("/3/0"), b"{", "invalid JSON at byte 1"),
        ("PUT", api("/3/0"), b"[]", "expected a JSON object with 'values'"),
        ("PUT", api("/3/0"), b"{}", "expected a JSON object with 'values'"),
        ("PUT", api("/3/0"), b'{"valeus": {}}', "unknown field 'valeus'"),
        ("PUT", api("/3/0"), b'{"values": []}', "values: expected a JSON object mapping paths"),
        ("PUT", api("/3/0"), b'{"values": {}}', "values: expected at least one value"),
        ("PUT", api("/3/0"), b'{"values": {"/3/0/13": "today"}}', "not a valid time"),
        ("PATCH", api("/3/0"), b'{"values": {"/3/0/9": 1.5}}', "at /3/0/9"),
        ("PATCH", api("/3/0"), b'{"values": {"/3/0": 1}}', "values belong to resources"),
        ("PATCH", api("/3/0"), b'{"values": {"3/0/1": 1}}', "does not start with '/'"),
        ("PUT", api("/3/0"), b"\xff", "not UTF-8"),
        ("POST", api("/3/0/4/execute"), b'{"args": 5}', "args: expected a string"),
        ("POST", api("/3/0"), b"{}", "Method Not Allowed"),
        ("POST", api("/x"), b"{}", "segment 'x' is not a decimal ID"),
        ("POST", api("/composite/read"), b'{"paths": "/3/0"}', "paths: expected a non-empty list"),
        ("POST", api("/composite/read"), b'{"paths": ["/3/a"]}', "paths: path '/3/a'"),
        ("POST", api("/composite/read"), b'{"paths": [3]}', "paths: 3 is not a path string"),
        ("PUT", api("/3/0/9/attributes?pmin=soon"), None, "bad value for pmin: 'soon'"),
        ("PUT", api("/3/0/9/attributes?pmin=1&pmin=2"), None, "pmin given twice"),
        ("PUT", api("/3/0/9/attributes?color=red"), None, "unknown query parameter 'color'"),
        ("DELETE", api("/3/0/observe?active=maybe"), None, "active must be true or false"),
    ],
)
async def test_bad_input_is_400_with_a_message_that_says_what(
    client: httpx.AsyncClient, fake: FakeServer, case: tuple[str, str, bytes | None, str]
) -> None:
    method, url, body, message = case
    response = await client.request(method, url, content=body)
    assert response.status_code in (400, 405), response.text
    assert message in response.json()["message"]
    assert not fake.calls


async def test_route_matching_unknown_urls_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing")
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


async def test_huge_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"values": {"/3/0/0": "' + b"x" * (1 << 20) + b'"}}'
    assert (await client.put(api("/3/0"), content=body)).status_code == 413


# -- Every operation reaches the server with what the request said ---------------------


async def test_write_replace_and_partial_update_type_values_by_the_model(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    values = {"/3/0/14": "+02:00", "/3/0/13": 1700000000}
    response = await client.put(api("/3/0"), json={"values": values}, params={"format": "tlv"})
    assert response.json() == {"status": "2.04"}
    typed = {Path.of(3, 0, 14): "+02:00", Path.of(3, 0, 13): 1700000000}
    assert fake.last == (
        "write",
        (EP, Path.of(3, 0), typed),
        {"partial": False, "fmt": ContentFormat.TLV, "timeout": None},
    )
    await client.patch(api("/1/0"), json={"values": {"/1/0/1": 300}})
    assert fake.last[1][2] == {Path.of(1, 0, 1): 300}
    assert fake.last[2]["partial"] is True


async def test_opaque_values_come_in_as_base64(client: httpx.AsyncClient, fake: FakeServer) -> None:
    await client.put(api("/5/0/0"), json={"values": {"/5/0/0": "AAEC"}})
    assert fake.last[1][2] == {Path.of(5, 0, 0): b"\x00\x01\x02"}


async def test_execute_with_and_without_arguments(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    assert (await client.post(api("/3/0/4/execute"), json={"args": "0='now'"})).json() == {
        "status": "2.04"
    }
    assert fake.last == ("execute", (EP, Path.of(3, 0, 4), "0='now'"), {"timeout": None})
    await client.post(api("/3/0/4/execute?timeout=3"))
    assert fake.last == ("execute", (EP, Path.of(3, 0, 4), ""), {"timeout": 3.0})


async def test_create_posts_to_the_object_and_reports_the_location(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    fake.answer = CreatedResponse(Path.of(3303, 1))
    response = await client.post(api("/3303"), json={"values": {"/3303/1/5700": 21.5}})
    assert response.json() == {"status": "2.01", "location": "/3303/1"}
    assert fake.last == (
        "create",
        (EP, 3303, {Path.of(3303, 1, 5700): 21.5}),
        {"fmt": None, "timeout": None},
    )


async def test_delete(client: httpx.AsyncClient, fake: FakeServer) -> None:
    assert (await client.delete(api("/3303/1"))).json() == {"status": "2.02"}
    assert fake.last == ("delete", (EP, Path.of(3303, 1)), {"timeout": None})


async def test_discover_answers_links_as_json(client: httpx.AsyncClient, fake: FakeServer) -> None:
    fake.answer = LinksResponse((Link("/3/0"), Link("/3/0/9", {"pmin": "10", "gt": "50"})))
    response = await client.get(api("/3/0/discover"), params={"depth": "1"})
    assert response.json() == {
        "status": "2.05",
        "links": [
            {"target": "/3/0", "attributes": {}},
            {"target": "/3/0/9", "attributes": {"pmin": "10", "gt": "50"}},
        ],
    }
    assert fake.last == ("discover", (EP, Path.of(3, 0)), {"depth": 1, "timeout": None})


async def test_write_attributes_from_the_query_and_bare_names_remove(
    client: httpx.AsyncClient, fake: FakeServer
) -> None:
    response = await client.put(api("/3/0/9/attributes?pmin=10&pmax=60&gt=50.5&st&timeout=4"))
    assert response.json() == {"status": "2.04"}
    assert fake.last == (
        "write_attributes",
        (EP, Path.of(3, 0, 9), NotificationAttributes(pmin=10, pmax=60, gt=50.5, st=UNSET)),
        {"timeout": 4.0},
    )


async def test_observe_and_cancel(client: httpx.AsyncClient, fake: FakeServer) -> None:
    fake.answer = NodeResponse(SingleResource(9, 87), content_format=ContentFormat.TEXT, observe=2)
    response = await client.post(api("/3/0/9/observe"), params={"format": "text"})
    assert response.json() == {"status": "2.05", "contentFormat": 0, "values": {"/3/0/9": 87}}
    assert fake.last == (
        "observe",
        (EP, Path.of(3, 0, 9)),
        {"fmt": ContentFormat.TEXT, "timeout": None},
    )
    await client.delete(api("/3/0/9/observe"))
    assert fake.last == (
        "cancel_observation",
        (EP, Path.of(3, 0, 9)),
        {"active": True, "timeout": None},
    )
    await client.delete(api("/3/0/9/observe?active=false"))
    assert fake.last[2]["active"] is False


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"\x00\xff", "AP8="),
        (2**64 - 1, 2**64 - 1),
        (-(2**63), -(2**63)),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (ObjectLink(3, 0), "3:0"),
        ("a\udc80b", "a\ufffdb"),
    ],
)
async def test_any_value_a_device_sends_is_answered_as_valid_json(
    client: httpx.AsyncClient, fake: FakeServer, value: Value, shown: object
) -> None:
    fake.answer = ValuesResponse({Path.of(3, 0, 9): value, Path.of(3, 0, 1): "ok"}, 112)
    response = await client.post(api("/composite/read"), json={"paths": ["/3/0"]})
    assert response.status_code == 200
    body = json.loads(response.content, parse_constant=pytest.fail)  # no NaN/Infinity literals
    assert body["values"] == {"/3/0/9": shown, "/3/0/1": "ok"}


async def test_composite_operations(client: httpx.AsyncClient, fake: FakeServer) -> None:
    fake.answer = ValuesResponse({Path.of(3, 0, 9): 87, Path.of(1, 0, 1): 300}, content_format=112)
    paths = {"paths": ["/3/0/9", "/1/0/1"]}
    response = await client.post(api("/composite/read"), json=paths)
    assert response.json() == {
        "status": "2.05",
        "contentFormat": 112,
        "values": {"/1/0/1": 300, "/3/0/9": 87},
    }
    assert fake.last == (
        "read_composite",
        (EP, [Path.of(3, 0, 9), Path.of(1, 0, 1)]),
        {"fmt": None, "timeout": None},
    )
    await client.post(api("/composite/observe?format=senml-json"), json=paths)
    assert fake.last[0] == "observe_composite"
    assert fake.last[2]["fmt"] == ContentFormat.SENML_JSON
    await client.request("DELETE", api("/composite/observe"), json=paths)
    assert fake.last == (
        "cancel_observation",
        (EP, [Path.of(3, 0, 9), Path.of(1, 0, 1)]),
        {"active": True, "timeout": None},
    )
    fake.answer = EmptyResponse()
    response = await client.post(api("/composite/write"), json={"values": {"/1/0/1": 60}})
    assert response.json() == {"status": "2.04"}
    assert fake.last == (
        "write_composite",
        (EP, {Path.of(1, 0, 1): 60}),
        {"fmt": None, "timeout": None},
    )
