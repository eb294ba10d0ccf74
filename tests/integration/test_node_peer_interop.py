"""Our server and our client against lwm2m-node-lib (an independent LwM2M 1.0 stack, npm).

- lwm2m-node-lib's client registers to our LwM2MServer, which reads, writes, executes and
  observes it in text/plain, through the Python API and through the REST API.
- Our LwM2MClient (a Telekom-profile device) registers to lwm2m-node-lib's server, which
  reads, writes, executes, discovers and observes it.

The peer's quirks (see tests/peers/node): text/plain only, resource paths only, a new source
port after each Update, and no ACK for a confirmable separate response.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientEvent, DeviceRequest
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.standard.device import Reboot
from lwm2m.coap.config import EndpointConfig
from lwm2m.codec import ContentFormat
from lwm2m.model import Path, SingleResource
from lwm2m.operations import EmptyResponse, NodeResponse
from lwm2m.server import (
    Deregistered,
    LwM2MServer,
    NotificationReceived,
    Registered,
    ServerConfig,
    ServerEvent,
    Updated,
)
from lwm2m.web.serving import WebServer
from tests.peers.node_peer import NodeClient, start_node_client, start_node_server

pytestmark = [pytest.mark.peer, pytest.mark.timeout(40)]

FAST = EndpointConfig(ack_timeout=0.5, max_retransmit=2, max_latency=1.0)
WAIT = 5.0
NODE_EP = "node-interop"
OUR_EP = "urn:imei:490154203237518"
T = TypeVar("T")


async def first(events: list[ServerEvent], kind: type[T], count: int = 1) -> T:
    """The ``count``-th event of ``kind`` (bounded wait)."""

    def found() -> list[T]:
        return [e for e in events if isinstance(e, kind)]

    async with asyncio.timeout(WAIT):
        while len(found()) < count:
            await asyncio.sleep(0.01)
    return found()[count - 1]


@pytest.fixture
async def our_server() -> AsyncIterator[tuple[LwM2MServer, list[ServerEvent]]]:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, coap=FAST))
    events: list[ServerEvent] = []
    server.subscribe(events.append)
    await server.start()
    yield server, events
    await server.stop()


@pytest.fixture
async def node_client(
    our_server: tuple[LwM2MServer, list[ServerEvent]],
) -> AsyncIterator[NodeClient]:
    server, events = our_server
    async with start_node_client(
        port=server.coap_address[1], endpoint=NODE_EP, lifetime=30, ack_timeout=0.5
    ) as client:
        await client.wait_for("registered")
        await first(events, Registered)
        yield client
        assert not client.uncaught_errors()


async def test_node_client_registers_and_is_managed_by_our_server(
    our_server: tuple[LwM2MServer, list[ServerEvent]], node_client: NodeClient
) -> None:
    server, events = our_server
    registration = server.registrations.get(NODE_EP)
    assert registration is not None
    assert (registration.lwm2m_version, registration.lifetime) == ("1.0", 30)
    assert {"/3/0", "/3303/0", "/1234/0"} <= {link.target for link in registration.object_links}

    response = await server.read(NODE_EP, "/3/0/0", timeout=WAIT)
    assert response == NodeResponse(SingleResource(0, "node-peer"), ContentFormat.TEXT)
    assert (await node_client.wait_for("read", path="/3/0/0"))["value"] == "node-peer"
    response = await server.read(NODE_EP, "/3/0/9", timeout=WAIT)
    assert response == NodeResponse(SingleResource(9, 87), ContentFormat.TEXT)  # typed by /3

    written = await server.write(NODE_EP, "/1234/0/1", {"/1234/0/1": "from us"}, timeout=WAIT)
    assert written == EmptyResponse()
    assert (await node_client.wait_for("write", path="/1234/0/1"))["value"] == "from us"
    assert await node_client.get("/1234/0/1") == "from us"

    assert await server.execute(NODE_EP, "/3/0/4", "0='now'", timeout=WAIT) == EmptyResponse()
    assert (await node_client.wait_for("execute", path="/3/0/4"))["args"] == "0='now'"

    # 3303 comes from the shipped OMA registry: its text values are read as floats
    observed = await server.observe(NODE_EP, "/3303/0/5700", timeout=WAIT)
    assert isinstance(observed, NodeResponse) and observed.node == SingleResource(5700, 21.5)
    await node_client.set("/3303/0/5700", "22.25")
    notification = await first(events, NotificationReceived)
    assert (notification.endpoint, notification.path) == (NODE_EP, Path.of(3303, 0, 5700))
    assert dict(notification.values) == {Path.of(3303, 0, 5700): 22.25}

    # An Update from a new source port: the server follows the device there.
    old_address = registration.address
    await node_client.update()
    updated = await first(events, Updated)
    assert updated.registration.address != old_address
    response = await server.read(NODE_EP, "/3303/0/5701", timeout=WAIT)
    assert response == NodeResponse(SingleResource(5701, "Cel"), ContentFormat.TEXT)

    await node_client.deregister()
    gone = await first(events, Deregistered)
    assert gone.registration.endpoint == NODE_EP
    assert server.registrations.get(NODE_EP) is None


async def test_node_client_is_managed_through_the_rest_api(
    our_server: tuple[LwM2MServer, list[ServerEvent]], node_client: NodeClient
) -> None:
    server, _ = our_server
    web = WebServer(server, host="127.0.0.1", port=0)
    await web.start()
    url = f"/api/clients/{NODE_EP}"
    try:
        async with httpx.AsyncClient(base_url=web.url, timeout=WAIT) as http:
            (listed,) = (await http.get("/api/clients")).json()
            assert (listed["endpoint"], listed["lwm2mVersion"]) == (NODE_EP, "1.0")
            response = await http.get(f"{url}/3/0/1")
            assert response.json() == {
                "status": "2.05",
                "contentFormat": 0,
                "values": {"/3/0/1": "lwm2m-node-lib"},
            }
            response = await http.put(f"{url}/1234/0/1", json={"values": {"/1234/0/1": "rest"}})
            assert response.json() == {"status": "2.04"}
            assert (await node_client.wait_for("write", path="/1234/0/1"))["value"] == "rest"
            response = await http.post(f"{url}/3/0/4/execute", json={"args": "1"})
            assert response.json() == {"status": "2.04"}
            assert (await node_client.wait_for("execute", path="/3/0/4"))["args"] == "1"

            async with http.stream("GET", "/api/events") as stream:
                lines = stream.aiter_lines()
                response = await http.post(f"{url}/3/0/9/observe")
                assert response.json() == {
                    "status": "2.05",
                    "contentFormat": 0,
                    "values": {"/3/0/9": 87},
                }
                await node_client.set("/3/0/9", "64")
                event = await next_notification(lines)
            assert (event["path"], event["values"]) == ("/3/0/9", {"/3/0/9": 64})
            assert (await http.get("/api/clients/nobody/3/0/1")).status_code == 404
    finally:
        await asyncio.wait_for(web.stop(), WAIT)


async def next_notification(lines: AsyncIterator[str]) -> dict[str, object]:
    async with asyncio.timeout(WAIT):
        async for line in lines:
            if line.startswith("data: "):
                event: dict[str, object] = json.loads(line.removeprefix("data: "))
                if event["type"] == "notification":
                    return event
    raise AssertionError("the event stream ended")


async def eventually(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
async def test_our_client_registers_to_the_node_server_which_manages_it(version: str) -> None:
    started = time.monotonic()
    async with start_node_server(ack_timeout=0.5, max_retransmit=2) as node:
        account = ServerAccount(
            1, f"coap://127.0.0.1:{node.port}", lifetime=30, default_pmin=0, binding="U"
        )
        tree = telekom_device(OUR_EP, seed=3, now=time.time(), servers=[account])
        events: list[ClientEvent] = []
        client = LwM2MClient(
            tree,
            OUR_EP,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(lwm2m_version=version),
            coap=FAST,
            seed=3,
            on_event=events.append,
        )
        await client.start()
        try:
            registration = await node.wait_for("registration", endpoint=OUR_EP)
            assert (registration["lifetime"], registration["version"]) == (30, version)
            assert {"/3/0", "/4/0", "/6/0"} <= set(registration["objects"])
            await eventually(lambda: any(isinstance(e, ClientRegistered) for e in events))

            assert await node.read(OUR_EP, "/3/0/0") == "lwm2m project"
            assert await node.read(OUR_EP, "/3/0/2") == "490154203237518"
            assert await node.read(OUR_EP, "/6/0/0") == "50.7374"

            await node.write(OUR_EP, "/3/0/14", "+02:00")
            assert tree.read(Path.of(3, 0, 14), server_id=None) == SingleResource(14, "+02:00")

            await node.execute(OUR_EP, "/3/0/4")
            await eventually(lambda: DeviceRequest(Reboot()) in events)

            links = await node.discover(OUR_EP, "/3/0")
            assert {"</3/0/0>", "</3/0/9>"} <= set(links.split(","))

            # Our observe sequence starts at 1: node-coap drops an Observe option of 0.
            device = tree.object(3)
            assert isinstance(device, SimpleObject)
            device.set(0, 9, 56)
            assert await node.observe(OUR_EP, "/3/0/9") == "56"
            device.set(0, 9, 54)
            notify = await node.wait_for("notify", endpoint=OUR_EP, path="/3/0/9")
            assert notify["value"] == "54"

            client.trigger_update()
            update = await node.wait_for("update", endpoint=OUR_EP)
            assert update["location"] == registration["location"]
        finally:
            await client.stop(timeout=WAIT)
        await node.wait_for("unregistration", endpoint=OUR_EP)
        assert await node.devices() == []
        assert not node.uncaught_errors()
    assert time.monotonic() - started < 20
