"""Sessions shaped after the modules' AT manuals, replayed through the AT core.

Values are our own; the exchange shapes (echo, spacing, quoting, order of lines, examples'
parameters) follow the manual sections named in each test.
"""

from __future__ import annotations

import pytest

from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.commands import Functionality, Rai, RateUnit
from lwm2m.transport.modem.quirks import quirks_for
from lwm2m.transport.modem.session import AtSession
from lwm2m.transport.modem.urc import (
    ControlPlaneData,
    EdrxParameters,
    Registration,
    RegistrationStat,
    SignallingConnection,
    SmsDelivered,
)

from .transcript import Replay


def test_bc66_identity_with_echo_on() -> None:
    """Quectel BC66 AT Commands Manual (V.250 defaults, echo on after power-up): AT+CGSN
    answers the bare IMEI, AT+CIMI the bare IMSI, each echoed first (echo ends in CR)."""
    replay = Replay(AtSession(quirks_for("quectel-bc66")))
    imei = replay.submit(at.read_imei())
    imsi = replay.submit(at.read_imsi())
    replay.expect_written("AT+CGSN\r")
    replay.modem("AT+CGSN\r\r\n866425031234567\r\n\r\nOK\r\n")
    replay.expect_written("AT+CIMI\r")
    replay.modem("AT+CIMI\r\r\n460001357924680\r\n\r\nOK\r\n")
    assert replay.result(imei) == "866425031234567"
    assert replay.result(imsi) == "460001357924680"


def test_sara_r4_csodcp_limits_and_send() -> None:
    """u-blox SARA-R4 AT commands manual (UBX-17003787), +CSODCP: test command answers
    ``+CSODCP: (0-10),(512),(0-2),(0,1)``; ``AT+CSODCP=1,3,"AA11BB"`` answers OK."""
    replay = Replay(AtSession(quirks_for("ublox-sara-r4")))
    limit = replay.submit(at.read_data_limit())
    replay.expect_written("AT+CSODCP=?\r")
    replay.modem("\r\n+CSODCP: (0-10),(512),(0-2),(0,1)\r\n\r\nOK\r\n")
    assert replay.result(limit) == 512
    sent = replay.submit(at.send_data(1, bytes.fromhex("AA11BB"), Rai.NO_FURTHER_DATA))
    replay.expect_written('AT+CSODCP=1,3,"AA11BB",1\r')
    replay.modem("\r\nOK\r\n")
    assert replay.result(sent) == at.MoDataSent(1, 3, Rai.NO_FURTHER_DATA)


def test_sara_r4_cesq_example() -> None:
    """SARA-R4 manual, +CESQ example ``+CESQ: 99,99,255,255,20,80``: RSRQ index 20 is
    −10 dB ≤ RSRQ < −9.5 dB, RSRP index 80 is −61 dBm ≤ RSRP < −60 dBm (TS 27.007)."""
    replay = Replay()
    signal = replay.submit(at.read_signal())
    replay.modem("\r\n+CESQ: 99,99,255,255,20,80\r\n\r\nOK\r\n")
    quality = replay.result(signal)
    assert (quality.rsrq, quality.rsrp) == (-10.0, -61)


def test_nrf9160_cereg_notifications() -> None:
    """nRF91 AT commands, +CEREG set command: after ``AT+CEREG=2`` OK the modem reports
    ``+CEREG: 2`` (searching), then ``+CEREG: 1,"002F","0012BEEF",7`` (registered)."""
    replay = Replay(AtSession(quirks_for("nordic-nrf9160")))
    replay.submit(at.set_registration_reports(2))
    replay.expect_written("AT+CEREG=2\r")
    replay.modem("\r\nOK\r\n")
    searching = replay.modem("\r\n+CEREG: 2\r\n")
    registered = replay.modem('\r\n+CEREG: 1,"002F","0012BEEF",7\r\n')
    assert searching == [Registration(RegistrationStat.SEARCHING)]
    assert registered == [Registration(RegistrationStat.REGISTERED_HOME, 0x2F, 0x12BEEF, 7)]


def test_nrf9160_cereg_mode5_read_with_psm_timers() -> None:
    """nRF91 +CEREG read: ``+CEREG: <n>,<stat>,[<tac>],[<ci>],[<AcT>],[<cause_type>],
    [<reject_cause>],[<Active-Time>],[<Periodic-TAU-ext>]``: GPRS Timer 2 "00100011" is
    3 minutes, GPRS Timer 3 "00000110" is 6 × 10 minutes."""
    replay = Replay()
    read = replay.submit(at.read_registration())
    replay.modem('\r\n+CEREG: 5,1,"0138","0012BEEF",9,,,"00100011","00000110"\r\n\r\nOK\r\n')
    report = replay.result(read)
    assert report.registered and report.act == 9
    assert (report.active_time, report.periodic_tau) == (180, 3600)


def test_urcs_interleaved_with_a_command_answer() -> None:
    """A URC may come between the command and its answer (TS 27.007 5.x, V.250 6.2): the
    ``+CSCON`` and ``+CRTDCP`` belong to nobody's command, the ``+CESQ`` to AT+CESQ."""
    replay = Replay()
    signal = replay.submit(at.read_signal())
    events = replay.modem(
        '\r\n+CSCON: 1\r\n\r\n+CRTDCP: 1,5,"48656C6C6F"\r\n'
        '\r\n+CESQ: 99,99,255,255,30,60\r\n\r\n+CEDRXP: 5,"0101","0010","0011"\r\n'
        "\r\nOK\r\n"
    )
    assert events[:2] == [SignallingConnection(True), ControlPlaneData(1, b"Hello")]
    assert events[2] == EdrxParameters(5, "0101", "0010", "0011")
    assert events[2].network == 20.48 and events[2].paging_time_window == 10.24
    assert replay.result(signal).rsrp == -81


def test_unquoted_hex_and_no_space_urc_spellings() -> None:
    """Module spellings differ (URC spacing, quoting of hex): both parse alike."""
    replay = Replay()
    events = replay.modem("\r\n+CRTDCP:0,2,C0DE\r\n\r\n+CEREG:1,002F,0012BEEF,9\r\n")
    assert events == [
        ControlPlaneData(0, b"\xc0\xde"),
        Registration(RegistrationStat.REGISTERED_HOME, 0x2F, 0x12BEEF, 9),
    ]


def test_nidd_setup_sequence() -> None:
    """TS 27.007 10.1.1 / 10.1.43 / 10.1.44 / 7.38: the commands a Non-IP session needs."""
    replay = Replay()
    for command, written in [
        (at.set_functionality(Functionality.MINIMUM), "AT+CFUN=0\r"),
        (at.define_context(1, "nidd.example"), 'AT+CGDCONT=1,"Non-IP","nidd.example"\r'),
        (at.set_registration_reports(4), "AT+CEREG=4\r"),
        (at.set_signalling_reports(True), "AT+CSCON=1\r"),
        (at.set_data_reports(True), "AT+CRTDCP=1\r"),
        (at.request_psm(3600, 60), 'AT+CPSMS=1,,,"00000110","00011110"\r'),
        (at.request_edrx(81.92), 'AT+CEDRXS=2,5,"0101"\r'),
        (at.set_functionality(Functionality.FULL), "AT+CFUN=1\r"),
    ]:
        handle = replay.submit(command)
        replay.expect_written(written)
        replay.modem("\r\nOK\r\n")
        replay.result(handle)


def test_apn_rate_control_and_msisdn() -> None:
    """TS 27.007 10.1.52 ``+CGAPNRC: <cid>,<Additional_exception_reports>,
    <Uplink_time_unit>,<Maximum_uplink_rate>``; 7.1 ``+CNUM: [<alpha>],<number>,<type>``."""
    replay = Replay()
    rate = replay.submit(at.read_apn_rate_control(1))
    replay.modem("\r\n+CGAPNRC: 1,1,2,20\r\n\r\nOK\r\n")
    number = replay.submit(at.read_msisdn())
    replay.modem('\r\n+CNUM: ,"+491701234567",145\r\n\r\nOK\r\n')
    none = replay.submit(at.read_msisdn())
    replay.modem("\r\nOK\r\n")
    assert replay.result(rate) == (at.ApnRateControl(1, True, RateUnit.HOUR, 20),)
    assert replay.result(number) == "+491701234567"
    assert replay.result(none) is None


def test_cmgs_prompt_and_cmt_pdu() -> None:
    """TS 27.005 3.5.1 (PDU mode): ``AT+CMGS=<length>``, the module's ``> `` prompt, the PDU
    ended by Ctrl-Z, ``+CMGS: <mr>``; 3.4.1 ``+CMT: [<alpha>],<length>`` then the PDU line
    (nRF91 +CMT: ``+CMT: "+358401234567",28<CR><LF><pdu>``). Echo on, as after reset."""
    replay = Replay()
    tpdu = bytes.fromhex("0001000B919471021436F5000403C0FFEE")
    sent = replay.submit(at.send_sms(tpdu))
    replay.expect_written(f"AT+CMGS={len(tpdu)}\r")
    replay.modem(f"AT+CMGS={len(tpdu)}\r\r\n> ")
    replay.expect_written("00" + tpdu.hex().upper() + "\x1a")
    replay.modem("00" + tpdu.hex().upper() + "\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n")
    assert replay.result(sent) == 7
    pdu = "07919471021436F5040B919471021436F500042110101000000003C0FFEE"
    events = replay.modem(f'\r\n+CMT: "+491720123456",{len(pdu) // 2 - 8}\r\n{pdu}\r\n')
    assert events == [SmsDelivered("+491720123456", len(pdu) // 2 - 8, bytes.fromhex(pdu))]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("01000011", 108_000), ("10100101", 300), ("01100011", 6), ("11000001", 1_152_000)],
)
def test_psm_timer3_values(value: str, seconds: int) -> None:
    """TS 24.008 Table 10.5.163a units: 10 h, 1 min, 2 s, 320 h."""
    from lwm2m.transport.modem.nas import decode_timer3

    assert decode_timer3(value) == seconds
