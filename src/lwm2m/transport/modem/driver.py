"""What the modem's datagram transports (NIDD, SMS) share: a :class:`DatagramCore` driven over
an :class:`AtChannel`, its outgoing messages in a bounded backlog (the oldest dropped when it
is full) sent one AT command at a time, in order, and its timer on the event loop.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic

from lwm2m.coap.events import Peer
from lwm2m.transport._timer import CoreTimer
from lwm2m.transport.modem.channel import AtChannel, Clock
from lwm2m.transport.modem.commands import AtCommand
from lwm2m.transport.modem.errors import ModemError
from lwm2m.transport.modem.session import CommandFailed, CommandSucceeded
from lwm2m.transport.modem.urc import Urc
from lwm2m.transport.udp import CoreT


@dataclass(slots=True)
class SendStats:
    sent: int = 0
    """Messages the modem accepted (``AT+CSODCP`` answered OK, ``+CMGS: <mr>``)."""
    dropped_backlog: int = 0
    send_failures: int = 0


class ModemDriver(abc.ABC, Generic[CoreT]):
    """Drives ``core`` over ``channel``: ``drain()`` takes the core's events after each step,
    as with :class:`~lwm2m.transport.udp.UdpTransport`; call :meth:`pump` after using the core
    directly.  A transport says how a datagram is queued, which command sends a queued
    message, what a failure means, and what it takes from the channel's URCs."""

    stats: SendStats

    def __init__(
        self,
        core: CoreT,
        drain: Callable[[], None],
        channel: AtChannel,
        *,
        max_backlog: int,
        clock: Clock | None,
    ) -> None:
        self.core = core
        self._drain = drain
        self._channel = channel
        self._max_backlog = max_backlog
        self._backlog: deque[bytes] = deque()
        self._sending = False
        self.now: Clock = clock if clock is not None else channel.now
        self._timer = CoreTimer(asyncio.get_running_loop(), core, self.now, self.pump)
        self._unsubscribe = channel.subscribe(self._urc)

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
        self._send_next()  # after queueing them all: a command may depend on what follows
        self._timer.arm(core.get_timer())

    def close(self) -> None:
        """Stop taking downlink and timers; the channel and core are left as they are."""
        self._unsubscribe()
        self._timer.disarm()
        self._backlog.clear()

    def _push(self, message: bytes) -> None:
        if len(self._backlog) >= self._max_backlog:
            self._backlog.popleft()
            self.stats.dropped_backlog += 1
        self._backlog.append(message)

    def _send_next(self) -> None:
        if self._sending or not self._backlog:
            return
        message = self._backlog.popleft()
        command = self._command(message, more_queued=bool(self._backlog))
        self._sending = True
        try:
            self._channel.submit(command, self._sent)
        except ModemError as error:  # the session is closed or its queue full
            self._sending = False
            self.stats.send_failures += 1
            self._not_sent(error)

    def _sent(self, event: CommandSucceeded | CommandFailed) -> None:
        self._sending = False
        if isinstance(event, CommandFailed):
            self.stats.send_failures += 1
            self._not_sent(event.error)
        else:
            self.stats.sent += 1
        self._send_next()

    @abc.abstractmethod
    def _queue(self, data: bytes, peer: Peer) -> None:
        """Put the core's datagram for ``peer`` into the backlog (:meth:`_push`), or count
        why not."""

    @abc.abstractmethod
    def _command(self, message: bytes, *, more_queued: bool) -> AtCommand[Any]:
        """The command that sends one message of the backlog."""

    @abc.abstractmethod
    def _not_sent(self, error: ModemError) -> None:
        """A message the modem did not take (the core's own retransmission decides what
        happens next)."""

    @abc.abstractmethod
    def _urc(self, urc: Urc) -> None:
        """Every URC of the channel: downlink goes to ``core.receive``, then :meth:`pump`."""
