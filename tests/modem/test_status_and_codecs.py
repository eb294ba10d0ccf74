"""Release assistance per CoAP message kind, the status fold, and the NAS codecs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.transport.modem import nas
from lwm2m.transport.modem.commands import MoDataSent, Rai, SignalQuality
from lwm2m.transport.modem.errors import ModemUsageError, ResponseFormatError
from lwm2m.transport.modem.session import CommandSucceeded
from lwm2m.transport.modem.status import ModemStatus, release_assistance
from lwm2m.transport.modem.urc import ControlPlaneData, Registration, RegistrationStat


@pytest.mark.parametrize(
    ("message", "rai"),
    [
        (Message(Type.CON, Code.POST, 1, b"t"), Rai.ONE_DOWNLINK_EXPECTED),  # Register, Update
        (Message(Type.CON, Code.CONTENT, 2, b"t"), Rai.ONE_DOWNLINK_EXPECTED),  # CON notify
        (Message(Type.NON, Code.POST, 3, b"t"), Rai.ONE_DOWNLINK_EXPECTED),  # NON Send
        (Message(Type.NON, Code.CONTENT, 4, b"t"), Rai.NO_FURTHER_DATA),  # NON notify
        (Message(Type.ACK, Code.CHANGED, 5, b"t"), Rai.NO_FURTHER_DATA),  # piggybacked
        (Message(Type.ACK, Code.EMPTY, 6), Rai.NO_FURTHER_DATA),
        (Message(Type.RST, Code.EMPTY, 7), Rai.NO_FURTHER_DATA),
    ],
)
def test_release_assistance_per_message(message: Message, rai: Rai) -> None:
    assert release_assistance(message.encode(), more_queued=False) is rai
    assert release_assistance(message.encode(), more_queued=True) is Rai.NO_INFORMATION


def test_release_assistance_of_what_is_not_coap() -> None:
    assert release_assistance(b"\x00\x01", more_queued=False) is Rai.NO_INFORMATION
    assert release_assistance(b"\x00" * 8, more_queued=False) is Rai.NO_INFORMATION


def test_status_keeps_cell_and_timers_through_a_short_report() -> None:
    status = ModemStatus()
    full = Registration(RegistrationStat.REGISTERED_HOME, 0x2F, 0xBEEF, 9, None, None,
                        "00100001", "00000110")  # fmt: skip
    status.apply(full)
    status.apply(Registration(RegistrationStat.SEARCHING))
    assert status.registration is not None
    assert status.registration.stat is RegistrationStat.SEARCHING
    assert (status.registration.cell_id, status.active_time, status.periodic_tau) == (
        0xBEEF,
        60,
        3600,
    )
    status.apply(ControlPlaneData(1, b"abc"))
    status.apply(CommandSucceeded(1, "AT+CSODCP", MoDataSent(1, 5, Rai.NO_FURTHER_DATA)))
    status.apply(CommandSucceeded(2, "AT+CESQ", SignalQuality(255, 255)))
    assert (status.mt_octets, status.mo_octets, status.mo_packets) == (3, 5, 1)
    assert status.signal is not None and status.signal.rsrp is None


@given(st.integers(0, 1_152_000 * 31))
def test_timer3_encoding_is_nearest(seconds: int) -> None:
    encoded = nas.decode_timer3(nas.encode_timer3(seconds))
    assert encoded is not None
    for unit, step in nas.TIMER3_UNITS.items():
        nearest = min(31, round(seconds / step)) * step
        assert abs(encoded - seconds) <= abs(nearest - seconds), unit


@given(st.integers(0, 360 * 31))
def test_timer2_encoding_is_nearest(seconds: int) -> None:
    encoded = nas.decode_timer2(nas.encode_timer2(seconds))
    assert encoded is not None and abs(encoded - seconds) <= 180


def test_deactivated_timers_and_bad_bit_strings() -> None:
    assert nas.encode_timer2(None) == "11100000"
    assert nas.decode_timer2("11100000") is None and nas.decode_timer3("11111111") is None
    assert nas.decode_timer2("01100101") == 300  # unit 011 is read as minutes
    with pytest.raises(ResponseFormatError):
        nas.decode_timer3("0010001")
    with pytest.raises(ModemUsageError):
        nas.encode_timer2(-1)


def test_edrx_and_signal_tables() -> None:
    assert nas.encode_edrx(100.0) == "0101" and nas.decode_edrx("0101") == 81.92
    assert nas.decode_edrx("0000") == 20.48  # values NB-S1 does not define
    assert nas.decode_ptw("1111") == 40.96
    assert [nas.rsrp_dbm(i) for i in (0, 1, 97, 255)] == [-140, -140, -44, None]
    assert [nas.rsrq_db(i) for i in (0, 1, 34, 255)] == [-19.5, -19.5, -3.0, None]
    with pytest.raises(ResponseFormatError):
        nas.rsrp_dbm(98)
