"""The client's SMS binding through the modem: a scripted module on loopback TCP (the
tests/modem pattern) that takes ``AT+CMGS`` PDUs at its ``>`` prompt and pushes ``+CMT``.
The Register and the Update a +CMT trigger causes leave as SMS-SUBMIT PDUs to the server's
number carrying the CoAP message; SMS from other numbers are ignored."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from lwm2m.client.device import LwM2MClient, SmsLink
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport.modem.channel import open_modem
from lwm2m.transport.sms.address import Address
from lwm2m.transport.sms.binding import Trigger, trigger_datagram
from lwm2m.transport.sms.concat import Part, Reassembler
from lwm2m.transport.sms.tpdu import SmsDeliver, UserData, decode_submit_pdu, encode_pdu
from tests.modem.fake_modem import FakeModem

SERVER_NUMBER = "4930123456"
DEVICE_NUMBER = "491701234567"


class SmsFakeModem(FakeModem):
    """FakeModem with TS 27.005's ``AT+CMGS`` prompt: the PDU up to Ctrl-Z is recorded."""

    def __init__(self) -> None:
        super().__init__({"AT+CMGF=0": "OK", "AT+CNMI=2,2,0,0,0": "OK"})
        self.submitted: list[bytes] = []
        self._reassembler = Reassembler()
        self.arrived = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.connected.set()
        try:
            while line := await reader.readuntil(b"\r"):
                text = line[:-1].decode()
                if text.startswith("AT+CMGS="):
                    self.received.append(text)
                    writer.write(b"\r\n> ")
                    pdu = await reader.readuntil(b"\x1a")
                    self.submitted.append(bytes.fromhex(pdu[:-1].decode()))
                    writer.write(f"\r\n+CMGS: {len(self.submitted)}\r\n\r\nOK\r\n".encode())
                    self.arrived.set()
                else:
                    self._command(text)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def deliver(self, sender: str, datagram: bytes) -> None:
        """A ``+CMT`` with an 8-bit SMS-DELIVER from ``sender`` carrying ``datagram``."""
        stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        deliver = SmsDeliver(Address.international(sender), stamp, UserData(datagram))
        pdu, length = encode_pdu(deliver)
        self.push(f"+CMT: ,{length}\r\n{pdu.hex().upper()}")

    async def next_coap(self, timeout: float = 10.0) -> tuple[str, Message]:
        """The next datagram sent (one SMS-SUBMIT, or the concatenated ones carrying it): its
        destination and the CoAP message."""
        deadline = time.monotonic() + timeout
        while True:
            while not self.submitted:
                self.arrived.clear()
                await asyncio.wait_for(self.arrived.wait(), deadline - time.monotonic())
            _, submit = decode_submit_pdu(self.submitted.pop(0))
            to, user_data = submit.destination.number, submit.user_data
            datagram = self._reassembler.add(to, Part(user_data.header, user_data.data), 0.0)
            if datagram is not None:
                return to, Message.decode(datagram)


def _query(message: Message) -> set[str]:
    return set(message.options.uri_query)


@pytest.mark.timeout(30)
async def test_register_and_triggered_update_go_as_sms_pdus() -> None:
    fake = SmsFakeModem()
    modem = await open_modem(await fake.start())
    account = ServerAccount(1, "sms:", lifetime=3600, binding="SQ")
    tree = telekom_device("urn:imei:350000000000009", seed=1, now=time.time(), servers=(account,))
    tree.object(0).set(0, 9, SERVER_NUMBER)  # type: ignore[attr-defined]
    client = LwM2MClient(
        tree, "urn:imei:350000000000009", sms=SmsLink(modem, "+" + DEVICE_NUMBER), seed=1
    )
    try:
        await client.start()
        assert client.transports == "S"
        to, register = await fake.next_coap()
        assert to == SERVER_NUMBER and register.code == Code.POST
        assert register.options.uri_path == ("rd",)
        assert {"b=S", f"sms={DEVICE_NUMBER}", "Q"} <= _query(register)
        location = ("rd", "abc")
        options = Options.build(location_path=location)
        created = Message(Type.ACK, Code.CREATED, register.message_id, register.token, options)
        fake.deliver(SERVER_NUMBER, created.encode())
        await asyncio.sleep(0.3)
        assert client.engine.registrations[1].online

        assert fake.received[:2] == ["AT+CMGF=0", "AT+CNMI=2,2,0,0,0"]
        assert sum(line.startswith("AT+CMGS=") for line in fake.received) == 3  # concatenated
        fake.deliver("4915200000000", trigger_datagram(Trigger.REGISTRATION_UPDATE, 0, 7))
        await asyncio.sleep(0.5)
        assert not fake.submitted  # a trigger from another number is ignored

        fake.deliver(SERVER_NUMBER, trigger_datagram(Trigger.REGISTRATION_UPDATE, 0, 8))
        to, update = await fake.next_coap()
        assert to == SERVER_NUMBER and update.code == Code.POST
        assert update.options.uri_path == location  # the Update, over SMS
    finally:
        client._close()
        await modem.close()
        await fake.stop()
