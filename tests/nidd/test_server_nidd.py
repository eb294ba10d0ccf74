"""The server over NIDD against the emulated operator network (``lwm2m network``'s service,
in process): the server's T8 requests are checked against the 3GPP OpenAPI files, the device
is our client engine behind our modem driver on the emulator's AT port (AT+CSODCP up,
+CRTDCP down), and everything is asserted through the server's API."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

from lwm2m.client.engine import ClientConfig, ClientEngine
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.config import EndpointConfig
from lwm2m.model import SingleResource
from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig
from lwm2m.operations import NodeResponse, NotificationAttributes
from lwm2m.server import LwM2MServer, NotificationReceived, ServerConfig
from lwm2m.server.errors import RequestFailedError, RequestTimeoutError
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.channel import Modem, open_modem
from lwm2m.transport.modem.nidd import NiddTransport as ModemNidd
from lwm2m.transport.nidd import transport as nidd_transport
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.transport.nidd.t8 import T8Client
from lwm2m.web.serving import WebServer
from tests.network.spec import bundled

EP = "urn:imei:350000000000001"
SERVER_PEER = ("lwm2m-server", 0)  # the device's one NIDD peer; NIDD has no addresses
TOKEN = "nidd-test-token-0123456789"
DEVICE_COAP = EndpointConfig(ack_timeout=3.0, max_retransmit=2, max_latency=2.0)
SERVER_NIDD = EndpointConfig(ack_timeout=3.0, max_retransmit=2, max_latency=2.0)
"""Shorter than coap.config.NIDD so a test ends in seconds; loopback loses nothing."""
T = TypeVar("T")


async def eventually(check: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check}")
        await asyncio.sleep(0.02)
    return result


# -- the server's T8 requests, checked against TS 29.122 ---------------------------------------

CHECKED: list[str] = []
_APIS = {"/3gpp-nidd/v1": "nidd", "/3gpp-monitoring-event/v1": "monitoring"}


async def _check_request(request: httpx.Request) -> None:
    api = next(api for root, api in _APIS.items() if request.url.path.startswith(root))
    body = request.content or None
    mock = MockRequest(
        "http://t8.test",
        request.method.lower(),
        request.url.path,
        data=body,
        content_type=request.headers.get("content-type", "application/json"),
    )
    OpenAPI.from_dict(bundled(api)).validate_request(mock)  # raises when it is not valid
    CHECKED.append(f"{request.method} {request.url.path}")


class CheckedT8Client(T8Client):
    def __init__(self, base_url: str, scs_as_id: str, **options: Any) -> None:
        timeout = options.pop("timeout", 10.0)
        client = httpx.AsyncClient(timeout=timeout, event_hooks={"request": [_check_request]})
        super().__init__(base_url, scs_as_id, client=client, **options)


# -- the rig ------------------------------------------------------------------------------------


@dataclass
class Rig:
    network: NetworkService
    server: LwM2MServer
    web: WebServer
    peer: NiddPeer
    modem: Modem | None = None
    engine: ClientEngine | None = None
    link: ModemNidd[ClientEngine] | None = None

    async def device(self, *, binding: str, active_time: int, tau: int = 3600) -> ClientEngine:
        """Power a modem on the AT port, attach with the PSM active time asked for, and start
        a client engine over NIDD; returns once the server has its registration."""
        host, port = self.network.at_address
        modem = self.modem = await open_modem(f"socket://{host}:{port}")
        await modem.initialise()
        limit = await modem.configure_nidd(1, "nidd")
        await modem.execute(at.request_psm(tau, active_time))
        await modem.execute(at.set_functionality(at.Functionality.FULL))
        await eventually(lambda: _attached(self.network) == self.peer.value)
        account = ServerAccount(1, "coap://127.0.0.1:5683", lifetime=600, binding=binding)
        tree = telekom_device(EP, seed=1, now=time.time(), servers=(account,), bindings="N")
        engine = self.engine = ClientEngine(
            tree,
            EP,
            rng=random.Random(7),
            config=ClientConfig(awake_window=2.0),
            coap=DEVICE_COAP,
            resolve=lambda ssid, uri: SERVER_PEER,
        )

        def drain() -> None:
            while engine.next_event() is not None:
                pass

        link = self.link = ModemNidd(
            engine, drain, modem.channel, SERVER_PEER, cid=1, max_packet_size=limit
        )
        engine.start(link.now())
        link.pump()
        await eventually(lambda: self.server.registrations.get(EP))
        return engine

    async def close(self) -> None:
        if self.link is not None:
            self.link.close()
        if self.modem is not None:
            await self.modem.close()


def _attached(network: NetworkService) -> str | None:
    """The external identifier of the attached UE, if one is."""
    return next((ue.sim.external_id for ue in network.network.ues.values() if ue.attached), None)


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setattr(nidd_transport, "T8Client", CheckedT8Client)
    sims = generate_sims(2)
    network = NetworkService(
        Hss(sims),
        NetworkConfig(policy=GrantPolicy(t3412_min=10), inactivity=0.5, attach_delay=0.0),
        ServiceConfig(at_port=0, t8_port=0),
    )
    await network.start()
    web_port = _free_port()
    settings = NiddSettings(
        url=network.t8_url,
        callback_url=f"http://127.0.0.1:{web_port}/t8",
        token=TOKEN,
        duration=3600.0,
    )
    server = LwM2MServer(
        ServerConfig(
            host="127.0.0.1",
            coap_port=0,
            nidd=settings,
            nidd_coap=SERVER_NIDD,
            awake_window=1.0,
            durability="relaxed",
        )
    )
    web = WebServer(server, host="127.0.0.1", port=web_port)
    await web.start()
    await server.start()
    peer = NiddPeer("externalId", sims[0].external_id)
    rig = Rig(network, server, web, peer)
    try:
        yield rig
    finally:
        await rig.close()
        await server.stop()
        await web.stop()
        await network.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _configured(rig: Rig) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=rig.web.url) as http:
        answer = await http.put(f"/api/nidd/devices/{rig.peer}")
        assert answer.status_code == 201, answer.text

        async def state() -> dict[str, Any]:
            return (await http.get(f"/api/nidd/devices/{rig.peer}")).json()  # type: ignore[no-any-return]

        deadline = time.monotonic() + 10
        while (device := await state())["status"] != "active":
            assert time.monotonic() < deadline, device
            await asyncio.sleep(0.05)
        return device


def _value(response: object) -> object:
    assert isinstance(response, NodeResponse), response
    assert isinstance(response.node, SingleResource), response.node
    return response.node.value


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_register_read_write_observe_deregister_over_nidd(rig: Rig) -> None:
    device = await _configured(rig)
    assert device["maximumPacketSize"] == 1358 * 8
    await rig.device(binding="N", active_time=60)
    server = rig.server
    registration = server.registrations.get(EP)
    assert registration is not None and registration.address == rig.peer

    async with httpx.AsyncClient(base_url=rig.web.url) as http:
        shown = (await http.get(f"/api/clients/{EP}")).json()
        assert shown["address"] == {"transport": "N", "secure": False, "address": str(rig.peer)}
        [listed] = (await http.get("/api/nidd/devices")).json()
        assert listed["endpoint"] == EP

    manufacturer = await server.read(EP, "/3/0/0", timeout=20)
    assert _value(manufacturer) == "lwm2m project"

    await server.write(EP, "/1/0/1", {"/1/0/1": 900}, timeout=20)
    lifetime = await server.read(EP, "/1/0/1", timeout=20)
    assert _value(lifetime) == 900

    notified: list[NotificationReceived] = []
    server.subscribe(lambda e: notified.append(e) if isinstance(e, NotificationReceived) else None)
    await server.write_attributes(EP, "/1/0/1", NotificationAttributes(pmin=0), timeout=20)
    assert _value(await server.observe(EP, "/1/0/1", timeout=20)) == 900
    await server.write(EP, "/1/0/1", {"/1/0/1": 901}, timeout=20)
    note = await eventually(lambda: notified)
    assert list(note[-1].values.values()) == [901]

    assert rig.engine is not None and rig.link is not None
    rig.engine.stop(rig.link.now())
    rig.link.pump()
    await eventually(lambda: server.registrations.get(EP) is None)
    assert {"POST /3gpp-nidd/v1/lwm2m/configurations"} <= set(CHECKED)
    assert any("downlink-data-deliveries" in checked for checked in CHECKED)


async def _asleep(rig: Rig) -> None:
    """Until the device's UE is in PSM (the network buffers MT data for it)."""
    await eventually(lambda: any(ue.in_psm for ue in rig.network.network.ues.values()))


def _wake(rig: Rig) -> None:
    """The device sends an Update (as at its next periodic wake-up): MO data wakes the UE."""
    assert rig.engine is not None and rig.link is not None
    rig.engine.trigger_update(rig.link.now())
    rig.link.pump()


@pytest.mark.timeout(60)
async def test_queue_mode_read_waits_in_the_server_for_the_wake_up(rig: Rig) -> None:
    await _configured(rig)
    # Reachable for 4 s after each release: the Update's release (RAI: one reply expected)
    # leaves time for what the server queued.
    await rig.device(binding="NQ", active_time=4)
    registration = rig.server.registrations.get(EP)
    assert registration is not None and registration.queue_mode
    await _asleep(rig)
    await asyncio.sleep(1.2)  # past the server's awake window: it queues, the SCEF holds nothing
    read = asyncio.ensure_future(rig.server.read(EP, "/3/0/0", timeout=30))
    await asyncio.sleep(0.5)
    assert not read.done()
    assert rig.server.nidd.describe(rig.peer)["held"] == 0  # not also buffered at the SCEF
    _wake(rig)
    assert _value(await read) == "lwm2m project"
    reachability = rig.server.nidd.describe(rig.peer)["reachability"]
    assert reachability is not None and reachability["event"] == "UE_REACHABILITY"


@pytest.mark.timeout(60)
async def test_a_device_that_never_wakes_gives_a_clear_timeout(rig: Rig) -> None:
    await _configured(rig)
    await rig.device(binding="NQ", active_time=0)
    await _asleep(rig)
    await asyncio.sleep(1.2)
    with pytest.raises(RequestTimeoutError, match="no answer within 2"):
        await rig.server.read(EP, "/3/0/0", timeout=2)


@pytest.mark.timeout(60)
async def test_data_the_scef_buffers_is_not_retransmitted_and_arrives_at_wake_up(
    rig: Rig,
) -> None:
    await _configured(rig)
    # PSM with a TAU every 10 s: within maximumLatency, so the SCEF buffers (BUFFERING...)
    await rig.device(binding="N", active_time=0, tau=10)  # no queue mode: sent at once
    await _asleep(rig)
    before = sum("downlink-data-deliveries" in checked for checked in CHECKED)
    read = asyncio.ensure_future(rig.server.read(EP, "/3/0/0", timeout=30))
    await eventually(lambda: rig.server.nidd.describe(rig.peer)["held"] == 1)
    assert _value(await read) == "lwm2m project"  # delivered at the periodic TAU
    sent = sum("downlink-data-deliveries" in checked for checked in CHECKED) - before
    assert sent == 1  # the CoAP retransmissions (after 3-4.5 s, 6-9 s) stayed held back
    await eventually(lambda: rig.server.nidd.describe(rig.peer)["held"] == 0)


@pytest.mark.timeout(60)
async def test_a_delivery_the_network_refuses_fails_the_request_at_once(rig: Rig) -> None:
    await _configured(rig)
    await rig.device(binding="N", active_time=0)  # PSM, next TAU in an hour: past any latency
    await _asleep(rig)
    started = time.monotonic()
    with pytest.raises(RequestFailedError, match="FAILURE_TEMPORARILY_NOT_REACHABLE"):
        await rig.server.read(EP, "/3/0/0", timeout=30)
    assert time.monotonic() - started < 3.0  # before CoAP's first retransmission
    assert rig.server.registrations.get(EP) is not None


@pytest.mark.timeout(60)
async def test_the_callback_route_refuses_bad_input_and_strangers(rig: Rig) -> None:
    await _configured(rig)
    config = rig.server.nidd.describe(rig.peer)["configuration"]
    stranger = {"niddConfiguration": f"http://x/{config}", "externalId": "x@y", "data": "AA=="}
    ours = {"niddConfiguration": f"http://x/{config}", "externalId": rig.peer.value, "data": "AA"}
    async with httpx.AsyncClient(base_url=rig.web.url) as http:
        assert (await http.post(f"/t8/{'x' * 20}/nidd", json=stranger)).status_code == 404
        assert (await http.post(f"/t8/{TOKEN}/nidd", json=stranger)).status_code == 404
        assert (await http.post(f"/t8/{TOKEN}/nidd", json=ours)).status_code == 400  # base64
        bad = await http.post(f"/t8/{TOKEN}/nidd", content=b"{", headers=_JSON)
        assert bad.status_code == 400
        huge = await http.post(f"/t8/{TOKEN}/nidd", content=b"[" * 100_000, headers=_JSON)
        assert huge.status_code == 413
        unknown = {"niddDownlinkDataTransfer": "http://x/mt9", "deliveryStatus": "SUCCESS"}
        assert (await http.post(f"/t8/{TOKEN}/nidd", json=unknown)).status_code == 404
        device = (await http.get(f"/api/nidd/devices/{rig.peer}")).json()
    assert device["status"] == "active" and device["configuration"] == config


_JSON = {"content-type": "application/json"}
