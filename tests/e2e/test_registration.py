"""ETS int-101 to int-109: registration, update, de-registration, lifetime, queue mode."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.coap import Code, Message
from lwm2m.codec import ContentFormat
from lwm2m.codec.link import parse_links
from lwm2m.model import SingleResource
from lwm2m.operations import EmptyResponse, NodeResponse
from lwm2m.server import (
    Deregistered,
    Expired,
    QueueDrained,
    Registered,
    RequestQueued,
    Updated,
)
from tests.e2e.conftest import EP, WAIT, Device, eventually, start_server

pytestmark = pytest.mark.timeout(30)


async def test_int_101_initial_registration(device: Device) -> None:
    (register,) = [m for m in device.tap.messages(up=True) if m.code is Code.POST]
    assert register.options.uri_path == ("rd",)
    query = dict(q.split("=", 1) for q in register.options.uri_query)
    assert query == {"ep": EP, "lt": "30", "lwm2m": "1.1", "b": "U"}
    assert register.options.content_format == 40
    targets = {link.target for link in parse_links(register.payload.decode())}
    assert {"/1/0", "/3/0", "/4/0", "/3370/0", "/3371/1"} <= targets
    assert "/0/0" not in targets  # the Security object is never announced
    answer = next(m for m in device.tap.messages(up=False) if m.token == register.token)
    assert answer.code is Code.CREATED

    registration = device.server.registrations.get(EP)
    assert registration is not None
    assert (registration.lifetime, registration.binding, registration.lwm2m_version) == (
        30,
        "U",
        "1.1",
    )
    assert answer.options.location_path == ("rd", registration.registration_id)
    assert registration.address == device.tap.client_address


def requests_to(device: Device, code: Code, path: tuple[str, ...], since: int = 0) -> list[Message]:
    """Requests of ``code`` the device sent to ``path`` (through the tap)."""
    return [
        m
        for m in device.tap.messages(up=True, since=since)
        if m.code is code and m.options.uri_path == path
    ]


def query(message: Message) -> dict[str, str]:
    return dict(q.partition("=")[::2] for q in message.options.uri_query)


def location(device: Device) -> tuple[str, ...]:
    registration = device.server.registrations.get(EP)
    assert registration is not None
    return registration.location


async def test_int_102_update_after_a_lifetime_write(device: Device) -> None:
    response = await device.server.write(EP, "/1/0/1", {"/1/0/1": 45})
    assert response == EmptyResponse()
    updated = await device.wait_server(Updated)
    assert (updated.previous.lifetime, updated.registration.lifetime) == (30, 45)
    (update,) = requests_to(device, Code.POST, location(device))
    assert query(update) == {"lt": "45"}
    assert not update.payload  # the objects did not change
    assert device.object(1).get(0, 1) == 45


async def test_int_103_deregister_through_disable(device: Device) -> None:
    assert await device.server.write(EP, "/1/0/5", {"/1/0/5": 1}) == EmptyResponse()
    old = location(device)
    mark = len(device.tap.log)
    assert await device.server.execute(EP, "/1/0/4") == EmptyResponse()
    gone = await device.wait_server(Deregistered)
    assert gone.registration.location == old
    assert len(requests_to(device, Code.DELETE, old, mark)) == 1
    assert device.server.registrations.get(EP) is None
    # After the Disable Timeout (1 s) the device registers again, with a new location.
    again = await device.wait_server(Registered, count=2, timeout=4.0)
    assert again.previous is None
    assert again.registration.location != old
    assert len(requests_to(device, Code.POST, ("rd",), mark)) == 1


async def test_int_104_update_triggered_by_execute(device: Device) -> None:
    mark = len(device.tap.log)
    assert await device.server.execute(EP, "/1/0/8") == EmptyResponse()
    updated = await device.wait_server(Updated)
    assert updated.registration.registration_id == updated.previous.registration_id
    (update,) = requests_to(device, Code.POST, location(device), mark)
    assert query(update) == {}
    assert updated.registration.last_seen >= updated.previous.last_seen


async def test_int_105_an_update_the_server_discarded_gets_an_error(device: Device) -> None:
    """The server lost the registration (it restarted): the Update gets 4.04 and the device
    registers again from scratch."""
    old = location(device)
    await device.server.stop()
    device.server = await start_server()
    device.server.subscribe(device.server_events.append)
    device.tap.server = device.server.coap_address
    mark = len(device.tap.log)
    device.client.trigger_update()
    registered = await device.wait_server(Registered, count=2)
    assert registered.previous is None
    (update,) = requests_to(device, Code.POST, old, mark)
    answer = next(m for m in device.tap.messages(up=False, since=mark) if m.token == update.token)
    assert answer.code is Code.NOT_FOUND
    assert len(requests_to(device, Code.POST, ("rd",), mark)) == 1
    assert device.server.registrations.get(EP) is not None
    assert device.client_seen(ClientRegistered)[-1].location == location(device)


@pytest.mark.device(lifetime=2)
async def test_int_107_updates_extend_the_lifetime(device: Device) -> None:
    first = device.server.registrations.get(EP)
    assert first is not None
    await device.wait_server(Updated, count=2, timeout=4.0)
    updates = requests_to(device, Code.POST, first.location)
    stamps = [c.at for c in device.tap.log if c.message in updates]
    assert len(stamps) >= 2
    assert all(b - a < 2.0 for a, b in itertools.pairwise(stamps))
    assert not device.server_seen(Expired)
    current = device.server.registrations.get(EP)
    assert current is not None and current.registration_id == first.registration_id
    assert current.last_seen > first.last_seen


@pytest.mark.device(lifetime=1)
async def test_int_107_registration_expires_when_updates_are_lost(device: Device) -> None:
    device.tap.drop = lambda crossed: crossed.up
    expired = await device.wait_server(Expired, timeout=4.0)
    assert expired.registration.endpoint == EP
    assert device.server.registrations.get(EP) is None
    device.tap.drop = lambda crossed: False


@pytest.mark.device(binding="UQ")
async def test_int_108_queue_mode_on(device: Device) -> None:
    (register,) = requests_to(device, Code.POST, ("rd",))
    assert query(register) == {"ep": EP, "lt": "30", "lwm2m": "1.1", "b": "U", "Q": ""}
    registration = device.server.registrations.get(EP)
    assert registration is not None and registration.queue_mode
    assert registration.to_json()["queueMode"] is True


@pytest.mark.device(binding="UQ")
async def test_int_109_queue_mode_requests_wait_for_the_device_to_wake(device: Device) -> None:
    await eventually(lambda: device.client.engine.asleep)
    mark = len(device.tap.log)
    read = asyncio.create_task(device.server.read(EP, "/3/0/0", fmt=ContentFormat.TEXT))
    queued = await device.wait_server(RequestQueued)
    assert (queued.endpoint, queued.operation) == (EP, "Read")
    await asyncio.sleep(0.3)
    assert not read.done()
    assert device.tap.messages(up=False, since=mark) == []  # nothing went to a sleeping device
    device.client.trigger_update()  # the device wakes up on its own schedule
    response = await asyncio.wait_for(read, WAIT)
    assert response == NodeResponse(SingleResource(0, "lwm2m project"), ContentFormat.TEXT)
    drained = await device.wait_server(QueueDrained)
    assert drained.count == 1
    down = [m for m in device.tap.log[mark:] if m.message is not None and not m.up]
    update_at = next(c.at for c in device.tap.log[mark:] if c.up)
    assert all(c.at >= update_at for c in down)  # the Read followed the Update
    await eventually(lambda: device.client.engine.asleep)
