"""The emulated operator network: every UE, which modem holds which SIM, and the clock.

Sans-I/O like the protocol cores: the adapters feed it modem connections, AT lines and
``now``; it returns response lines, URCs (through each modem's AT interpreter) and
:data:`~lwm2m.network.ue.NetworkEvent` values for the SCEF.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import Enum

from lwm2m.network.at import AtInterpreter
from lwm2m.network.sims import Hss, Sim
from lwm2m.network.ue import MoError, NetworkConfig, NetworkEvent, Reach, Ue


class MtOutcome(Enum):
    DELIVERED = "delivered"
    BUFFERED = "buffered"
    """Waiting for the UE; the SCEF learns the end through MtDelivered or MtExpired."""
    NOT_REACHABLE = "not reachable"
    """Not delivered and not buffered (maximumLatency too short, or the buffer is full)."""


@dataclass(frozen=True, slots=True)
class MtResult:
    outcome: MtOutcome
    reach: Reach
    """Why the UE could not take the data at once (REACHABLE when it could)."""
    retry_at: float | None = None
    """When the UE is next expected to be reachable, if the network knows."""


class NoFreeSimError(Exception):
    """Every SIM is in a modem already."""


class Network:
    """Modems (one per AT connection) bound to the SIMs of an :class:`Hss`."""

    def __init__(self, hss: Hss, config: NetworkConfig) -> None:
        self.hss = hss
        self.config = config
        self.ues = {sim.imsi: Ue(sim, config) for sim in hss}
        self.modems: dict[int, AtInterpreter] = {}
        self._orphaned: list[NetworkEvent] = []
        """Events of UEs whose modem went away before the SCEF took them."""
        self._touched: set[str] = set()
        """UEs changed since the last :meth:`take_events`: events to take."""
        self._unarmed: set[str] = set()
        """UEs changed since their timers were last put on the heap."""
        self._timers: list[tuple[float, str]] = []
        """A heap of (deadline, IMSI); an entry counts only while it is the UE's in
        :attr:`_armed` (the others are stale and skipped), so a message costs O(log UEs)
        instead of a pass over every UE."""
        self._armed: dict[str, float] = {}
        self.changed: set[str] = set()
        """The UEs the last :meth:`take_events` looked at (their timers or state changed)."""
        self._next_modem = 1
        self.in_process: dict[str, Ue] = {}
        """UEs of modems driven in this process, without AT (:meth:`power_on_in_process`)."""

    # -- modems ---------------------------------------------------------------------------
    def connect_modem(self) -> int:
        """A new modem with the next free SIM; its id names it in :meth:`at_line`."""
        busy = {modem.ue.sim.imsi for modem in self.modems.values()} | set(self.in_process)
        ue = next((ue for imsi, ue in self.ues.items() if imsi not in busy), None)
        if ue is None:
            raise NoFreeSimError(f"all {len(self.ues)} SIMs are in use")
        ue.insert_into_modem()
        modem_id = self._next_modem
        self._next_modem += 1
        self.modems[modem_id] = AtInterpreter(ue, self.config.smsc_address)
        self.touch(ue.sim.imsi)
        return modem_id

    def power_on_in_process(self, imsi: str, now: float) -> Ue:
        """A modem without AT, driven in this process (the NIDD benchmark's fleet): the SIM's
        UE switched on; it attaches with the network's Non-IP context as after
        ``AT+CFUN=1``.  The caller sends with :meth:`send_mo` and reads MT data from
        :attr:`Ue.indications`; the network and SCEF treat it like any other UE."""
        busy = {modem.ue.sim.imsi for modem in self.modems.values()}
        if imsi in busy or imsi in self.in_process:
            raise NoFreeSimError(f"SIM {imsi} is in a modem already")
        ue = self.ues[imsi]
        ue.insert_into_modem()
        ue.power_on(now)
        self.in_process[imsi] = ue
        self.touch(imsi)
        return ue

    def send_mo(
        self, imsi: str, cid: int, data: bytes, *, rai: int, exception: bool, now: float
    ) -> MoError | None:
        """MO data from a modem driven in this process (:meth:`power_on_in_process`)."""
        self.touch(imsi)
        return self.in_process[imsi].send_mo(cid, data, rai=rai, exception=exception, now=now)

    def touch(self, imsi: str) -> None:
        """A UE was changed from outside the network (its MT buffer, an SMS handed to it):
        its timers are re-armed and its events taken at the next :meth:`take_events`."""
        self._touched.add(imsi)
        self._unarmed.add(imsi)

    def disconnect_modem(self, modem_id: int) -> None:
        modem = self.modems.pop(modem_id, None)
        if modem is not None:
            self._orphaned.extend(modem.ue.events)
            modem.ue.events.clear()
            modem.ue.power_loss()
            self.touch(modem.ue.sim.imsi)

    def at_line(self, modem_id: int, line: str, now: float) -> str:
        """One command line from the modem's TE: its response, then any URCs it caused."""
        self.advance(now)
        modem = self.modems[modem_id]
        self.touch(modem.ue.sim.imsi)
        return modem.command_line(line, now)

    def awaiting_pdu(self, modem_id: int) -> bool:
        return self.modems[modem_id].awaiting_pdu

    def at_pdu(self, modem_id: int, text: str, now: float, *, cancel: bool = False) -> str:
        """The PDU a modem's TE sent after AT+CMGS's prompt (ended by Ctrl-Z, or ESC:
        ``cancel``)."""
        self.advance(now)
        modem = self.modems[modem_id]
        self.touch(modem.ue.sim.imsi)
        return modem.pdu_entry(text, now, cancel=cancel)

    def take_urcs(self, modem_id: int) -> str:
        """URC lines waiting for the modem (from timers or MT data)."""
        return self.modems[modem_id].take_urcs()

    # -- SCEF side ------------------------------------------------------------------------
    def sim(self, *, external_id: str | None = None, msisdn: str | None = None) -> Sim | None:
        return self.hss.lookup(external_id=external_id, msisdn=msisdn)

    def send_mt(
        self,
        imsi: str,
        tag: str,
        data: bytes,
        now: float,
        *,
        max_latency: float | None,
        priority: int = 0,
    ) -> MtResult:
        """MT data for a SIM: delivered now, buffered until the UE listens (at most
        ``max_latency`` seconds, None: the network's buffer time; lower ``priority`` values
        leave the buffer first) or refused."""
        self.advance(now)
        ue = self.ues[imsi]
        self.touch(imsi)
        reach = ue.reach(now)
        if reach is Reach.REACHABLE:
            ue.deliver_mt(tag, data, now)
            return MtResult(MtOutcome.DELIVERED, reach)
        retry_at = ue.next_reachable(now)
        latency = self.config.buffer_time if max_latency is None else max_latency
        if retry_at is not None and retry_at > now + latency:
            return MtResult(MtOutcome.NOT_REACHABLE, reach, retry_at)
        if latency <= 0 or not ue.buffer_mt(tag, data, now + latency, priority):
            return MtResult(MtOutcome.NOT_REACHABLE, reach, retry_at)
        return MtResult(MtOutcome.BUFFERED, reach, retry_at)

    def take_events(self) -> list[NetworkEvent]:
        """The events of every UE changed since the last call (see :attr:`changed`); their
        timers re-armed."""
        events, self._orphaned = self._orphaned, []
        touched, self._touched = self._touched, set()
        for imsi in touched:
            ue = self.ues[imsi]
            if ue.events:
                events.extend(ue.events)
                ue.events.clear()
        self.changed = touched
        return events

    # -- time -----------------------------------------------------------------------------
    def _arm(self, now: float) -> None:
        unarmed, self._unarmed = self._unarmed, set()
        for imsi in unarmed:
            deadline = self.ues[imsi].next_deadline(now)
            if deadline is None:
                self._armed.pop(imsi, None)
            elif self._armed.get(imsi) != deadline:
                self._armed[imsi] = deadline
                heapq.heappush(self._timers, (deadline, imsi))

    def _earliest(self) -> tuple[float, str] | None:
        timers = self._timers
        while timers and self._armed.get(timers[0][1]) != timers[0][0]:
            heapq.heappop(timers)  # stale: the UE's timers changed since
        return timers[0] if timers else None

    def next_deadline(self, now: float) -> float | None:
        self._arm(now)
        earliest = self._earliest()
        return None if earliest is None else earliest[0]

    def advance(self, now: float) -> None:
        self._arm(now)
        due: list[str] = []
        while (earliest := self._earliest()) is not None and earliest[0] <= now:
            heapq.heappop(self._timers)
            del self._armed[earliest[1]]
            due.append(earliest[1])
        for imsi in due:
            self.ues[imsi].advance(now)
            self.touch(imsi)
        self._arm(now)

    def to_json(self, now: float) -> dict[str, object]:
        modem_of = {modem.ue.sim.imsi: modem_id for modem_id, modem in self.modems.items()}
        return {
            "time": now,
            "maxPacketSize": self.config.max_packet_size,
            "apn": self.config.apn,
            "ues": [
                {"modem": modem_of.get(imsi), **ue.to_json(now)} for imsi, ue in self.ues.items()
            ],
        }
