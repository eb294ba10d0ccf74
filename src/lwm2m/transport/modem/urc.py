"""Unsolicited result codes as typed, frozen events, and their parsers.

A URC can arrive at any moment, between a command and its answer too; the session hands
every line with a known URC prefix (unless it is the in-flight command's own response) to
:data:`URC_PARSERS`. A URC that does not parse becomes :class:`MalformedUrc` (counted),
never an exception out of the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.transport.modem.errors import OpenIntEnum, ResponseFormatError
from lwm2m.transport.modem.nas import decode_edrx, decode_ptw, decode_timer2, decode_timer3
from lwm2m.transport.modem.syntax import (
    Params,
    hex_octets,
    integer,
    optional_integer,
    optional_text,
    params_of,
)


class RegistrationStat(OpenIntEnum):
    """``+CEREG`` <stat> (TS 27.007 10.1.22); other values are kept by number."""

    NOT_REGISTERED = 0
    REGISTERED_HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    REGISTERED_ROAMING = 5
    EMERGENCY_ONLY = 8


ACT_E_UTRAN = 7
ACT_NB_S1 = 9
EDRX_ACT_NB_S1 = 5
"""``+CEDRXS`` <AcT-type> of NB-IoT (E-UTRAN NB-S1 mode)."""


@dataclass(frozen=True, slots=True)
class Registration:
    """A ``+CEREG`` report. Timers are the granted values (seconds) with the bit strings
    they came as; None where the modem gave none or the timer is deactivated."""

    stat: RegistrationStat
    tac: int | None = None
    cell_id: int | None = None
    act: int | None = None
    reject_cause_type: int | None = None
    reject_cause: int | None = None
    active_time_bits: str | None = None
    periodic_tau_bits: str | None = None

    @property
    def registered(self) -> bool:
        return self.stat in (RegistrationStat.REGISTERED_HOME, RegistrationStat.REGISTERED_ROAMING)

    @property
    def active_time(self) -> int | None:
        """Granted T3324 in seconds (PSM is on when this is not None)."""
        return None if self.active_time_bits is None else decode_timer2(self.active_time_bits)

    @property
    def periodic_tau(self) -> int | None:
        """Granted extended T3412 in seconds."""
        return None if self.periodic_tau_bits is None else decode_timer3(self.periodic_tau_bits)


@dataclass(frozen=True, slots=True)
class SignallingConnection:
    """``+CSCON``: RRC connected (True) or idle; <state>/<access> when the module sends them."""

    connected: bool
    state: int | None = None
    access: int | None = None


@dataclass(frozen=True, slots=True)
class ControlPlaneData:
    """``+CRTDCP``: Non-IP data from the network on context ``cid``."""

    cid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class EdrxParameters:
    """``+CEDRXP`` (and ``+CEDRXRDP``): requested and network-provided eDRX, bit strings
    and seconds (None where absent)."""

    act_type: int
    requested_bits: str | None = None
    network_bits: str | None = None
    ptw_bits: str | None = None

    @property
    def requested(self) -> float | None:
        return None if self.requested_bits is None else decode_edrx(self.requested_bits)

    @property
    def network(self) -> float | None:
        """Granted eDRX cycle in seconds."""
        return None if self.network_bits is None else decode_edrx(self.network_bits)

    @property
    def paging_time_window(self) -> float | None:
        return None if self.ptw_bits is None else decode_ptw(self.ptw_bits)


@dataclass(frozen=True, slots=True)
class SmsDelivered:
    """``+CMT`` in PDU mode (TS 27.005 3.4.1): the SMSC address and TPDU, undecoded."""

    alpha: str | None
    length: int
    pdu: bytes


@dataclass(frozen=True, slots=True)
class OtherUrc:
    """A URC this driver has no parser for (``+CGEV``, vendor ``%XMODEMSLEEP``...)."""

    line: str


@dataclass(frozen=True, slots=True)
class MalformedUrc:
    """A URC whose parameters are not what the spec defines (truncated, not hex...)."""

    line: str
    reason: str


Urc = (
    Registration
    | SignallingConnection
    | ControlPlaneData
    | EdrxParameters
    | SmsDelivered
    | OtherUrc
    | MalformedUrc
)


def _bit_string(params: Params, index: int, width: int) -> str | None:
    text = optional_text(params, index)
    if text is not None and (len(text) != width or set(text) - {"0", "1"}):
        raise ResponseFormatError(f"{text!r}: {width} binary digits")
    return text


def _hex_int(params: Params, index: int, digits: int) -> int | None:
    text = optional_text(params, index)
    if text is None:
        return None
    if not 0 < len(text) <= digits or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise ResponseFormatError(f"{text!r}: up to {digits} hex digits")
    return int(text, 16)


def registration(params: Params) -> Registration:
    """``<stat>[,[<tac>],[<ci>],[<AcT>][,[<cause_type>],[<reject_cause>][,[<Active-Time>],
    [<Periodic-TAU>]]]]`` (the URC form; a read response has <n> before it)."""
    if not params:
        raise ResponseFormatError("+CEREG without <stat>")
    return Registration(
        stat=RegistrationStat(integer(params, 0, 0, 0xFF)),
        tac=_hex_int(params, 1, 4),
        cell_id=_hex_int(params, 2, 8),
        act=optional_integer(params, 3, 0, 0xFF),
        reject_cause_type=optional_integer(params, 4, 0, 0xFF),
        reject_cause=optional_integer(params, 5, 0, 0xFFFF),
        active_time_bits=_bit_string(params, 6, 8),
        periodic_tau_bits=_bit_string(params, 7, 8),
    )


def signalling(params: Params) -> SignallingConnection:
    """``<mode>[,<state>[,<access>]]`` (URC form)."""
    return SignallingConnection(
        connected=integer(params, 0, 0, 1) == 1,
        state=optional_integer(params, 1, 0, 0xFF),
        access=optional_integer(params, 2, 0, 0xFF),
    )


def control_plane_data(params: Params) -> ControlPlaneData:
    """``<cid>,<cpdata_length>,<cpdata>``; the data must be as long as its length says."""
    length = integer(params, 1, 0, 0xFFFF)
    text = optional_text(params, 2)
    data = hex_octets(text or "", length)
    return ControlPlaneData(cid=integer(params, 0, 0, 0xFF), data=data)


def edrx(params: Params) -> EdrxParameters:
    """``<AcT-type>[,<Requested_eDRX_value>[,<NW-provided_eDRX_value>[,<PTW>]]]``."""
    return EdrxParameters(
        act_type=integer(params, 0, 0, 0xFF),
        requested_bits=_bit_string(params, 1, 4),
        network_bits=_bit_string(params, 2, 4),
        ptw_bits=_bit_string(params, 3, 4),
    )


@dataclass(frozen=True, slots=True)
class CmtHeader:
    """The first line of a ``+CMT``; the PDU follows on the next line."""

    alpha: str | None
    length: int

    def complete(self, pdu_line: str) -> SmsDelivered:
        pdu = hex_octets(pdu_line.strip())
        if len(pdu) < self.length:  # <length> counts the TPDU, without the SMSC address
            raise ResponseFormatError(f"+CMT PDU of {len(pdu)} octets, <length> {self.length}")
        return SmsDelivered(self.alpha, self.length, pdu)


def cmt_header(params: Params) -> CmtHeader:
    """``[<alpha>],<length>``."""
    return CmtHeader(optional_text(params, 0), integer(params, 1, 0, 255))


URC_PARSERS: dict[str, Callable[[Params], Urc | CmtHeader]] = {
    "+CEREG": registration,
    "+CSCON": signalling,
    "+CRTDCP": control_plane_data,
    "+CEDRXP": edrx,
    "+CMT": cmt_header,
}
"""Prefix → parser of the URCs this driver types; ``+CMT`` yields a header that waits for
its PDU line."""


def parse_urc(prefix: str, line: str) -> Urc | CmtHeader:
    """The typed URC of ``line`` (prefix ``prefix``); malformed ones become MalformedUrc."""
    parser = URC_PARSERS.get(prefix)
    if parser is None:
        return OtherUrc(line)
    try:
        return parser(params_of(line))
    except ResponseFormatError as error:
        return MalformedUrc(line, str(error))
