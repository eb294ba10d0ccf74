"""A sleeping NB-IoT device woken by the server, everything real: ``lwm2m network`` in process
with real sockets (AT over TCP, T8 over HTTP, SMPP over TCP) on a 60x clock, the server with
NIDD (T8) and ``--smpp`` bound to the network's SMSC, and a queue-mode client holding NIDD and
SMS through one emulated modem.

The network grants no PSM and an eDRX cycle of 327.68 s (5.5 s of wall time): idle, the UE
hears paging, NIDD data and SMS only in a 2.56 s paging window once per cycle.  The client's
own next Update is minutes away (lifetime 600 s), so a read answered within seconds was
answered because the trigger woke the device at the next paging window, not because it
happened to update.  (c): a client announcing ``UN`` answers a request over the transport it
is not registered over."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lwm2m.client.cellular import EndpointSource, endpoint_name
from lwm2m.client.device import LwM2MClient, SmsLink
from lwm2m.client.engine import ClientConfig
from lwm2m.client.nidd import NiddLink
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.smsc import SmscConfig
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig
from lwm2m.security.credentials import Secret
from lwm2m.server import LwM2MServer, ServerConfig, ServerEvent
from lwm2m.server.events import DeviceWoken, WakeTriggered
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.web.serving import WebServer
from tests.network.test_e2e import Receiver
from tests.nidd.test_server_nidd import DEVICE_COAP, SERVER_NIDD, TOKEN, _free_port, _value

pytestmark = pytest.mark.timeout(60)

SERVER_NUMBER = "4930123456"
EDRX = 327.68
LIFETIME = 600


@dataclass
class Rig:
    network: NetworkService
    server: LwM2MServer
    web: WebServer
    events: list[ServerEvent]

    @property
    def ue(self) -> dict[str, Any]:
        [ue] = self.network.status()["ues"]
        return ue  # type: ignore[no-any-return]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    policy = GrantPolicy(psm=False, edrx_min=EDRX, edrx_max=EDRX, ptw=2.56)
    network = NetworkService(
        Hss(generate_sims(1)),
        NetworkConfig(policy=policy, inactivity=20.0, attach_delay=0.0),
        ServiceConfig(at_port=0, t8_port=0, smpp_port=0, time_scale=60.0),
        SmscConfig(accounts={"esme": Secret(b"secret")}),
    )
    await network.start()
    web_port = _free_port()
    smpp_host, smpp_port = network.smpp_address
    server = LwM2MServer(
        ServerConfig(
            host="127.0.0.1",
            coap_port=0,
            nidd=NiddSettings(
                url=network.t8_url,
                callback_url=f"http://127.0.0.1:{web_port}/t8",
                token=TOKEN,
                duration=3600.0,
            ),
            nidd_coap=SERVER_NIDD,
            sms=SmppSettings(
                smpp_host,
                smpp_port,
                "esme",
                Secret(b"secret"),
                source=SERVER_NUMBER,
                response_timeout=5.0,
            ),
            awake_window=1.0,
            durability="relaxed",
        )
    )
    events: list[ServerEvent] = []
    server.subscribe(events.append)
    web = WebServer(server, host="127.0.0.1", port=web_port)
    await web.start()
    await server.start()
    try:
        yield Rig(network, server, web, events)
    finally:
        await server.stop()
        await web.stop()
        await network.stop()


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.02)
    return result


async def _nidd_configured(rig: Rig, http: httpx.AsyncClient) -> None:
    external_id = rig.ue["sim"]["externalId"]
    assert (await http.put(f"/api/nidd/devices/{external_id}")).status_code == 201

    async def active() -> bool:
        return (await http.get(f"/api/nidd/devices/{external_id}")).json()["status"] == "active"

    deadline = time.monotonic() + 10
    while not await active():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def device(
    rig: Rig, *, binding: str, preferred: str | None = None, sms: bool = True
) -> AsyncIterator[LwM2MClient]:
    """The client on the network's modem: NIDD, SMS through the same modem when ``sms``, UDP
    when the binding names it; /0/0/9 is the server's SMS number."""
    host, port = rig.network.at_address
    link = await NiddLink.open(f"socket://{host}:{port}")
    endpoint = endpoint_name(link.identity, EndpointSource.IMEI)
    account = ServerAccount(1, "nidd:", lifetime=LIFETIME, default_pmin=0, binding=binding)
    held = "U" * ("U" in binding) + "N" + "S" * sms
    tree = telekom_device(
        endpoint, seed=3, now=time.time(), servers=(account,), bindings=held + "Q", modem=True
    )
    tree.object(0).set(0, 9, SERVER_NUMBER)  # type: ignore[attr-defined]
    if preferred is not None:
        tree.object(1).write(0, 22, preferred, replace=False)
    try:
        await link.attach(tree, apn="nidd", timeout=10)
        assert link.identity.msisdn
        client = LwM2MClient(
            tree,
            endpoint,
            nidd=link,
            sms=SmsLink(link.modem, link.identity.msisdn) if sms else None,
            udp="U" in binding,
            servers={1: rig.server.coap_address},
            local_address=("127.0.0.1", 0),
            coap=DEVICE_COAP,
            config=ClientConfig(awake_window=1.0),
            tick_interval=0.5,
        )
        await client.start()
        try:
            yield client
        finally:
            await client.stop(timeout=20)
    finally:
        await link.close()


async def _asleep_between_windows(rig: Rig, client: LwM2MClient) -> None:
    """The client sleeps, the server counts it asleep, and the UE is idle between paging
    windows: nothing can reach it before the next one."""
    await until(lambda: client.engine.asleep, "the client's sleep")
    await until(
        lambda: rig.ue["reachability"] == "between eDRX paging windows", "the UE's eDRX sleep"
    )
    await asyncio.sleep(1.1)  # past the server's awake window


async def _woken_read(rig: Rig, client: LwM2MClient, channel: str) -> None:
    endpoint = client.endpoint_name
    await _asleep_between_windows(rig, client)
    updates = rig.server.registrations.get(endpoint)
    assert updates is not None
    before = updates.last_seen
    started = time.monotonic()
    read = asyncio.ensure_future(rig.server.read(endpoint, "/3/0/0", timeout=40))
    [triggered] = await until(
        lambda: [e for e in rig.events if isinstance(e, WakeTriggered)], "the trigger"
    )
    assert triggered.channel == channel and not read.done()
    assert _value(await read) == "lwm2m project"
    elapsed = time.monotonic() - started
    registration = rig.server.registrations.get(endpoint)
    assert registration is not None and registration.last_seen > before
    assert isinstance(registration.address, NiddPeer)  # over the account's transport, N
    [woken] = [e for e in rig.events if isinstance(e, DeviceWoken)]
    assert woken.channel == channel
    # within about one eDRX cycle, long before the client's own Update (~LIFETIME)
    assert elapsed < EDRX / 60 + 10 < LIFETIME / 2


async def test_a_queued_read_wakes_the_device_by_an_smpp_sms_trigger(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.web.url, timeout=20) as http:
        await _nidd_configured(rig, http)
        async with device(rig, binding="NSQ") as client:
            endpoint = client.endpoint_name
            registration = await until(
                lambda: rig.server.registrations.get(endpoint), "the registration"
            )
            assert (registration.binding, registration.queue_mode) == ("NS", True)
            assert registration.sms == rig.ue["sim"]["msisdn"]  # from AT+CNUM
            await _woken_read(rig, client, "sms")
    sms = rig.network.status()["sms"]["counters"]
    assert sms["mtDelivered"] >= 1 and sms["submitted"] >= 1


async def test_a_queued_read_wakes_the_device_by_a_t8_device_trigger(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.web.url, timeout=20) as http:
        await _nidd_configured(rig, http)
        async with device(rig, binding="NSQ") as client:
            endpoint = client.endpoint_name
            await until(lambda: rig.server.registrations.get(endpoint), "the registration")
            policy = await http.put(f"/api/clients/{endpoint}/wake-policy", json={"channel": "t8"})
            assert policy.status_code == 200, policy.text
            await _woken_read(rig, client, "t8")
    [transaction] = rig.network.scef.triggering.resources.values()
    assert transaction.result == "SUCCESS"  # the SMS reached the modem
    assert rig.network.status()["sms"]["counters"]["submitted"] == 0  # no SMPP on this path


async def test_a_client_announcing_un_answers_over_the_transport_it_is_not_on(rig: Rig) -> None:
    """Registered over UDP, the device gets a CoAP GET over NIDD (a T8 downlink delivery of
    our own, the SCS/AS being this test) and answers it over NIDD."""
    receiver = Receiver()
    await receiver.start()
    try:
        async with device(rig, binding="UNQ", preferred="U", sms=False) as client:
            endpoint = client.endpoint_name
            registration = await until(
                lambda: rig.server.registrations.get(endpoint), "the registration"
            )
            assert (registration.binding, registration.queue_mode) == ("UN", True)
            assert isinstance(registration.address, tuple)
            external_id = rig.ue["sim"]["externalId"]
            async with httpx.AsyncClient(base_url=rig.network.t8_url, timeout=10) as t8:
                created = await t8.post(
                    "/3gpp-nidd/v1/test/configurations",
                    json={"externalId": external_id, "notificationDestination": receiver.url},
                )
                assert created.status_code == 201, created.text
                get = Message(
                    Type.CON, Code.GET, 0x4242, b"\x07", Options.build(uri_path=("3", "0", "0"))
                )
                delivery = await t8.post(
                    f"{created.headers['location']}/downlink-data-deliveries",
                    json={
                        "externalId": external_id,
                        "data": base64.b64encode(get.encode()).decode(),
                    },
                )
                assert delivery.status_code in (200, 201), delivery.text
            uplink = await receiver.next("data")
            answer = Message.decode(base64.b64decode(uplink["data"]))
            assert (answer.type, answer.code, answer.message_id, answer.token) == (
                Type.ACK,
                Code.CONTENT,
                0x4242,
                b"\x07",
            )
            assert b"lwm2m project" in answer.payload
            # and over UDP, where it is registered, as before
            assert _value(await rig.server.read(endpoint, "/3/0/0", timeout=20)) == (
                "lwm2m project"
            )
    finally:
        await receiver.stop()
