"""Where modules differ from TS 27.007 / 27.005 or from each other: one small table.

Everything else in the driver follows the specifications, so a module that needs no entry
here works with :data:`GENERIC`. Each field says what it changes; each profile sets only
what its vendor's AT manual documents (the manual is named beside it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lwm2m.transport.modem.errors import ModemUsageError


@dataclass(frozen=True, slots=True)
class ModemQuirks:
    name: str
    cereg_mode: int = 4
    """``AT+CEREG=<n>``: 4 reports PSM timers (TS 27.007); 5 adds the reject cause."""
    quote_hex: bool = True
    """Whether ``AT+CSODCP``'s <cpdata> is written in quotes (TS 27.007's string type)."""
    max_nidd_octets: int | None = None
    """A module limit below the network's Non-IP MTU; None: ask ``AT+CSODCP=?``."""
    cnmi: str = "2,2,0,0,0"
    """``AT+CNMI`` parameters routing new SMS to the TE as ``+CMT`` (TS 27.005 3.4.1)."""
    sms_ack: bool = False
    """Whether each ``+CMT`` must be acknowledged with ``AT+CNMA`` (``+CSMS`` service 1)."""
    max_line: int = 4096
    """Longest line taken from the module (a 1358-octet ``+CRTDCP`` is ~2,740 characters)."""
    settle_after_timeout: float = 2.0
    """Seconds to ignore result codes after a timeout, so that a late OK is not taken as
    the next command's."""
    timeouts: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Per-command timeouts (``"+CFUN": 85.0``) over the driver's defaults."""

    def __post_init__(self) -> None:
        if self.cereg_mode not in (4, 5):
            raise ModemUsageError("cereg_mode must be 4 or 5: the driver needs PSM timers")
        if self.max_line < 512:
            raise ModemUsageError("max_line below 512 cannot hold a +CEREG or +CRTDCP line")


GENERIC = ModemQuirks("generic")
PROFILES: Mapping[str, ModemQuirks] = MappingProxyType(
    {
        quirks.name: quirks
        for quirks in (
            GENERIC,
            # Quectel BC66 AT Commands Manual V1.0: TS 27.007 / 27.005 compliant commands.
            ModemQuirks("quectel-bc66"),
            # Quectel BG96 AT Commands Manual: TS 27.007 / 27.005 compliant commands.
            ModemQuirks("quectel-bg96"),
            # u-blox SARA-R4 AT commands manual (UBX-17003787), +CSODCP: "The maximum
            # length is 512 bytes" (test command: +CSODCP: (0-10),(512),(0-2),(0,1)).
            ModemQuirks("ublox-sara-r4", max_nidd_octets=512),
            # Nordic nRF9160 AT Commands: +CEREG=5; +CNMI=3,2,0,1 is the setting it takes
            # for +CMT routing, and "TE is expected to ACK received message with +CNMA".
            ModemQuirks("nordic-nrf9160", cereg_mode=5, cnmi="3,2,0,1", sms_ack=True),
        )
    }
)


def quirks_for(name: str) -> ModemQuirks:
    """The profile called ``name``; an unknown name is refused, never silently generic."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ModemUsageError(f"unknown modem profile {name!r} (known: {known})") from None
