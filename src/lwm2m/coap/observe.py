"""Observe sequence numbers (RFC 7641 §3.4, §4.4)."""

from __future__ import annotations

SEQUENCE_MODULUS = 1 << 24
_HALF = 1 << 23
#: After this many seconds any notification is newer, whatever its number (RFC 7641 §3.4).
FRESHNESS_SECONDS = 128.0


def is_fresh(v1: int, t1: float, v2: int, t2: float) -> bool:
    """Whether notification (v2 at t2) is newer than the last one accepted (v1 at t1).

    Numbers are compared in 24-bit serial arithmetic, so the counter may wrap; the time rule
    makes a server restart (counter reset) harmless after 128 s.
    """
    return (
        (v1 < v2 and v2 - v1 < _HALF)
        or (v1 > v2 and v1 - v2 > _HALF)
        or t2 > t1 + FRESHNESS_SECONDS
    )


def next_sequence(value: int) -> int:
    return (value + 1) % SEQUENCE_MODULUS
