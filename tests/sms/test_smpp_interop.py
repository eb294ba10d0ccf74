"""The SMPP adapter against an independent SMSC: the npm ``smpp`` package's server
(tests/peers/node/smsc.js), on a free loopback port, installed by ``make peers``."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.security.credentials import Secret
from lwm2m.transport.nidd.peer import Delivery
from lwm2m.transport.sms.binding import SmsPeer, Trigger, trigger_datagram
from lwm2m.transport.sms.concat import Part, Reassembler, split
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.transport.sms.smpp import DeliveryReport, SmppTransport
from lwm2m.transport.sms.udh import UserDataHeader
from tests.peers.node_peer import NODE_DIR, NodePeer, NodePeerError

pytestmark = [pytest.mark.peer, pytest.mark.timeout(60)]

DEVICE = SmsPeer("491701234567")
SMPP_LIBRARY = NODE_DIR / "node_modules" / "smpp" / "package.json"


class RecordingCore:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, Peer]] = []

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self.received.append((data, peer))


@contextlib.asynccontextmanager
async def smsc(
    port: int = 0, *, respond: bool = True, prefix: str = "m"
) -> AsyncIterator[tuple[NodePeer, int]]:
    if not SMPP_LIBRARY.is_file():
        raise NodePeerError(f"{SMPP_LIBRARY} is missing: run `make peers` (npm ci in {NODE_DIR})")
    args = [f"--port={port}", f"--respond={'yes' if respond else 'no'}", f"--id-prefix={prefix}"]
    peer = NodePeer("smsc.js", args)
    try:
        listening = await peer.start("listening")
        yield peer, int(listening["port"])
    finally:
        await peer.close()


@contextlib.asynccontextmanager
async def transport(
    port: int, core: RecordingCore, reports: list[DeliveryReport], **options: Any
) -> AsyncIterator[SmppTransport]:
    settings = SmppSettings(
        "127.0.0.1",
        port,
        "esme",
        Secret(b"secret"),
        source="4930123456",
        reconnect_min=0.05,
        reconnect_max=0.2,
        response_timeout=3.0,
        **options,
    )
    sms = SmppTransport(
        settings, core, lambda: None, rng=random.Random(7), on_report=reports.append
    )
    sms.start()
    try:
        yield sms
    finally:
        await sms.stop()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def coap(payload: bytes = b"", message_id: int = 1) -> bytes:
    options = Options.build(uri_path=("rd", "abc"))
    return Message(Type.CON, Code.POST, message_id, b"\x07", options, payload).encode()


async def test_trigger_is_one_binary_submit_sm_byte_for_byte() -> None:
    core, reports = RecordingCore(), list[DeliveryReport]()
    async with smsc() as (node, port), transport(port, core, reports) as sms:
        bind = await node.wait_for("bind")
        assert (bind["system_id"], bind["password"], bind["accepted"]) == ("esme", "secret", True)
        assert sms.send_trigger(DEVICE, Trigger.REGISTRATION_UPDATE, 0)
        submit = await node.wait_for("submit_sm")
        await eventually(lambda: sms.queued == 0)
    message = Message.decode(bytes.fromhex(submit["short_message"]))
    assert message.type == Type.NON and message.options.uri_path == ("1", "0", "8")
    expected = trigger_datagram(Trigger.REGISTRATION_UPDATE, 0, message.message_id)
    assert submit["short_message"] == expected.hex()
    assert submit["data_coding"] == 0x04 and submit["esm_class"] == 0
    assert submit["destination_addr"] == DEVICE.msisdn
    assert (submit["dest_addr_ton"], submit["dest_addr_npi"]) == (1, 1)
    assert submit["source_addr"] == "4930123456"
    assert submit["registered_delivery"] == 1
    assert sms.stats.submitted == 1 and not reports


async def test_long_datagram_is_concatenated_and_reassembles() -> None:
    core, reports = RecordingCore(), list[DeliveryReport]()
    datagram = coap(bytes(range(256)) + bytes(150))
    total = len(split(datagram, 0))
    assert total == 4
    async with smsc() as (node, port), transport(port, core, reports) as sms:
        assert sms.send(datagram, DEVICE)
        submits = [await node.wait_for("submit_sm") for _ in range(total)]
    reassembler = Reassembler()
    results = []
    for index, submit in enumerate(submits, 1):
        assert submit["esm_class"] == 0x40 and submit["data_coding"] == 0x04
        user_data = bytes.fromhex(submit["short_message"])
        assert len(user_data) <= 140
        # UDHL 5, IEI 00 (8-bit reference), length 3, reference, total, sequence
        assert user_data[:3] == bytes.fromhex("050003")
        assert (user_data[4], user_data[5]) == (total, index)
        header, size = UserDataHeader.decode(user_data)
        results.append(reassembler.add(DEVICE, Part(header, user_data[size:]), 0.0))
    assert results == [None] * (total - 1) + [datagram]
    assert len({bytes.fromhex(s["short_message"])[3] for s in submits}) == 1  # one reference


async def test_mobile_originated_datagrams_reach_the_core() -> None:
    core, reports = RecordingCore(), list[DeliveryReport]()
    short, long = coap(b"</3/0>", 2), coap(bytes(300), 3)
    async with smsc() as (node, port), transport(port, core, reports):
        await node.wait_for("bind")
        deliver = {"cmd": "deliver", "source_addr": "+491701234567", "destination_addr": "4930"}
        reply = await node.request({**deliver, "short_message": short.hex()})
        assert reply["command_status"] == 0
        for part in split(long, 0x21):
            await node.request(
                {**deliver, "short_message": part.user_data.hex(), "esm_class": 0x40}
            )
        # text (GSM 7-bit default coding) is not the binding's: dropped
        await node.request({**deliver, "short_message": b"hello".hex(), "data_coding": 0})
        await eventually(lambda: len(core.received) == 2)
    assert core.received == [(short, DEVICE), (long, DEVICE)]


async def test_delivery_receipts_are_reported_per_device() -> None:
    core, reports = RecordingCore(), list[DeliveryReport]()
    async with smsc(prefix="r") as (node, port), transport(port, core, reports) as sms:
        sms.send(coap(), DEVICE)
        submit = await node.wait_for("submit_sm")
        await eventually(lambda: sms.queued == 0)
        text = f"id:{submit['message_id']} sub:001 dlvrd:000 stat:UNDELIV err:027 text:"
        await node.request(
            {
                "cmd": "deliver",
                "source_addr": DEVICE.msisdn,
                "esm_class": 0x04,
                "data_coding": 0,
                "short_message": text.encode().hex(),
            }
        )
        await eventually(lambda: bool(reports))
    assert reports == [DeliveryReport(DEVICE, Delivery.FAILED, "UNDELIV err:027", "r1")]


async def test_nothing_is_lost_across_an_smsc_restart() -> None:
    core, reports = RecordingCore(), list[DeliveryReport]()
    first, second = coap(b"first", 10), coap(bytes(200), 11)
    async with (
        smsc(respond=False, prefix="a") as (stalled, port),
        transport(port, core, reports) as sms,
    ):
        sms.send(first, DEVICE)
        unanswered = await stalled.wait_for("submit_sm")
        assert unanswered["message_id"] is None and sms.queued == 1
        stalled.kill()  # a crash: the submit_sm never gets its response
        await eventually(lambda: not sms.connected)
        sms.send(second, DEVICE)  # queued while the SMSC is down
        assert sms.queued == 3
        async with smsc(port, prefix="b") as (restarted, _):
            resent = [await restarted.wait_for("submit_sm") for _ in range(3)]
            await eventually(lambda: sms.queued == 0)
    assert resent[0]["short_message"] == first.hex()
    parts = [bytes.fromhex(s["short_message"]) for s in resent[1:]]
    reassembler = Reassembler()
    results = [reassembler.add(DEVICE, Part(*_split_header(p)), 0.0) for p in parts]
    assert results[-1] == second
    assert [s["message_id"] for s in resent] == ["b1", "b2", "b3"]
    assert sms.stats.resent == 1 and sms.stats.submitted == 3
    assert sms.stats.connects == 2 and not reports


def _split_header(user_data: bytes) -> tuple[UserDataHeader, bytes]:
    header, size = UserDataHeader.decode(user_data)
    return header, user_data[size:]


async def test_a_wrong_password_is_refused_and_retried() -> None:
    core = RecordingCore()
    async with smsc() as (node, port):
        settings = SmppSettings(
            "127.0.0.1",
            port,
            "esme",
            Secret(b"wrong"),
            reconnect_min=0.05,
            reconnect_max=0.1,
            response_timeout=0.5,  # smpp34 tells a refused bind only by its bind timeout
        )
        sms = SmppTransport(settings, core, lambda: None)
        sms.start()
        try:
            binds = [await node.wait_for("bind") for _ in range(2)]
        finally:
            await sms.stop()
    assert [b["accepted"] for b in binds] == [False, False]
    assert sms.stats.connects == 0 and not sms.connected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://a:b@host:2775", "smpp://"),
        ("smpp://host:2775", "system_id"),
        ("smpp://id:pw@host:port", "port"),
        ("smpp://id:waytoolongpassword@host", "password"),
    ],
)
def test_settings_from_url(url: str, problem: str) -> None:
    settings = SmppSettings.parse("smpp://lwm2m%40x:p%3Ass@smsc.example:2776")
    assert (settings.host, settings.port, settings.system_id) == ("smsc.example", 2776, "lwm2m@x")
    assert settings.password.reveal() == b"p:ss" and "p:ss" not in repr(settings)
    assert SmppSettings.parse("smpp://id:pw@smsc").port == 2775
    with pytest.raises(ValueError, match=problem) as error:
        SmppSettings.parse(url)
    assert "waytoolong" not in str(error.value)
