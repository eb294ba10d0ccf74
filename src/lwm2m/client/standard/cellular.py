"""Cellular Connectivity object (/10) of a device with a real modem: the PSM and eDRX timers a
server writes are requested from the network, and what the network granted is what reads see.

A write stores the requested value and hands a :class:`PowerSavingRequest` to
:attr:`CellularConnectivityObject.on_request` (the modem link sends ``AT+CPSMS`` /
``AT+CEDRXS``); :meth:`CellularConnectivityObject.granted` later replaces it with the granted
value from ``+CEREG`` / ``+CEDRXP``.  Values the AT commands cannot carry are refused (4.00), as
is an eDRX paging time window other than the network's: TS 27.007 gives no way to request one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from lwm2m.client.objects import BadRequestError, ResourceValue, SimpleObject
from lwm2m.model import ObjectLink, ObjectModel
from lwm2m.transport.modem.errors import ModemUsageError
from lwm2m.transport.modem.nas import NB_S1_EDRX, encode_timer2, encode_timer3

PSM_TIMER = 4
ACTIVE_TIMER = 5
EDRX_NB_S1 = 9
ACTIVATED_PROFILE_NAMES = 11
SUPPORTED_POWER_SAVING_MODES = 12
ACTIVE_POWER_SAVING_MODES = 13
PSM_MODE = 0b01
EDRX_MODE = 0b10


@dataclass(frozen=True, slots=True)
class PowerSavingRequest:
    """What to ask the network for: PSM as (extended T3412, T3324) seconds and the eDRX
    cycle in seconds; None turns the mode off."""

    psm: tuple[int, int] | None
    edrx: float | None


def edrx_octet(ptw_bits: str, edrx_bits: str) -> bytes:
    """TS 24.008 10.5.5.32 octet 3: paging time window in bits 8-5, eDRX value in 4-1."""
    return bytes([int(ptw_bits + edrx_bits, 2)])


class CellularConnectivityObject(SimpleObject):
    """/10 instance 0 (module docstring)."""

    def __init__(
        self,
        model: ObjectModel,
        *,
        psm_timer: int,
        active_timer: int,
        edrx: bytes,
        apn_profile: ObjectLink,
    ) -> None:
        super().__init__(
            model,
            {
                0: {
                    PSM_TIMER: psm_timer,
                    ACTIVE_TIMER: active_timer,
                    EDRX_NB_S1: edrx,
                    ACTIVATED_PROFILE_NAMES: {0: apn_profile},
                    SUPPORTED_POWER_SAVING_MODES: PSM_MODE | EDRX_MODE,
                    ACTIVE_POWER_SAVING_MODES: PSM_MODE | EDRX_MODE,
                }
            },
            writers={
                PSM_TIMER: self._write_psm_timer,
                ACTIVE_TIMER: self._write_active_timer,
                EDRX_NB_S1: self._write_edrx,
                ACTIVE_POWER_SAVING_MODES: self._write_modes,
            },
            supported=(PSM_TIMER, ACTIVE_TIMER, EDRX_NB_S1, ACTIVE_POWER_SAVING_MODES),
            creatable=False,
        )
        self.on_request: Callable[[PowerSavingRequest], None] | None = None
        """Called with each request a server's write makes (the modem link sets it)."""

    def request(self) -> PowerSavingRequest:
        """What the stored values ask for."""
        modes = self._int(ACTIVE_POWER_SAVING_MODES)
        edrx = self.get(0, EDRX_NB_S1)
        assert isinstance(edrx, bytes)
        return PowerSavingRequest(
            (self._int(PSM_TIMER), self._int(ACTIVE_TIMER)) if modes & PSM_MODE else None,
            self._cycle(edrx) if modes & EDRX_MODE else None,
        )

    def granted(
        self,
        *,
        periodic_tau: int | None,
        active_time: int | None,
        edrx: bytes | None,
    ) -> None:
        """The network's grant: timers it granted replace the requested ones, and the active
        modes say which it granted (None: not granted)."""
        modes = 0
        if active_time is not None:
            modes |= PSM_MODE
            self.set(0, ACTIVE_TIMER, active_time)
            if periodic_tau is not None:
                self.set(0, PSM_TIMER, periodic_tau)
        if edrx is not None:
            modes |= EDRX_MODE
            self.set(0, EDRX_NB_S1, edrx)
        self.set(0, ACTIVE_POWER_SAVING_MODES, modes)

    # -- writes --------------------------------------------------------------------------------

    def _int(self, resource_id: int) -> int:
        value = self.get(0, resource_id)
        assert isinstance(value, int)
        return value

    def _ask(self, request: PowerSavingRequest) -> None:
        if self.on_request is not None:
            self.on_request(request)

    def _cycle(self, octet: bytes) -> float:
        return NB_S1_EDRX.get(f"{octet[0] & 0xF:04b}", NB_S1_EDRX["0010"])

    def _write_psm_timer(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, int)
        _check(encode_timer3, value, "PSM Timer")
        if self._int(ACTIVE_POWER_SAVING_MODES) & PSM_MODE:
            self._ask(replace(self.request(), psm=(value, self._int(ACTIVE_TIMER))))

    def _write_active_timer(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, int)
        _check(encode_timer2, value, "Active Timer")
        if self._int(ACTIVE_POWER_SAVING_MODES) & PSM_MODE:
            self._ask(replace(self.request(), psm=(self._int(PSM_TIMER), value)))

    def _write_edrx(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, bytes)
        current = self.get(0, EDRX_NB_S1)
        assert isinstance(current, bytes)
        if len(value) != 1:
            raise BadRequestError("eDRX parameters: one octet (TS 24.008 10.5.5.32)")
        if value[0] >> 4 != current[0] >> 4:
            raise BadRequestError(
                "the paging time window (bits 8-5) is the network's: AT+CEDRXS cannot request it"
            )
        cycle = NB_S1_EDRX.get(f"{value[0] & 0xF:04b}")
        if cycle is None:
            raise BadRequestError(f"eDRX value {value[0] & 0xF:04b} is not an NB-S1 cycle")
        if self._int(ACTIVE_POWER_SAVING_MODES) & EDRX_MODE:
            self._ask(replace(self.request(), edrx=cycle))

    def _write_modes(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, int)
        if value & ~(PSM_MODE | EDRX_MODE):
            raise BadRequestError("supported power saving modes: PSM (bit 0) and eDRX (bit 1)")
        edrx = self.get(0, EDRX_NB_S1)
        assert isinstance(edrx, bytes)
        self._ask(
            PowerSavingRequest(
                (self._int(PSM_TIMER), self._int(ACTIVE_TIMER)) if value & PSM_MODE else None,
                self._cycle(edrx) if value & EDRX_MODE else None,
            )
        )


def _check(encode: Callable[[int], str], value: int, name: str) -> None:
    try:
        encode(value)
    except ModemUsageError as error:
        raise BadRequestError(f"{name}: {error}") from None
