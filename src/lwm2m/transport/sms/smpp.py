"""The server's SMS carrier: an SMPP 3.4 ESME (smpp34, bound as a transceiver) that sends the
core's datagrams for :class:`~lwm2m.transport.sms.binding.SmsPeer` peers as binary submit_sm
and feeds mobile-originated deliver_sm back to the core.

- Each datagram becomes one or more parts (:class:`SmsOutbox`): data_coding 0x04, esm_class
  UDHI (0x40) when a part carries a user data header, registered_delivery 1 when receipts are
  asked for.  Parts wait in one bounded FIFO queue until the SMSC acknowledges them with a
  successful submit_sm_resp; a lost session (an SMSC restart, a timeout) leaves the
  unacknowledged part at the head, and it is sent again after reconnecting, with exponential
  back-off and jitter.  Delivery is at least once: a response lost with the session sends the
  part twice, which the device's CoAP deduplication absorbs.
- deliver_sm with a receipt (esm_class 0x04...) is matched to the device by message ID and
  reported (:class:`DeliveryReport`); any other deliver_sm must be 8-bit data from an MSISDN,
  and goes through the bounded reassembler (UDH concatenation, or SMPP's sar_* TLVs) to
  ``core.receive``.
- smpp34 runs the session itself: sequence numbers, the enquire_link keep-alive (every 30 s),
  answering deliver_sm.

The core's datagrams reach :meth:`pump` through :attr:`SmppTransport.take`, which the owner
sets (``Channels.add_carrier``) as for NIDD; ``flush`` runs the core's send/drain step after
something was fed to it.  docs/sms.md has the design.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import smpp34

from lwm2m.coap.events import Peer
from lwm2m.transport.nidd.peer import Delivery
from lwm2m.transport.sms.binding import SmsInbox, SmsOutbox, SmsPeer, Trigger, trigger_datagram
from lwm2m.transport.sms.coding import Alphabet, DataCoding
from lwm2m.transport.sms.concat import Part
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError
from lwm2m.transport.sms.receipt import (
    ESM_UDHI,
    TLV_MESSAGE_PAYLOAD,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    Receipt,
    is_receipt,
    parse_receipt,
)
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.transport.sms.tpdu import BINARY
from lwm2m.transport.sms.udh import Concatenation, UserDataHeader

logger = logging.getLogger(__name__)

TON_INTERNATIONAL = 1
NPI_ISDN = 1
RETRY_LATER = frozenset({0x14, 0x58})
"""ESME_RMSGQFUL, ESME_RTHROTTLED: the SMSC wants the same part again later."""
MAX_EARLY_RECEIPTS = 256
"""Receipts kept while their submit_sm_resp has not been read yet (see ``_receipt``)."""


class SmsCore(Protocol):
    """What the transport needs of the core it feeds."""

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What became of a datagram's part: refused here (queue full, too long), rejected by the
    SMSC (submit_sm_resp status), or as a delivery receipt says."""

    peer: SmsPeer
    outcome: Delivery
    reason: str
    message_id: str | None = None


@dataclass(slots=True)
class SmppStats:
    submitted: int = 0
    resent: int = 0
    rejected: int = 0
    refused_queue_full: int = 0
    refused_too_long: int = 0
    misaddressed: int = 0
    received: int = 0
    receipts: int = 0
    not_binary: int = 0
    malformed: int = 0
    connects: int = 0
    disconnects: int = 0


class _Queued:
    __slots__ = ("attempts", "part", "peer")

    def __init__(self, peer: SmsPeer, part: Part) -> None:
        self.peer = peer
        self.part = part
        self.attempts = 0


class SessionLostError(Exception):
    """The SMPP session ended (or stopped answering) with parts unacknowledged."""


ClientFactory = Callable[[SmppSettings], Any]


def _client(settings: SmppSettings) -> smpp34.Client:
    return smpp34.Client(
        settings.host,
        settings.port,
        settings.system_id,
        settings.password.reveal().decode(),
        bind_type="TRX",
        system_type=settings.system_type,
        connect_timeout_ms=int(settings.response_timeout * 1000),
    )


class SmppTransport:
    """``core`` behind the SMSC of ``settings`` (module docstring).  ``on_report`` hears of
    refused, rejected and receipted parts; ``rng`` draws concatenation references, trigger
    message IDs and back-off jitter."""

    def __init__(
        self,
        settings: SmppSettings,
        core: SmsCore,
        flush: Callable[[], None],
        *,
        rng: random.Random | None = None,
        inbox: SmsInbox | None = None,
        on_report: Callable[[DeliveryReport], None] | None = None,
        clock: Callable[[], float] | None = None,
        client_factory: ClientFactory = _client,
    ) -> None:
        self.settings = settings
        self.stats = SmppStats()
        self.take: Callable[[], list[tuple[bytes, Peer]]] = list
        self._core = core
        self._flush = flush
        self._rng = rng or random.Random()
        self._outbox = SmsOutbox(self._rng)
        self._inbox = inbox or SmsInbox()
        self._on_report = on_report
        self._client_factory = client_factory
        self._loop = asyncio.get_running_loop()
        self._now = clock or self._loop.time
        self._queue: deque[_Queued] = deque()
        self._tracked: OrderedDict[str, SmsPeer] = OrderedDict()
        self._early: OrderedDict[str, tuple[float, Receipt]] = OrderedDict()
        self._wake = asyncio.Event()
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._delay = settings.reconnect_min

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind (and keep rebinding) in the background."""
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name="smpp-esme")

    async def stop(self) -> None:
        """Unbind and stop; parts still queued are dropped (the core's timeouts fail them)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._expiry is not None:
            self._expiry.cancel()

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def queued(self) -> int:
        """Parts not yet acknowledged by the SMSC."""
        return len(self._queue)

    # -- sending -----------------------------------------------------------------------------

    def pump(self) -> None:
        """Queue the core's datagrams for SMS peers (called through the owner's channels)."""
        for data, peer in self.take():
            if isinstance(peer, SmsPeer):
                self.send(data, peer)
            else:
                self.stats.misaddressed += 1

    def send(self, datagram: bytes, peer: SmsPeer) -> bool:
        """Queue ``datagram`` for ``peer``; False (and a FAILED report) when it needs more than
        255 SMS or its parts do not fit the queue."""
        try:
            parts = self._outbox.parts(datagram)
        except SmsEncodeError as error:
            self.stats.refused_too_long += 1
            self._report(DeliveryReport(peer, Delivery.FAILED, str(error)))
            return False
        if len(self._queue) + len(parts) > self.settings.max_queue:
            self.stats.refused_queue_full += 1
            self._report(DeliveryReport(peer, Delivery.FAILED, "SMS queue full"))
            return False
        self._queue.extend(_Queued(peer, part) for part in parts)
        self._wake.set()
        return True

    def send_trigger(self, peer: SmsPeer, trigger: Trigger, server_instance: int) -> bool:
        """An SMS trigger (NON Execute of /1/``server_instance``/8 or 9); nothing answers it."""
        message_id = self._rng.randrange(1 << 16)
        return self.send(trigger_datagram(trigger, server_instance, message_id), peer)

    def _report(self, report: DeliveryReport) -> None:
        if self._on_report is not None:
            self._on_report(report)

    # -- the session -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            client = self._client_factory(self.settings)
            try:
                session = await asyncio.wait_for(client.connect(), self.settings.response_timeout)
            except (smpp34.SmppError, OSError, TimeoutError) as error:
                # smpp34 reports a refused bind as "bind timed out", after connect_timeout_ms
                logger.warning("SMPP bind to %s:%s failed: %s", *self._where(), error)
                await self._stop_client(client)
                await self._back_off()
                continue
            except BaseException:  # stopped while binding: a client left running crashes exit
                await self._stop_client(client)
                raise
            self.stats.connects += 1
            self._delay = self.settings.reconnect_min
            self._session = session
            reader = self._loop.create_task(self._read(session), name="smpp-deliver")
            try:
                await self._send_queued(session, reader)
            except (SessionLostError, smpp34.SmppError, OSError, TimeoutError) as error:
                logger.warning("SMPP session to %s:%s lost: %s", *self._where(), error)
            finally:
                self._session = None
                self.stats.disconnects += 1
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await self._stop_client(client)
            await self._back_off()

    def _where(self) -> tuple[str, int]:
        return self.settings.host, self.settings.port

    async def _stop_client(self, client: Any) -> None:
        with contextlib.suppress(smpp34.SmppError, OSError, TimeoutError):
            await asyncio.wait_for(client.stop(), self.settings.response_timeout)

    async def _back_off(self) -> None:
        delay = self._delay * (0.5 + self._rng.random())
        self._delay = min(self._delay * 2, self.settings.reconnect_max)
        await asyncio.sleep(delay)

    async def _send_queued(self, session: Any, reader: asyncio.Task[None]) -> None:
        """Submit the queue's head until the session ends; a part leaves the queue only on
        its submit_sm_resp."""
        queue = self._queue
        while True:
            if reader.done():
                raise SessionLostError("the SMSC closed the session")
            if not queue:
                self._wake.clear()
                waiter = self._loop.create_task(self._wake.wait())
                await asyncio.wait((waiter, reader), return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                continue
            head = queue[0]
            head.attempts += 1
            if head.attempts > 1:
                self.stats.resent += 1
            response = await asyncio.wait_for(
                self._submit(session, head), self.settings.response_timeout
            )
            if response.command_status in RETRY_LATER:
                await self._back_off()
                continue
            queue.popleft()
            if response.command_status == 0:
                self.stats.submitted += 1
                self._track(response.message_id, head.peer)
            else:
                self.stats.rejected += 1
                reason = f"submit_sm refused: command_status {response.command_status:#010x}"
                self._report(DeliveryReport(head.peer, Delivery.FAILED, reason))

    def _submit(self, session: Any, queued: _Queued) -> Any:
        part, settings = queued.part, self.settings
        return session.submit_sm(
            queued.peer.msisdn,
            part.user_data,
            source_addr=settings.source.removeprefix("+"),
            source_addr_ton=TON_INTERNATIONAL if settings.source else 0,
            source_addr_npi=NPI_ISDN if settings.source else 0,
            dest_addr_ton=TON_INTERNATIONAL,
            dest_addr_npi=NPI_ISDN,
            esm_class=ESM_UDHI if part.header is not None else 0,
            data_coding=BINARY.value,
            registered_delivery=1 if settings.receipts else 0,
        )

    def _track(self, message_id: str | None, peer: SmsPeer) -> None:
        if not message_id or not self.settings.receipts:
            return
        tracked = self._tracked
        tracked[message_id] = peer
        while len(tracked) > self.settings.max_tracked:
            tracked.popitem(last=False)
        self._forget_early()
        early = self._early.pop(message_id, None)
        if early is not None:
            self._match(early[1])

    # -- receiving ---------------------------------------------------------------------------

    async def _read(self, session: Any) -> None:
        while True:
            event = await session.next()
            if not isinstance(event, smpp34.DeliverSmEvent):
                return  # Disconnected
            try:
                self._deliver(event)
            except Exception:  # a bug in one message's handling must not end the session
                logger.exception("SMPP deliver_sm from %s not handled", event.source_addr)

    def _deliver(self, event: Any) -> None:
        tlvs = {tlv.tag: tlv.value for tlv in event.tlvs}
        if is_receipt(event.esm_class):
            self._receipt(event.short_message, tlvs)
            return
        try:
            peer = SmsPeer.parse(event.source_addr)
        except ValueError:
            self.stats.malformed += 1
            return
        if DataCoding(event.data_coding).alphabet != Alphabet.EIGHT_BIT:
            self.stats.not_binary += 1
            return
        try:
            part = _part(event.short_message or tlvs.get(TLV_MESSAGE_PAYLOAD, b""), event, tlvs)
        except SmsDecodeError:
            self.stats.malformed += 1
            return
        now = self._now()
        datagram = self._inbox.receive(peer, part, now)
        self._arm_expiry()
        if datagram is not None:
            self.stats.received += 1
            self._core.receive(datagram, peer, now)
            self._flush()

    def _receipt(self, text: bytes, tlvs: dict[int, bytes]) -> None:
        receipt = parse_receipt(text, tlvs)
        if receipt is None:
            self.stats.malformed += 1
            return
        self.stats.receipts += 1
        if receipt.message_id in self._tracked:
            self._match(receipt)
        elif self.settings.receipts:
            self._keep_early(receipt)

    def _keep_early(self, receipt: Receipt) -> None:
        """An SMSC that delivers at once sends the receipt right behind the submit_sm_resp,
        and the reader may take it before ``_send_queued`` has read the response: keep it
        until that response names its message ID, at most ``response_timeout`` (the response
        comes within it or the session is lost) and :data:`MAX_EARLY_RECEIPTS` of them."""
        self._forget_early()
        early = self._early
        early[receipt.message_id] = (self._now(), receipt)
        while len(early) > MAX_EARLY_RECEIPTS:
            early.popitem(last=False)

    def _forget_early(self) -> None:
        oldest = self._now() - self.settings.response_timeout
        early = self._early
        while early and next(iter(early.values()))[0] < oldest:
            early.popitem(last=False)

    def _match(self, receipt: Receipt) -> None:
        peer = self._tracked[receipt.message_id]
        outcome = receipt.outcome
        if outcome != Delivery.HELD:
            del self._tracked[receipt.message_id]
        reason = receipt.state if not receipt.error else f"{receipt.state} err:{receipt.error}"
        self._report(DeliveryReport(peer, outcome, reason, receipt.message_id))

    def _arm_expiry(self) -> None:
        """Let incomplete messages expire on time even when no further part arrives."""
        deadline = self._inbox.get_timer()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if deadline is not None:
            delay = max(0.0, deadline - self._now())
            self._expiry = self._loop.call_later(delay, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        self._inbox.handle_timer(self._now())
        self._arm_expiry()


def _part(data: bytes, event: Any, tlvs: dict[int, bytes]) -> Part:
    """The part a deliver_sm carries: a UDH when esm_class says so, else SMPP's sar_* TLVs
    (concatenation the SMSC did for us), else a whole message."""
    if event.esm_class & ESM_UDHI:
        header, size = UserDataHeader.decode(data)
        return Part(header, data[size:])
    reference = tlvs.get(TLV_SAR_MSG_REF_NUM)
    total = tlvs.get(TLV_SAR_TOTAL_SEGMENTS)
    sequence = tlvs.get(TLV_SAR_SEGMENT_SEQNUM)
    if reference is None or total is None or sequence is None:
        return Part(None, data)
    if len(reference) != 2 or len(total) != 1 or len(sequence) != 1:
        raise SmsDecodeError("sar_* TLVs of the wrong size")
    try:
        concat = Concatenation(int.from_bytes(reference, "big"), total[0], sequence[0], wide=True)
    except SmsEncodeError as error:
        raise SmsDecodeError(str(error)) from None
    return Part(UserDataHeader((concat,)), data)
