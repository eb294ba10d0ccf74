"""``lwm2m network``'s SMSC over real loopback sockets against independent SMPP code: an ESME
on the npm ``smpp`` package (tests/peers/node/esme.js, installed by ``make peers``) and the
server's own :class:`~lwm2m.transport.sms.smpp.SmppTransport` (smpp34); the modem is a raw
AT client. The clock runs 60 times faster, so a one-minute periodic TAU takes a second."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import AsyncIterator

import httpx
import pytest

from lwm2m.coap.events import Peer
from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.smsc import SmscConfig
from lwm2m.network.ue import NetworkConfig
from lwm2m.security.credentials import Secret
from lwm2m.transport.nidd.peer import Delivery
from lwm2m.transport.sms.address import Address
from lwm2m.transport.sms.binding import SmsPeer
from lwm2m.transport.sms.concat import split
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.transport.sms.smpp import DeliveryReport, SmppTransport
from lwm2m.transport.sms.tpdu import SmsSubmit, UserData, decode_deliver_pdu, encode_pdu
from lwm2m.transport.sms.udh import Ports, UserDataHeader
from tests.network.test_e2e import AtClient, Receiver
from tests.peers.node_peer import NODE_DIR, NodePeer, NodePeerError

pytestmark = [pytest.mark.peer, pytest.mark.timeout(60)]

SMPP_LIBRARY = NODE_DIR / "node_modules" / "smpp" / "package.json"
SERVER_NUMBER = "4930123456"
WAIT = 15.0


class SmsModem(AtClient):
    """The raw AT client, reading ``+CMT: ,<length>`` and its PDU line as one URC."""

    async def _read(self) -> None:
        cmt: str | None = None
        while line := await self.reader.readline():
            text = line.decode().strip()
            if not text:
                continue
            if cmt is not None:
                await self.urcs.put(f"{cmt} {text}")
                cmt = None
            elif text.startswith("+CMT:"):
                cmt = text
            elif text.startswith("+") and not text.startswith("+CMGS"):
                await self.urcs.put(text)
            else:
                await self._response.put(text)

    async def sms(self) -> bytes:
        """The user data (UDH included) of the next +CMT, checked against its length."""
        urc = await self.urc("+CMT:")
        length, pdu = urc.removeprefix("+CMT: ,").split(" ")
        smsc, deliver = decode_deliver_pdu(bytes.fromhex(pdu))
        assert smsc == Address("491700000000")
        assert int(length) == len(deliver.encode())
        header = b"" if deliver.user_data.header is None else deliver.user_data.header.encode()
        return header + deliver.user_data.data

    async def send_sms(self, destination: str, data: bytes) -> list[str]:
        pdu, length = encode_pdu(SmsSubmit(Address(destination), UserData(data)))
        return await self.command(f"AT+CMGS={length}\r{pdu.hex().upper()}\x1a")


@pytest.fixture
async def service() -> AsyncIterator[NetworkService]:
    config = ServiceConfig(at_port=0, t8_port=0, smpp_port=0, time_scale=60.0)
    sms = SmscConfig(accounts={"esme": Secret(b"secret")})
    running = NetworkService(Hss(generate_sims(2)), NetworkConfig(), config, sms)
    await running.start()
    yield running
    await running.stop()


@contextlib.asynccontextmanager
async def node_esme(service: NetworkService) -> AsyncIterator[NodePeer]:
    if not SMPP_LIBRARY.is_file():
        raise NodePeerError(f"{SMPP_LIBRARY} is missing: run `make peers` (npm ci in {NODE_DIR})")
    peer = NodePeer("esme.js", [f"--port={service.smpp_address[1]}"])
    try:
        bound = await peer.start("bound")
        assert bound["command_status"] == 0
        yield peer
    finally:
        await peer.close()


@contextlib.asynccontextmanager
async def sms_modem(service: NetworkService, psm: bool = False) -> AsyncIterator[SmsModem]:
    modem = SmsModem(*await asyncio.open_connection(*service.at_address))
    try:
        for line in ("ATE0", "AT+CMEE=1", "AT+CEREG=1", "AT+CMGF=0", "AT+CNMI=2,2,0,0,0"):
            assert (await modem.command(line))[-1] == "OK"
        if psm:  # periodic TAU 1 min, no active time: PSM at each release
            assert await modem.command('AT+CPSMS=1,,,"10100001","00000000"') == ["OK"]
        assert await modem.command("AT+CFUN=1") == ["OK"]
        await modem.urc("+CEREG: 1")
        yield modem
    finally:
        await modem.close()


async def test_node_esme_submit_mo_and_receipts(service: NetworkService) -> None:
    sim = next(iter(service.network.hss))
    datagram = bytes(range(200))
    parts = split(datagram, 0x42)
    assert len(parts) == 2
    async with node_esme(service) as esme, sms_modem(service) as modem:
        ids = []
        for part in parts:  # binary, UDH concatenation, receipts asked for
            submit = {
                "cmd": "submit",
                "source_addr": SERVER_NUMBER,
                "destination_addr": sim.msisdn,
                "esm_class": 0x40,
            }
            reply = await esme.request(
                {**submit, "short_message": part.user_data.hex(), "registered_delivery": 1}
            )
            assert reply["command_status"] == 0
            ids.append(reply["message_id"])
        assert [await modem.sms(), await modem.sms()] == [p.user_data for p in parts]
        receipts = [await esme.wait_for("deliver_sm", timeout=WAIT) for _ in parts]
        assert [r["receipted_message_id"] for r in receipts] == ids
        assert {(r["esm_class"], r["message_state"], r["source_addr"]) for r in receipts} == {
            (0x04, 2, sim.msisdn)
        }
        assert b"stat:DELIVRD" in bytes.fromhex(receipts[0]["short_message"])

        # MO: AT+CMGS reaches the ESME as deliver_sm
        answer = await modem.send_sms(SERVER_NUMBER, b"\x40\x02\x12\x34")
        assert answer[0] == ">" and answer[1].startswith("+CMGS: ") and answer[-1] == "OK"
        mo = await esme.wait_for("deliver_sm", timeout=WAIT)
        assert (mo["source_addr"], mo["destination_addr"]) == (sim.msisdn, SERVER_NUMBER)
        assert (mo["short_message"], mo["data_coding"], mo["esm_class"]) == ("40021234", 4, 0)

        # an unknown MSISDN is refused with ESME_RINVDSTADR
        refused = await esme.request({"cmd": "submit", "destination_addr": "4915100000"})
        assert refused["command_status"] == 0x0B
        assert (await esme.request({"cmd": "enquire_link"}))["command_status"] == 0
        assert (await esme.request({"cmd": "unbind"}))["command_status"] == 0
        async with httpx.AsyncClient(base_url=service.t8_url) as t8:
            sms = (await t8.get("/api/network")).json()["sms"]
        assert sms["counters"]["mtDelivered"] == 2 and sms["counters"]["moToEsme"] == 1


async def test_sms_to_a_ue_in_psm_arrives_at_its_wake_up(service: NetworkService) -> None:
    sim = next(iter(service.network.hss))
    async with node_esme(service) as esme, sms_modem(service, psm=True) as modem:
        assert await modem.command('AT+CSODCP=0,1,"00",1') == ["OK"]  # released: PSM
        await asyncio.sleep(0.1)
        submit = {"cmd": "submit", "destination_addr": sim.msisdn, "short_message": "beef"}
        assert (await esme.request({**submit, "registered_delivery": 1}))["command_status"] == 0
        async with httpx.AsyncClient(base_url=service.t8_url) as t8:
            queued = (await t8.get("/api/network")).json()["sms"]["queued"]
        assert [q["msisdn"] for q in queued] == [sim.msisdn]
        assert await modem.sms() == b"\xbe\xef"  # at the periodic TAU, a minute later
        receipt = await esme.wait_for("deliver_sm", timeout=WAIT)
        assert receipt["message_state"] == 2


async def test_smpp_transport_binds_to_our_smsc(service: NetworkService) -> None:
    sim = next(iter(service.network.hss))
    received: list[tuple[bytes, Peer]] = []
    reports: list[DeliveryReport] = []

    class Core:
        def receive(self, data: bytes, peer: Peer, now: float) -> None:
            received.append((data, peer))

    host, port = service.smpp_address
    settings = SmppSettings(
        host, port, "esme", Secret(b"secret"), source=SERVER_NUMBER, response_timeout=5.0
    )
    async with sms_modem(service) as modem:
        transport = SmppTransport(
            settings, Core(), lambda: None, rng=random.Random(3), on_report=reports.append
        )
        transport.start()
        try:
            device = SmsPeer(sim.msisdn)
            long = bytes(range(256))
            assert transport.send(long, device)
            first, second = await modem.sms(), await modem.sms()
            headers = [UserDataHeader.decode(part) for part in (first, second)]
            assert first[headers[0][1] :] + second[headers[1][1] :] == long
            answer = await modem.send_sms(SERVER_NUMBER, b"\x50\x01\x00\x07")
            assert answer[-1] == "OK"
            for _ in range(int(WAIT / 0.05)):
                if received:
                    break
                await asyncio.sleep(0.05)
            assert received == [(b"\x50\x01\x00\x07", device)]
            # no assertion on receipts here: the SMSC answers submit_sm and sends the receipt
            # in one go, and SmppTransport can see the receipt before the message ID
            assert not [r for r in reports if r.outcome is Delivery.FAILED]
        finally:
            await transport.stop()


async def test_t8_device_trigger_reaches_the_modem(service: NetworkService) -> None:
    sim = next(iter(service.network.hss))
    receiver = Receiver()
    await receiver.start()
    try:
        async with sms_modem(service) as modem, httpx.AsyncClient(base_url=service.t8_url) as t8:
            body = {
                "externalId": sim.external_id,
                "notificationDestination": receiver.url,
                "validityPeriod": 3600,
                "priority": "NO_PRIORITY",
                "applicationPortId": 61616,
                "triggerPayload": base64.b64encode(b"\x01wake").decode(),
            }
            created = await t8.post("/3gpp-device-triggering/v1/as/transactions", json=body)
            assert created.status_code == 201
            user_data = await modem.sms()
            header, size = UserDataHeader.decode(user_data)
            assert header == UserDataHeader((Ports(61616, 0),))
            assert user_data[size:] == b"\x01wake"
            report = await receiver.next("result")
            assert report == {"transaction": created.headers["location"], "result": "SUCCESS"}
    finally:
        await receiver.stop()
