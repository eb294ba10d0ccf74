"""The NAS encodings AT commands carry as bit strings, and the signal indices of ``+CESQ``.

- GPRS Timer 3 (TS 24.008 10.5.7.4a): extended periodic TAU (T3412 ext), ``AT+CPSMS`` and
  ``+CEREG`` mode 4 <Periodic-TAU>.
- GPRS Timer 2 (10.5.7.3): active time T3324, <Active-Time> / <Requested_Active-Time>.
- eDRX value and paging time window (10.5.5.32), NB-S1 mode: ``AT+CEDRXS``, ``+CEDRXP``.
- ``+CESQ`` <rsrp>/<rsrq> indices (TS 27.007 8.69, from TS 36.133's reporting ranges).

Encoding picks the representable value nearest to what was asked and never a unit the
receiver could misread; the caller sees what was actually requested by decoding it back.
The emulated network (``lwm2m.network``) encodes the timers it grants with the same code.
"""

from __future__ import annotations

from lwm2m.transport.modem.errors import ModemUsageError, ResponseFormatError
from lwm2m.transport.modem.syntax import AtSyntaxError

DEACTIVATED_UNIT = "111"
TIMER3_UNITS = {"011": 2, "100": 30, "101": 60, "000": 600, "001": 3600, "010": 36000,
                "110": 1_152_000}  # fmt: skip
"""GPRS Timer 3 bits 8-6 → seconds per step (2 s, 30 s, 1 min, 10 min, 1 h, 10 h, 320 h)."""
TIMER2_UNITS = {"000": 2, "001": 60, "010": 360}
"""GPRS Timer 2 bits 8-6 → seconds per step (2 s, 1 min, 6 min)."""
TIMER2_OTHER_UNIT = 60
"""TS 24.008: other GPRS Timer 2 units are read as 1 minute."""
MAX_TIMER_VALUE = 31
NB_S1_EDRX = {"0010": 20.48, "0011": 40.96, "0101": 81.92, "1001": 163.84, "1010": 327.68,
              "1011": 655.36, "1100": 1310.72, "1101": 2621.44, "1110": 5242.88,
              "1111": 10485.76}  # fmt: skip
"""NB-S1 eDRX cycle lengths (seconds); other values read as 20.48 s (10.5.5.32)."""
NB_S1_PTW_STEP = 2.56
"""NB-S1 paging time window: (value + 1) × 2.56 s."""
RSRP_UNKNOWN = RSRQ_UNKNOWN = 255
MAX_RSRP_INDEX = 97
MAX_RSRQ_INDEX = 34


def _bits(text: str, width: int) -> str:
    if len(text) != width or set(text) - {"0", "1"}:
        raise AtSyntaxError(f"{text!r} is not {width} binary digits")
    return text


def decode_timer3(bits: str) -> int | None:
    """Seconds of a GPRS Timer 3 bit string (extended T3412); None when deactivated."""
    unit, value = _bits(bits, 8)[:3], int(bits[3:], 2)
    return None if unit == DEACTIVATED_UNIT else TIMER3_UNITS[unit] * value


def decode_timer2(bits: str) -> int | None:
    """Seconds of a GPRS Timer 2 bit string (T3324); None when deactivated."""
    unit, value = _bits(bits, 8)[:3], int(bits[3:], 2)
    return None if unit == DEACTIVATED_UNIT else TIMER2_UNITS.get(unit, TIMER2_OTHER_UNIT) * value


def _encode(seconds: int | None, units: dict[str, int], what: str, prefer_coarse: bool) -> str:
    if seconds is None:
        return DEACTIVATED_UNIT + "00000"
    limit = max(units.values()) * MAX_TIMER_VALUE
    if not 0 <= seconds <= limit:
        raise ModemUsageError(f"{what} of {seconds} s outside 0..{limit} s")
    best: tuple[int, str] | None = None
    coarse_first = prefer_coarse and seconds > 0  # zero is written in the finest unit
    for unit, step in sorted(units.items(), key=lambda item: item[1], reverse=coarse_first):
        value = min(MAX_TIMER_VALUE, round(seconds / step))
        error = abs(value * step - seconds)
        if best is None or error < best[0]:
            best = (error, f"{unit}{value:05b}")
    assert best is not None
    return best[1]


def encode_timer3(seconds: int | None, *, prefer_coarse: bool = False) -> str:
    """The GPRS Timer 3 bit string nearest to ``seconds`` (None: deactivated). Of units
    equally near, the finer one is used (1 h: 6 × 10 min), or with ``prefer_coarse`` the
    coarser (1 × 1 h, as the emulated network states its grants)."""
    return _encode(seconds, TIMER3_UNITS, "periodic TAU", prefer_coarse)


def encode_timer2(seconds: int | None, *, prefer_coarse: bool = False) -> str:
    """The GPRS Timer 2 bit string nearest to ``seconds`` (None: deactivated); ties between
    units as for :func:`encode_timer3`."""
    return _encode(seconds, TIMER2_UNITS, "active time", prefer_coarse)


def decode_edrx(bits: str) -> float:
    """NB-S1 eDRX cycle length in seconds of a 4-bit eDRX value."""
    return NB_S1_EDRX.get(_bits(bits, 4), NB_S1_EDRX["0010"])


def encode_edrx(seconds: float) -> str:
    """The NB-S1 eDRX value whose cycle is nearest to ``seconds``."""
    if not NB_S1_EDRX["0010"] <= seconds <= NB_S1_EDRX["1111"]:
        raise ModemUsageError(f"eDRX cycle of {seconds} s outside NB-IoT's 20.48..10485.76 s")
    return min(NB_S1_EDRX, key=lambda bits: abs(NB_S1_EDRX[bits] - seconds))


def decode_ptw(bits: str) -> float:
    """NB-S1 paging time window in seconds of a 4-bit value."""
    return round((int(_bits(bits, 4), 2) + 1) * NB_S1_PTW_STEP, 2)


def rsrp_dbm(index: int) -> int | None:
    """The lower edge of ``+CESQ`` <rsrp> band ``index`` in dBm (index n ≥ 1 means
    −141 + n ≤ RSRP < −140 + n; 97 means ≥ −44); index 0 (below −140) reads as −140, the
    floor of what the modem measures; 255 (not known) is None."""
    if index == RSRP_UNKNOWN:
        return None
    if not 0 <= index <= MAX_RSRP_INDEX:
        raise ResponseFormatError(f"<rsrp> {index} outside 0..97, 255")
    return max(-140, -141 + index)


def rsrq_db(index: int) -> float | None:
    """The lower edge of ``+CESQ`` <rsrq> band ``index`` in dB (n ≥ 1: −20 + n/2; 34 means
    ≥ −3); index 0 (below −19.5) reads as −19.5; 255 is None."""
    if index == RSRQ_UNKNOWN:
        return None
    if not 0 <= index <= MAX_RSRQ_INDEX:
        raise ResponseFormatError(f"<rsrq> {index} outside 0..34, 255")
    return max(-19.5, -20 + index / 2)
