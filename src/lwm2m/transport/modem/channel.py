"""The asyncio side of the modem driver: :class:`AtChannel` drives an :class:`AtSession`
over a :class:`SerialLink`, :class:`Modem` is the typed façade a device uses.

The channel owns no protocol logic: it feeds the link's bytes and the loop's clock to the
session, writes what the session queued, resolves the futures of :meth:`AtChannel.execute`,
folds every event into :attr:`AtChannel.status` and hands URCs to subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lwm2m.transport._timer import CoreTimer
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.commands import AtCommand
from lwm2m.transport.modem.errors import ModemError, RemoteModemError
from lwm2m.transport.modem.quirks import GENERIC, ModemQuirks
from lwm2m.transport.modem.serial_link import SerialLink, open_port
from lwm2m.transport.modem.session import AtSession, CommandFailed, CommandSucceeded
from lwm2m.transport.modem.status import ModemStatus
from lwm2m.transport.modem.urc import SmsDelivered, Urc

T = TypeVar("T")
Clock = Callable[[], float]
UrcListener = Callable[[Urc], None]
Completion = Callable[[CommandSucceeded | CommandFailed], None]
NIDD_MTU = 1358
"""The Non-IP link MTU networks commonly allow (TS 24.008); the network may allow less."""

logger = logging.getLogger(__name__)


class AtChannel:
    """One modem's AT session on the event loop (module docstring)."""

    def __init__(self, session: AtSession, clock: Clock | None = None) -> None:
        self.session = session
        self.status = ModemStatus()
        self._loop = asyncio.get_running_loop()
        self.now: Clock = clock if clock is not None else self._loop.time
        self._timer = CoreTimer(self._loop, session, self.now, self.pump)
        self._link: SerialLink | None = None
        self._waiting: dict[int, asyncio.Future[Any] | Completion] = {}
        self._listeners: list[UrcListener] = []
        self.lost: Exception | None = None
        """Why the serial link failed, once it has."""

    def attach(self, link: SerialLink) -> None:
        self._link = link

    async def execute(self, command: AtCommand[T]) -> T:
        """Run ``command`` and return its typed result; raises its :class:`ModemError`."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._waiting[self.session.submit(command, self.now())] = future
        self.pump()
        return await future

    def submit(self, command: AtCommand[Any], done: Completion) -> None:
        """Run ``command`` and call ``done`` with its outcome event (no task, no future)."""
        self._waiting[self.session.submit(command, self.now())] = done
        self.pump()

    def subscribe(self, listener: UrcListener) -> Callable[[], None]:
        """Call ``listener`` with every URC; returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def receive(self, data: bytes) -> None:
        self.session.receive(data, self.now())
        self.pump()

    def connection_lost(self, error: Exception) -> None:
        """The serial link failed: every waiting command fails, nothing more is taken."""
        self.lost = error
        logger.warning("modem link lost: %s", error)
        self.session.close()
        self.pump()

    def pump(self) -> None:
        """Write what the session queued, dispatch its events, re-arm its timer."""
        out = self.session.data_to_send()
        if out and self._link is not None:
            self._link.write(out)
        while (event := self.session.next_event()) is not None:
            self.status.apply(event)
            if isinstance(event, CommandSucceeded | CommandFailed):
                self._complete(event)
            else:
                self._urc(event)
        out = self.session.data_to_send()  # a completion may have started the next command
        if out and self._link is not None:
            self._link.write(out)
        self._timer.arm(self.session.get_timer())

    async def close(self) -> None:
        self.session.close()
        self.pump()
        self._timer.disarm()
        if self._link is not None:
            await self._link.close()

    def _complete(self, event: CommandSucceeded | CommandFailed) -> None:
        waiting = self._waiting.pop(event.handle, None)
        if waiting is None:
            return
        if not isinstance(waiting, asyncio.Future):
            waiting(event)
        elif waiting.done():  # its awaiting task was cancelled
            pass
        elif isinstance(event, CommandFailed):
            waiting.set_exception(event.error)
        else:
            waiting.set_result(event.result)

    def _urc(self, urc: Urc) -> None:
        if isinstance(urc, SmsDelivered) and self.session.quirks.sms_ack:
            self.submit(at.acknowledge_sms(), _log_failure)
        for listener in tuple(self._listeners):
            listener(urc)


def _log_failure(event: CommandSucceeded | CommandFailed) -> None:
    if isinstance(event, CommandFailed):
        logger.warning("%s", event.error)


@dataclass(frozen=True, slots=True)
class Identity:
    imei: str
    imsi: str
    msisdn: str | None


class Modem:
    """The typed façade: the setup a NIDD device needs, and :meth:`execute` for any command
    of :mod:`lwm2m.transport.modem.commands`."""

    def __init__(self, channel: AtChannel) -> None:
        self.channel = channel

    @property
    def quirks(self) -> ModemQuirks:
        return self.channel.session.quirks

    @property
    def status(self) -> ModemStatus:
        return self.channel.status

    async def execute(self, command: AtCommand[T]) -> T:
        return await self.channel.execute(command)

    async def initialise(self) -> None:
        """Echo off, numeric errors, registration reports with PSM timers (``+CEREG`` mode
        4, or the profile's), RRC reports and Non-IP data as URCs."""
        for command in (
            at.set_echo(False),
            at.set_error_format(1),
            at.set_registration_reports(self.quirks.cereg_mode),
            at.set_signalling_reports(True),
            at.set_data_reports(True),
        ):
            await self.execute(command)

    async def identity(self) -> Identity:
        return Identity(
            await self.execute(at.read_imei()),
            await self.execute(at.read_imsi()),
            await self.execute(at.read_msisdn()),
        )

    async def configure_nidd(self, cid: int, apn: str = "", mtu: int = NIDD_MTU) -> int:
        """Define ``cid`` as a Non-IP context and return the largest datagram it carries:
        the least of ``mtu``, the profile's limit and what ``AT+CSODCP=?`` reports (modules
        that do not answer the test command leave the other two). Some modules take
        ``AT+CGDCONT`` only at ``AT+CFUN=0``: set that first."""
        await self.execute(at.define_context(cid, apn))
        limits = [mtu]
        if self.quirks.max_nidd_octets is not None:
            limits.append(self.quirks.max_nidd_octets)
        try:
            limits.append(await self.execute(at.read_data_limit()))
        except RemoteModemError as error:
            logger.info("no AT+CSODCP=? limit (%s); using %d octets", error, min(limits))
        return min(limits)

    async def refresh(self) -> ModemStatus:
        """Read registration, signal and eDRX again (the results land in :attr:`status`);
        a read the module refuses leaves its old value."""
        reads: tuple[AtCommand[Any], ...] = (
            at.read_registration(),
            at.read_signal(),
            at.read_edrx(),
        )
        for command in reads:
            try:
                await self.execute(command)
            except ModemError as error:
                logger.info("%s", error)
        return self.status

    async def close(self) -> None:
        await self.channel.close()


async def open_modem(url: str, quirks: ModemQuirks = GENERIC, *, baudrate: int = 115_200) -> Modem:
    """Open the modem at ``url`` (``/dev/ttyUSB0``, ``socket://host:port``, any pyserial
    URL) and return its façade; call :meth:`Modem.initialise` next."""
    port = await open_port(url, baudrate)
    channel = AtChannel(AtSession(quirks))
    channel.attach(SerialLink(port, channel.receive, channel.connection_lost))
    return Modem(channel)
