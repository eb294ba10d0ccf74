"""ETS int-301 to int-311: notification timing, cancelling observations, Observe-Composite and
Send, over real UDP."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from lwm2m.client.engine import ClientError
from lwm2m.coap import Code, Message, Type
from lwm2m.codec import ContentFormat
from lwm2m.model import Path, Value
from lwm2m.operations import (
    CreatedResponse,
    EmptyResponse,
    NodeResponse,
    NotificationAttributes,
    ValuesResponse,
)
from lwm2m.server import (
    Deregistered,
    NotificationReceived,
    ObservationCancelled,
    Registered,
    SendReceived,
)
from tests.e2e.conftest import EP, WAIT, Device, eventually, start_server

pytestmark = pytest.mark.timeout(30)

BATTERY = Path.of(3, 0, 9)


def notifications(device: Device, token: bytes, since: int = 0) -> list[tuple[float, Message]]:
    """Notifications of the observation ``token`` that crossed the tap (not the response
    that started it), with their times."""
    return [
        (c.at, c.message)
        for c in device.tap.log[since:]
        if c.up
        and c.message is not None
        and c.message.type is not Type.ACK
        and c.message.token == token
        and c.message.options.observe is not None
    ]


async def observe(device: Device, path: str) -> bytes:
    """Observe ``path``; the token of the observation."""
    mark = len(device.tap.log)
    response = await device.server.observe(EP, path)
    assert isinstance(response, NodeResponse) and response.observe is not None
    request, answer = device.tap.exchange(mark)
    assert request.options.observe == 0
    assert answer.options.observe is not None
    return request.token


def received(device: Device) -> list[dict[Path, Value]]:
    return [dict(e.values) for e in device.server_seen(NotificationReceived)]


async def test_int_301_pmin_and_pmax_timing(device: Device) -> None:
    attributes = NotificationAttributes(pmin=1, pmax=2)
    assert await device.server.write_attributes(EP, "/3/0/9", attributes) == EmptyResponse()
    token = await observe(device, "/3/0/9")
    started = time.monotonic()
    await asyncio.sleep(0.1)
    device.object(3).set(0, 9, 55)  # changed at 0.1 s: held back until pmin
    await device.wait_server(NotificationReceived, timeout=2.0)
    await device.wait_server(NotificationReceived, count=2, timeout=3.0)  # nothing changed: pmax
    times = [at - started for at, _ in notifications(device, token)]
    assert 0.95 <= times[0] < 1.4, times
    assert 2.95 <= times[1] < 3.4, times
    assert received(device)[:2] == [{BATTERY: 55}, {BATTERY: 55}]
    sequence = [m.options.observe or 0 for _, m in notifications(device, token)]
    assert sequence == sorted(set(sequence))  # rising: RFC 7641 freshness


async def test_int_301_without_pmin_a_change_is_notified_at_once(device: Device) -> None:
    """Device code that changes a value wakes the client at once, not at its next timer."""
    token = await observe(device, "/3/0/9")
    changed = time.monotonic()
    device.object(3).set(0, 9, 33)
    event = await device.wait_server(NotificationReceived)
    ((at, _),) = notifications(device, token)
    assert at - changed < 0.3
    assert dict(event.values) == {BATTERY: 33}


async def test_int_302_cancel_by_reset(device: Device) -> None:
    token = await observe(device, "/3/0/9")
    device.object(3).set(0, 9, 90)
    await device.wait_server(NotificationReceived)
    assert await device.server.cancel_observation(EP, "/3/0/9", active=False) == EmptyResponse()
    mark = len(device.tap.log)
    device.object(3).set(0, 9, 80)
    ((_, notification),) = await eventually(lambda: notifications(device, token, mark))
    reset = await eventually(
        lambda: [m for m in device.tap.messages(up=False, since=mark) if m.type is Type.RST]
    )
    assert reset[0].message_id == notification.message_id
    await asyncio.sleep(0.1)
    device.object(3).set(0, 9, 70)
    await asyncio.sleep(0.3)
    assert len(notifications(device, token, mark)) == 1  # the device forgot the observer
    assert received(device) == [{BATTERY: 90}]


async def test_int_303_cancel_by_observe_1(device: Device) -> None:
    token = await observe(device, "/3/0/9")
    mark = len(device.tap.log)
    response = await device.server.cancel_observation(EP, "/3/0/9")
    assert response == NodeResponse(response.node, ContentFormat.SENML_CBOR)  # type: ignore[union-attr]
    request, answer = device.tap.exchange(mark)
    assert (request.code, request.options.observe, request.token) == (Code.GET, 1, token)
    assert answer.code is Code.CONTENT and answer.options.observe is None
    cancelled = await device.wait_server(ObservationCancelled)
    assert (cancelled.paths, cancelled.reason) == (BATTERY, "cancelled")
    device.object(3).set(0, 9, 10)
    await asyncio.sleep(0.3)
    assert notifications(device, token, mark) == []


async def test_int_304_305_observe_composite_and_cancel(device: Device) -> None:
    paths = ["/3/0/9", "/4/0/2", "/6/0"]
    mark = len(device.tap.log)
    response = await device.server.observe_composite(EP, paths)
    assert isinstance(response, ValuesResponse)
    request, answer = device.tap.exchange(mark)
    assert (request.code, request.options.observe, request.options.accept) == (
        Code.FETCH,
        0,
        ContentFormat.SENML_CBOR,
    )
    assert answer.options.content_format == ContentFormat.SENML_CBOR
    rsrp = device.object(4).get(0, 2)
    assert response.values[BATTERY] == 100 and response.values[Path.of(4, 0, 2)] == rsrp
    assert Path.of(6, 0, 0) in response.values

    device.object(4).set(0, 2, -99)
    event = await device.wait_server(NotificationReceived)
    assert event.path == tuple(Path.parse(p) for p in paths)
    assert event.values[Path.of(4, 0, 2)] == -99 and event.values[BATTERY] == 100

    mark = len(device.tap.log)
    cancelled = await device.server.cancel_observation(EP, paths)
    assert isinstance(cancelled, ValuesResponse)
    request, _ = device.tap.exchange(mark)
    assert (request.code, request.options.observe, request.token) == (Code.FETCH, 1, answer.token)
    device.object(3).set(0, 9, 1)
    await asyncio.sleep(0.3)
    assert len(device.server_seen(NotificationReceived)) == 1
    assert notifications(device, answer.token, mark) == []


async def test_int_306_send(device: Device) -> None:
    mark = len(device.tap.log)
    before = time.time()
    assert await device.client.send(["/3/0/9", "/4/0/2", "/6/0/0"]) == [Code.CHANGED]
    (send,) = [m for m in device.tap.messages(up=True, since=mark) if m.code is Code.POST]
    assert send.options.uri_path == ("dp",)
    assert send.options.content_format == ContentFormat.SENML_CBOR
    event = await device.wait_server(SendReceived)
    assert event.endpoint == EP
    (batch,) = event.batches
    assert batch.values == {
        BATTERY: 100,
        Path.of(4, 0, 2): device.object(4).get(0, 2),
        Path.of(6, 0, 0): pytest.approx(50.7374),
    }
    assert before - 1 <= (batch.timestamp or 0) <= time.time() + 1


async def test_int_307_send_muted_by_the_server(device: Device) -> None:
    assert await device.server.write(EP, "/1/0/23", {"/1/0/23": True}) == EmptyResponse()
    mark = len(device.tap.log)
    with pytest.raises(ClientError, match="mute"):
        await device.client.send(["/3/0/9"])
    await asyncio.sleep(0.1)
    assert device.tap.messages(up=True, since=mark) == []
    assert await device.server.write(EP, "/1/0/23", {"/1/0/23": False}) == EmptyResponse()
    assert await device.client.send(["/3/0/9"]) == [Code.CHANGED]
    assert len(device.server_seen(SendReceived)) == 1


async def test_int_308_309_310_composite_observe_while_instances_come_and_go(
    device: Device,
) -> None:
    response = await device.server.observe_composite(EP, ["/19", "/3/0/9"])
    assert isinstance(response, ValuesResponse)
    assert {p.ids[:2] for p in response.values if p.ids[0] == 19} == {(19, 0)}

    # int-308: an instance is created
    created = await device.server.create(EP, 19, {"/19/1/3": "second", "/19/1/0/0": b"\x01"})
    assert created == CreatedResponse(Path.of(19, 1))
    first = await device.wait_server(NotificationReceived)
    assert first.values[Path.of(19, 1, 3)] == "second"
    assert first.values[Path.of(19, 0, 3)] == "uplink data"

    # int-310: a resource of an instance changes
    assert await device.server.write(EP, "/19/0/3", {"/19/0/3": "changed"}) == EmptyResponse()
    second = await device.wait_server(NotificationReceived, count=2)
    assert second.values[Path.of(19, 0, 3)] == "changed"

    # int-309: an instance is deleted
    assert await device.server.delete(EP, "/19/1") == EmptyResponse()
    third = await device.wait_server(NotificationReceived, count=3)
    assert not any(p.ids[:2] == (19, 1) for p in third.values)
    assert third.values[Path.of(19, 0, 3)] == "changed"
    assert third.values[BATTERY] == 100


async def test_int_311_send_triggered_by_command() -> None:
    """``lwm2m client --send`` (the device's command line) registers, sends, de-registers."""
    server = await start_server()
    events: list[object] = []
    server.subscribe(events.append)
    host, port = server.coap_address
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lwm2m.cli.main",
            "client",
            "--endpoint",
            "urn:imei:311311311311311",
            "--server",
            f"coap://{host}:{port}",
            "--lifetime",
            "60",
            "--seed",
            "3",
            "--send",
            "/3/0/9",
            "/3/0/0",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 3 * WAIT)
    finally:
        await server.stop()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().split() == ["2.04"]
    kinds = [type(e) for e in events]
    assert kinds == [Registered, SendReceived, Deregistered]
    send = events[1]
    assert isinstance(send, SendReceived) and send.endpoint == "urn:imei:311311311311311"
    values = send.batches[0].values
    assert values[Path.of(3, 0, 0)] == "lwm2m project"
    battery = values[BATTERY]
    assert isinstance(battery, int) and 0 <= battery <= 100
