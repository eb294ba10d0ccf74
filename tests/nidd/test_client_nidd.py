"""The whole device over NIDD end to end: LwM2MClient with its NiddLink on the emulated
network's AT port (``lwm2m network``'s service), the server with its NIDD transport on the
network's T8 API (the rig of test_server_nidd.py), real sockets on loopback throughout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from lwm2m.client.cellular import EndpointSource, endpoint_name
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.nidd import NiddLink
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.codec import ContentFormat
from lwm2m.model import ObjectInstance
from lwm2m.operations import NodeResponse, NotificationAttributes
from lwm2m.server import NotificationReceived, SendReceived
from lwm2m.server.errors import RequestTimeoutError
from tests.nidd import test_server_nidd
from tests.nidd.test_server_nidd import (
    DEVICE_COAP,
    Rig,
    _asleep,
    _configured,
    _value,
    eventually,
)

rig = test_server_nidd.rig  # the fixture: the emulated network and the server over T8


@contextlib.asynccontextmanager
async def nidd_device(
    rig: Rig,
    *,
    binding: str,
    bindings: str,
    configure: Callable[[ObjectTree], None],
    **options: Any,
) -> AsyncIterator[tuple[LwM2MClient, NiddLink]]:
    """A started device on the emulator's AT port (server account with ``binding``, the
    device's ``bindings``, ``configure`` adjusting its tree, ``options`` for LwM2MClient);
    stopped (de-registered) and its modem closed on the way out."""
    host, port = rig.network.at_address
    link = await NiddLink.open(f"socket://{host}:{port}")
    endpoint = endpoint_name(link.identity, EndpointSource.IMEI)
    account = ServerAccount(1, "nidd:", lifetime=600, default_pmin=0, binding=binding)
    tree = telekom_device(
        endpoint, seed=3, now=time.time(), servers=(account,), bindings=bindings, modem=True
    )
    configure(tree)
    try:
        await link.attach(tree, apn="nidd", timeout=10)
        client = LwM2MClient(
            tree, endpoint, nidd=link, coap=DEVICE_COAP, tick_interval=0.5, **options
        )
        await client.start()
        try:
            yield client, link
        finally:
            await client.stop(timeout=20)
    finally:
        await link.close()


def _device(
    rig: Rig, *, binding: str, active_time: int
) -> contextlib.AbstractAsyncContextManager[tuple[LwM2MClient, NiddLink]]:
    """A NIDD-only device asking for ``active_time`` (T3324)."""
    return nidd_device(
        rig,
        binding=binding,
        bindings="NQ",
        configure=lambda tree: tree.object(10).write(0, 5, active_time, replace=False),
        config=ClientConfig(awake_window=2.0),
    )


@pytest.mark.timeout(90)
async def test_the_device_over_nidd_end_to_end(rig: Rig) -> None:
    await _configured(rig)
    server = rig.server
    started = time.monotonic()
    async with _device(rig, binding="N", active_time=60) as (client, link):
        endpoint = client.endpoint_name
        sim = rig.network.network.hss.lookup(external_id=rig.peer.value)
        assert sim is not None and endpoint == f"urn:imei:{sim.imei}"
        registration = await eventually(lambda: server.registrations.get(endpoint))
        took = time.monotonic() - started
        assert registration.address == rig.peer and registration.binding == "N"
        register_octets = link.status.mo_octets
        print(f"Register over NIDD: {register_octets} octets, registered in {took:.2f} s")

        device = await server.read(endpoint, "/3/0", fmt=ContentFormat.SENML_CBOR, timeout=20)
        assert isinstance(device, NodeResponse) and isinstance(device.node, ObjectInstance)
        assert device.node.resources[0].value == "lwm2m project"  # type: ignore[union-attr]
        assert _value(await server.read(endpoint, "/4/0/0", timeout=20)) == 7  # NB-IoT
        rsrp = _value(await server.read(endpoint, "/4/0/2", timeout=20))
        assert rsrp == link.status.signal.rsrp  # type: ignore[union-attr]
        assert _value(await server.read(endpoint, "/10/0/5", timeout=20)) == 60  # granted

        await server.write(endpoint, "/1/0/1", {"/1/0/1": 900}, timeout=20)
        assert _value(await server.read(endpoint, "/1/0/1", timeout=20)) == 900
        await server.execute(endpoint, "/7/0/6", timeout=20)  # Start collecting

        events: list[object] = []
        server.subscribe(events.append)
        attributes = NotificationAttributes(pmin=0)
        await server.write_attributes(endpoint, "/6/0/0", attributes, timeout=20)
        await server.observe(endpoint, "/6/0/0", timeout=20)
        location = client.tree.object(6)
        assert isinstance(location, SimpleObject)
        location.set(0, 0, 51.5)
        note = await eventually(lambda: [e for e in events if isinstance(e, NotificationReceived)])
        assert 51.5 in note[-1].values.values()

        assert await client.send(["/3/0/9"]) == [Code.CHANGED]
        assert any(isinstance(e, SendReceived) for e in events)
        largest = _value(await server.read(endpoint, "/7/0/4", timeout=20))
        assert isinstance(largest, int) and 0 < largest <= link.max_packet_size
    assert server.registrations.get(endpoint) is None


@pytest.mark.timeout(90)
async def test_a_read_during_psm_is_answered_at_the_wake_up(rig: Rig) -> None:
    await _configured(rig)
    async with _device(rig, binding="NQ", active_time=4) as (client, _):
        endpoint = client.endpoint_name
        registration = await eventually(lambda: rig.server.registrations.get(endpoint))
        assert registration.queue_mode
        await _asleep(rig)  # the network's PSM: unreachable
        await eventually(lambda: client.engine.asleep)
        read = asyncio.ensure_future(rig.server.read(endpoint, "/3/0/0", timeout=30))
        await asyncio.sleep(1.0)
        assert not read.done()
        client.trigger_update()  # its own schedule (lifetime) wakes it; here, now
        assert _value(await read) == "lwm2m project"


@pytest.mark.timeout(90)
async def test_a_device_that_never_wakes_gives_the_api_a_clear_timeout(rig: Rig) -> None:
    await _configured(rig)
    async with _device(rig, binding="NQ", active_time=0) as (client, _):
        endpoint = client.endpoint_name
        await eventually(lambda: rig.server.registrations.get(endpoint))
        await _asleep(rig)
        await asyncio.sleep(1.2)  # past the server's awake window
        with pytest.raises(RequestTimeoutError, match="no answer within 2"):
            await rig.server.read(endpoint, "/3/0/0", timeout=2)
