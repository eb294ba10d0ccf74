"""SIM cards and the HSS role: IMSI ↔ MSISDN ↔ external identifier.

The T8 side only ever names a device by its external identifier (``local@domain``, TS 23.003
clause 19.7.2) or its MSISDN; the radio side only knows the IMSI. :class:`Hss` is where the
two meet, as the HSS does for a real SCEF.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMSI = re.compile(r"[0-9]{6,15}")
MSISDN = re.compile(r"[0-9]{5,15}")
EXTERNAL_ID = re.compile(r"[^@\s]+@[^@\s]+")
GENERATED_PLMN = "00101"
"""MCC 001 / MNC 01: the test network of TS 23.003, so generated IMSIs never clash with a
real operator's."""


class SimError(ValueError):
    """A SIM list that cannot be used (bad identifier, duplicate)."""


@dataclass(frozen=True, slots=True)
class Sim:
    imsi: str
    msisdn: str
    external_id: str
    imei: str

    def to_json(self) -> dict[str, str]:
        return {
            "imsi": self.imsi,
            "msisdn": self.msisdn,
            "externalId": self.external_id,
            "imei": self.imei,
        }


def _check(sim: Sim) -> Sim:
    if not IMSI.fullmatch(sim.imsi):
        raise SimError(f"imsi {sim.imsi!r}: 6 to 15 digits")
    if not MSISDN.fullmatch(sim.msisdn):
        raise SimError(f"msisdn {sim.msisdn!r}: 5 to 15 digits, no '+'")
    if not EXTERNAL_ID.fullmatch(sim.external_id):
        raise SimError(f"externalId {sim.external_id!r}: local@domain (TS 23.003)")
    return sim


def _imei_for(index: int) -> str:
    """A 15-digit IMEI with a valid Luhn check digit (TAC 35000000, a test range)."""
    body = f"35000000{index:06d}"
    total = 0
    for position, char in enumerate(body):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str((10 - total % 10) % 10)


def generate_sims(count: int, domain: str = "nidd.example.com") -> list[Sim]:
    if not 1 <= count <= 100_000:
        raise SimError("--sims N: 1 to 100000")
    return [
        Sim(
            imsi=f"{GENERATED_PLMN}{index:010d}",
            msisdn=f"49170{index:07d}",
            external_id=f"device{index:05d}@{domain}",
            imei=_imei_for(index),
        )
        for index in range(1, count + 1)
    ]


def load_sims(path: Path) -> list[Sim]:
    """Read ``[{"imsi", "msisdn", "externalId"}, ...]`` (``imei`` optional)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SimError(f"{path}: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise SimError(f"{path}: a non-empty JSON list of SIMs")
    sims = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) for key in ("imsi", "msisdn", "externalId")
        ):
            raise SimError(f"{path}: entry {index} needs string imsi, msisdn and externalId")
        imei = entry.get("imei", _imei_for(index))
        if not isinstance(imei, str) or not re.fullmatch(r"[0-9]{15}", imei):
            raise SimError(f"{path}: entry {index}: imei must be 15 digits")
        sims.append(Sim(entry["imsi"], entry["msisdn"].lstrip("+"), entry["externalId"], imei))
    return sims


class Hss:
    """The subscriber database: every lookup the SCEF and the radio side need."""

    def __init__(self, sims: Iterable[Sim]) -> None:
        self._by_imsi: dict[str, Sim] = {}
        self._by_msisdn: dict[str, Sim] = {}
        self._by_external_id: dict[str, Sim] = {}
        for sim in map(_check, sims):
            for index, key in (
                (self._by_imsi, sim.imsi),
                (self._by_msisdn, sim.msisdn),
                (self._by_external_id, sim.external_id),
            ):
                if key in index:
                    raise SimError(f"duplicate identifier {key!r}")
                index[key] = sim

    def __iter__(self) -> Iterator[Sim]:
        return iter(self._by_imsi.values())

    def __len__(self) -> int:
        return len(self._by_imsi)

    def by_imsi(self, imsi: str) -> Sim | None:
        return self._by_imsi.get(imsi)

    def lookup(self, *, external_id: str | None = None, msisdn: str | None = None) -> Sim | None:
        """The SIM a T8 request names, by external identifier or MSISDN (a leading '+' is
        tolerated)."""
        if external_id is not None:
            return self._by_external_id.get(external_id)
        if msisdn is not None:
            return self._by_msisdn.get(msisdn.lstrip("+"))
        return None
