"""The asyncio adapter and NIDD transport over pyserial's socket:// handler, against a
scripted module on loopback TCP (tests/modem/fake_modem.py)."""

from __future__ import annotations

import asyncio
import random

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.endpoint import DEFAULT, Endpoint
from lwm2m.coap.events import ResponseReceived
from lwm2m.coap.message import Message
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.channel import Modem, open_modem
from lwm2m.transport.modem.commands import Rai
from lwm2m.transport.modem.errors import (
    CmeError,
    CommandTimeoutError,
    ModemUsageError,
    PacketTooLargeError,
)
from lwm2m.transport.modem.nidd import NiddTransport
from lwm2m.transport.modem.quirks import ModemQuirks

from .fake_modem import FakeModem

STANDARD = {
    "ATE0": "OK",
    "AT+CMEE=1": "OK",
    "AT+CEREG=4": "OK",
    "AT+CSCON=1": "OK",
    "AT+CRTDCP=1": "OK",
    "AT+CGSN": "866425031234567\nOK",
    "AT+CIMI": "901700000012345\nOK",
    "AT+CNUM": '+CNUM: ,"+491701234567",145\nOK',
    'AT+CGDCONT=1,"Non-IP","nidd"': "OK",
    "AT+CSODCP=?": "+CSODCP: (0-10),(1358),(0-2),(0,1)\nOK",
    "AT+CEREG?": '+CEREG: 4,1,"1A2B","01A2B3C4",9,,,"00100010","00101000"\nOK',
    "AT+CESQ": "+CESQ: 99,99,255,255,24,45\nOK",
    "AT+CEDRXRDP": '+CEDRXRDP: 5,"0101","0101","0011"\nOK',
}


async def _modem(fake: FakeModem, quirks: ModemQuirks | None = None) -> Modem:
    url = await fake.start()
    if quirks is None:
        return await open_modem(url)
    return await open_modem(url, quirks)


@pytest.mark.timeout(30)
async def test_setup_identity_and_status_over_socket_url() -> None:
    fake = FakeModem(dict(STANDARD))
    modem = await _modem(fake)
    try:
        await modem.initialise()
        identity = await modem.identity()
        limit = await modem.configure_nidd(1, "nidd")
        status = await modem.refresh()
    finally:
        await modem.close()
        await fake.stop()
    assert fake.received[:5] == ["ATE0", "AT+CMEE=1", "AT+CEREG=4", "AT+CSCON=1", "AT+CRTDCP=1"]
    assert (identity.imei, identity.imsi, identity.msisdn) == (
        "866425031234567",
        "901700000012345",
        "+491701234567",
    )
    assert limit == 1358
    assert status.registration is not None and status.registration.cell_id == 0x01A2B3C4
    assert (status.active_time, status.periodic_tau) == (120, 28_800)
    assert status.signal is not None and (status.signal.rsrp, status.signal.rsrq) == (-96, -8.0)
    assert status.edrx is not None and status.edrx.network == 81.92


@pytest.mark.timeout(30)
async def test_typed_errors_timeouts_and_a_lost_link() -> None:
    answers = dict(STANDARD)
    answers["AT+CIMI"] = ""  # never answered
    answers["AT+CFUN=1"] = "+CME ERROR: 10"
    quirks = ModemQuirks("test", settle_after_timeout=0.05, timeouts={"+CIMI": 0.2})
    fake = FakeModem(answers)
    modem = await _modem(fake, quirks)
    try:
        with pytest.raises(CmeError) as refused:
            await modem.execute(at.set_functionality(at.Functionality.FULL))
        assert refused.value.code is not None and refused.value.code.name == "SIM_NOT_INSERTED"
        with pytest.raises(CommandTimeoutError):
            await modem.execute(at.read_imsi())
        assert await modem.execute(at.read_imei()) == "866425031234567"
        fake.answers["AT+CGSN"] = ""
        pending = asyncio.ensure_future(modem.execute(at.read_imei()))
        await asyncio.sleep(0.1)
        fake.drop_connection()
        with pytest.raises(ModemUsageError):
            await pending
        assert modem.channel.lost is not None
    finally:
        await modem.close()
        await fake.stop()


def _answer_coap(fake: FakeModem, sent: list[tuple[bytes, Rai]]) -> None:
    """Play the server behind the SCEF: a CON request comes back as a piggybacked 2.05."""

    def on_csodcp(line: str) -> str:
        cid, length, data, rai = line.split("=", 1)[1].split(",")[:4]
        datagram = bytes.fromhex(data.strip('"'))
        assert len(datagram) == int(length) and cid == "1"
        sent.append((datagram, Rai(int(rai))))
        request = Message.decode(datagram)
        if request.type == Type.CON:
            ack = Message(Type.ACK, Code.CONTENT, request.message_id, request.token, payload=b"hi")
            data = ack.encode()
            asyncio.get_running_loop().call_later(
                0.05, fake.push, f'+CRTDCP: 1,{len(data)},"{data.hex().upper()}"'
            )
        return "OK"

    fake.answers["AT+CSODCP=1,*"] = on_csodcp


@pytest.mark.timeout(30)
async def test_nidd_transport_drives_a_coap_endpoint() -> None:
    fake = FakeModem(dict(STANDARD))
    sent: list[tuple[bytes, Rai]] = []
    _answer_coap(fake, sent)
    modem = await _modem(fake)
    endpoint = Endpoint(DEFAULT, random.Random(7))
    events: list[object] = []
    arrived = asyncio.Event()

    def drain() -> None:
        while (event := endpoint.next_event()) is not None:
            events.append(event)
            arrived.set()

    try:
        await modem.initialise()
        limit = await modem.configure_nidd(1, "nidd")
        transport = NiddTransport(
            endpoint, drain, modem.channel, "server", cid=1, max_packet_size=limit
        )
        handle = endpoint.send_request("server", Code.GET, now=transport.now())
        transport.pump()
        await asyncio.wait_for(arrived.wait(), 5)
        endpoint.send_request("server", Code.GET, confirmable=False, now=transport.now())
        transport.pump()
        for _ in range(100):
            if len(sent) == 2 and transport.stats.sent == 2:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(PacketTooLargeError):
            transport.send(bytes(limit + 1))
        transport.close()
    finally:
        await modem.close()
        await fake.stop()
    response = events[0]
    assert isinstance(response, ResponseReceived) and response.handle == handle
    assert response.response.payload == b"hi"
    assert [rai for _, rai in sent] == [Rai.ONE_DOWNLINK_EXPECTED, Rai.ONE_DOWNLINK_EXPECTED]
    status = transport.status
    assert status.mo_packets == 2 and status.mo_octets == sum(len(d) for d, _ in sent)
    assert status.mt_packets == 1 and transport.stats.refused_too_large == 1
