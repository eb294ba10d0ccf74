"""One CoAP endpoint per transport under the client engine, behind one :class:`CoapEndpoint`.

A client holding several transports (UDP/DTLS, Non-IP data, SMS) needs their CoAP
transmission parameters apart: Non-IP blocks fit the network's packet limit and its uplink
keeps the APN rate control, SMS disables retransmission (the SMSC stores and forwards).  So
each transport has its own endpoint, chosen by the peer (a :class:`Carrier` owns the peers of
its kind), and the engine sees one handle space: carrier ``i``'s handles are offset by
``i * HANDLE_SPAN``.  Sans-I/O like the endpoints under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from lwm2m.client.context import CoapEndpoint
from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.events import Event, ExchangeKey, ObservationKey, Peer
from lwm2m.coap.options import EMPTY_OPTIONS, Options

HANDLE_SPAN = 1 << 48
"""Handles one endpoint may give out before meeting the next carrier's."""


@dataclass(frozen=True, slots=True)
class Carrier:
    """A transport's letter, the peers it carries and its endpoint."""

    transport: str
    owns: Callable[[Peer], bool]
    endpoint: CoapEndpoint


class ClientWire:
    """The carriers' endpoints as one (module docstring); the first is the default, for any
    peer no other carrier owns, and its ``config`` is the engine's."""

    def __init__(self, carriers: Sequence[Carrier]) -> None:
        if not carriers:
            raise ValueError("a wire needs a carrier")
        self.carriers = tuple(carriers)
        self._next = 0  # the carrier whose events are read next (round robin)

    @property
    def config(self) -> EndpointConfig:
        return self.carriers[0].endpoint.config

    def carrier(self, peer: Peer) -> int:
        """The index of the carrier of ``peer``."""
        for index, carrier in enumerate(self.carriers[1:], 1):
            if carrier.owns(peer):
                return index
        return 0

    def _of(self, peer: Peer) -> CoapEndpoint:
        return self.carriers[self.carrier(peer)].endpoint

    def _of_handle(self, handle: int) -> tuple[CoapEndpoint, int]:
        index = handle // HANDLE_SPAN
        return self.carriers[index].endpoint, handle - index * HANDLE_SPAN

    # -- driving -------------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._of(peer).receive(data, peer, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out: list[tuple[bytes, Peer]] = []
        for carrier in self.carriers:
            out += carrier.endpoint.datagrams_to_send()
        return out

    def get_timer(self) -> float | None:
        timers = [carrier.endpoint.get_timer() for carrier in self.carriers]
        return min((timer for timer in timers if timer is not None), default=None)

    def handle_timer(self, now: float) -> None:
        for carrier in self.carriers:
            carrier.endpoint.handle_timer(now)

    def next_event(self) -> Event | None:
        count = len(self.carriers)
        for step in range(count):
            index = (self._next + step) % count
            event = self.carriers[index].endpoint.next_event()
            if event is not None:
                self._next = (index + 1) % count
                handle: int | None = getattr(event, "handle", None)
                if handle is not None and index:
                    event = replace(event, handle=handle + index * HANDLE_SPAN)  # type: ignore[arg-type]
                return event
        return None

    # -- exchanges -----------------------------------------------------------------------------

    def send_request(
        self, peer: Peer, code: Code, *, now: float, options: Options, payload: bytes
    ) -> int:
        index = self.carrier(peer)
        endpoint = self.carriers[index].endpoint
        handle = endpoint.send_request(peer, code, now=now, options=options, payload=payload)
        return handle + index * HANDLE_SPAN

    def cancel(self, handle: int, now: float) -> None:
        endpoint, own = self._of_handle(handle)
        endpoint.cancel(own, now)

    def respond(
        self, exchange: ExchangeKey, code: Code, *, now: float, options: Options, payload: bytes
    ) -> ObservationKey | None:
        endpoint = self._of(exchange.peer)
        return endpoint.respond(exchange, code, now=now, options=options, payload=payload)

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = False,
    ) -> None:
        self._of(observation.peer).notify(
            observation, code, now=now, options=options, payload=payload, confirmable=confirmable
        )
