"""The client's NIDD binding (``N``): its CoAP over a cellular modem's Non-IP context.

:class:`NiddLink` brings the modem up (:func:`open_modem`, ``initialise``, identity, the
Non-IP context and its packet limit), asks the network for the PSM and eDRX timers the
Cellular Connectivity object (/10) holds, attaches, and reads what the network granted and
the APN rate control.  :class:`~lwm2m.client.device.LwM2MClient` then drives its engine over
:class:`NiddTransport` (release assistance per datagram) with
:class:`~lwm2m.client.ratecontrol.RateControlledEndpoint` keeping the rate control, and
:class:`~lwm2m.client.cellular.ModemObjects` keeps /4, /7 and /10 true to the modem.

The server is :data:`NIDD_SERVER`: there is no address; the network routes the Non-IP data
of the APN to the SCS/AS it is configured with (the LwM2M server, over T8).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lwm2m.client.cellular import CountingStatus, ModemObjects
from lwm2m.client.ratecontrol import UplinkLimit
from lwm2m.client.standard.cellular import PowerSavingRequest
from lwm2m.client.tree import ObjectTree
from lwm2m.transport.modem import commands as at
from lwm2m.transport.modem.channel import Identity, Modem, open_modem
from lwm2m.transport.modem.errors import ModemError
from lwm2m.transport.modem.quirks import GENERIC, ModemQuirks
from lwm2m.transport.modem.session import CommandFailed, CommandSucceeded
from lwm2m.transport.modem.urc import EdrxParameters, Registration, Urc

log = logging.getLogger(__name__)

ATTACH_TIMEOUT = 180.0
"""Seconds to wait for ``+CEREG`` to report registration after ``AT+CFUN=1`` (NB-IoT cell
search in coverage enhancement takes minutes)."""


@dataclass(frozen=True, slots=True)
class NiddServer:
    """The peer the engine addresses over NIDD: the one SCS/AS behind the network."""

    name: str = "scs-as"


NIDD_SERVER = NiddServer()


class NiddError(Exception):
    """The modem could not be brought up for NIDD (not attached, no Non-IP context...)."""


class NiddLink:
    """One modem set up for NIDD (module docstring).  ``open`` it, build the device's tree
    (its endpoint name may come from :attr:`identity`), then :meth:`attach`."""

    def __init__(self, modem: Modem, identity: Identity) -> None:
        self.modem = modem
        self.identity = identity
        self.cid = 1
        self.apn = ""
        self.max_packet_size = 0
        """Octets one Non-IP datagram may carry (known after :meth:`attach`)."""
        self.uplink_limit: UplinkLimit | None = None
        """The APN rate control ``AT+CGAPNRC`` reported, None when unrestricted."""
        self.objects: ModemObjects | None = None
        self.clock: Callable[[], float] = modem.channel.now
        """Seconds since the epoch for /7's collection period (the client sets its own)."""
        self.on_limit: Callable[[UplinkLimit | None], None] | None = None
        self.on_psm: Callable[[int | None], None] | None = None
        """Told :attr:`granted_t3412` whenever a ``+CEREG`` changes it (the client's
        ``engine.psm_granted``: the lifetime stays below the periodic TAU)."""
        self._told_t3412: int | None = None
        self._registered = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    @classmethod
    async def open(cls, url: str, quirks: ModemQuirks = GENERIC) -> NiddLink:
        """Open the modem at ``url`` (``/dev/ttyUSB0``, ``socket://host:port``), initialise it
        and read the SIM's identity."""
        try:
            modem = await open_modem(url, quirks)
        except OSError as error:  # pyserial's SerialException is one
            raise NiddError(f"cannot open the modem at {url}: {error}") from error
        modem.channel.status = CountingStatus()  # before any datagram is counted
        try:
            await modem.initialise()
            identity = await modem.identity()
        except (ModemError, OSError) as error:
            await modem.close()
            raise NiddError(f"modem at {url}: {error}") from error
        return cls(modem, identity)

    @property
    def granted_t3412(self) -> int | None:
        """The extended T3412 (seconds) of a granted PSM, None without PSM: ``+CEREG``
        mode 4 gives an Active-Time only when PSM is granted (``"11100000"`` otherwise)."""
        status = self.status
        return status.periodic_tau if status.active_time is not None else None

    def tell_psm(self) -> None:
        """Tell :attr:`on_psm` the grant now, then on every change."""
        self._told_t3412 = self.granted_t3412
        if self.on_psm is not None:
            self.on_psm(self._told_t3412)

    @property
    def status(self) -> CountingStatus:
        status = self.modem.status
        assert isinstance(status, CountingStatus)
        return status

    async def attach(
        self, tree: ObjectTree, *, cid: int = 1, apn: str = "", timeout: float = ATTACH_TIMEOUT
    ) -> None:
        """Define the Non-IP context, request /10's timers, attach and wait for registration,
        then read the grant, the signal and the rate control into the tree."""
        self.cid, self.apn = cid, apn
        objects = self.objects = ModemObjects(tree, apn)
        self._unsubscribe = self.modem.channel.subscribe(self._urc)
        self.status.listeners.append(
            lambda sent, received: objects.traffic(self.clock(), sent, received)
        )
        modem = self.modem
        try:
            await modem.execute(at.set_functionality(at.Functionality.MINIMUM))
            self.max_packet_size = await modem.configure_nidd(cid, apn)
            cellular = objects.cellular
            if cellular is not None:
                for command in _power_saving_commands(cellular.request()):
                    await modem.execute(command)
                cellular.on_request = self.request_power_saving
            await modem.execute(at.set_functionality(at.Functionality.FULL))
            registration = await modem.execute(at.read_registration())
            if not registration.registered:
                await asyncio.wait_for(self._registered.wait(), timeout)
            await self._read_rate_control()
            await self.refresh()
        except TimeoutError:
            raise NiddError(
                f"the network did not register the modem within {timeout:.0f} s"
            ) from None
        except ModemError as error:
            raise NiddError(f"NIDD set-up: {error}") from error

    async def refresh(self) -> None:
        """Read registration, signal and eDRX again and copy them into the tree."""
        await self.modem.refresh()
        if self.objects is not None:
            self.objects.apply(self.status)

    def request_power_saving(self, request: PowerSavingRequest) -> None:
        """Send a server's /10 write to the modem (the grant comes back in ``+CEREG``)."""
        for command in _power_saving_commands(request):
            self.modem.channel.submit(command, _log_failure)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.modem.close()

    async def _read_rate_control(self) -> None:
        try:
            controls = await self.modem.execute(at.read_apn_rate_control(self.cid))
        except ModemError as error:
            log.info("no APN rate control reported (%s): not limiting uplink", error)
            controls = ()
        limits = [UplinkLimit.of(c) for c in controls if c.cid == self.cid]
        self.uplink_limit = next((limit for limit in limits if limit is not None), None)
        if self.on_limit is not None:
            self.on_limit(self.uplink_limit)

    def _urc(self, urc: Urc) -> None:
        if isinstance(urc, Registration):
            if urc.registered:
                self._registered.set()
            else:
                self._registered.clear()
            if self.on_psm is not None and self.granted_t3412 != self._told_t3412:
                self.tell_psm()
        if isinstance(urc, Registration | EdrxParameters) and self.objects is not None:
            self.objects.apply(self.status)


def _power_saving_commands(request: PowerSavingRequest) -> list[at.AtCommand[Any]]:
    """``AT+CPSMS`` and ``AT+CEDRXS`` for ``request`` (a mode it leaves out is turned off)."""
    psm = at.disable_psm() if request.psm is None else at.request_psm(*request.psm)
    edrx = at.disable_edrx() if request.edrx is None else at.request_edrx(request.edrx)
    return [psm, edrx]


def _log_failure(event: CommandSucceeded | CommandFailed) -> None:
    if isinstance(event, CommandFailed):
        log.warning("power saving request refused: %s", event.error)
