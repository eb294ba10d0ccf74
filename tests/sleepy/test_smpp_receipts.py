"""SmppTransport against ``lwm2m network``'s SMSC, which delivers to an attached, connected
modem at once and sends the DELIVRD receipt right behind the submit_sm_resp: every datagram's
receipt must be matched to its device, even when the reader takes the receipt before the
sending task has read the response that names the message ID."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.smsc import SmscConfig
from lwm2m.network.ue import NetworkConfig
from lwm2m.security.credentials import Secret
from lwm2m.transport.nidd.peer import Delivery
from lwm2m.transport.sms.binding import SmsPeer
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.transport.sms.smpp import DeliveryReport, SmppTransport
from tests.network.test_smsc_interop import sms_modem

pytestmark = pytest.mark.timeout(60)

SERVER_NUMBER = "4930123456"
DATAGRAMS = 12


@pytest.fixture
async def service() -> AsyncIterator[NetworkService]:
    config = ServiceConfig(at_port=0, t8_port=0, smpp_port=0, time_scale=60.0)
    sms = SmscConfig(accounts={"esme": Secret(b"secret")})
    running = NetworkService(Hss(generate_sims(1)), NetworkConfig(), config, sms)
    await running.start()
    yield running
    await running.stop()


class Core:
    def receive(self, data: bytes, peer: object, now: float) -> None:
        """Nothing comes back in this test."""


async def test_every_instant_delivery_receipt_is_matched(service: NetworkService) -> None:
    sim = next(iter(service.network.hss))
    device = SmsPeer(sim.msisdn)
    reports: list[DeliveryReport] = []
    host, port = service.smpp_address
    settings = SmppSettings(
        host, port, "esme", Secret(b"secret"), source=SERVER_NUMBER, response_timeout=5.0
    )
    async with sms_modem(service) as modem:
        transport = SmppTransport(
            settings, Core(), lambda: None, rng=random.Random(5), on_report=reports.append
        )
        transport.start()
        try:
            for number in range(DATAGRAMS):
                assert transport.send(bytes((0x50, 0x01, 0, number)), device)
            for _ in range(DATAGRAMS):
                await modem.sms()
            for _ in range(400):
                if len(reports) >= DATAGRAMS:
                    break
                await asyncio.sleep(0.05)
        finally:
            await transport.stop()
    assert [(r.peer, r.outcome, r.reason.split()[0]) for r in reports] == [
        (device, Delivery.DELIVERED, "DELIVRD")
    ] * DATAGRAMS
    assert len({r.message_id for r in reports}) == DATAGRAMS
