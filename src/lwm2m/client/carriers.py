"""The engine's datagrams sorted to the adapters of the transports that carry them.

A client holding several transports has one engine and one adapter per transport (the UDP
and DTLS sockets, :class:`~lwm2m.transport.modem.nidd.NiddTransport`,
:class:`~lwm2m.transport.modem.sms.SmsTransport`).  Each adapter drives a
:class:`CarrierPort`, the engine as that transport sees it: it hands the engine what arrived
(``reachable`` for carriers that only deliver to a device the network can reach, so a
sleeping client wakes) and takes only the datagrams for its peers, which :class:`CarrierSet`
sorts by the engine's :class:`~lwm2m.client.wire.ClientWire`.  The set runs the engine's
timer; an adapter with datagrams waiting is pumped at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lwm2m.client.engine import ClientEngine
from lwm2m.client.wire import ClientWire
from lwm2m.coap.events import Peer
from lwm2m.transport._timer import CoreTimer

Datagrams = list[tuple[bytes, Peer]]


class CarrierPort:
    """The engine as one carrier's adapter sees it (module docstring).  Its timer is the
    set's: an adapter asks for its timer after every pump, which re-arms the set's on the
    engine's next deadline, and arms none itself."""

    __slots__ = ("carriers", "index", "reachable")

    def __init__(self, carriers: CarrierSet, index: int, *, reachable: bool) -> None:
        self.carriers = carriers
        self.index = index
        self.reachable = reachable

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self.carriers.engine.receive(data, peer, now, reachable=self.reachable)

    def datagrams_to_send(self) -> Datagrams:
        return self.carriers.take(self.index)

    def get_timer(self) -> float | None:
        self.carriers.arm()
        return None

    def handle_timer(self, now: float) -> None:
        """The set runs the engine's timer."""


class CarrierSet:
    """The ports of ``wire``'s carriers over ``engine`` (module docstring)."""

    def __init__(
        self,
        engine: ClientEngine,
        wire: ClientWire,
        drain: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self.engine = engine
        self._wire = wire
        self._drain = drain
        count = len(wire.carriers)
        self._out: list[Datagrams] = [[] for _ in range(count)]
        self._pumps: list[Callable[[], None] | None] = [None] * count
        self._kicking = False
        self._timer = CoreTimer(asyncio.get_running_loop(), engine, clock, self.pump)

    def port(
        self, transport: str, *, reachable: bool, kind: type[CarrierPort] = CarrierPort
    ) -> CarrierPort:
        """The port (of ``kind``) of the carrier of ``transport``, a letter of the wire's."""
        for index, carrier in enumerate(self._wire.carriers):
            if carrier.transport == transport:
                return kind(self, index, reachable=reachable)
        raise KeyError(transport)

    def attach(self, port: CarrierPort, pump: Callable[[], None]) -> None:
        """``pump`` sends what waits for ``port``'s carrier (its adapter's pump)."""
        self._pumps[port.index] = pump

    def take(self, index: int) -> Datagrams:
        """The engine's datagrams for carrier ``index``; the others' are kept for them and
        their adapters pumped now."""
        out = self._sort()
        mine, out[index] = out[index], []
        if not self._kicking:
            self._kicking = True
            try:
                for other, waiting in enumerate(out):
                    pump = self._pumps[other]
                    if waiting and pump is not None:
                        pump()
            finally:
                self._kicking = False
        return mine

    def _sort(self) -> list[Datagrams]:
        out = self._out
        carrier = self._wire.carrier
        for datagram in self.engine.datagrams_to_send():
            out[carrier(datagram[1])].append(datagram)
        return out

    def pump(self) -> None:
        """Hand every adapter its datagrams, drain the engine's events, re-arm its timer."""
        self._drain()
        for index, waiting in enumerate(self._sort()):
            pump = self._pumps[index]
            if waiting and pump is not None:
                pump()
        self.arm()

    def arm(self) -> None:
        self._timer.arm(self.engine.get_timer())

    def close(self) -> None:
        self._timer.disarm()
        self._pumps = [None] * len(self._pumps)
