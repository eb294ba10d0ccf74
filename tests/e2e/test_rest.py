"""ETS cases driven through the REST API: HTTP in, LwM2M over UDP to our device, and back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from lwm2m.client.engine import DeviceRequest
from lwm2m.client.standard.device import Reboot
from lwm2m.coap import Code
from lwm2m.codec import ContentFormat
from lwm2m.model import Path
from tests.e2e.conftest import EP, WAIT, Device

pytestmark = pytest.mark.timeout(30)


def api(node: str = "") -> str:
    return f"/api/clients/{EP}{node}"


async def next_event(lines: AsyncIterator[str], kind: str) -> dict[str, object]:
    """The next server-sent event of type ``kind``."""
    async with asyncio.timeout(WAIT):
        async for line in lines:
            if line.startswith("data: "):
                event: dict[str, object] = json.loads(line.removeprefix("data: "))
                if event["type"] == kind:
                    return event
    raise AssertionError("the event stream ended")


async def test_int_101_registration_over_rest(device: Device, rest: httpx.AsyncClient) -> None:
    (client,) = (await rest.get("/api/clients")).json()
    assert client["endpoint"] == EP
    assert (client["lwm2mVersion"], client["binding"], client["lifetime"]) == ("1.1", "U", 30)
    assert client["address"] == {
        "transport": "U",
        "secure": False,
        "address": "{}:{}".format(*device.tap.client_address),
    }
    targets = {link["target"] for link in client["objectLinks"]}
    assert {"/3/0", "/4/0", "/19/0"} <= targets
    assert (await rest.get(api())).json() == client


async def test_int_203_read_device_object_tlv_over_rest(
    device: Device, rest: httpx.AsyncClient
) -> None:
    mark = len(device.tap.log)
    response = await rest.get(api("/3/0"), params={"format": "tlv"})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["contentFormat"]) == ("2.05", ContentFormat.TLV)
    assert body["values"]["/3/0/0"] == "lwm2m project"
    assert body["values"]["/3/0/6/0"] == 1
    request, answer = device.tap.exchange(mark)
    assert (request.options.accept, answer.options.content_format) == (11542, 11542)


async def test_int_226_256_241_write_and_execute_over_rest(
    device: Device, rest: httpx.AsyncClient
) -> None:
    response = await rest.patch(api("/1/0"), json={"values": {"/1/0/2": 4, "/1/0/3": 40}})
    assert response.json() == {"status": "2.04"}
    assert (device.object(1).get(0, 2), device.object(1).get(0, 3)) == (4, 40)
    response = await rest.put(api("/3/0/0"), json={"values": {"/3/0/0": "forged"}})
    assert response.status_code == 200
    assert response.json()["status"] == "4.05"
    response = await rest.post(api("/3/0/4/execute"), json={"args": ""})
    assert response.json() == {"status": "2.04"}
    assert await device.wait_client(DeviceRequest) == DeviceRequest(Reboot())


async def test_int_301_observe_over_rest_streams_notifications(
    device: Device, rest: httpx.AsyncClient
) -> None:
    async with rest.stream("GET", "/api/events") as events:
        lines = events.aiter_lines()
        response = await rest.post(api("/3/0/9/observe"), params={"format": "text"})
        assert response.json() == {"status": "2.05", "contentFormat": 0, "values": {"/3/0/9": 100}}
        device.object(3).set(0, 9, 42)
        event = await next_event(lines, "notification")
    assert (event["endpoint"], event["path"], event["values"]) == (EP, "/3/0/9", {"/3/0/9": 42})
    mark = len(device.tap.log)
    assert (await rest.delete(api("/3/0/9/observe"))).json()["status"] == "2.05"
    request, _ = device.tap.exchange(mark)
    assert (request.code, request.options.observe) == (Code.GET, 1)


async def test_int_229_230_composite_over_rest(device: Device, rest: httpx.AsyncClient) -> None:
    response = await rest.post(
        api("/composite/write"), json={"values": {"/3/0/14": "+09:00", "/1/0/2": 9}}
    )
    assert response.json() == {"status": "2.04"}
    response = await rest.post(
        api("/composite/read"),
        json={"paths": ["/3/0/14", "/1/0/2", "/3/0/0"]},
        params={"format": "senml-json"},
    )
    assert response.json() == {
        "status": "2.05",
        "contentFormat": 110,
        "values": {"/3/0/14": "+09:00", "/1/0/2": 9, "/3/0/0": "lwm2m project"},
    }
    assert device.tree.read(Path.of(3, 0, 14), server_id=1).value == "+09:00"  # type: ignore[union-attr]
