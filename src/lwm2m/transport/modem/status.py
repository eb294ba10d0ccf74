"""What the modem has reported, folded from session events: the facts LwM2M objects /4
(connectivity monitoring), /7 (connectivity statistics) and /10 (cellular connectivity)
are filled from, and the release assistance each uplink datagram gets."""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.coap.codes import Type
from lwm2m.transport.modem.commands import (
    ApnRateControl,
    MoDataSent,
    PsmRequest,
    Rai,
    SignalQuality,
)
from lwm2m.transport.modem.session import CommandSucceeded, SessionEvent
from lwm2m.transport.modem.urc import (
    ControlPlaneData,
    EdrxParameters,
    Registration,
    SignallingConnection,
)


@dataclass(slots=True)
class ModemStatus:
    """The latest of each report (None until the modem sent one) and NIDD byte counters."""

    registration: Registration | None = None
    rrc_connected: bool | None = None
    edrx: EdrxParameters | None = None
    signal: SignalQuality | None = None
    psm_requested: PsmRequest | None = None
    rate_control: tuple[ApnRateControl, ...] = ()
    mo_octets: int = 0
    mo_packets: int = 0
    mt_octets: int = 0
    mt_packets: int = 0

    @property
    def active_time(self) -> int | None:
        """Granted T3324 (seconds), from the last ``+CEREG`` that carried it."""
        return None if self.registration is None else self.registration.active_time

    @property
    def periodic_tau(self) -> int | None:
        """Granted extended T3412 (seconds)."""
        return None if self.registration is None else self.registration.periodic_tau

    def apply(self, event: SessionEvent) -> None:
        """Fold one session event (URCs, and the typed results of read commands) in."""
        if isinstance(event, CommandSucceeded):
            self._result(event.result)
        elif isinstance(event, Registration):
            self._registration(event)
        elif isinstance(event, SignallingConnection):
            self.rrc_connected = event.connected
        elif isinstance(event, EdrxParameters):
            self.edrx = event
        elif isinstance(event, ControlPlaneData):
            self.mt_octets += len(event.data)
            self.mt_packets += 1

    def _registration(self, report: Registration) -> None:
        """A report without cell or timers (``+CEREG: 2`` while searching) does not erase
        what the last full report said about them."""
        previous = self.registration
        if previous is not None and report.tac is None and report.active_time_bits is None:
            report = Registration(
                report.stat,
                previous.tac,
                previous.cell_id,
                previous.act,
                report.reject_cause_type,
                report.reject_cause,
                previous.active_time_bits,
                previous.periodic_tau_bits,
            )
        self.registration = report

    def _result(self, result: object) -> None:
        if isinstance(result, Registration):
            self._registration(result)
        elif isinstance(result, SignalQuality):
            self.signal = result
        elif isinstance(result, SignallingConnection):
            self.rrc_connected = result.connected
        elif isinstance(result, EdrxParameters):
            self.edrx = result
        elif isinstance(result, PsmRequest):
            self.psm_requested = result
        elif isinstance(result, MoDataSent):
            self.mo_octets += result.octets
            self.mo_packets += 1
        elif isinstance(result, tuple) and all(isinstance(r, ApnRateControl) for r in result):
            self.rate_control = result


def release_assistance(datagram: bytes, *, more_queued: bool) -> Rai:
    """The RAI for sending ``datagram`` (a CoAP message) over ``AT+CSODCP``.

    With more uplink queued nothing is final yet (0). Otherwise what the message lets the
    peer answer decides: a CON (request, separate response or CON notification) is answered
    by exactly one ACK or reset, and a NON request by one NON response (2); an ACK, a reset
    or a NON response (a NON notification) expects nothing (1). What is not CoAP gets 0.
    """
    if more_queued or len(datagram) < 4 or datagram[0] >> 6 != 1:
        return Rai.NO_INFORMATION
    kind, code = (datagram[0] >> 4) & 0x3, datagram[1]
    if kind == Type.CON or (kind == Type.NON and 0 < code < 0x20):
        return Rai.ONE_DOWNLINK_EXPECTED
    return Rai.NO_FURTHER_DATA
