"""The SMS binding (``S``) through the modem: a :class:`DatagramCore` driven over
``AT+CMGS`` (up) and ``+CMT`` (down) in TS 27.005 PDU mode.

Peers are :class:`~lwm2m.transport.sms.binding.SmsPeer` (MSISDNs).  Each datagram for one is
split by :class:`~lwm2m.transport.sms.binding.SmsOutbox` into 8-bit SMS-SUBMITs (concatenated
when it needs more than one) and sent one ``AT+CMGS`` at a time, in order; each ``+CMT``'s
SMS-DELIVER goes through :class:`~lwm2m.transport.sms.binding.SmsInbox` (bounded reassembly)
and the datagram it completes to ``core.receive`` with the sender as peer.  What does not
decode, is not 8-bit data, or comes from no MSISDN is counted and dropped; the driver takes
no decision on who may talk to the device (the core does: the LwM2M client ignores SMS from
numbers other than its servers').  Call :meth:`SmsTransport.setup` once (PDU mode, ``+CMT``
routing) before use.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.coap.events import Peer
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.channel import AtChannel, Clock
from lwm2m.transport.modem.commands import AtCommand
from lwm2m.transport.modem.driver import ModemDriver, SendStats
from lwm2m.transport.modem.errors import ModemError
from lwm2m.transport.modem.urc import SmsDelivered, Urc
from lwm2m.transport.sms.address import Address
from lwm2m.transport.sms.binding import SmsInbox, SmsOutbox, SmsPeer
from lwm2m.transport.sms.coding import Alphabet
from lwm2m.transport.sms.concat import Part
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError
from lwm2m.transport.sms.tpdu import SmsSubmit, UserData, decode_deliver_pdu
from lwm2m.transport.udp import CoreT

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class SmsStats(SendStats):
    received: int = 0
    """Datagrams completed from ``+CMT`` parts."""
    undecodable: int = 0
    not_binary: int = 0
    misaddressed: int = 0
    """Datagrams the core addressed to a peer that is not an MSISDN."""
    too_long: int = 0


class SmsTransport(ModemDriver[CoreT]):
    """Drives ``core`` over ``channel``'s SMS service (module docstring)."""

    def __init__(
        self,
        core: CoreT,
        drain: Callable[[], None],
        channel: AtChannel,
        *,
        rng: random.Random | None = None,
        inbox: SmsInbox | None = None,
        max_backlog: int = 64,
        clock: Clock | None = None,
    ) -> None:
        self.stats: SmsStats = SmsStats()
        self._outbox = SmsOutbox(rng or random.Random())
        self._inbox = inbox or SmsInbox()
        super().__init__(core, drain, channel, max_backlog=max_backlog, clock=clock)

    async def setup(self) -> None:
        """PDU mode (``AT+CMGF=0``) and new messages routed as ``+CMT`` (the profile's
        ``AT+CNMI``)."""
        await self._channel.execute(at.set_sms_pdu_mode())
        await self._channel.execute(at.set_sms_indications(self._channel.session.quirks.cnmi))

    def _queue(self, data: bytes, peer: Peer) -> None:
        if not isinstance(peer, SmsPeer):
            self.stats.misaddressed += 1
            return
        try:
            parts = self._outbox.parts(data)
        except SmsEncodeError as error:
            self.stats.too_long += 1
            logger.warning("SMS: %s", error)
            return
        destination = Address.international(peer.msisdn)
        for part in parts:  # SMS-SUBMIT TPDUs, in order
            user_data = UserData(part.payload, part.header)
            self._push(SmsSubmit(destination, user_data).encode())

    def _command(self, message: bytes, *, more_queued: bool) -> AtCommand[int]:
        return at.send_sms(message)

    def _not_sent(self, error: ModemError) -> None:
        logger.warning("SMS not sent: %s", error)

    def _urc(self, urc: Urc) -> None:
        if not isinstance(urc, SmsDelivered):
            return
        now = self.now()
        try:
            _, deliver = decode_deliver_pdu(urc.pdu)
            sender = SmsPeer.parse(deliver.originator.number)
        except (SmsDecodeError, ValueError) as error:
            self.stats.undecodable += 1
            logger.info("SMS dropped: %s", error)
            return
        if deliver.coding.alphabet != Alphabet.EIGHT_BIT:
            self.stats.not_binary += 1
            return
        user_data = deliver.user_data
        # Incomplete messages expire as parts arrive (the reassembler is bounded besides).
        part = Part(user_data.header, user_data.data)
        datagram = self._inbox.receive(sender, part, now)
        if datagram is not None:
            self.stats.received += 1
            self.core.receive(datagram, self._inbox.origin(sender, part), now)
        self.pump()
