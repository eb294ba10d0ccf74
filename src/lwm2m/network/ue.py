"""One UE as the network sees it: registration, RRC, PSM, eDRX, MT buffer and rate control.

Sans-I/O: every method takes ``now`` (emulated seconds since the epoch), and the UE says when
it next needs :meth:`Ue.advance` through :meth:`Ue.next_deadline`. What the modem must be told
is queued as :data:`Indication` values (its AT interpreter turns them into URCs); what the
SCEF must learn is queued as :data:`NetworkEvent` values.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from lwm2m.network.sims import Sim
from lwm2m.network.timers import GrantPolicy

RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
AT_RATE_UNIT = {None: 0, "minute": 1, "hour": 2, "day": 3, "week": 4}
"""``AT+CGAPNRC``'s <Uplink_time_unit>: 0 unrestricted."""
PLMN_RATE_WINDOW = 360.0
"""Serving-PLMN rate control counts uplink messages per 6 minutes (TS 24.301)."""
SIGNALLING_TIME = 1.0
"""Seconds of RRC connection a periodic TAU without data holds."""


class Stat(IntEnum):
    """``+CEREG``'s <stat>."""

    NOT_REGISTERED = 0
    REGISTERED_HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5


class Reach(Enum):
    """Whether MT data can be delivered right now, and why not."""

    REACHABLE = "reachable"
    NO_PDN = "no PDN connection"
    PSM = "power saving mode"
    EDRX = "between eDRX paging windows"


class MoError(Enum):
    """Why an uplink was refused; the AT interpreter maps each to a +CME ERROR."""

    NOT_ATTACHED = "not attached"
    UNKNOWN_CONTEXT = "no such PDP context"
    TOO_LARGE = "larger than the maximum packet size"
    RATE_LIMITED = "rate control"


@dataclass(frozen=True, slots=True)
class RateControl:
    """APN rate control (``apn_max`` per ``apn_unit``, exception reports beyond it when
    ``exception_reports``) and serving-PLMN rate control (``plmn_max`` per 6 minutes)."""

    apn_max: int | None = None
    apn_unit: str | None = None
    exception_reports: bool = False
    plmn_max: int | None = None

    def __post_init__(self) -> None:
        if (self.apn_max is None) != (self.apn_unit is None):
            raise ValueError("APN rate control needs both a maximum and a time unit")
        if self.apn_unit is not None and self.apn_unit not in RATE_UNITS:
            raise ValueError(f"APN rate unit: one of {', '.join(RATE_UNITS)}")
        if (self.apn_max is not None and self.apn_max < 1) or (
            self.plmn_max is not None and self.plmn_max < 1
        ):
            raise ValueError("rate control maximums must be at least 1")


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    policy: GrantPolicy = field(default_factory=GrantPolicy)
    rate: RateControl = field(default_factory=RateControl)
    apn: str = "nidd"
    inactivity: float = 20.0
    """Seconds without traffic after which the network releases the RRC connection."""
    attach_delay: float = 2.0
    max_packet_size: int = 1358
    buffer_limit: int = 16
    """MT packets buffered per UE while it cannot be reached."""
    buffer_time: float = 86_400.0
    """How long MT data is buffered when the request gives no maximumLatency."""
    smsc_address: str = "491700000000"
    """The SMSC's number: in every +CMT PDU, ``AT+CSCA?``, and the originator of triggers."""
    tac: int = 0x1A2B
    cell_id: int = 0x01A2D101
    rsrp: int = 45
    """``AT+CESQ`` index: -140 + 45 = -95 dBm."""
    rsrq: int = 20

    def __post_init__(self) -> None:
        if not (1 <= self.max_packet_size <= 1358 and self.buffer_limit >= 0):
            raise ValueError("maximum packet size: 1 to 1358 octets; buffer limit >= 0")
        if self.inactivity <= 0 or self.attach_delay < 0 or self.buffer_time <= 0:
            raise ValueError("inactivity and buffer time must be positive")
        if not self.smsc_address.isdigit() or not 3 <= len(self.smsc_address) <= 20:
            raise ValueError("the SMSC address is 3 to 20 digits")


# What the modem is told (its AT interpreter formats URCs from these).
@dataclass(frozen=True, slots=True)
class RegistrationChanged:
    stat: Stat


@dataclass(frozen=True, slots=True)
class RrcChanged:
    connected: bool


@dataclass(frozen=True, slots=True)
class MtData:
    cid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class EdrxChanged:
    pass


@dataclass(frozen=True, slots=True)
class SmsToTe:
    """An MT SMS for the TE: TS 27.005 PDU mode (SMSC address and SMS-DELIVER) and the
    TPDU's ``length`` in octets."""

    pdu: bytes
    length: int


Indication = RegistrationChanged | RrcChanged | MtData | EdrxChanged | SmsToTe


# What the SCEF learns.
@dataclass(frozen=True, slots=True)
class UplinkData:
    imsi: str
    data: bytes
    exception: bool


@dataclass(frozen=True, slots=True)
class BecameReachable:
    imsi: str
    until: float | None
    """When the UE is expected to become unreachable again (None: not known)."""


@dataclass(frozen=True, slots=True)
class EnteredIdle:
    """A UE with PSM granted released its RRC connection (TS 23.682's idle status
    indication): the timers it sleeps by."""

    imsi: str
    periodic_tau: int
    active_time: int
    edrx_cycle: float | None


@dataclass(frozen=True, slots=True)
class MtDelivered:
    imsi: str
    tag: str


@dataclass(frozen=True, slots=True)
class MtExpired:
    imsi: str
    tag: str


@dataclass(frozen=True, slots=True)
class Detached:
    imsi: str


@dataclass(frozen=True, slots=True)
class SmsFromUe:
    """An MO SMS (the SMS-SUBMIT TPDU of AT+CMGS) for the SMSC."""

    imsi: str
    tpdu: bytes


NetworkEvent = (
    UplinkData | BecameReachable | EnteredIdle | MtDelivered | MtExpired | Detached | SmsFromUe
)


@dataclass(slots=True)
class BufferedMt:
    tag: str
    data: bytes
    deadline: float
    priority: int = 0
    """T8 ``priority``: the buffer delivers lower values first, equal ones in order."""


@dataclass(slots=True)
class Counters:
    mo_packets: int = 0
    mo_octets: int = 0
    mo_rate_limited: int = 0
    mt_delivered: int = 0
    mt_buffered: int = 0
    mt_expired: int = 0
    tau: int = 0
    sms_mo: int = 0
    sms_mt: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "moPackets": self.mo_packets,
            "moOctets": self.mo_octets,
            "moRateLimited": self.mo_rate_limited,
            "mtDelivered": self.mt_delivered,
            "mtBuffered": self.mt_buffered,
            "mtExpired": self.mt_expired,
            "periodicTau": self.tau,
            "smsMo": self.sms_mo,
            "smsMt": self.sms_mt,
        }


class Ue:
    """The network's view of one attached (or attaching) modem and its SIM."""

    def __init__(self, sim: Sim, config: NetworkConfig) -> None:
        self.sim = sim
        self.config = config
        self.stat = Stat.NOT_REGISTERED
        self.connected = False
        self.contexts: dict[int, tuple[str, str]] = {}
        self.active_cid: int | None = None
        self.psm_request: tuple[int | None, int | None] | None = None
        self.edrx_request: float | None = None
        self.granted = config.policy.grant(t3412=None, t3324=None, edrx=None)
        self.in_psm = False
        self.modem_present = False
        self.sms_to_te = False
        """The TE has MT SMS routed to it (AT+CMGF=0, AT+CNMI=…,2): the ME can take SMS."""
        self.release_after_downlink = False
        self.last_contact: float | None = None
        self.counters = Counters()
        self.indications: list[Indication] = []
        self.events: list[NetworkEvent] = []
        self._attach_at: float | None = None
        self._release_at: float | None = None
        self._idle_since: float | None = None
        self._psm_at: float | None = None
        self._tau_at: float | None = None
        self._buffer: deque[BufferedMt] = deque()
        self._apn_uplinks: deque[float] = deque()
        self._plmn_uplinks: deque[float] = deque()

    # -- registration ---------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self.stat in (Stat.REGISTERED_HOME, Stat.ROAMING)

    def power_on(self, now: float) -> None:
        """CFUN=1: search, then attach after the configured delay."""
        if self.stat is Stat.NOT_REGISTERED:
            self._set_stat(Stat.SEARCHING)
            self._attach_at = now + self.config.attach_delay

    def detach(self, now: float) -> None:
        """CFUN=0/4: a detach the network hears about."""
        if self.attached:
            self.events.append(Detached(self.sim.imsi))
        if self.connected:
            self._set_rrc(False)
        self._set_stat(Stat.NOT_REGISTERED)
        self._stop_timers()

    def _stop_timers(self) -> None:
        self.active_cid = None
        self.in_psm = False
        self._attach_at = self._release_at = self._idle_since = self._psm_at = None
        self._tau_at = None

    def power_loss(self) -> None:
        """The modem vanished without a detach (its TCP connection closed): the network
        still counts it as registered but never hears from it again, so it is unreachable
        and MT data waits in the buffer until it expires or a new modem takes the SIM."""
        registered = self.attached
        self._stop_timers()
        self.connected = False
        self.modem_present = self.sms_to_te = False
        self.in_psm = registered

    def insert_into_modem(self) -> None:
        """A new modem connection took this SIM: it starts switched off (CFUN=0), with no
        requested power saving; what the SCEF buffered for the SIM is kept."""
        self._stop_timers()
        self.stat = Stat.NOT_REGISTERED
        self.connected = False
        self.contexts.clear()
        self.psm_request = self.edrx_request = None
        self.granted = self.config.policy.grant(t3412=None, t3324=None, edrx=None)
        self.release_after_downlink = self.sms_to_te = False
        self.indications.clear()
        self.modem_present = True

    def request_power_saving(
        self, psm: tuple[int | None, int | None] | None, edrx: float | None, now: float
    ) -> None:
        """New AT+CPSMS / AT+CEDRXS values; a registered UE negotiates them at once (a TAU)."""
        self.psm_request, self.edrx_request = psm, edrx
        if self.attached:
            self._negotiate()

    def _negotiate(self) -> None:
        t3412, t3324 = self.psm_request or (None, None)
        before = self.granted
        self.granted = self.config.policy.grant(t3412=t3412, t3324=t3324, edrx=self.edrx_request)
        if self.granted != before:
            self.indications.append(RegistrationChanged(self.stat))
            if (before.edrx, before.ptw) != (self.granted.edrx, self.granted.ptw):
                self.indications.append(EdrxChanged())

    def _complete_attach(self, now: float) -> None:
        self._attach_at = None
        self.active_cid = next(
            (cid for cid, (kind, _) in sorted(self.contexts.items()) if kind == "Non-IP"), None
        )
        if self.active_cid is None:
            self.active_cid = 0
            self.contexts[0] = ("Non-IP", self.config.apn)
        granted = self.granted
        self.stat = Stat.REGISTERED_HOME
        self._negotiate()
        if self.granted == granted:
            self.indications.append(RegistrationChanged(self.stat))
        self._wake(now, reason_tau=False, announce=True)

    def _set_stat(self, stat: Stat) -> None:
        if stat is not self.stat:
            self.stat = stat
            self.indications.append(RegistrationChanged(stat))

    # -- RRC, PSM, eDRX -------------------------------------------------------------------
    def _set_rrc(self, connected: bool) -> None:
        if connected is not self.connected:
            self.connected = connected
            self.indications.append(RrcChanged(connected))

    def reach(self, now: float) -> Reach:
        if not self.attached:
            return Reach.NO_PDN
        if self.connected:
            return Reach.REACHABLE
        if self.in_psm:
            return Reach.PSM
        if self.granted.edrx is not None and not self._in_paging_window(now):
            return Reach.EDRX
        return Reach.REACHABLE

    def _phase(self, now: float) -> float:
        """Seconds since the current eDRX cycle began (a deadline computed for the start of
        a window may land a rounding error short of it)."""
        assert self._idle_since is not None and self.granted.edrx
        phase = (now - self._idle_since) % self.granted.edrx
        return 0.0 if self.granted.edrx - phase < 1e-6 else phase

    def _in_paging_window(self, now: float) -> bool:
        assert self.granted.ptw is not None
        return self._phase(now) < self.granted.ptw

    def next_reachable(self, now: float) -> float | None:
        """When an unreachable UE is next expected to listen (TAU or paging window)."""
        reach = self.reach(now)
        if reach is Reach.REACHABLE:
            return now
        if reach is Reach.PSM:
            return self._tau_at
        if reach is Reach.EDRX:
            return self._next_window(now)
        return None

    def _next_window(self, now: float) -> float:
        assert self._idle_since is not None and self.granted.edrx
        cycles = (now - self._idle_since) // self.granted.edrx + 1
        start = self._idle_since + cycles * self.granted.edrx
        return start if self._psm_at is None else min(start, self._psm_at)

    def reachable_until(self, now: float) -> float | None:
        """When a reachable idle UE stops listening: PSM entry or the paging window's end."""
        if self.connected or not self.attached:
            return self._psm_at
        if self.granted.edrx is not None and self._idle_since is not None:
            assert self.granted.ptw is not None
            end = now - self._phase(now) + self.granted.ptw
            return end if self._psm_at is None else min(end, self._psm_at)
        return self._psm_at

    def _wake(self, now: float, *, reason_tau: bool, announce: bool = False) -> None:
        """The UE connects (uplink, TAU, attach or paging): deliver what waits for it."""
        announce = announce or self.reach(now) is not Reach.REACHABLE
        self.in_psm = False
        self._psm_at = self._tau_at = self._idle_since = None
        self._set_rrc(True)
        self.last_contact = now
        self._release_at = now + (SIGNALLING_TIME if reason_tau else self.config.inactivity)
        if announce:
            t3324 = self.granted.t3324
            until = None if t3324 is None else self._release_at + t3324
            self.events.append(BecameReachable(self.sim.imsi, until))
        self._flush_buffer(now)

    def _go_idle(self, now: float) -> None:
        self._set_rrc(False)
        self._release_at = None
        self.release_after_downlink = False
        self._idle_since = now
        self._tau_at = now + self.granted.t3412
        t3324 = self.granted.t3324
        self._psm_at = None if t3324 is None else now + t3324
        if t3324 is not None:
            granted = self.granted
            self.events.append(EnteredIdle(self.sim.imsi, granted.t3412, t3324, granted.edrx))
        if t3324 == 0:
            self.in_psm = True
            self._psm_at = None

    # -- data -----------------------------------------------------------------------------
    def send_mo(
        self, cid: int, data: bytes, *, rai: int, exception: bool, now: float
    ) -> MoError | None:
        if not self.attached:
            return MoError.NOT_ATTACHED
        if cid != self.active_cid:
            return MoError.UNKNOWN_CONTEXT
        if len(data) > self.config.max_packet_size:
            return MoError.TOO_LARGE
        if not self._rate_allows(exception, now):
            self.counters.mo_rate_limited += 1
            return MoError.RATE_LIMITED
        self.counters.mo_packets += 1
        self.counters.mo_octets += len(data)
        self._uplink(now)
        self.events.append(UplinkData(self.sim.imsi, data, exception))
        if rai == 1:
            self._go_idle(now)
        self.release_after_downlink = rai == 2
        return None

    def _uplink(self, now: float) -> None:
        if not self.connected or self.in_psm:
            self._wake(now, reason_tau=False)
        else:
            self.last_contact = now
            self._release_at = now + self.config.inactivity
            self._flush_buffer(now)

    def send_sms(self, tpdu: bytes, now: float) -> MoError | None:
        """An MO SMS (SMS over NAS: needs the attach, not the PDN's rate control)."""
        if not self.attached:
            return MoError.NOT_ATTACHED
        self.counters.sms_mo += 1
        self._uplink(now)
        self.events.append(SmsFromUe(self.sim.imsi, tpdu))
        return None

    def deliver_sms(self, pdu: bytes, length: int, now: float) -> None:
        """Page (if idle) and hand an MT SMS to the ME: only when :meth:`reach` says
        REACHABLE and :attr:`sms_to_te`."""
        if not self.connected:
            self._wake(now, reason_tau=False)
        self.indications.append(SmsToTe(pdu, length))
        self.counters.sms_mt += 1
        self._downlink(now)

    def _rate_allows(self, exception: bool, now: float) -> bool:
        rate = self.config.rate
        while self._plmn_uplinks and self._plmn_uplinks[0] <= now - PLMN_RATE_WINDOW:
            self._plmn_uplinks.popleft()
        if rate.plmn_max is not None and len(self._plmn_uplinks) >= rate.plmn_max:
            return False
        counted = not (exception and rate.exception_reports)
        if rate.apn_max is not None and rate.apn_unit is not None and counted:
            window = RATE_UNITS[rate.apn_unit]
            while self._apn_uplinks and self._apn_uplinks[0] <= now - window:
                self._apn_uplinks.popleft()
            if len(self._apn_uplinks) >= rate.apn_max:
                return False
            self._apn_uplinks.append(now)
        if rate.plmn_max is not None:
            self._plmn_uplinks.append(now)
        return True

    def buffer_mt(self, tag: str, data: bytes, deadline: float, priority: int = 0) -> bool:
        """Keep MT data until the UE can be reached; False when the buffer is full."""
        if len(self._buffer) >= self.config.buffer_limit:
            return False
        position = sum(1 for item in self._buffer if item.priority <= priority)
        self._buffer.insert(position, BufferedMt(tag, data, deadline, priority))
        self.counters.mt_buffered += 1
        return True

    def deliver_mt(self, tag: str, data: bytes, now: float) -> None:
        """Page (if idle) and deliver at once: only when :meth:`reach` says REACHABLE."""
        if not self.connected:
            self._wake(now, reason_tau=False)
        self._deliver(tag, data, now)
        if self.release_after_downlink:
            self._go_idle(now)

    def _deliver(self, tag: str, data: bytes, now: float) -> None:
        assert self.active_cid is not None
        self.indications.append(MtData(self.active_cid, data))
        self.events.append(MtDelivered(self.sim.imsi, tag))
        self.counters.mt_delivered += 1
        self._downlink(now)

    def _downlink(self, now: float) -> None:
        self.last_contact = now
        self._release_at = max(self._release_at or now, now + self.config.inactivity)

    def _flush_buffer(self, now: float) -> None:
        if not (self._buffer and self.connected):
            return
        while self._buffer:
            item = self._buffer.popleft()
            self._deliver(item.tag, item.data, now)
        if self.release_after_downlink:
            self._go_idle(now)

    def buffered(self) -> list[BufferedMt]:
        return list(self._buffer)

    def cancel_mt(self, tag: str) -> bool:
        for item in self._buffer:
            if item.tag == tag:
                self._buffer.remove(item)
                return True
        return False

    def replace_mt(self, tag: str, data: bytes, deadline: float, priority: int) -> bool:
        """New data, deadline and priority for buffered MT data (its place may change)."""
        if not self.cancel_mt(tag):
            return False
        self.counters.mt_buffered -= 1  # the same packet, buffered again
        return self.buffer_mt(tag, data, deadline, priority)

    # -- time -----------------------------------------------------------------------------
    def next_deadline(self, now: float) -> float | None:
        deadlines = [
            t
            for t in (self._attach_at, self._release_at, self._psm_at, self._tau_at)
            if t is not None
        ]
        if self._buffer:
            deadlines.append(min(item.deadline for item in self._buffer))
            if self.reach(now) is Reach.EDRX:
                deadlines.append(self._next_window(now))
        return min(deadlines) if deadlines else None

    def advance(self, now: float) -> None:
        """Run every timer that is due at ``now``."""
        if self._attach_at is not None and now >= self._attach_at:
            self._complete_attach(now)
        if self._release_at is not None and now >= self._release_at:
            self._go_idle(now)
        if self._psm_at is not None and now >= self._psm_at:
            self._psm_at = None
            self.in_psm = True
        if self._tau_at is not None and now >= self._tau_at:
            self.counters.tau += 1
            self._wake(now, reason_tau=True)
        if self._buffer and self.reach(now) is Reach.REACHABLE:
            self._wake(now, reason_tau=False)
        while self._buffer and min(item.deadline for item in self._buffer) <= now:
            item = min(self._buffer, key=lambda entry: entry.deadline)
            self._buffer.remove(item)
            self.counters.mt_expired += 1
            self.events.append(MtExpired(self.sim.imsi, item.tag))

    def to_json(self, now: float) -> dict[str, object]:
        return {
            "sim": self.sim.to_json(),
            "registration": self.stat.name,
            "rrc": "CONNECTED" if self.connected else "IDLE",
            "reachability": self.reach(now).value,
            "psm": self.in_psm,
            "apn": self.contexts.get(self.active_cid or 0, ("", ""))[1] if self.attached else None,
            "granted": {
                "periodicTau": self.granted.t3412,
                "activeTime": self.granted.t3324,
                "edrxCycle": self.granted.edrx,
                "pagingTimeWindow": self.granted.ptw,
            },
            "bufferedMt": [
                {"tag": item.tag, "octets": len(item.data), "deadline": item.deadline}
                for item in self._buffer
            ],
            "counters": self.counters.to_json(),
        }
