"""NIDD as a datagram transport: a :class:`DatagramCore` (the client engine, a CoAP
endpoint) driven over the modem's control plane instead of a UDP socket.

Over NIDD the device has one peer, the LwM2M server behind the SCEF, which the core knows
as ``peer``. Each datagram for it becomes one ``AT+CSODCP`` with the release assistance
its CoAP type asks for (:func:`~lwm2m.transport.modem.status.release_assistance`), one at a
time so that "more uplink queued" is known (``rai`` may replace that rule: a queue-mode
client's Update expects the server's queued requests, not one reply); ``+CRTDCP`` data on
the context goes to ``core.receive``. A datagram over :attr:`NiddTransport.max_packet_size`
is refused with :class:`PacketTooLargeError` (NIDD does no segmentation; the core must use
block-wise).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.coap.events import Peer
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.channel import AtChannel, Clock
from lwm2m.transport.modem.commands import AtCommand, MoDataSent, Rai
from lwm2m.transport.modem.driver import ModemDriver, SendStats
from lwm2m.transport.modem.errors import ModemError, PacketTooLargeError
from lwm2m.transport.modem.status import ModemStatus, release_assistance
from lwm2m.transport.modem.urc import ControlPlaneData, Urc
from lwm2m.transport.udp import CoreT

logger = logging.getLogger(__name__)
ErrorHandler = Callable[[ModemError], None]
RaiPolicy = Callable[[bytes, bool], Rai]
"""``policy(datagram, more_queued)``: the release assistance one datagram is sent with."""


def _default_rai(datagram: bytes, more_queued: bool) -> Rai:
    return release_assistance(datagram, more_queued=more_queued)


@dataclass(slots=True)
class NiddStats(SendStats):
    received: int = 0
    refused_too_large: int = 0
    misaddressed: int = 0
    """Datagrams the core addressed to another peer than the server: NIDD reaches one."""


def _log(error: ModemError) -> None:
    logger.warning("NIDD: %s", error)


class NiddTransport(ModemDriver[CoreT]):
    """Drives ``core`` over ``channel``'s Non-IP context ``cid`` (module docstring).

    ``on_error`` hears of datagrams refused or not sent (the core's own retransmission
    decides what happens next).
    """

    def __init__(
        self,
        core: CoreT,
        drain: Callable[[], None],
        channel: AtChannel,
        peer: Peer,
        *,
        cid: int,
        max_packet_size: int,
        on_error: ErrorHandler = _log,
        max_backlog: int = 16,
        clock: Clock | None = None,
        rai: RaiPolicy = _default_rai,
    ) -> None:
        self.peer = peer
        self._rai = rai
        self.cid = cid
        self.max_packet_size = max_packet_size
        self.stats: NiddStats = NiddStats()
        self._on_error = on_error
        super().__init__(core, drain, channel, max_backlog=max_backlog, clock=clock)

    @property
    def status(self) -> ModemStatus:
        """What the modem reported: registration and cell, granted PSM/eDRX timers, signal,
        RRC state and the NIDD byte counters (objects /4, /7 and /10)."""
        return self._channel.status

    def send(self, data: bytes) -> None:
        """Send one datagram to the server; a too large one raises PacketTooLargeError."""
        self._enqueue(data)
        self._send_next()

    def _enqueue(self, data: bytes) -> None:
        if len(data) > self.max_packet_size:
            self.stats.refused_too_large += 1
            raise PacketTooLargeError(len(data), self.max_packet_size)
        self._push(data)

    def _queue(self, data: bytes, peer: Peer) -> None:
        if peer != self.peer:
            self.stats.misaddressed += 1
            return
        try:
            self._enqueue(data)
        except PacketTooLargeError as error:
            self._on_error(error)

    def _command(self, message: bytes, *, more_queued: bool) -> AtCommand[MoDataSent]:
        rai = self._rai(message, more_queued)
        quote_hex = self._channel.session.quirks.quote_hex
        return at.send_data(self.cid, message, rai, quote_hex=quote_hex)

    def _not_sent(self, error: ModemError) -> None:
        self._on_error(error)

    def _urc(self, urc: Urc) -> None:
        if isinstance(urc, ControlPlaneData) and urc.cid == self.cid:
            self.stats.received += 1
            self.core.receive(urc.data, self.peer, self.now())
            self.pump()
