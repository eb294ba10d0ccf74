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

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic

from lwm2m.coap.events import Peer
from lwm2m.transport._timer import CoreTimer
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.channel import AtChannel, Clock
from lwm2m.transport.modem.commands import Rai
from lwm2m.transport.modem.errors import ModemError, PacketTooLargeError
from lwm2m.transport.modem.session import CommandFailed, CommandSucceeded
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
class NiddStats:
    sent: int = 0
    received: int = 0
    refused_too_large: int = 0
    misaddressed: int = 0
    """Datagrams the core addressed to another peer than the server: NIDD reaches one."""
    dropped_backlog: int = 0
    send_failures: int = 0


def _log(error: ModemError) -> None:
    logger.warning("NIDD: %s", error)


class NiddTransport(Generic[CoreT]):
    """Drives ``core`` over ``channel``'s Non-IP context ``cid`` (module docstring).

    ``drain()`` takes the core's events after each step, as with :class:`UdpTransport`;
    ``on_error`` hears of datagrams refused or not sent (the core's own retransmission
    decides what happens next). Call :meth:`pump` after using the core directly.
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
        self.core = core
        self.peer = peer
        self._rai = rai
        self.cid = cid
        self.max_packet_size = max_packet_size
        self.stats = NiddStats()
        self._drain = drain
        self._channel = channel
        self._on_error = on_error
        self._max_backlog = max_backlog
        self._backlog: deque[bytes] = deque()
        self._sending = False
        self.now: Clock = clock if clock is not None else channel.now
        self._timer = CoreTimer(asyncio.get_running_loop(), core, self.now, self.pump)
        self._unsubscribe = channel.subscribe(self._urc)

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
        if len(self._backlog) >= self._max_backlog:
            self._backlog.popleft()
            self.stats.dropped_backlog += 1
        self._backlog.append(data)

    def pump(self) -> None:
        """Queue the core's datagrams, let the owner drain events, re-arm the timer."""
        core = self.core
        datagrams = core.datagrams_to_send()
        while True:
            for data, peer in datagrams:
                self._queue(data, peer)
            self._drain()
            datagrams = core.datagrams_to_send()
            if not datagrams:
                break
        self._send_next()  # after queueing them all: RAI needs to know what follows
        self._timer.arm(core.get_timer())

    def close(self) -> None:
        """Stop taking downlink and timers; the channel and core are left as they are."""
        self._unsubscribe()
        self._timer.disarm()
        self._backlog.clear()

    def _queue(self, data: bytes, peer: Peer) -> None:
        if peer != self.peer:
            self.stats.misaddressed += 1
            return
        try:
            self._enqueue(data)
        except PacketTooLargeError as error:
            self._on_error(error)

    def _send_next(self) -> None:
        if self._sending or not self._backlog:
            return
        data = self._backlog.popleft()
        rai = self._rai(data, bool(self._backlog))
        quote_hex = self._channel.session.quirks.quote_hex
        command = at.send_data(self.cid, data, rai, quote_hex=quote_hex)
        self._sending = True
        try:
            self._channel.submit(command, self._sent)
        except ModemError as error:  # the session is closed or its queue full
            self._sending = False
            self.stats.send_failures += 1
            self._on_error(error)

    def _sent(self, event: CommandSucceeded | CommandFailed) -> None:
        self._sending = False
        if isinstance(event, CommandFailed):
            self.stats.send_failures += 1
            self._on_error(event.error)
        else:
            self.stats.sent += 1
        self._send_next()

    def _urc(self, urc: Urc) -> None:
        if isinstance(urc, ControlPlaneData) and urc.cid == self.cid:
            self.stats.received += 1
            self.core.receive(urc.data, self.peer, self.now())
            self.pump()
