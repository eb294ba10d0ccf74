"""The fleet process of ``lwm2m bench --nidd`` (:mod:`lwm2m.loadtest.nidd`): light devices
(:class:`~lwm2m.loadtest.device.Fleet`) on modems without AT inside the emulated network
(:class:`NiddRadio`), or on one UDP socket each (:class:`UdpRadio`, the side-by-side figure).

Both keep at most ``window`` messages outstanding and time each from its send to its end: a
Register until its 2.01 reaches the device; a notification until the server has answered
the SCEF's callback that carried it (NIDD) or has acknowledged it (UDP, CON notifications).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from lwm2m.loadtest.device import Fleet
from lwm2m.network.callbacks import CallbackSender
from lwm2m.network.nidd import Callback
from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import Indication, MtData, NetworkConfig, Ue

PhaseResult = tuple[int, float, list[float]]
DRAIN = 5.0
"""Seconds to wait for the messages still outstanding when a phase ends."""


class _Window:
    """Outstanding messages by key, with their send times, and the phase's tallies."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: dict[Any, float] = {}
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def open(self, key: Any) -> None:
        self.sent[key] = time.perf_counter()

    def close(self, key: Any) -> bool:
        start = self.sent.pop(key, None)
        if start is None:
            return False
        self.latencies.append(time.perf_counter() - start)
        return True


class _Mailbox(list[Indication]):
    """A UE's indications: marks the UE as having something for its device."""

    def __init__(self, device: int, ready: set[int]) -> None:
        super().__init__()
        self.device = device
        self.ready = ready

    def append(self, item: Indication) -> None:
        super().append(item)
        self.ready.add(self.device)


class _Sender(CallbackSender):
    """The network's callback sender, telling the fleet when a callback was answered."""

    on_answered: Callable[[Callback], None] | None = None

    async def _deliver(self, callback: Callback) -> bool:
        delivered = await super()._deliver(callback)
        if self.on_answered is not None:
            self.on_answered(callback)
        return delivered


class _Service(NetworkService):
    on_flush: Callable[[], None] | None = None

    def flush(self) -> None:
        super().flush()
        if self.on_flush is not None:
            self.on_flush()


class _Radio:
    """The windowed phases, common to both radios: ``_send`` puts a datagram on the air,
    ``_key`` names an outstanding notification, ``_kick`` flushes what was sent."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._window: _Window | None = None
        self._next: Iterator[int] = iter(())
        self.t8_url = ""

    def _send(self, i: int, data: bytes) -> None:
        raise NotImplementedError

    def _key(self, i: int, data: bytes) -> object:
        raise NotImplementedError

    def _kick(self) -> None:
        """Nothing to flush by default (a socket sends at once)."""

    def _notification(self, i: int) -> bytes | None:
        return self.fleet.notification(i)

    def _registered(self, i: int) -> None:
        window = self._window
        if window is not None:
            window.close(i)
            self._refill(self.fleet.register)

    def _notified(self, key: object) -> None:
        window = self._window
        if window is not None and window.close(key):
            self._refill(self._notification)

    def _refill(self, make: Callable[[int], bytes | None]) -> None:
        window = self._window
        if window is None:
            return
        sent = False
        while len(window.sent) < window.limit:
            i = next(self._next, None)
            if i is None:
                if not window.sent:
                    window.done.set()
                break
            data = make(i)
            if data is None:
                continue
            window.open(i if make == self.fleet.register else self._key(i, data))
            self._send(i, data)
            sent = True
        if sent:
            self._kick()

    async def _phase(
        self, make: Callable[[int], bytes | None], devices: Iterator[int], limit: int, bound: float
    ) -> PhaseResult:
        window = self._window = _Window(limit)
        self._next = devices
        start = time.perf_counter()
        self._refill(make)
        with contextlib.suppress(TimeoutError):  # what is still outstanding then is lost
            await asyncio.wait_for(window.done.wait(), bound)
        seconds = time.perf_counter() - start
        self._window = None
        return len(window.latencies), seconds, window.latencies

    async def register(self, limit: int) -> PhaseResult:
        count = self.fleet.count
        return await self._phase(self.fleet.register, iter(range(count)), limit, 60 + count / 20)

    async def notify(self, duration: float, limit: int) -> PhaseResult:
        devices = _rounds(self.fleet, time.perf_counter() + duration)
        return await self._phase(self._notification, devices, limit, duration + DRAIN)


class NiddRadio(_Radio):
    def __init__(self, clients: int) -> None:
        sims = generate_sims(clients)
        network = NetworkConfig(
            policy=GrantPolicy(psm=False, edrx=False), inactivity=86_400.0, attach_delay=0.0
        )
        self.service = _Service(Hss(sims), network, ServiceConfig(at_port=0, t8_port=0))
        sender = self.service.callbacks = _Sender(queue_limit=100_000)
        sender.on_answered = self._answered
        self.service.on_flush = self._mt
        super().__init__(Fleet(0, clients, binding="N"))
        self.ues: list[Ue] = []
        self._ready: set[int] = set()

    async def start(self) -> None:
        await self.service.start()
        self.t8_url = self.service.t8_url
        network, now = self.service.network, self.service.now()
        for i, imsi in enumerate(list(network.ues)):
            ue = network.power_on_in_process(imsi, now)
            ue.indications = _Mailbox(i, self._ready)
            self.ues.append(ue)
        self.service.pump()

    async def stop(self) -> None:
        await self.service.stop()

    def _send(self, i: int, data: bytes) -> None:
        ue = self.ues[i]
        assert ue.active_cid is not None
        now = self.service.now()
        self.service.network.send_mo(
            ue.sim.imsi, ue.active_cid, data, rai=0, exception=False, now=now
        )

    def _key(self, i: int, data: bytes) -> object:
        return self.ues[i].sim.external_id, base64.b64encode(data).decode("ascii")

    def _kick(self) -> None:
        self.service.pump()

    def _mt(self) -> None:
        """MT data the network delivered: each device answers (and a Register's 2.01 ends
        its timing)."""
        answered = False
        while self._ready:
            i = self._ready.pop()
            mailbox = self.ues[i].indications
            items = list(mailbox)
            mailbox.clear()
            for item in items:
                if not isinstance(item, MtData):
                    continue
                was = self.fleet.is_registered(i)
                answer = self.fleet.receive(i, item.data)
                if answer is not None:
                    self._send(i, answer)
                    answered = True
                if not was and self.fleet.is_registered(i):
                    self._registered(i)
        if answered:
            self.service.pump()

    def _answered(self, callback: Callback) -> None:
        """The server answered a callback: a notification it carried has arrived."""
        body = callback.body
        if "data" in body:
            self._notified((body.get("externalId"), body["data"]))


def _rounds(fleet: Fleet, until: float) -> Iterator[int]:
    """Devices round-robin, a new Observe sequence each pass, until ``until``."""
    while time.perf_counter() < until:
        fleet.next_round()
        for i in range(fleet.count):
            if time.perf_counter() >= until:
                return
            yield i


class _Device(asyncio.DatagramProtocol):
    def __init__(self, radio: UdpRadio, index: int) -> None:
        self.radio = radio
        self.index = index
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.radio.received(self.index, data)


class UdpRadio(_Radio):
    """The same devices over UDP, one socket each, to ``lwm2m server`` at ``port``."""

    def __init__(self, clients: int, port: int) -> None:
        super().__init__(Fleet(0, clients))
        self.server = ("127.0.0.1", port)
        self.devices: list[_Device] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for i in range(self.fleet.count):
            device = _Device(self, i)
            await loop.create_datagram_endpoint(
                lambda d=device: d,  # type: ignore[misc]
                local_addr=("127.0.0.1", 0),
            )
            self.devices.append(device)

    async def stop(self) -> None:
        for device in self.devices:
            if device.transport is not None:
                device.transport.close()

    def _send(self, i: int, data: bytes) -> None:
        transport = self.devices[i].transport
        assert transport is not None
        transport.sendto(data, self.server)

    def _key(self, i: int, data: bytes) -> object:
        return i, data[2:4]  # the device and the message ID its ACK carries

    def _notification(self, i: int) -> bytes | None:
        data = self.fleet.notification(i)
        if data is None:
            return None
        return bytes((data[0] & 0xCF,)) + data[1:]  # CON: acknowledged when processed

    def received(self, i: int, data: bytes) -> None:
        if len(data) >= 4 and (data[0] >> 4) & 3 == 2 and data[1] == 0:  # an empty ACK
            self._notified((i, data[2:4]))
            return
        was = self.fleet.is_registered(i)
        answer = self.fleet.receive(i, data)
        if answer is not None:
            self._send(i, answer)
        if not was and self.fleet.is_registered(i):
            self._registered(i)
