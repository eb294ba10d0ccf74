"""The client's NIDD binding against a scripted NB-IoT module on loopback TCP
(tests/modem/fake_modem.py): the whole device (LwM2MClient, NiddLink) over pyserial's
``socket://`` handler, the fake playing both the module and, behind ``AT+CSODCP`` /
``+CRTDCP``, the LwM2M server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from lwm2m.client.cellular import EndpointSource, endpoint_name
from lwm2m.client.device import LwM2MClient
from lwm2m.client.nidd import NiddLink
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.ratecontrol import UplinkLimit
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport.modem.commands import Rai
from tests.modem.fake_modem import FakeModem

IMEI = "866425031234567"
ANSWERS = {
    "ATE0": "OK",
    "AT+CMEE=1": "OK",
    "AT+CEREG=4": "OK",
    "AT+CSCON=1": "OK",
    "AT+CRTDCP=1": "OK",
    "AT+CGSN": f"{IMEI}\nOK",
    "AT+CIMI": "901700000012345\nOK",
    "AT+CNUM": '+CNUM: ,"+491701234567",145\nOK',
    "AT+CFUN=0": "OK",
    "AT+CFUN=1": "OK",
    'AT+CGDCONT=1,"Non-IP","nidd"': "OK",
    "AT+CSODCP=?": "+CSODCP: (0-10),(512),(0-2),(0,1)\nOK",
    "AT+CPSMS=*": "OK",
    "AT+CEDRXS=*": "OK",
    # registered on NB-IoT (AcT 9), TAC 1A2B, cell 01A2B3C4; T3324 2 min, T3412 8 h
    "AT+CEREG?": '+CEREG: 4,1,"1A2B","01A2B3C4",9,,,"00100010","00101000"\nOK',
    "AT+CESQ": "+CESQ: 99,99,255,255,24,45\nOK",
    "AT+CEDRXRDP": '+CEDRXRDP: 5,"0101","0101","0011"\nOK',
    "AT+CGAPNRC=1": "+CGAPNRC: 1,0,2,120\nOK",
}
FAST = EndpointConfig(ack_timeout=2.0, max_retransmit=2, max_latency=2.0)
T = TypeVar("T")


async def eventually(check: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.02)
    return result


@dataclass
class ScsAs:
    """The server behind the SCEF, as the fake module sees it: each ``AT+CSODCP`` is decoded,
    a Register is answered 2.01, and the tests send requests down as ``+CRTDCP``."""

    fake: FakeModem
    uplink: list[tuple[Message, Rai, int]] = field(default_factory=list)
    mid: int = 0x4000

    def on_csodcp(self, line: str) -> str:
        cid, length, data, rai = line.split("=", 1)[1].split(",")[:4]
        datagram = bytes.fromhex(data.strip('"'))
        assert cid == "1" and len(datagram) == int(length)
        message = Message.decode(datagram)
        self.uplink.append((message, Rai(int(rai)), len(datagram)))
        if message.type == Type.CON and message.code == Code.POST:
            created = Options.build(location_path=("rd", "nidd1"))
            ack = Message(Type.ACK, Code.CREATED, message.message_id, message.token, created)
            self.down(ack)
        elif message.type == Type.CON and message.code in (Code.PUT, Code.DELETE):
            self.down(Message(Type.ACK, Code.CHANGED, message.message_id, message.token))
        return "OK"

    def down(self, message: Message) -> None:
        data = message.encode()
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, self.fake.push, f'+CRTDCP: 1,{len(data)},"{data.hex().upper()}"')

    async def request(
        self, code: Code, path: str, options: Options | None = None, payload: bytes = b""
    ) -> Message:
        """Send a CON request to the device and wait for its piggybacked answer."""
        self.mid += 1
        token = self.mid.to_bytes(2, "big")
        uri = Options.build(uri_path=tuple(path.strip("/").split("/")))
        if options is not None:
            uri = Options([*uri, *options])
        self.down(Message(Type.CON, code, self.mid, token, uri, payload))
        mid = self.mid

        def answer() -> Message | None:
            return next(
                (m for m, _, _ in self.uplink if m.type == Type.ACK and m.message_id == mid),
                None,
            )

        return await eventually(answer)


@dataclass
class Device:
    fake: FakeModem
    server: ScsAs
    link: NiddLink
    client: LwM2MClient
    endpoint: str


@pytest.fixture
async def device() -> AsyncIterator[Device]:
    fake = FakeModem(dict(ANSWERS))
    server = ScsAs(fake)
    fake.answers["AT+CSODCP=1,*"] = server.on_csodcp
    url = await fake.start()
    link = await NiddLink.open(url)
    endpoint = endpoint_name(link.identity, EndpointSource.IMEI)
    account = ServerAccount(1, "nidd:", lifetime=3600, default_pmin=0, binding="N")
    tree = telekom_device(
        endpoint, seed=1, now=time.time(), servers=(account,), bindings="N", modem=True
    )
    await link.attach(tree, apn="nidd")
    client = LwM2MClient(tree, endpoint, nidd=link, coap=FAST, tick_interval=0.2)
    await client.start()
    try:
        yield Device(fake, server, link, client, endpoint)
    finally:
        await client.stop(timeout=5)
        await link.close()
        await fake.stop()


def _registered(device: Device) -> Message:
    return next(m for m, _, _ in device.server.uplink if m.code == Code.POST)


@pytest.mark.timeout(60)
async def test_register_over_csodcp_with_binding_n_and_the_imei_endpoint(device: Device) -> None:
    await eventually(lambda: any(r.online for r in device.client.engine.registrations.values()))
    register = _registered(device)
    query = register.options.uri_query
    assert register.options.uri_path == ("rd",)
    assert f"ep=urn:imei:{IMEI}" in query and "b=N" in query
    rai = next(r for m, r, _ in device.server.uplink if m is register)
    assert rai is Rai.ONE_DOWNLINK_EXPECTED  # a CON: its ACK is the one downlink
    sent = device.fake.received
    assert sent.index("AT+CFUN=0") < sent.index('AT+CGDCONT=1,"Non-IP","nidd"')
    # /10's requested timers (25 h, 60 s, 81.92 s) went to the modem before the attach
    assert sent.index('AT+CPSMS=1,,,"00111001","00011110"') < sent.index("AT+CFUN=1")
    assert 'AT+CEDRXS=2,5,"0101"' in sent
    assert device.link.max_packet_size == 512
    assert device.link.uplink_limit == UplinkLimit(120, 3600.0)


@pytest.mark.timeout(60)
async def test_server_requests_answered_with_modem_values(device: Device) -> None:
    await eventually(lambda: any(r.online for r in device.client.engine.registrations.values()))
    server = device.server

    async def read(path: str) -> bytes:
        answer = await server.request(Code.GET, path)
        assert answer.code == Code.CONTENT, (path, answer)
        return answer.payload

    rai_of_answer = server.uplink[-1][1]
    assert await read("/4/0/0") == b"7"  # NB-IoT, from +CEREG's AcT 9
    assert await read("/4/0/2") == b"-96"  # +CESQ rsrp index 45
    assert await read("/4/0/3") == b"-8"  # rsrq index 24: -8.0 dB
    assert await read("/4/0/8") == str(0x01A2B3C4).encode()
    assert await read("/4/0/12") == str(0x1A2B).encode()
    assert await read("/4/0/7/0") == b"nidd"
    assert await read("/10/0/4") == b"28800"  # granted T3412 from +CEREG
    assert await read("/10/0/5") == b"120"  # granted T3324
    octets = Options.build(accept=42)
    edrx = await server.request(Code.GET, "/10/0/9", octets)
    assert edrx.payload == bytes([0x35])  # +CEDRXRDP: PTW 0011, eDRX 0101 (81.92 s)
    for absent in ("/4/0/9", "/4/0/11", "/3370"):  # not measured: not there
        assert (await server.request(Code.GET, absent)).code == Code.NOT_FOUND
    assert rai_of_answer is Rai.ONE_DOWNLINK_EXPECTED

    # /7 counts the modem's datagrams between Start and Stop
    started = await server.request(Code.POST, "/7/0/6")
    assert started.code == Code.CHANGED
    before = device.link.status.mo_octets
    await read("/3/0/0")
    max_size = int(await read("/7/0/4"))
    average = int(await read("/7/0/5"))
    assert 0 < average <= max_size < 512
    assert device.link.status.mo_octets > before

    # ACK piggybacked responses carry RAI 1: nothing more expected
    acks = [r for m, r, _ in server.uplink if m.type == Type.ACK]
    assert acks and set(acks) == {Rai.NO_FURTHER_DATA}


@pytest.mark.timeout(60)
async def test_a_server_write_to_10_is_requested_from_the_network(device: Device) -> None:
    await eventually(lambda: any(r.online for r in device.client.engine.registrations.values()))
    server, sent = device.server, device.fake.received
    text = Options.build(content_format=0)
    answer = await server.request(Code.PUT, "/10/0/5", text, b"300")
    assert answer.code == Code.CHANGED
    await eventually(lambda: 'AT+CPSMS=1,,,"00101000","00100101"' in sent)  # 8 h, 5 min
    octets = Options.build(content_format=42)
    other_window = await server.request(Code.PUT, "/10/0/9", octets, bytes([0x15]))
    assert other_window.code == Code.BAD_REQUEST  # AT+CEDRXS cannot request a PTW
    longer = await server.request(Code.PUT, "/10/0/9", octets, bytes([0x39]))
    assert longer.code == Code.CHANGED
    await eventually(lambda: 'AT+CEDRXS=2,5,"1001"' in sent)  # 163.84 s
    # the network's next report is what reads see
    granted = '1,"1A2B","01A2B3C4",9,,,"00100100","00101000"'  # T3324 4 min
    device.fake.answers["AT+CEREG?"] = f"+CEREG: 4,{granted}\nOK"
    device.fake.push(f"+CEREG: {granted}")
    await eventually(lambda: device.link.status.active_time == 240)
    check = await server.request(Code.GET, "/10/0/5")
    assert check.payload == b"240"
