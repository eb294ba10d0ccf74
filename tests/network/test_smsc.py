"""The SMSC core without sockets: SMPP sessions fed PDU bytes (smpp34 encodes the ESME's
submit_sm), modems driven through their AT interpreters, a hand-driven emulated clock."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import smpp34

from lwm2m.network.scef import Scef
from lwm2m.network.smpp_pdu import CommandId, Header, Status, c_string, encode, header
from lwm2m.network.smsc import SmscConfig
from lwm2m.security.credentials import Secret
from lwm2m.transport.sms.address import Address
from lwm2m.transport.sms.tpdu import SmsSubmit, UserData, decode_deliver_pdu, encode_pdu
from lwm2m.transport.sms.udh import Concatenation, Ports, UserDataHeader
from tests.network.hosts import START, MemoryHost
from tests.network.test_at import Modem

ACCOUNTS = {"server": Secret(b"secret"), "other": Secret(b"pw")}


class Esme:
    """One SMPP session of the SMSC, driven with raw PDUs."""

    def __init__(self, scef: Scef, now: float = START) -> None:
        self.smsc = scef.smsc
        self.scef = scef
        self.id = self.smsc.open_session()
        self.now = now
        self.sequence = 0
        self.later: list[bytes] = []
        """PDUs that came after the response a request waited for."""

    def send(self, pdu: bytes) -> list[bytes]:
        self.smsc.receive(self.id, pdu, self.now)
        self.scef.poll(self.now)
        return self.take()

    def take(self) -> list[bytes]:
        data = self.smsc.output(self.id)
        pdus, self.later = self.later, []
        while data:
            length = int.from_bytes(data[:4], "big")
            pdus.append(data[:length])
            data = data[length:]
        return pdus

    def request(self, command: int, body: bytes = b"") -> Header:
        self.sequence += 1
        (answer,) = self.send(encode(command, 0, self.sequence, body))
        return header(answer)

    def bind(
        self, system_id: str = "server", password: str = "secret", *, kind: int = 9, route: str = ""
    ) -> int:
        body = c_string(system_id) + c_string(password) + c_string("") + bytes((0x34, 1, 1))
        return self.request(kind, body + c_string(route)).status

    def submit(self, destination: str, data: bytes, **fields: Any) -> tuple[int, bytes]:
        self.sequence += 1
        fields = {"data_coding": 4, "source_addr_ton": 1, "source_addr_npi": 1, **fields}
        pdu = smpp34.SubmitSm(
            "4930123456", destination, data, dest_addr_ton=1, dest_addr_npi=1,
            sequence_number=self.sequence, **fields,
        )  # fmt: skip
        answer, *self.later = self.send(pdu.encode())
        return header(answer).status, answer[16:]


def sms_modem(host: MemoryHost, index: int = 0, *, route: bool = True) -> Modem:
    """An attached modem on ``host``'s network with SMS routed to its TE."""
    modem = Modem.__new__(Modem)
    modem.network, modem.now = host.network, host.time
    modem.id = host.network.connect_modem()
    modem.ue = host.network.modems[modem.id].ue
    modem.send("ATE0")
    if route:
        assert modem.send("AT+CNMI=2,2,0,0,0") == ["OK"]
    modem.attach()
    host.time = modem.now
    host.pump()
    return modem


@pytest.fixture
def host() -> MemoryHost:
    running = MemoryHost()
    running.scef = Scef(running.network, SmscConfig(accounts=ACCOUNTS, throttle=3, queue_limit=2))
    return running


def test_bind_states_and_refusals(host: MemoryHost) -> None:
    esme = Esme(host.scef)
    assert esme.request(CommandId.SUBMIT_SM).status == Status.RINVBNDSTS
    assert esme.request(CommandId.ENQUIRE_LINK) == Header(CommandId.ENQUIRE_LINK_RESP, 0, 2)
    unknown = esme.request(0x00000103)  # data_sm: not offered
    assert (unknown.command_id, unknown.status) == (CommandId.GENERIC_NACK, Status.RINVCMDID)
    assert esme.bind(password="wrong") == Status.RINVPASWD
    assert esme.bind("nobody") == Status.RINVSYSID
    assert esme.bind(route="^49[0-9]+") == Status.RBINDFAIL  # regular expressions: refused
    assert esme.bind(kind=CommandId.BIND_RECEIVER) == Status.ROK
    assert esme.bind() == Status.RALYBND
    assert esme.submit("491700000000", b"x")[0] == Status.RINVBNDSTS  # a receiver
    assert esme.request(CommandId.UNBIND) == Header(CommandId.UNBIND_RESP, 0, esme.sequence)
    assert host.scef.smsc.sessions[esme.id].closed
    assert host.scef.smsc.counters.binds == 1 and host.scef.smsc.counters.binds_refused == 3


def test_bad_framing_is_nacked_and_closes(host: MemoryHost) -> None:
    esme = Esme(host.scef)
    (nack,) = esme.send(struct.pack(">I", 8) + bytes(12))
    assert header(nack) == Header(CommandId.GENERIC_NACK, Status.RINVCMDLEN, 0)
    assert host.scef.smsc.sessions[esme.id].closed


def test_submit_refusals(host: MemoryHost) -> None:
    esme = Esme(host.scef)
    assert esme.bind() == Status.ROK
    msisdn = sms_modem(host).ue.sim.msisdn
    assert esme.submit("4915199999999", b"x")[0] == Status.RINVDSTADR
    assert esme.submit(msisdn, b"x", data_coding=0x05)[0] == Status.RSUBMITFAIL  # JIS
    esme.now += 1
    assert esme.submit(msisdn, b"x", esm_class=0x04)[0] == Status.RINVESMCLASS
    assert esme.submit(msisdn, b"x", validity_period="soon")[0] == Status.RINVEXPIRY
    assert esme.submit(msisdn, b"x", schedule_delivery_time="000000010000000R")[0] == (
        Status.RINVSCHED
    )
    assert esme.submit(msisdn, b"x")[0] == Status.RTHROTTLED  # 3 per second
    esme.now += 1
    assert esme.submit(msisdn, bytes(141))[0] == Status.RINVMSGLEN
    assert esme.submit(msisdn, b"\x05\x00\x03", esm_class=0x40)[0] == Status.RINVESMCLASS


def test_mt_sms_reaches_the_modem_as_cmt_with_a_receipt(host: MemoryHost) -> None:
    modem = sms_modem(host)
    esme = Esme(host.scef, host.time)
    assert esme.bind() == Status.ROK
    udh = UserDataHeader((Concatenation(7, 2, 1),))
    short_message = udh.encode() + b"\x01\x02coap"
    status, body = esme.submit(
        modem.ue.sim.msisdn, short_message, esm_class=0x40, registered_delivery=1
    )
    assert status == Status.ROK
    message_id = body.rstrip(b"\x00").decode()
    urcs = modem.wait(0)
    assert urcs[0].startswith("+CMT: ,") and len(urcs) == 2
    smsc, deliver = decode_deliver_pdu(bytes.fromhex(urcs[1]))
    assert int(urcs[0].split(",")[1]) == len(bytes.fromhex(urcs[1])) - 8  # no SMSC address
    assert smsc == Address("491700000000")
    assert deliver.user_data == UserData(b"\x01\x02coap", udh)
    assert str(deliver.originator) == "+4930123456" and deliver.coding.value == 0x04
    host.pump()
    (receipt,) = (smpp34.decode(pdu) for pdu in esme.take())
    assert isinstance(receipt, smpp34.DeliverSm) and receipt.esm_class == 0x04
    assert receipt.source_addr == modem.ue.sim.msisdn
    assert f"id:{message_id} ".encode() in receipt.short_message
    assert b"stat:DELIVRD" in receipt.short_message
    tlvs = {tlv.tag: tlv.value for tlv in receipt.tlvs}
    assert tlvs[0x001E] == message_id.encode() + b"\x00" and tlvs[0x0427] == b"\x02"


def test_sms_waits_for_the_te_and_for_psm_to_end_then_expires(host: MemoryHost) -> None:
    modem = sms_modem(host, route=False)
    assert modem.send('AT+CPSMS=1,,,"10100001","00000000"') == ["OK"]  # TAU 1 min, PSM at once
    assert modem.send('AT+CSODCP=0,1,"00",1') == ["OK"]  # RAI: release now
    esme = Esme(host.scef, modem.now)
    assert esme.bind() == Status.ROK
    msisdn = modem.ue.sim.msisdn
    assert esme.submit(msisdn, b"first", registered_delivery=1)[0] == Status.ROK
    assert esme.submit(msisdn, b"second")[0] == Status.ROK
    assert esme.submit(msisdn, b"third")[0] == Status.RMSGQFUL  # queue_limit 2
    assert [q["parts"] for q in host.status()["sms"]["queued"]] == [1, 1]
    assert modem.send("AT+CNMI=2,2") == ["OK"]  # routed now, but the UE sleeps in PSM
    host.time = modem.now
    host.pump()
    assert not [u for u in modem.wait(0) if u.startswith("+CMT")]
    modem.now += 60  # the periodic TAU: both SMS arrive
    host.time = modem.now
    host.pump()
    cmt = [u for u in modem.wait(0) if not u.startswith("+C")]
    assert [decode_deliver_pdu(bytes.fromhex(p))[1].user_data.data for p in cmt] == [
        b"first",
        b"second",
    ]
    # an SMS that outlives its validity period: an EXPIRED receipt, nothing for the modem
    esme.take()
    assert modem.send('AT+CSODCP=0,1,"00",1') == ["OK"]
    esme.now = modem.now
    one_minute = "000000000100000R"
    assert esme.submit(msisdn, b"late", registered_delivery=2, validity_period=one_minute)[0] == 0
    host.time = modem.now + 59
    host.pump()
    assert esme.take() == []
    host.time = modem.now + 60
    host.pump()
    (receipt,) = (smpp34.decode(pdu) for pdu in esme.take())
    assert isinstance(receipt, smpp34.DeliverSm) and b"stat:EXPIRED" in receipt.short_message
    assert host.status()["sms"]["counters"]["mtExpired"] == 1


def test_mo_sms_is_routed_by_destination_else_to_any_receiver(host: MemoryHost) -> None:
    modem = sms_modem(host)
    default, routed = Esme(host.scef, host.time), Esme(host.scef, host.time)
    assert default.bind("other", "pw", kind=CommandId.BIND_RECEIVER) == Status.ROK
    assert routed.bind(route="4930123*") == Status.ROK
    for destination, receiver in (("4930123456", routed), ("4989000", default)):
        tpdu = SmsSubmit(Address(destination), UserData(b"\xc0\xff\xee"))
        pdu, length = encode_pdu(tpdu)
        assert modem.send(f"AT+CMGS={length}") == ["> "]
        assert modem.network.at_pdu(modem.id, pdu.hex(), modem.now).split() == [
            "+CMGS:",
            str(modem.network.modems[modem.id].sms.reference),
            "OK",
        ]
        host.pump()
        (mo,) = (smpp34.decode(p) for p in receiver.take())
        assert isinstance(mo, smpp34.DeliverSm)
        assert (mo.source_addr, mo.destination_addr) == (modem.ue.sim.msisdn, destination)
        assert (mo.short_message, mo.data_coding, mo.esm_class) == (b"\xc0\xff\xee", 4, 0)
    assert modem.send("AT+CMGS=5") == ["> "]
    assert modem.network.at_pdu(modem.id, "0011", modem.now).split() == ["+CMS", "ERROR:", "304"]


def test_device_trigger_is_an_sms_with_ports(host: MemoryHost) -> None:
    modem = sms_modem(host)
    body = {
        "msisdn": modem.ue.sim.msisdn,
        "notificationDestination": "http://as.example/notify",
        "validityPeriod": 600,
        "priority": "PRIORITY",
        "applicationPortId": 4001,
        "appSrcPortId": 4002,
        "triggerPayload": "AQID",
    }
    created = host.scef.triggering.create("as", body, host.time, "http://scef")
    assert created.status == 201 and created.body["deliveryResult"] == "TRIGGERED"
    host.pump()
    cmt = [u for u in modem.wait(0) if not u.startswith("+C")]
    deliver = decode_deliver_pdu(bytes.fromhex(cmt[0]))[1]
    assert deliver.protocol == 0x48 and deliver.user_data.data == b"\x01\x02\x03"
    assert deliver.user_data.header == UserDataHeader((Ports(4001, 4002),))
    assert host.callbacks[-1].body == {"transaction": created.body["self"], "result": "SUCCESS"}
    link = created.body["self"].rsplit("/", 1)[1]
    assert host.scef.triggering.get("as", link).body["deliveryResult"] == "SUCCESS"
