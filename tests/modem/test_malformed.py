"""Bad modem output: typed errors or counted and ignored, never an exception, a hang or an
unbounded buffer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.errors import (
    CmeError,
    CmeErrorCode,
    CmsError,
    CmsErrorCode,
    CommandError,
    CommandTimeoutError,
    ModemUsageError,
    ResponseFormatError,
)
from lwm2m.transport.modem.session import AtSession, CommandFailed, CommandSucceeded
from lwm2m.transport.modem.urc import ControlPlaneData, MalformedUrc, OtherUrc

from .transcript import Replay


@pytest.mark.parametrize(
    ("answer", "kind", "code", "text"),
    [
        ("+CME ERROR: 50", CmeError, CmeErrorCode.INCORRECT_PARAMETERS, "incorrect parameters"),
        ("+CME ERROR: 159", CmeError, CmeErrorCode.UPLINK_BUSY_FLOW_CONTROL, None),
        ("+CME ERROR: operation not allowed", CmeError, CmeErrorCode.OPERATION_NOT_ALLOWED, None),
        ("+CME ERROR: 9999", CmeError, 9999, "cme 9999"),
        ("+CME ERROR: the moon is wrong", CmeError, None, "the moon is wrong"),
        ("+CMS ERROR: 304", CmsError, CmsErrorCode.INVALID_PDU_MODE_PARAMETER, None),
    ],
)
def test_error_result_codes_are_typed(answer: str, kind: type, code: object, text: str) -> None:
    replay = Replay()
    handle = replay.submit(at.send_data(1, b"x", at.Rai.NO_INFORMATION))
    replay.modem(f"\r\n{answer}\r\n")
    with pytest.raises(kind) as raised:
        replay.result(handle)
    assert raised.value.code == code
    if text is not None:
        assert raised.value.text == text


def test_plain_error_and_unknown_code_name() -> None:
    replay = Replay()
    handle = replay.submit(at.attention())
    replay.modem("\r\nERROR\r\n")
    with pytest.raises(CommandError):
        replay.result(handle)
    assert CmeErrorCode(9999).name == "CME_9999"


def test_no_answer_times_out_and_a_late_ok_is_not_the_next_commands() -> None:
    session = AtSession()
    replay = Replay(session)
    first = replay.submit(at.read_imsi())
    second = replay.submit(at.read_imei())
    replay.expect_written("AT+CIMI\r")
    assert session.get_timer() == at.DEFAULT_TIMEOUT
    replay.advance(at.DEFAULT_TIMEOUT)
    with pytest.raises(CommandTimeoutError):
        replay.result(first)
    assert session.data_to_send() == b""  # settling: AT+CGSN waits
    replay.modem("\r\n460001357924680\r\n\r\nOK\r\n")  # the late answer of AT+CIMI
    replay.advance(session.quirks.settle_after_timeout)
    replay.expect_written("AT+CGSN\r")
    replay.modem("\r\n866425031234567\r\n\r\nOK\r\n")
    assert replay.result(second) == "866425031234567"
    assert session.stats.timeouts == 1
    assert session.stats.stray_lines == 2


def test_garbage_and_wake_noise_are_counted_and_skipped() -> None:
    session = AtSession()
    replay = Replay(session)
    handle = replay.submit(at.read_imsi())
    replay.modem(b"\xff\xfe\x80garbage\r\n\x00\x00\r\n\x01\x02\x03\r\n")
    replay.modem(b"\x00\x00460001357924680\r\n\r\nOK\r\n")
    assert replay.result(handle) == "460001357924680"
    assert session.stats.garbage_lines == 2


def test_oversized_line_is_dropped_with_bounded_memory() -> None:
    session = AtSession()
    replay = Replay(session)
    handle = replay.submit(at.read_signal())
    for _ in range(100):  # 100 kB without a terminator
        replay.modem(b"A" * 1000)
    assert len(session._framer._buffer) <= session.quirks.max_line
    replay.modem("\r\n+CESQ: 99,99,255,255,30,60\r\n\r\nOK\r\n")
    assert replay.result(handle).rsrp == -81
    assert session.stats.oversized_lines == 1


@pytest.mark.parametrize(
    "line",
    [
        '+CRTDCP: 1,5,"4865"',  # shorter than its length
        '+CRTDCP: 1,2,"ZZZZ"',  # not hex
        '+CRTDCP: 1,2,"C0DE',  # unterminated quote
        "+CRTDCP: 1",  # truncated
        '+CEREG: 1,"002F","0012BEEF",9,,,"0010001"',  # 7-bit timer
        "+CEREG: x",
        "+CSCON: 7",
        '+CEDRXP: 5,"012"',
    ],
)
def test_malformed_urcs_become_typed_events(line: str) -> None:
    session = AtSession()
    replay = Replay(session)
    events = replay.modem(f"\r\n{line}\r\n")
    assert events == [MalformedUrc(line, events[0].reason)]
    assert session.stats.malformed_urcs == 1


def test_cmt_header_without_its_pdu_line() -> None:
    replay = Replay()
    handle = replay.submit(at.attention())
    events = replay.modem('\r\n+CMT: "+4917",20\r\nOK\r\n')
    assert isinstance(events[0], MalformedUrc)
    assert isinstance(events[1], CommandSucceeded) and events[1].handle == handle


def test_unknown_urcs_and_stray_lines() -> None:
    session = AtSession()
    replay = Replay(session)
    events = replay.modem("\r\n%XMODEMSLEEP: 1,3600000\r\nRDY\r\nOK\r\n")
    assert events == [OtherUrc("%XMODEMSLEEP: 1,3600000")]
    assert session.stats.stray_lines == 2


def test_answer_that_does_not_parse_fails_the_command() -> None:
    replay = Replay()
    handle = replay.submit(at.read_registration())
    replay.modem("\r\nOK\r\n")  # no +CEREG line
    with pytest.raises(ResponseFormatError):
        replay.result(handle)


def test_queue_is_bounded_and_close_fails_everything() -> None:
    session = AtSession(max_queue=2)
    session.submit(at.attention(), 0.0)  # in flight
    session.submit(at.attention(), 0.0)
    session.submit(at.attention(), 0.0)
    with pytest.raises(ModemUsageError):
        session.submit(at.attention(), 0.0)
    session.close()
    failed = [session.next_event() for _ in range(3)]
    assert all(isinstance(event, CommandFailed) for event in failed)
    with pytest.raises(ModemUsageError):
        session.submit(at.attention(), 0.0)


def test_urc_backlog_is_bounded() -> None:
    session = AtSession(max_urcs=4)
    session.receive(b'\r\n+CRTDCP: 1,1,"00"\r\n' * 10, 0.0)
    assert session.stats.dropped_events == 6
    assert [session.next_event() for _ in range(5)][-1] is None


def test_builders_refuse_what_no_command_can_carry() -> None:
    for build in (
        lambda: at.send_data(300, b"x", at.Rai.NO_INFORMATION),
        lambda: at.define_context(1, 'bad"apn'),
        lambda: at.request_psm(10**12, 10),
        lambda: at.request_edrx(1.0),
        lambda: at.send_sms(b""),
        lambda: at.set_sms_indications("2;DROP"),
    ):
        with pytest.raises(ModemUsageError):
            build()


@given(st.lists(st.binary(max_size=300), max_size=30))
def test_any_bytes_never_raise_and_every_command_ends(chunks: list[bytes]) -> None:
    session = AtSession()
    handles = {session.submit(at.read_registration(), 0.0) for _ in range(3)}
    for chunk in chunks:
        session.receive(chunk, 0.0)
        assert len(session._framer._buffer) <= session.quirks.max_line
    now = 0.0
    for _ in range(10):  # three timeouts and two settles at most
        timer = session.get_timer()
        if timer is None:
            break
        now = max(now, timer)
        session.handle_timer(now)
    finished = set()
    while (event := session.next_event()) is not None:
        if isinstance(event, CommandSucceeded | CommandFailed):
            finished.add(event.handle)
    assert finished == handles


def test_mt_data_urc_while_csodcp_is_in_flight() -> None:
    replay = Replay()
    handle = replay.submit(at.send_data(0, b"\x40\x01", at.Rai.ONE_DOWNLINK_EXPECTED))
    events = replay.modem('\r\n+CRTDCP: 0,2,"6001"\r\n\r\nOK\r\n')
    assert events[0] == ControlPlaneData(0, b"\x60\x01")
    assert replay.result(handle).octets == 2
