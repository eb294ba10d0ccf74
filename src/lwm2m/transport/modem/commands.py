"""The AT commands the driver sends, each with the parser of its answer.

A command is data (:class:`AtCommand`): its text, which information lines belong to it,
its timeout and how its lines become a typed result. The session core runs any of them;
nothing here does I/O. Builders refuse values the command cannot carry with
:class:`ModemUsageError` before anything reaches the modem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Generic, TypeVar

from lwm2m.transport.modem.errors import ModemUsageError, ResponseFormatError
from lwm2m.transport.modem.nas import encode_edrx, encode_timer2, encode_timer3, rsrp_dbm, rsrq_db
from lwm2m.transport.modem.syntax import (
    integer,
    optional_integer,
    optional_text,
    params_of,
    prefix_of,
)
from lwm2m.transport.modem.urc import (
    EDRX_ACT_NB_S1,
    EdrxParameters,
    Registration,
    SignallingConnection,
    edrx,
    registration,
    signalling,
)

T = TypeVar("T")
Lines = tuple[str, ...]

DEFAULT_TIMEOUT = 5.0
NETWORK_TIMEOUT = 90.0
"""Commands that wait for the network (``+CFUN=1`` attaches, ``+CMGS`` waits for the SMSC);
Quectel's manuals give up to 85 s for ``+CFUN`` and 120 s for ``+CMGS``."""
SMS_TIMEOUT = 120.0
MAX_CID = 255


@dataclass(frozen=True, slots=True)
class AtCommand(Generic[T]):
    """``AT<text>``; ``prefix`` names its information lines (``+CGSN``), None when they
    come bare (``AT+CIMI``); ``payload`` is written after a ``>`` prompt, ended by Ctrl-Z."""

    text: str
    parse: Callable[[Lines], T]
    prefix: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    payload: str | None = None

    @property
    def name(self) -> str:
        """``+CFUN`` of ``+CFUN=1``: the key of per-command timeouts."""
        end = len(self.text)
        for mark in "=?":
            position = self.text.find(mark)
            if position >= 0:
                end = min(end, position)
        return self.text[:end].upper()


def _none(lines: Lines) -> None:
    """A command answered by OK alone; stray information text is ignored, as V.250 allows
    a module to add some."""


def _simple(text: str, timeout: float = DEFAULT_TIMEOUT) -> AtCommand[None]:
    return AtCommand(text, _none, prefix=None, timeout=timeout)


def _prefixed(lines: Lines, prefix: str) -> list[str]:
    return [line for line in lines if prefix_of(line) == prefix]


def _one(lines: Lines, prefix: str) -> str:
    matching = _prefixed(lines, prefix)
    if not matching:
        raise ResponseFormatError(f"no {prefix} line in the answer")
    return matching[-1]


def _check_cid(cid: int) -> None:
    if not 0 <= cid <= MAX_CID:
        raise ModemUsageError(f"context id {cid} outside 0..{MAX_CID}")


def _quoted(text: str) -> str:
    if '"' in text or any(ord(c) < 0x20 for c in text):
        raise ModemUsageError(f"{text!r} cannot be an AT string parameter")
    return f'"{text}"'


# -- general ------------------------------------------------------------------------------


def attention() -> AtCommand[None]:
    return _simple("")


def set_echo(on: bool) -> AtCommand[None]:
    return _simple(f"E{int(on)}")


def set_error_format(mode: int = 1) -> AtCommand[None]:
    """``AT+CMEE=1``: numeric ``+CME ERROR`` codes (2: verbose text)."""
    return _simple(f"+CMEE={mode}")


def _digits(lines: Lines, low: int, high: int, what: str) -> str:
    for line in lines:
        text = line.split(":", 1)[1].strip().strip('"') if prefix_of(line) else line
        if text.isdigit() and low <= len(text) <= high:
            return text
    raise ResponseFormatError(f"no {what} in {lines!r}")


def read_imei() -> AtCommand[str]:
    """``AT+CGSN``: the IMEI, bare (most modules) or as ``+CGSN: "<sn>"``."""
    return AtCommand("+CGSN", lambda lines: _digits(lines, 14, 17, "IMEI"), "+CGSN")


def read_imsi() -> AtCommand[str]:
    return AtCommand("+CIMI", lambda lines: _digits(lines, 6, 15, "IMSI"), "+CIMI")


def _msisdn(lines: Lines) -> str | None:
    numbers = [optional_text(params_of(line), 1) for line in _prefixed(lines, "+CNUM")]
    return next((number for number in numbers if number), None)


def read_msisdn() -> AtCommand[str | None]:
    """``AT+CNUM``: the first subscriber number, None when the SIM stores none."""
    return AtCommand("+CNUM", _msisdn, "+CNUM")


class Functionality(IntEnum):
    MINIMUM = 0
    FULL = 1
    RF_OFF = 4


def set_functionality(level: Functionality) -> AtCommand[None]:
    return AtCommand(f"+CFUN={int(level)}", _none, "+CFUN", NETWORK_TIMEOUT)


def read_functionality() -> AtCommand[int]:
    return AtCommand("+CFUN?", lambda lines: integer(params_of(_one(lines, "+CFUN")), 0), "+CFUN")


# -- packet domain ------------------------------------------------------------------------


def define_context(cid: int, apn: str = "", pdp_type: str = "Non-IP") -> AtCommand[None]:
    """``AT+CGDCONT=<cid>,"Non-IP","<apn>"`` (an empty APN lets the network choose)."""
    _check_cid(cid)
    return _simple(f"+CGDCONT={cid},{_quoted(pdp_type)},{_quoted(apn)}")


def set_registration_reports(mode: int) -> AtCommand[None]:
    return _simple(f"+CEREG={mode}")


def _registration(lines: Lines) -> Registration:
    params = params_of(_one(lines, "+CEREG"))
    return registration(params[1:])  # the read form starts with <n>


def read_registration() -> AtCommand[Registration]:
    return AtCommand("+CEREG?", _registration, "+CEREG")


def set_signalling_reports(on: bool) -> AtCommand[None]:
    return _simple(f"+CSCON={int(on)}")


def read_signalling() -> AtCommand[SignallingConnection]:
    return AtCommand(
        "+CSCON?", lambda lines: signalling(params_of(_one(lines, "+CSCON"))[1:]), "+CSCON"
    )


@dataclass(frozen=True, slots=True)
class PsmRequest:
    """What ``AT+CPSMS`` requested (the grant comes in ``+CEREG``)."""

    enabled: bool
    periodic_tau_bits: str | None
    active_time_bits: str | None


def request_psm(periodic_tau: int, active_time: int) -> AtCommand[PsmRequest]:
    """``AT+CPSMS=1,,,"<T3412 ext>","<T3324>"``, seconds encoded to the nearest NAS value;
    the command's result is what was requested, bit strings included."""
    tau, active = encode_timer3(periodic_tau), encode_timer2(active_time)
    return AtCommand(
        f'+CPSMS=1,,,"{tau}","{active}"', lambda _: PsmRequest(True, tau, active), "+CPSMS"
    )


def disable_psm() -> AtCommand[PsmRequest]:
    return AtCommand("+CPSMS=0", lambda _: PsmRequest(False, None, None), "+CPSMS")


def request_edrx(cycle: float) -> AtCommand[str]:
    """``AT+CEDRXS=2,5,"<value>"``: eDRX for NB-IoT with ``+CEDRXP`` reports; the result is
    the requested value's bit string."""
    bits = encode_edrx(cycle)
    return AtCommand(f'+CEDRXS=2,{EDRX_ACT_NB_S1},"{bits}"', lambda _: bits, "+CEDRXS")


def disable_edrx() -> AtCommand[None]:
    """``AT+CEDRXS=3,5``: disable eDRX and reset its parameters to the defaults."""
    return _simple(f"+CEDRXS=3,{EDRX_ACT_NB_S1}")


def read_edrx() -> AtCommand[EdrxParameters]:
    """``AT+CEDRXRDP``: the eDRX parameters the network provided."""
    return AtCommand(
        "+CEDRXRDP", lambda lines: edrx(params_of(_one(lines, "+CEDRXRDP"))), "+CEDRXRDP"
    )


# -- control-plane data (NIDD) ------------------------------------------------------------


class Rai(IntEnum):
    """``AT+CSODCP`` <RAI> (TS 27.007 10.1.43, TS 24.301 9.9.4.25)."""

    NO_INFORMATION = 0
    NO_FURTHER_DATA = 1
    """Exchange completed with this uplink: the network may release the connection."""
    ONE_DOWNLINK_EXPECTED = 2
    """Exchange completed with the next downlink packet."""


@dataclass(frozen=True, slots=True)
class MoDataSent:
    cid: int
    octets: int
    rai: Rai


def send_data(
    cid: int, data: bytes, rai: Rai, *, exception: bool = False, quote_hex: bool = True
) -> AtCommand[MoDataSent]:
    """``AT+CSODCP=<cid>,<len>,"<hex>",<RAI>[,1]`` (``exception``: TS 24.301's exception
    data, which APN rate control lets through when regular reports are used up)."""
    _check_cid(cid)
    hex_data = data.hex().upper()
    cpdata = f'"{hex_data}"' if quote_hex else hex_data
    tail = ",1" if exception else ""
    return AtCommand(
        f"+CSODCP={cid},{len(data)},{cpdata},{int(rai)}{tail}",
        lambda _: MoDataSent(cid, len(data), rai),
        "+CSODCP",
        NETWORK_TIMEOUT,
    )


def _max_octets(lines: Lines) -> int:
    params = params_of(_one(lines, "+CSODCP"))
    text = optional_text(params, 1) or ""  # "(1358)" after split: "(1358)"
    digits = text.strip("()").split("-")[-1]
    if not digits.isdigit() or not 0 < int(digits) <= 0xFFFF:
        raise ResponseFormatError(f"+CSODCP=? maximum length {text!r}")
    return int(digits)


def read_data_limit() -> AtCommand[int]:
    """``AT+CSODCP=?``: the most octets the module sends in one ``AT+CSODCP``."""
    return AtCommand("+CSODCP=?", _max_octets, "+CSODCP")


def set_data_reports(on: bool) -> AtCommand[None]:
    """``AT+CRTDCP=1``: Non-IP downlink as ``+CRTDCP`` URCs."""
    return _simple(f"+CRTDCP={int(on)}")


# -- signal and rate control --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """``+CESQ`` E-UTRA indices (255: not known) and their dBm / dB lower band edges."""

    rsrq_index: int
    rsrp_index: int

    @property
    def rsrp(self) -> int | None:
        return rsrp_dbm(self.rsrp_index)

    @property
    def rsrq(self) -> float | None:
        return rsrq_db(self.rsrq_index)


def _signal(lines: Lines) -> SignalQuality:
    params = params_of(_one(lines, "+CESQ"))
    quality = SignalQuality(integer(params, 4, 0, 255), integer(params, 5, 0, 255))
    quality.rsrp, quality.rsrq  # noqa: B018 - out-of-range indices fail here, not later
    return quality


def read_signal() -> AtCommand[SignalQuality]:
    return AtCommand("+CESQ", _signal, "+CESQ")


class RateUnit(IntEnum):
    """``+CGAPNRC`` <Uplink_time_unit> (TS 27.007 10.1.52)."""

    UNRESTRICTED = 0
    MINUTE = 1
    HOUR = 2
    DAY = 3
    WEEK = 4


@dataclass(frozen=True, slots=True)
class ApnRateControl:
    cid: int
    exception_reports_allowed: bool
    unit: RateUnit
    max_uplink: int | None
    """Messages per ``unit``; None when the module gives none (TS 27.007: optional)."""


def _rate_controls(lines: Lines) -> tuple[ApnRateControl, ...]:
    controls = []
    for line in _prefixed(lines, "+CGAPNRC"):
        params = params_of(line)
        controls.append(
            ApnRateControl(
                cid=integer(params, 0, 0, MAX_CID),
                exception_reports_allowed=integer(params, 1, 0, 1) == 1,
                unit=RateUnit(integer(params, 2, 0, 4)),
                max_uplink=optional_integer(params, 3, 0, 0xFFFFFFFF),
            )
        )
    return tuple(controls)


def read_apn_rate_control(cid: int | None = None) -> AtCommand[tuple[ApnRateControl, ...]]:
    """``AT+CGAPNRC[=<cid>]``: APN rate control of one context or of all."""
    if cid is not None:
        _check_cid(cid)
    text = "+CGAPNRC" if cid is None else f"+CGAPNRC={cid}"
    return AtCommand(text, _rate_controls, "+CGAPNRC")


# -- SMS (TS 27.005, PDU mode) -------------------------------------------------------------


def set_sms_pdu_mode() -> AtCommand[None]:
    return _simple("+CMGF=0")


def set_sms_indications(cnmi: str) -> AtCommand[None]:
    """``AT+CNMI=<cnmi>`` (the profile's routing of new messages as ``+CMT``)."""
    if not all(c.isdigit() or c == "," for c in cnmi):
        raise ModemUsageError(f"+CNMI parameters {cnmi!r}")
    return _simple(f"+CNMI={cnmi}")


def send_sms(tpdu: bytes, smsc: bytes = b"\x00") -> AtCommand[int]:
    """``AT+CMGS=<length>``, then at the ``>`` prompt the SMSC address and TPDU in hex and
    Ctrl-Z; the result is the TP-Message-Reference. ``smsc`` b"\\x00" uses ``+CSCA``'s."""
    if not 0 < len(tpdu) <= 164:
        raise ModemUsageError(f"TPDU of {len(tpdu)} octets (1..164)")
    if not smsc or smsc[0] != len(smsc) - 1:
        raise ModemUsageError("smsc must be a length-prefixed address (b'\\x00': default)")
    return AtCommand(
        f"+CMGS={len(tpdu)}",
        lambda lines: integer(params_of(_one(lines, "+CMGS")), 0, 0, 255),
        "+CMGS",
        SMS_TIMEOUT,
        payload=(smsc + tpdu).hex().upper(),
    )


def acknowledge_sms() -> AtCommand[None]:
    """``AT+CNMA=1``: RP-ACK for the last ``+CMT`` (modules with ``sms_ack``)."""
    return _simple("+CNMA=1")
