"""The network's granting policy for PSM and eDRX requests.

``AT+CPSMS``, ``+CEREG`` (mode 4), ``AT+CEDRXS`` and ``+CEDRXP`` carry timers as the bit
strings of the NAS information elements (GPRS Timer 3 / Timer 2, eDRX and paging time window,
TS 24.008 10.5.7.4a, 10.5.7.3, 10.5.5.32); their encoding is the modem driver's
(:mod:`lwm2m.transport.modem.nas`), shared. A network answers a request with the values it
grants, which :class:`GrantPolicy` decides: a real MME often grants other values than the UE
asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.transport.modem.nas import (
    MAX_TIMER_VALUE,
    NB_S1_EDRX,
    NB_S1_PTW_STEP,
    TIMER2_UNITS,
    TIMER3_UNITS,
    decode_timer2,
    decode_timer3,
    encode_edrx,
    encode_timer2,
    encode_timer3,
)

MAX_T3412 = max(TIMER3_UNITS.values()) * MAX_TIMER_VALUE
"""35,712,000 s (31 × 320 h): the longest periodic TAU GPRS Timer 3 carries."""
MAX_T3324 = max(TIMER2_UNITS.values()) * MAX_TIMER_VALUE
"""11,160 s (31 × 6 min): the longest active time GPRS Timer 2 carries."""


@dataclass(frozen=True, slots=True)
class Granted:
    """What the network granted: seconds (None = not granted) and the bit strings the UE is
    told."""

    t3412: int
    t3324: int | None
    edrx: float | None
    ptw: float | None

    @property
    def periodic_tau(self) -> str:
        return encode_timer3(self.t3412, prefer_coarse=True)

    @property
    def active_time(self) -> str:
        return encode_timer2(self.t3324, prefer_coarse=True)

    @property
    def edrx_value(self) -> str | None:
        return None if self.edrx is None else encode_edrx(self.edrx)

    @property
    def ptw_value(self) -> str | None:
        if self.ptw is None:
            return None
        return f"{round(self.ptw / NB_S1_PTW_STEP) - 1:04b}"


@dataclass(frozen=True, slots=True)
class GrantPolicy:
    """How the network answers PSM and eDRX requests: a requested value is clamped into
    [min, max] and rounded to what the NAS encoding can carry. min == max grants one fixed
    value whatever the UE asks; ``psm=False`` / ``edrx=False`` refuse the feature."""

    psm: bool = True
    t3412_min: int = 60
    t3412_max: int = MAX_T3412
    t3324_min: int = 0
    t3324_max: int = MAX_T3324
    default_t3412: int = 3600
    """Periodic TAU when the UE does not request PSM (rounded to what GPRS Timer 3 carries)."""
    edrx: bool = True
    edrx_min: float = 20.48
    edrx_max: float = 10485.76
    ptw: float = 2.56 * 4

    def __post_init__(self) -> None:
        if not (0 < self.t3412_min <= self.t3412_max <= MAX_T3412):
            raise ValueError(f"grant policy: need 0 < t3412 min <= max <= {MAX_T3412} s")
        if not (0 <= self.t3324_min <= self.t3324_max <= MAX_T3324):
            raise ValueError(f"grant policy: need 0 <= t3324 min <= max <= {MAX_T3324} s")
        if not 0 < self.default_t3412 <= MAX_T3412:
            raise ValueError(f"grant policy: default T3412 within 1 .. {MAX_T3412} s")
        if not (20.48 <= self.edrx_min <= self.edrx_max <= 10485.76):
            raise ValueError("grant policy: eDRX bounds within 20.48 .. 10485.76 s")
        if not NB_S1_PTW_STEP <= self.ptw <= 16 * NB_S1_PTW_STEP:
            raise ValueError("grant policy: paging time window within 2.56 .. 40.96 s")

    def grant(self, *, t3412: int | None, t3324: int | None, edrx: float | None) -> Granted:
        """The values granted for a request (None: not requested)."""
        granted_t3324 = None
        granted_t3412 = _carried_t3412(self.default_t3412) or 3600
        if self.psm and t3324 is not None:
            clamped = min(self.t3324_max, max(self.t3324_min, t3324))
            granted_t3324 = decode_timer2(encode_timer2(clamped, prefer_coarse=True))
            if t3412 is not None:
                clamped = min(self.t3412_max, max(self.t3412_min, t3412))
                granted_t3412 = _carried_t3412(clamped) or self.default_t3412
        granted_edrx = granted_ptw = None
        if self.edrx and edrx is not None:
            allowed = [c for c in NB_S1_EDRX.values() if self.edrx_min <= c <= self.edrx_max]
            if allowed:
                granted_edrx = min(allowed, key=lambda cycle: abs(cycle - edrx))
                granted_ptw = round(self.ptw / NB_S1_PTW_STEP) * NB_S1_PTW_STEP
        return Granted(granted_t3412, granted_t3324, granted_edrx, granted_ptw)


def _carried_t3412(seconds: int) -> int | None:
    """The periodic TAU the UE is told for ``seconds`` (the nearest GPRS Timer 3 value)."""
    return decode_timer3(encode_timer3(seconds, prefer_coarse=True))
