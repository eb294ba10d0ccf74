"""The operator views over loopback: a device's observations and queue-mode state as the
server holds them (``/state``), and the opt-in CoAP message log (``/messages``), bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.inspection import MAX_WATCHED, PER_DEVICE
from lwm2m.web.serving import WebServer

pytestmark = pytest.mark.timeout(60)

EP = "urn:imei:490154203237519"


@dataclass
class Setup:
    server: LwM2MServer
    http: httpx.AsyncClient


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, awake_window=30))
    await server.start()
    web = WebServer(server, host="127.0.0.1", port=0)
    await web.start()
    account = ServerAccount(1, f"coap://127.0.0.1:{server.coap_address[1]}", lifetime=300)
    tree = telekom_device(EP, seed=5, now=time.time(), servers=[account])
    client = LwM2MClient(tree, EP, local_address=("127.0.0.1", 0))  # binding UQ: queue mode
    await client.start()
    try:
        async with httpx.AsyncClient(base_url=web.url) as http:
            for _ in range(500):
                if server.registrations.get(EP) is not None:
                    break
                await asyncio.sleep(0.01)
            yield Setup(server, http)
    finally:
        await client.stop(timeout=2)
        await web.stop()
        await server.stop()


async def test_state_lists_the_servers_observations_and_the_awake_window(setup: Setup) -> None:
    http = setup.http
    state = (await http.get(f"/api/clients/{EP}/state")).json()
    assert state["observations"] == []
    assert state["queueMode"] is True
    assert state["awake"] is True  # it just registered
    assert 0 < state["awakeFor"] <= 30
    assert state["queued"] == 0
    assert (await http.post(f"/api/clients/{EP}/3/0/9/observe")).json()["status"] == "2.05"
    composite = {"paths": ["/3/0/7", "/3/0/9"]}
    await http.post(f"/api/clients/{EP}/composite/observe", json=composite)
    state = (await http.get(f"/api/clients/{EP}/state")).json()
    assert {"path": "/3/0/9"} in state["observations"]
    assert {"paths": ["/3/0/7", "/3/0/9"]} in state["observations"]
    await http.delete(f"/api/clients/{EP}/3/0/9/observe")
    state = (await http.get(f"/api/clients/{EP}/state")).json()
    assert {"path": "/3/0/9"} not in state["observations"]
    assert (await http.get("/api/clients/nobody/state")).status_code == 404


async def test_message_log_is_opt_in_and_bounded(setup: Setup) -> None:
    http, url = setup.http, f"/api/clients/{EP}/messages"
    await http.get(f"/api/clients/{EP}/3/0/0")
    assert (await http.get(url)).json() == {"capturing": False, "limit": PER_DEVICE, "messages": []}
    assert (await http.put(url)).status_code == 201
    assert (await http.put(url)).status_code == 200
    await http.get(f"/api/clients/{EP}/3/0/0")
    out, answer = (await http.get(url)).json()["messages"]
    assert (out["direction"], out["type"], out["code"]) == ("out", "CON", "GET")
    assert out["options"][:3] == ["Uri-Path: 3", "Uri-Path: 0", "Uri-Path: 0"]
    assert (answer["direction"], answer["type"], answer["code"]) == ("in", "ACK", "2.05")
    assert answer["mid"] == out["mid"] and answer["token"] == out["token"]
    assert answer["payload"] > 0
    for _ in range(PER_DEVICE // 2 + 5):
        await http.get(f"/api/clients/{EP}/3/0/0")
    assert len((await http.get(url)).json()["messages"]) == PER_DEVICE
    assert (await http.delete(url)).status_code == 204
    assert (await http.delete(url)).status_code == 404
    assert not (await http.get(url)).json()["capturing"]
    for n in range(MAX_WATCHED):
        assert (await http.put(f"/api/clients/other{n}/messages")).status_code == 201
    assert (await http.put(url)).status_code == 409
