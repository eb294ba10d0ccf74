"""The emulated operator network: every UE, which modem holds which SIM, and the clock.

Sans-I/O like the protocol cores: the adapters feed it modem connections, AT lines and
``now``; it returns response lines, URCs (through each modem's AT interpreter) and
:data:`~lwm2m.network.ue.NetworkEvent` values for the SCEF.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lwm2m.network.at import AtInterpreter
from lwm2m.network.sims import Hss, Sim
from lwm2m.network.ue import NetworkConfig, NetworkEvent, Reach, Ue


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
        self._buffering: set[str] = set()
        """SIMs with buffered MT data: with the SIMs in modems, the only UEs with timers."""
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
        return modem_id

    def power_on_in_process(self, imsi: str, now: float) -> Ue:
        """A modem without AT, driven in this process (the NIDD benchmark's fleet): the SIM's
        UE switched on; it attaches with the network's Non-IP context as after
        ``AT+CFUN=1``.  The caller sends with :meth:`Ue.send_mo` and reads MT data from
        :attr:`Ue.indications`; the network and SCEF treat it like any other UE."""
        busy = {modem.ue.sim.imsi for modem in self.modems.values()}
        if imsi in busy or imsi in self.in_process:
            raise NoFreeSimError(f"SIM {imsi} is in a modem already")
        ue = self.ues[imsi]
        ue.insert_into_modem()
        ue.power_on(now)
        self.in_process[imsi] = ue
        return ue

    def disconnect_modem(self, modem_id: int) -> None:
        modem = self.modems.pop(modem_id, None)
        if modem is not None:
            self._orphaned.extend(modem.ue.events)
            modem.ue.events.clear()
            modem.ue.power_loss()

    def at_line(self, modem_id: int, line: str, now: float) -> str:
        """One command line from the modem's TE: its response, then any URCs it caused."""
        self.advance(now)
        return self.modems[modem_id].command_line(line, now)

    def awaiting_pdu(self, modem_id: int) -> bool:
        return self.modems[modem_id].awaiting_pdu

    def at_pdu(self, modem_id: int, text: str, now: float, *, cancel: bool = False) -> str:
        """The PDU a modem's TE sent after AT+CMGS's prompt (ended by Ctrl-Z, or ESC:
        ``cancel``)."""
        self.advance(now)
        return self.modems[modem_id].pdu_entry(text, now, cancel=cancel)

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
        self._buffering.add(imsi)
        return MtResult(MtOutcome.BUFFERED, reach, retry_at)

    def _live(self) -> list[Ue]:
        """The UEs that can have timers or events: in a modem, or holding MT data."""
        self._buffering = {imsi for imsi in self._buffering if self.ues[imsi].buffered()}
        in_modems = [modem.ue for modem in self.modems.values()]
        in_modems += self.in_process.values()
        return in_modems + [
            self.ues[imsi] for imsi in self._buffering if not self.ues[imsi].modem_present
        ]

    def take_events(self) -> list[NetworkEvent]:
        events, self._orphaned = self._orphaned, []
        for ue in self._live():
            if ue.events:
                events.extend(ue.events)
                ue.events.clear()
        return events

    # -- time -----------------------------------------------------------------------------
    def next_deadline(self, now: float) -> float | None:
        deadlines = [d for ue in self._live() if (d := ue.next_deadline(now)) is not None]
        return min(deadlines) if deadlines else None

    def advance(self, now: float) -> None:
        for ue in self._live():
            ue.advance(now)

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
