"""The REST API over the real LwM2MServer and a device registered over loopback UDP.

The device is aiocoap (an independent CoAP stack) answering hand-made LwM2M requests, so these
tests check what goes over the wire, not only what our own client happens to accept.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiocoap
import httpx
import pytest
from aiocoap import resource

from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.codec.link import Link, format_links
from lwm2m.model import Path, Value, builtin_models, node_to_values, values_to_node
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.web.serving import WebServer

pytestmark = pytest.mark.timeout(60)

MODELS = builtin_models()
CODECS = default_codecs(time.time)
EP = "urn:imei:490154203237518"
WAIT = 10.0


class Node(resource.ObservableResource):
    """One LwM2M node of the device: Read, Write, Discover, Write-Attributes, Observe."""

    def __init__(self, device: Device, path: Path) -> None:
        super().__init__()
        self.device = device
        self.path = path

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.accept == ContentFormat.LINK:
            links = [Link(str(self.path))] + [Link(str(p)) for p in self.device.leaves(self.path)]
            return aiocoap.Message(
                payload=format_links(links).encode(), content_format=ContentFormat.LINK
            )
        fmt = request.opt.accept if request.opt.accept is not None else ContentFormat.SENML_CBOR
        node = values_to_node(self.path, self.device.leaves(self.path), MODELS.is_multiple)
        payload = CODECS.get(fmt).encode(self.path, node, MODELS)
        return aiocoap.Message(payload=payload, content_format=fmt)

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        if not request.payload:  # Write-Attributes
            self.device.attributes[self.path] = tuple(request.opt.uri_query)
            return aiocoap.Message(code=aiocoap.CHANGED)
        return self.write(request)

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        if self.path.depth == 3:  # Execute
            self.device.executed.append((self.path, request.payload.decode()))
            return aiocoap.Message(code=aiocoap.CHANGED)
        return self.write(request)

    def write(self, request: aiocoap.Message) -> aiocoap.Message:
        codec = CODECS.get(int(request.opt.content_format))
        node = codec.decode(request.payload, self.path, MODELS)
        self.device.values.update(node_to_values(self.path, node))
        return aiocoap.Message(code=aiocoap.CHANGED)


class TemperatureObject(resource.Resource):
    """/3303: Create makes an instance; /3303/0 can be deleted."""

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        codec = CODECS.get(int(request.opt.content_format))
        node = codec.decode(request.payload, Path.of(3303), MODELS)
        self.device.values.update(node_to_values(Path.of(3303), node))
        return aiocoap.Message(code=aiocoap.CREATED)


class TemperatureInstance(resource.Resource):
    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device

    async def render_delete(self, request: aiocoap.Message) -> aiocoap.Message:
        self.device.deleted.append(Path.of(3303, 0))
        return aiocoap.Message(code=aiocoap.DELETED)


class Root(resource.Resource):
    """``/``: Read-Composite (FETCH) and Write-Composite (iPATCH)."""

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device

    async def render_fetch(self, request: aiocoap.Message) -> aiocoap.Message:
        paths = CODECS.get(int(request.opt.content_format)).decode_paths(request.payload)
        values = {p: v for path in paths for p, v in self.device.leaves(path).items()}
        fmt = request.opt.accept if request.opt.accept is not None else ContentFormat.SENML_CBOR
        payload = CODECS.get(fmt).encode_values(values, MODELS)
        return aiocoap.Message(payload=payload, content_format=fmt)

    async def render_ipatch(self, request: aiocoap.Message) -> aiocoap.Message:
        codec = CODECS.get(int(request.opt.content_format))
        self.device.values.update(codec.decode_values(request.payload, MODELS))
        return aiocoap.Message(code=aiocoap.CHANGED)


class Device:
    """/3/0 (Device) and /3303 (Temperature) of a LwM2M 1.1 device, on loopback UDP."""

    def __init__(self) -> None:
        self.values: dict[Path, Value] = {
            Path.of(3, 0, 0): "Example Corp",
            Path.of(3, 0, 9): 87,
            Path.of(3, 0, 14): "+01:00",
        }
        self.attributes: dict[Path, tuple[str, ...]] = {}
        self.executed: list[tuple[Path, str]] = []
        self.deleted: list[Path] = []
        self.battery = Node(self, Path.of(3, 0, 9))
        self.site = resource.Site()
        for ids in ((3, 0), (3, 0, 14), (3, 0, 4)):
            self.site.add_resource([str(i) for i in ids], Node(self, Path(ids)))
        self.site.add_resource(["3", "0", "9"], self.battery)
        self.site.add_resource([], Root(self))
        self.site.add_resource(["3303"], TemperatureObject(self))
        self.site.add_resource(["3303", "0"], TemperatureInstance(self))
        self.context: aiocoap.Context | None = None

    async def start(self) -> None:
        self.context = await aiocoap.Context.create_server_context(
            self.site, bind=("127.0.0.1", 0), transports=["udp6"]
        )

    async def stop(self) -> None:
        """Close the socket: from now on the device does not answer."""
        if self.context is not None:
            await self.context.shutdown()
            self.context = None

    def leaves(self, path: Path) -> dict[Path, Value]:
        return {p: v for p, v in self.values.items() if p.startswith(path)}

    async def register(
        self,
        server: tuple[str, int],
        version: str = "1.1",
        root: bytes = b'</>;rt="oma.lwm2m"',
    ) -> None:
        assert self.context is not None
        host, port = server
        request = aiocoap.Message(
            code=aiocoap.POST,
            uri=f"coap://{host}:{port}/rd?ep={EP}&lt=300&lwm2m={version}&b=U",
            payload=root + b",</3/0>,</3303/0>",
            content_format=ContentFormat.LINK,
        )
        response = await asyncio.wait_for(self.context.request(request).response, WAIT)
        assert response.code == aiocoap.CREATED

    def set_battery(self, level: int) -> None:
        self.values[Path.of(3, 0, 9)] = level
        self.battery.updated_state()


@pytest.fixture
async def device() -> AsyncIterator[Device]:
    dev = Device()
    await dev.start()
    yield dev
    await dev.stop()


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    lwm2m = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await lwm2m.start()
    yield lwm2m
    await asyncio.wait_for(lwm2m.stop(), WAIT)


@pytest.fixture
async def http(server: LwM2MServer) -> AsyncIterator[httpx.AsyncClient]:
    web = WebServer(server, port=0)
    await web.start()
    async with httpx.AsyncClient(base_url=web.url, timeout=WAIT) as client:
        yield client
    await asyncio.wait_for(web.stop(), WAIT)


@pytest.fixture
async def registered(server: LwM2MServer, http: httpx.AsyncClient, device: Device) -> Device:
    await device.register(server.coap_address)
    return device


def api(node: str = "") -> str:
    return f"/api/clients/{EP}{node}"


async def next_event(lines: AsyncIterator[str]) -> dict[str, object]:
    """The next ``data:`` frame of an event stream, skipping comments and blank lines."""
    async with asyncio.timeout(WAIT):
        async for line in lines:
            if line.startswith("data: "):
                event: dict[str, object] = json.loads(line.removeprefix("data: "))
                return event
    raise AssertionError("the event stream ended")


async def test_registration_is_listed_and_announced(
    server: LwM2MServer, http: httpx.AsyncClient, device: Device
) -> None:
    async with http.stream("GET", "/api/events") as events:
        lines = events.aiter_lines()
        await device.register(server.coap_address)
        event = await next_event(lines)
    assert event["type"] == "registered"
    clients = (await http.get("/api/clients")).json()
    assert [c["endpoint"] for c in clients] == [EP]
    one = (await http.get(api())).json()
    assert one == clients[0]
    assert (one["lwm2mVersion"], one["binding"], one["lifetime"]) == ("1.1", "U", 300)
    assert {link["target"] for link in one["objectLinks"]} >= {"/3/0", "/3303/0"}
    assert (await http.get("/api/clients/nobody")).status_code == 404


async def test_read_in_the_default_and_a_chosen_format(
    http: httpx.AsyncClient, registered: Device
) -> None:
    expected = {"/3/0/0": "Example Corp", "/3/0/9": 87, "/3/0/14": "+01:00"}
    response = await http.get(api("/3/0"))
    assert response.status_code == 200
    assert response.json() == {"status": "2.05", "contentFormat": 112, "values": expected}
    response = await http.get(api("/3/0"), params={"format": "tlv", "timeout": "5"})
    assert response.json() == {"status": "2.05", "contentFormat": 11542, "values": expected}


async def test_device_errors_are_200_with_the_coap_status(
    http: httpx.AsyncClient, registered: Device
) -> None:
    response = await http.get(api("/3/0/1"))
    assert response.status_code == 200
    assert response.json()["status"] == "4.04"


async def test_write_execute_create_delete_reach_the_device(
    http: httpx.AsyncClient, registered: Device
) -> None:
    response = await http.put(api("/3/0/14"), json={"values": {"/3/0/14": "+02:00"}})
    assert response.json() == {"status": "2.04"}
    assert registered.values[Path.of(3, 0, 14)] == "+02:00"
    response = await http.patch(api("/3/0"), json={"values": {"/3/0/14": "+03:00"}})
    assert response.json() == {"status": "2.04"}
    assert registered.values[Path.of(3, 0, 14)] == "+03:00"

    response = await http.post(api("/3/0/4/execute"), json={"args": "0='soon'"})
    assert response.json() == {"status": "2.04"}
    assert registered.executed == [(Path.of(3, 0, 4), "0='soon'")]

    response = await http.post(api("/3303"), json={"values": {"/3303/1/5700": 21.5}})
    assert response.json()["status"] == "2.01"
    assert registered.values[Path.of(3303, 1, 5700)] == 21.5

    assert (await http.delete(api("/3303/0"))).json() == {"status": "2.02"}
    assert registered.deleted == [Path.of(3303, 0)]


async def test_discover_and_write_attributes(http: httpx.AsyncClient, registered: Device) -> None:
    response = await http.get(api("/3/0/discover"))
    assert response.json()["status"] == "2.05"
    assert {link["target"] for link in response.json()["links"]} >= {"/3/0", "/3/0/9"}
    response = await http.put(api("/3/0/9/attributes?pmin=1&pmax=60"))
    assert response.json() == {"status": "2.04"}
    assert set(registered.attributes[Path.of(3, 0, 9)]) == {"pmin=1", "pmax=60"}


async def test_observe_streams_notifications_as_events(
    http: httpx.AsyncClient, registered: Device
) -> None:
    async with http.stream("GET", "/api/events") as events:
        lines = events.aiter_lines()
        response = await http.post(api("/3/0/9/observe"), params={"format": "text"})
        assert response.json() == {"status": "2.05", "contentFormat": 0, "values": {"/3/0/9": 87}}
        registered.set_battery(42)
        event = await next_event(lines)
        while event["type"] != "notification":
            event = await next_event(lines)
    assert (event["endpoint"], event["path"], event["values"]) == (EP, "/3/0/9", {"/3/0/9": 42})
    history = (await http.get(api("/3/0/history"), params={"limit": "5"})).json()["values"]
    assert [(entry["path"], entry["value"]) for entry in history][-1] == ("/3/0/9", 42)
    assert (await http.get(api("/3/0/history"), params={"limit": "0"})).status_code == 400
    response = await http.delete(api("/3/0/9/observe"))
    assert response.status_code == 200


async def test_composite_read_and_write(http: httpx.AsyncClient, registered: Device) -> None:
    body = {"paths": ["/3/0/0", "/3/0/9"]}
    response = await http.post(api("/composite/read"), json=body, params={"format": "senml-json"})
    assert response.json() == {
        "status": "2.05",
        "contentFormat": 110,
        "values": {"/3/0/0": "Example Corp", "/3/0/9": 87},
    }
    response = await http.post(api("/composite/write"), json={"values": {"/3/0/14": "Z"}})
    assert response.json() == {"status": "2.04"}
    assert registered.values[Path.of(3, 0, 14)] == "Z"


async def test_a_device_announcing_senml_json_is_read_in_it(
    server: LwM2MServer, http: httpx.AsyncClient, device: Device
) -> None:
    await device.register(server.coap_address, root=b'</>;rt="oma.lwm2m";ct=110')
    response = await http.get(api("/3/0"))
    assert response.json()["contentFormat"] == ContentFormat.SENML_JSON


async def test_composites_to_a_1_0_device_are_400(
    server: LwM2MServer, http: httpx.AsyncClient, device: Device
) -> None:
    await device.register(server.coap_address, version="1.0")
    response = await http.post(api("/composite/read"), json={"paths": ["/3/0/0"]})
    assert response.status_code == 400
    assert "1.0" in response.json()["message"]


async def test_bad_input_is_400_before_anything_is_sent(
    http: httpx.AsyncClient, registered: Device
) -> None:
    for method, url, body in [
        ("GET", api("/3/zero"), None),
        ("GET", api("/3/0?format=yaml"), None),
        ("PUT", api("/3/0"), b"{not json"),
        ("PUT", api("/3/0"), b'{"values": {"/3/0/9": "full"}}'),
        ("PUT", api("/3/0"), b'{"values": {"/4/0/1": 5}}'),
    ]:
        response = await http.request(method, url, content=body)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["message"]


async def test_a_device_that_stops_answering_is_504(
    http: httpx.AsyncClient, registered: Device
) -> None:
    await registered.stop()
    started = time.monotonic()
    response = await http.get(api("/3/0"), params={"timeout": "0.5"})
    assert response.status_code == 504
    assert "message" in response.json()
    assert time.monotonic() - started < 5
