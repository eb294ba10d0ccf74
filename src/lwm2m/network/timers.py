"""NAS timer encodings and the network's granting policy.

``AT+CPSMS``, ``+CEREG`` (mode 4), ``AT+CEDRXS`` and ``+CEDRXP`` carry timers as the bit
strings of the NAS information elements: GPRS Timer 3 (extended T3412, TS 24.008
10.5.7.4a), GPRS Timer 2 (T3324, 10.5.7.3) and the eDRX / paging-time-window nibbles
(10.5.5.32). A network answers a request with the values it grants, which :class:`GrantPolicy`
decides: a real MME often grants other values than the UE asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

DEACTIVATED = "111"
TIMER3_UNITS = {  # GPRS Timer 3, bits 8-6: seconds per step
    "011": 2,
    "100": 30,
    "101": 60,
    "000": 600,
    "001": 3600,
    "010": 36000,
    "110": 1_152_000,
}
TIMER2_UNITS = {"000": 2, "001": 60, "010": 360}  # GPRS Timer 2, bits 8-6
NB_S1_EDRX = {  # 10.5.5.32, NB-S1 mode: cycle length in seconds
    "0010": 20.48,
    "0011": 40.96,
    "0101": 81.92,
    "1001": 163.84,
    "1010": 327.68,
    "1011": 655.36,
    "1100": 1310.72,
    "1101": 2621.44,
    "1110": 5242.88,
    "1111": 10485.76,
}
NB_S1_PTW_STEP = 2.56
"""NB-S1 paging time window: (value + 1) × 2.56 s."""


class TimerFormatError(ValueError):
    """A timer bit string from the UE that is not one (wrong length, not binary)."""


def _split(bits: str) -> tuple[str, int]:
    if len(bits) != 8 or set(bits) - {"0", "1"}:
        raise TimerFormatError(f"{bits!r}: 8 binary digits")
    return bits[:3], int(bits[3:], 2)


def decode_timer3(bits: str) -> int | None:
    """Seconds of an extended T3412 bit string; None when deactivated."""
    unit, value = _split(bits)
    return None if unit == DEACTIVATED else TIMER3_UNITS[unit] * value


def decode_timer2(bits: str) -> int | None:
    """Seconds of a T3324 bit string; None when deactivated. Unknown units count as minutes,
    as TS 24.008 tells a receiver to."""
    unit, value = _split(bits)
    return None if unit == DEACTIVATED else TIMER2_UNITS.get(unit, 60) * value


def _encode(seconds: int, units: dict[str, int]) -> str:
    """The representable value nearest to ``seconds`` (ties: the coarser unit, as a UE
    would write it; zero in the finest unit)."""
    if seconds <= 0:
        return f"{min(units, key=lambda unit: units[unit])}00000"
    best: tuple[int, int, str] | None = None
    for unit, step in sorted(units.items(), key=lambda item: -item[1]):
        value = min(31, max(0, round(seconds / step)))
        error = abs(value * step - seconds)
        if best is None or error < best[0]:
            best = (error, step, f"{unit}{value:05b}")
    assert best is not None
    return best[2]


def encode_timer3(seconds: int | None) -> str:
    return DEACTIVATED + "00000" if seconds is None else _encode(seconds, TIMER3_UNITS)


def encode_timer2(seconds: int | None) -> str:
    return DEACTIVATED + "00000" if seconds is None else _encode(seconds, TIMER2_UNITS)


def edrx_cycle(nibble: str) -> float:
    """NB-S1 eDRX cycle of a requested value; the values NB-S1 does not define mean 20.48 s
    (TS 24.008 10.5.5.32)."""
    if len(nibble) != 4 or set(nibble) - {"0", "1"}:
        raise TimerFormatError(f"{nibble!r}: 4 binary digits")
    return NB_S1_EDRX.get(nibble, 20.48)


def ptw_seconds(nibble: str) -> float:
    return (int(nibble, 2) + 1) * NB_S1_PTW_STEP


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
        return encode_timer3(self.t3412)

    @property
    def active_time(self) -> str:
        return encode_timer2(self.t3324)

    @property
    def edrx_value(self) -> str | None:
        if self.edrx is None:
            return None
        return next(code for code, cycle in NB_S1_EDRX.items() if cycle == self.edrx)

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
    t3412_max: int = 35_712_000
    t3324_min: int = 0
    t3324_max: int = 11_160
    default_t3412: int = 3600
    """Periodic TAU when the UE does not request PSM (rounded to what GPRS Timer 3 carries)."""
    edrx: bool = True
    edrx_min: float = 20.48
    edrx_max: float = 10485.76
    ptw: float = 2.56 * 4

    def __post_init__(self) -> None:
        if not (0 < self.t3412_min <= self.t3412_max and 0 <= self.t3324_min <= self.t3324_max):
            raise ValueError("grant policy: need 0 < t3412 min <= max and 0 <= t3324 min <= max")
        if not (20.48 <= self.edrx_min <= self.edrx_max <= 10485.76):
            raise ValueError("grant policy: eDRX bounds within 20.48 .. 10485.76 s")
        if not NB_S1_PTW_STEP <= self.ptw <= 16 * NB_S1_PTW_STEP:
            raise ValueError("grant policy: paging time window within 2.56 .. 40.96 s")

    def grant(self, *, t3412: int | None, t3324: int | None, edrx: float | None) -> Granted:
        """The values granted for a request (None: not requested)."""
        granted_t3324 = None
        granted_t3412 = decode_timer3(encode_timer3(self.default_t3412)) or 3600
        if self.psm and t3324 is not None:
            granted_t3324 = decode_timer2(
                encode_timer2(min(self.t3324_max, max(self.t3324_min, t3324)))
            )
            if t3412 is not None:
                clamped = min(self.t3412_max, max(self.t3412_min, t3412))
                granted_t3412 = decode_timer3(encode_timer3(clamped)) or self.default_t3412
        granted_edrx = granted_ptw = None
        if self.edrx and edrx is not None:
            allowed = [c for c in NB_S1_EDRX.values() if self.edrx_min <= c <= self.edrx_max]
            if allowed:
                granted_edrx = min(allowed, key=lambda cycle: abs(cycle - edrx))
                granted_ptw = round(self.ptw / NB_S1_PTW_STEP) * NB_S1_PTW_STEP
        return Granted(granted_t3412, granted_t3324, granted_edrx, granted_ptw)
