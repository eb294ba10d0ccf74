"""The server with an SMSC (``lwm2m server --smpp``) against the independent SMSC of
tests/peers/node/smsc.js (npm ``smpp``): SMS triggers for a sleeping queue-mode device (one per
queued request, the rate limit, ``POST /wake``), checked in the SMSC's recorded submit_sm; and
the SMS binding: a Register delivered as deliver_sm, answers and requests submitted as SMS,
an undelivered SMS failing the request in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiocoap
import httpx
import pytest
from aiocoap import resource

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.security.credentials import Secret
from lwm2m.server import LwM2MServer, QueueDrained, RequestQueued, ServerConfig, ServerEvent
from lwm2m.server.errors import RequestFailedError
from lwm2m.server.events import DeviceWoken, WakeFailed, WakeTriggered
from lwm2m.transport.sms.binding import SmsPeer, Trigger, trigger_datagram
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.web.serving import WebServer
from tests.peers.node_peer import NodePeer
from tests.sms.test_smpp_interop import eventually, smsc

pytestmark = [pytest.mark.peer, pytest.mark.timeout(60)]

EP = "urn:imei:356938035643809"
MSISDN = "491701234567"
SERVER_NUMBER = "4930123456"


class Manufacturer(resource.Resource):
    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=b"sms-device", content_format=0)


@dataclass
class Rig:
    node: NodePeer
    server: LwM2MServer
    http: httpx.AsyncClient
    events: list[ServerEvent]

    def of(self, kind: type) -> list[ServerEvent]:
        return [event for event in self.events if isinstance(event, kind)]

    def submits(self) -> list[dict[str, object]]:
        return [event for event in self.node.events if event.get("event") == "submit_sm"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with smsc() as (node, port):
        settings = SmppSettings(
            "127.0.0.1",
            port,
            "esme",
            Secret(b"secret"),
            source=SERVER_NUMBER,
            reconnect_min=0.05,
            reconnect_max=0.2,
            response_timeout=3.0,
        )
        server = LwM2MServer(
            ServerConfig(
                host="127.0.0.1", coap_port=0, sms=settings, awake_window=0.3, durability="relaxed"
            )
        )
        events: list[ServerEvent] = []
        server.subscribe(events.append)
        web = WebServer(server, host="127.0.0.1", port=0)
        await server.start()
        await web.start()
        try:
            await node.wait_for("bind", accepted=True)
            async with httpx.AsyncClient(base_url=web.url, timeout=30) as http:
                yield Rig(node, server, http, events)
        finally:
            await web.stop()
            await server.stop()


@contextlib.asynccontextmanager
async def udp_device() -> AsyncIterator[aiocoap.Context]:
    site = resource.Site()
    site.add_resource(["3", "0", "0"], Manufacturer())
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", 0), transports=["udp6"]
    )
    try:
        yield context
    finally:
        await context.shutdown()


async def coap(context: aiocoap.Context, **fields: object) -> aiocoap.Message:
    request = context.request(aiocoap.Message(**fields))
    response: aiocoap.Message = await asyncio.wait_for(request.response, 10)
    return response


async def test_a_queued_read_sends_one_sms_trigger_within_the_rate_limit(rig: Rig) -> None:
    host, port = rig.server.coap_address
    base = f"coap://{host}:{port}"
    async with udp_device() as device:
        registered = await coap(
            device,
            code=aiocoap.POST,
            uri=f"{base}/rd?ep={EP}&lt=300&lwm2m=1.1&b=U&sms={MSISDN}&Q",
            payload=b"</1/0>,</3/0>",
            content_format=ContentFormat.LINK,
        )
        assert registered.code == aiocoap.CREATED
        location = "/".join(registered.opt.location_path)
        policy = (await rig.http.get(f"/api/clients/{EP}/wake-policy")).json()
        assert policy == {
            "mode": "trigger",
            "channel": None,
            "maxPerHour": 4,
            "serverInstance": None,
            "paths": [{"channel": "sms", "to": MSISDN, "serverInstance": 0}],
            "sentLastHour": 0,
            "pending": None,
        }
        await asyncio.sleep(0.4)  # past the awake window: the device sleeps

        read = asyncio.ensure_future(rig.http.get(f"/api/clients/{EP}/3/0/0?timeout=20"))
        submit = await rig.node.wait_for("submit_sm")
        trigger = Message.decode(bytes.fromhex(str(submit["short_message"])))
        assert (trigger.type, trigger.code, trigger.payload) == (Type.NON, Code.POST, b"")
        assert trigger.options.uri_path == ("1", "0", "8")
        expected = trigger_datagram(Trigger.REGISTRATION_UPDATE, 0, trigger.message_id)
        assert submit["short_message"] == expected.hex()
        assert (submit["data_coding"], submit["esm_class"]) == (0x04, 0)
        assert (submit["destination_addr"], submit["source_addr"]) == (MSISDN, SERVER_NUMBER)
        assert not read.done()
        assert [type(e) for e in rig.events if isinstance(e, RequestQueued | WakeTriggered)] == [
            RequestQueued,
            WakeTriggered,
        ]

        # the trigger worked: the device sends an Update, the queued read goes out
        updated = await coap(device, code=aiocoap.POST, uri=f"{base}/{location}")
        assert updated.code == aiocoap.CHANGED
        answer = (await read).json()
        assert answer["values"] == {"/3/0/0": "sms-device"}
        [woken] = rig.of(DeviceWoken)
        assert isinstance(woken, DeviceWoken) and woken.channel == "sms"
        assert rig.of(QueueDrained)

        # at most one trigger an hour: the next queued read sends none
        limited = await rig.http.put(f"/api/clients/{EP}/wake-policy", json={"maxPerHour": 1})
        assert limited.status_code == 200 and limited.json()["sentLastHour"] == 1
        await asyncio.sleep(0.4)
        timed_out = await rig.http.get(f"/api/clients/{EP}/3/0/0?timeout=1")
        assert timed_out.status_code == 504
        [held_back] = rig.of(WakeFailed)
        assert isinstance(held_back, WakeFailed) and "maxPerHour" in held_back.reason
        refused = await rig.http.post(f"/api/clients/{EP}/wake")
        assert refused.status_code == 409 and "last hour" in refused.json()["message"]
        assert len(rig.submits()) == 1

        # an explicit wake within a wider limit
        await rig.http.put(f"/api/clients/{EP}/wake-policy", json={"maxPerHour": 5})
        sent = await rig.http.post(f"/api/clients/{EP}/wake", json={"channel": "sms"})
        assert sent.status_code == 200, sent.text
        body = sent.json()
        assert (body["channel"], body["to"], body["serverInstance"]) == ("sms", MSISDN, 0)
        again = await rig.node.wait_for("submit_sm")
        assert again["short_message"] == body["payload"]
        assert (
            await rig.http.post(f"/api/clients/{EP}/wake", json={"channel": "t8"})
        ).status_code == 409
        assert (
            await rig.http.post(f"/api/clients/{EP}/wake", json={"channel": "x"})
        ).status_code == 400
        bad = await rig.http.put(f"/api/clients/{EP}/wake-policy", json={"mode": "sometimes"})
        assert bad.status_code == 400
        assert (await rig.http.post("/api/clients/nobody/wake")).status_code == 404


def _register(message_id: int) -> bytes:
    query = ("ep=sms-device", "lt=600", "lwm2m=1.1", "b=S", f"sms={MSISDN}")
    options = Options.build(uri_path=("rd",), uri_query=query, content_format=40)
    return Message(Type.CON, Code.POST, message_id, b"\x01", options, b"</3/0>").encode()


async def test_a_device_on_the_sms_binding_registers_and_is_served_by_sms(rig: Rig) -> None:
    deliver = {"cmd": "deliver", "source_addr": "+" + MSISDN, "destination_addr": SERVER_NUMBER}
    reply = await rig.node.request({**deliver, "short_message": _register(0x1234).hex()})
    assert reply["command_status"] == 0
    answer = Message.decode(
        bytes.fromhex(str((await rig.node.wait_for("submit_sm"))["short_message"]))
    )
    assert (answer.type, answer.code, answer.message_id) == (Type.ACK, Code.CREATED, 0x1234)
    assert answer.options.location_path[0] == "rd"
    registration = rig.server.registrations.get("sms-device")
    assert registration is not None and registration.address == SmsPeer(MSISDN)
    shown = (await rig.http.get("/api/clients/sms-device")).json()
    assert shown["address"] == {"transport": "S", "secure": False, "address": MSISDN}

    # a request goes out by SMS; the device's answer comes back by SMS
    read = asyncio.ensure_future(rig.server.read("sms-device", "/3/0/0", timeout=20))
    submit = await rig.node.wait_for("submit_sm")
    request = Message.decode(bytes.fromhex(str(submit["short_message"])))
    assert (request.type, request.code, request.options.uri_path) == (
        Type.CON,
        Code.GET,
        ("3", "0", "0"),
    )
    assert submit["destination_addr"] == MSISDN and submit["data_coding"] == 0x04
    response = Message(
        Type.ACK,
        Code.CONTENT,
        request.message_id,
        request.token,
        Options.build(content_format=0),
        b"by sms",
    )
    await rig.node.request({**deliver, "short_message": response.encode().hex()})
    assert (await read).node.value == "by sms"  # type: ignore[attr-defined]

    # an SMS the network could not deliver fails the request at once
    failing = asyncio.ensure_future(rig.server.read("sms-device", "/3/0/1", timeout=30))
    submit = await rig.node.wait_for("submit_sm")
    await eventually(lambda: rig.server.sms.queued == 0)
    receipt = f"id:{submit['message_id']} sub:001 dlvrd:000 stat:UNDELIV err:027 text:"
    await rig.node.request(
        {**deliver, "esm_class": 0x04, "data_coding": 0, "short_message": receipt.encode().hex()}
    )
    with pytest.raises(RequestFailedError, match="UNDELIV"):
        await failing
