"""The network's SMSC: store and forward between SMPP 3.4 ESMEs, T8 device triggering and the
emulated modems.

- MT: a submit_sm (or a device trigger) for an MSISDN of the HSS becomes SMS-DELIVER TPDUs,
  queued per UE (``queue_limit`` SMS each, ESME_RMSGQFUL beyond) until the UE can take them:
  attached, reachable (connected, or idle and paged outside PSM and eDRX sleep) and with SMS
  routed to its TE (``AT+CNMI=…,2``; until then the ME counts as having no room, as with
  TS 23.040's memory capacity exceeded).  A message not delivered by its validity period
  (submit_sm's ``validity_period``, else ``validity`` seconds) expires.  Delivery receipts
  (registered_delivery 1, or 2 for failures only) go to the submitting account.
- MO: an ``AT+CMGS`` SMS-SUBMIT becomes a deliver_sm for the bound receiver whose
  address_range names its destination, else for any bound receiver (the default route).
- deliver_sm (MO SMS and receipts) wait in one bounded queue while no receiver can take
  them, for at most ``validity`` seconds; those in a session that ends unanswered go back.

Sans-I/O: SMPP bytes in and out through :meth:`Smsc.receive` / :meth:`Smsc.output`, ``now``
(emulated seconds) passed in, the UEs driven through :class:`~lwm2m.network.core.Network`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import itertools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import smpp34

from lwm2m.network.core import Network
from lwm2m.network.sims import Sim
from lwm2m.network.smpp_pdu import BindRequest, PduError, Status
from lwm2m.network.smpp_session import SmppSession
from lwm2m.network.sms_convert import (
    ESM_DELIVERY_RECEIPT,
    ESM_REPLY_PATH,
    ESM_TYPE_MASK,
    ESM_UDHI,
    Receipt,
    address,
    smpp_coding,
    submit_user_data,
    tp_coding,
    validity,
)
from lwm2m.network.ue import Reach
from lwm2m.security.credentials import Secret
from lwm2m.transport.sms.address import Address
from lwm2m.transport.sms.concat import split
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError
from lwm2m.transport.sms.tpdu import SmsDeliver, SmsSubmit, UserData, encode_pdu
from lwm2m.transport.sms.udh import Ports

DEVICE_TRIGGERING_PID = 0x48
"""TP-PID "Device Triggering Short Message" (TS 23.040 §9.2.3.9)."""
TON_INTERNATIONAL = NPI_ISDN = 1
_RANGE = re.compile(r"\^?\+?(\d*)(\.?\*)?\$?")


@dataclass(frozen=True, slots=True)
class SmscConfig:
    accounts: dict[str, Secret] = field(default_factory=dict)
    """SMPP system_id → password; no account, no bind."""
    validity: float = 86_400.0
    """Seconds an SMS waits without a validity_period (and a deliver_sm for an ESME)."""
    queue_limit: int = 16
    """MT SMS queued per UE (ESME_RMSGQFUL beyond)."""
    esme_queue_limit: int = 1024
    """deliver_sm waiting for a receiver to bind (the oldest is dropped beyond)."""
    throttle: int | None = None
    """submit_sm per (emulated) second and session; ESME_RTHROTTLED beyond."""
    window: int = 10
    """deliver_sm sent to one session and not yet answered."""

    def __post_init__(self) -> None:
        if self.validity <= 0 or self.queue_limit < 1 or self.esme_queue_limit < 1:
            raise ValueError("SMS validity, queue and ESME queue limits must be positive")
        if (self.throttle is not None and self.throttle < 1) or self.window < 1:
            raise ValueError("SMPP throttle and window must be at least 1")


@dataclass(frozen=True, slots=True)
class TriggerOutcome:
    """What became of a device trigger's SMS: TS 29.122 DeliveryResult."""

    tag: str
    result: str


@dataclass(slots=True)
class MtSms:
    message_id: str
    imsi: str
    parts: list[tuple[bytes, int]]
    """PDU-mode PDUs and their TPDU lengths, as the modem reports them in +CMT."""
    submitted: float
    deadline: float
    priority: int
    receipts: int = 0
    """registered_delivery bits 0..1: 1 every outcome, 2 failures only."""
    account: str | None = None
    reply_to: tuple[str, int, int] = ("", 0, 0)
    """The submit_sm's source address (addr, TON, NPI): where a receipt is addressed."""
    trigger: str | None = None


@dataclass(slots=True)
class ForEsme:
    """A deliver_sm waiting for a receiver: an MO SMS (``account`` None: routed by
    ``destination``) or a receipt for ``account``."""

    account: str | None
    destination: str
    fields: dict[str, Any]
    deadline: float


@dataclass(slots=True)
class SmscCounters:
    binds: int = 0
    binds_refused: int = 0
    submitted: int = 0
    submit_refused: int = 0
    throttled: int = 0
    mt_delivered: int = 0
    mt_expired: int = 0
    mo_received: int = 0
    mo_to_esme: int = 0
    receipts: int = 0
    esme_expired: int = 0
    esme_dropped: int = 0

    def to_json(self) -> dict[str, int]:
        return {_camel(item.name): getattr(self, item.name) for item in fields(self)}


class Smsc:
    def __init__(self, network: Network, config: SmscConfig | None = None) -> None:
        self.network = network
        self.config = config or SmscConfig()
        self.counters = SmscCounters()
        self.sessions: dict[int, SmppSession] = {}
        self.outcomes: list[TriggerOutcome] = []
        self._queues: dict[str, list[MtSms]] = {}
        self._for_esme: deque[ForEsme] = deque()
        self._in_flight: dict[tuple[int, int], ForEsme] = {}
        self._submits: dict[int, deque[float]] = {}
        self._ids = itertools.count(1)
        self._sessions = itertools.count(1)
        self._reference = 0
        self._now = 0.0

    # -- SMPP sessions ----------------------------------------------------------------------
    def open_session(self) -> int:
        session = SmppSession(next(self._sessions), self, window=self.config.window)
        self.sessions[session.id] = session
        return session.id

    def receive(self, session_id: int, data: bytes, now: float) -> None:
        """Bytes from an ESME; what they cause for UEs and ESMEs happens in :meth:`advance`."""
        self._now = now
        self.sessions[session_id].receive(data)

    def output(self, session_id: int) -> bytes:
        return self.sessions[session_id].take_output()

    def close_session(self, session_id: int, now: float) -> None:
        """The connection is gone (after an unbind, or the ESME vanished)."""
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self._now = now
            session.close()
            self._submits.pop(session_id, None)

    # -- SessionOwner -----------------------------------------------------------------------
    def authenticate(self, session: SmppSession, request: BindRequest) -> Status:
        password = self.config.accounts.get(request.system_id)
        status = Status.ROK
        if password is None:
            status = Status.RINVSYSID
        elif not hmac.compare_digest(password.reveal(), request.password):
            status = Status.RINVPASWD
        elif _RANGE.fullmatch(request.address_range) is None:
            status = Status.RBINDFAIL  # regular expressions beyond a number or prefix*
        if status is Status.ROK:
            self.counters.binds += 1
        else:
            self.counters.binds_refused += 1
        return status

    def submit(self, session: SmppSession, pdu: smpp34.SubmitSm) -> tuple[Status, str]:
        if self._throttled(session.id):
            self.counters.throttled += 1
            return Status.RTHROTTLED, ""
        try:
            sms = self._mt_from_submit(session, pdu)
        except PduError as error:
            self.counters.submit_refused += 1
            return error.status, ""
        if not self._enqueue(sms, replace_if_present=pdu.replace_if_present_flag == 1):
            self.counters.submit_refused += 1
            return Status.RMSGQFUL, ""
        self.counters.submitted += 1
        return Status.ROK, sms.message_id

    def answered(self, session: SmppSession, sequence: int, status: int) -> None:
        entry = self._in_flight.pop((session.id, sequence), None)
        if entry is not None and status in (Status.RTHROTTLED, Status.RMSGQFUL):
            self._for_esme.appendleft(entry)  # the ESME wants it again later

    def ended(self, session: SmppSession, unanswered: list[int]) -> None:
        for sequence in reversed(unanswered):
            entry = self._in_flight.pop((session.id, sequence), None)
            if entry is not None:
                self._for_esme.appendleft(entry)

    def _throttled(self, session_id: int) -> bool:
        limit = self.config.throttle
        if limit is None:
            return False
        recent = self._submits.setdefault(session_id, deque())
        while recent and recent[0] <= self._now - 1.0:
            recent.popleft()
        if len(recent) >= limit:
            return True
        recent.append(self._now)
        return False

    # -- MT ---------------------------------------------------------------------------------
    def _mt_from_submit(self, session: SmppSession, pdu: smpp34.SubmitSm) -> MtSms:
        sim = self.network.sim(msisdn=pdu.destination_addr.removeprefix("+"))
        if sim is None or pdu.dest_addr_ton not in (0, TON_INTERNATIONAL):
            raise PduError(Status.RINVDSTADR, "no subscriber with this MSISDN")
        if pdu.esm_class & ESM_TYPE_MASK:
            raise PduError(Status.RINVESMCLASS, "a submit_sm is a plain short message")
        if pdu.schedule_delivery_time:
            raise PduError(Status.RINVSCHED, "scheduled delivery is not offered")
        coding = tp_coding(pdu.data_coding)
        if coding is None:
            raise PduError(Status.RSUBMITFAIL, f"data_coding {pdu.data_coding:#04x}")
        try:
            originator = (
                address(pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi)
                if pdu.source_addr
                else Address(self.address)  # no source given: the SMSC's own number
            )
        except ValueError:
            raise PduError(Status.RINVSRCADR, "source_addr cannot be a TP-OA") from None
        deadline = validity(pdu.validity_period, self._now, self.config.validity)
        parts = submit_user_data(pdu, coding, self._next_reference())
        template = SmsDeliver(
            originator,
            dt.datetime.fromtimestamp(self._now, dt.UTC),
            UserData(),
            coding,
            protocol=pdu.protocol_id,
            reply_path=bool(pdu.esm_class & ESM_REPLY_PATH),
        )
        try:
            pdus = [self._pdu(replace(template, user_data=part)) for part in parts]
        except SmsEncodeError:
            raise PduError(Status.RINVSRCADR, "source_addr cannot be a TP-OA") from None
        return MtSms(
            str(next(self._ids)),
            sim.imsi,
            pdus,
            self._now,
            deadline,
            -pdu.priority_flag,
            receipts=pdu.registered_delivery & 3,
            account=session.system_id,
            reply_to=(pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi),
        )

    @property
    def address(self) -> str:
        return self.network.config.smsc_address

    def _pdu(self, deliver: SmsDeliver) -> tuple[bytes, int]:
        return encode_pdu(deliver, Address(self.address))

    def _next_reference(self) -> int:
        self._reference = (self._reference + 1) % 256
        return self._reference

    def _enqueue(self, sms: MtSms, *, replace_if_present: bool = False) -> bool:
        queue = self._queues.setdefault(sms.imsi, [])
        if replace_if_present:
            queue[:] = [q for q in queue if (q.account, q.reply_to) != (sms.account, sms.reply_to)]
        if len(queue) >= self.config.queue_limit:
            return False
        position = sum(1 for queued in queue if queued.priority <= sms.priority)
        queue.insert(position, sms)
        return True

    def submit_trigger(
        self,
        tag: str,
        sim: Sim,
        payload: bytes,
        ports: Ports,
        span: tuple[float, float],
        *,
        priority: bool,
    ) -> bool:
        """A T8 device trigger as SMS (TP-PID device triggering, the ports in a UDH); False
        when the UE's SMS queue is full or the payload needs more than 255 SMS.  ``span``:
        (now, the validity period's end)."""
        now, deadline = span
        originator = Address(self.address)
        stamp = dt.datetime.fromtimestamp(now, dt.UTC)
        try:
            parts = split(payload, self._next_reference(), ports=ports)
        except SmsEncodeError:
            return False
        pdus = [
            self._pdu(
                SmsDeliver(
                    originator, stamp, UserData(p.payload, p.header), protocol=DEVICE_TRIGGERING_PID
                )
            )
            for p in parts
        ]
        sms = MtSms(
            str(next(self._ids)), sim.imsi, pdus, now, deadline, -int(priority), trigger=tag
        )
        return self._enqueue(sms)

    def cancel_trigger(self, tag: str) -> None:
        for queue in self._queues.values():
            queue[:] = [sms for sms in queue if sms.trigger != tag]

    def _deliver_ready(self, now: float) -> None:
        for imsi, queue in self._queues.items():
            ue = self.network.ues[imsi]
            if not queue or not ue.sms_to_te or ue.reach(now) is not Reach.REACHABLE:
                continue
            for sms in queue:
                for pdu, length in sms.parts:
                    ue.deliver_sms(pdu, length, now)
                self.network.touch(imsi)
                self.counters.mt_delivered += 1
                self._finished(sms, "DELIVRD", now)
            queue.clear()

    def _finished(self, sms: MtSms, state: str, now: float) -> None:
        if sms.trigger is not None:
            self.outcomes.append(
                TriggerOutcome(sms.trigger, "SUCCESS" if state == "DELIVRD" else state)
            )
        wanted = sms.receipts == 1 or (sms.receipts == 2 and state != "DELIVRD")
        if sms.account is None or not wanted:
            return
        receipt = Receipt(sms.message_id, state, sms.submitted, now, len(sms.parts))
        source, ton, npi = sms.reply_to
        msisdn = self.network.ues[sms.imsi].sim.msisdn
        fields = {
            "source_addr": msisdn,
            "source_addr_ton": TON_INTERNATIONAL,
            "source_addr_npi": NPI_ISDN,
            "destination_addr": source,
            "dest_addr_ton": ton,
            "dest_addr_npi": npi,
            "esm_class": ESM_DELIVERY_RECEIPT,
            "short_message": receipt.text(),
            "tlvs": receipt.tlvs(),
        }
        self.counters.receipts += 1
        self._to_esme(ForEsme(sms.account, source, fields, now + self.config.validity))

    # -- MO ---------------------------------------------------------------------------------
    def from_ue(self, imsi: str, tpdu: bytes, now: float) -> None:
        """An MO SMS (already answered +CMGS): on to an ESME."""
        try:
            submit = SmsSubmit.decode(tpdu)
        except SmsDecodeError:
            return  # the AT interpreter decoded it before: cannot happen
        self.counters.mo_received += 1
        user_data = submit.user_data
        header = b"" if user_data.header is None else user_data.header.encode()
        destination = submit.destination
        fields = {
            "source_addr": self.network.ues[imsi].sim.msisdn,
            "source_addr_ton": TON_INTERNATIONAL,
            "source_addr_npi": NPI_ISDN,
            "destination_addr": destination.number,
            "dest_addr_ton": int(destination.type),
            "dest_addr_npi": int(destination.plan),
            "esm_class": (ESM_UDHI if header else 0) | (ESM_REPLY_PATH * submit.reply_path),
            "protocol_id": submit.protocol,
            "data_coding": smpp_coding(submit.coding),
            "short_message": header + user_data.data,
        }
        self._to_esme(ForEsme(None, destination.number, fields, now + self.config.validity))

    def _to_esme(self, entry: ForEsme) -> None:
        if len(self._for_esme) >= self.config.esme_queue_limit:
            self._for_esme.popleft()
            self.counters.esme_dropped += 1
        self._for_esme.append(entry)

    def _receiver(self, entry: ForEsme) -> SmppSession | None:
        ready = [s for s in self.sessions.values() if s.can_receive]
        if entry.account is not None:
            return next((s for s in ready if s.system_id == entry.account), None)
        routed = [s for s in ready if s.address_range and _routes(s.address_range, entry)]
        candidates = routed or ready
        return candidates[0] if candidates else None

    def _send_to_esmes(self) -> None:
        waiting: deque[ForEsme] = deque()
        while self._for_esme:
            entry = self._for_esme.popleft()
            session = self._receiver(entry)
            if session is None:
                waiting.append(entry)
                continue
            sequence = session.deliver(_deliver_sm(entry.fields))
            self._in_flight[(session.id, sequence)] = entry
            if entry.account is None:
                self.counters.mo_to_esme += 1
        self._for_esme = waiting

    # -- time -------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        self._now = now
        for queue in self._queues.values():
            for sms in [sms for sms in queue if sms.deadline <= now]:
                queue.remove(sms)
                self.counters.mt_expired += 1
                self._finished(sms, "EXPIRED", now)
        self._deliver_ready(now)
        expired = [entry for entry in self._for_esme if entry.deadline <= now]
        if expired:
            self.counters.esme_expired += len(expired)
            self._for_esme = deque(e for e in self._for_esme if e.deadline > now)
        self._send_to_esmes()

    def next_deadline(self, now: float) -> float | None:
        deadlines = [sms.deadline for queue in self._queues.values() for sms in queue]
        deadlines += [entry.deadline for entry in self._for_esme]
        for imsi, queue in self._queues.items():
            ue = self.network.ues[imsi]
            if queue and ue.sms_to_te and ue.reach(now) is Reach.EDRX:
                deadlines.append(ue.next_reachable(now) or now)
        return min(deadlines) if deadlines else None

    def status(self, now: float) -> dict[str, Any]:
        return {
            "address": self.address,
            "counters": self.counters.to_json(),
            "sessions": [
                {
                    "id": s.id,
                    "systemId": s.system_id,
                    "bind": None if s.kind is None else s.kind.name,
                    "addressRange": s.address_range,
                    "awaitingResponse": len(s.in_flight),
                }
                for s in self.sessions.values()
            ],
            "queued": [
                {
                    "messageId": sms.message_id,
                    "msisdn": self.network.ues[sms.imsi].sim.msisdn,
                    "parts": len(sms.parts),
                    "deadline": sms.deadline,
                    "deviceTrigger": sms.trigger is not None,
                }
                for queue in self._queues.values()
                for sms in queue
            ],
            "waitingForEsme": len(self._for_esme),
        }


def _deliver_sm(fields: dict[str, Any]) -> Callable[[int], bytes]:
    return lambda sequence: smpp34.DeliverSm(**fields, sequence_number=sequence).encode()


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _routes(address_range: str, entry: ForEsme) -> bool:
    """A bind's address_range (a number, or a prefix followed by ``*``) names ``entry``'s
    destination."""
    match = _RANGE.fullmatch(address_range)
    if match is None:
        return False
    digits, wildcard = match.groups()
    number = entry.destination.removeprefix("+")
    return number.startswith(digits) if wildcard else number == digits
