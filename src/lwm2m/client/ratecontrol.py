"""APN rate control on the device side: notifications held and merged rather than refused.

Over NIDD the network counts every uplink message against the APN's rate control (TS 24.301,
read with ``AT+CGAPNRC``) and refuses the ones beyond it.  A refused CON notification would
only be retransmitted into the same refusal, and a refused NON one is lost.  So the client
spends its budget itself: :class:`RateControlledEndpoint` sits between the engine and its CoAP
endpoint, counts every datagram that leaves, and when the window is used up keeps each
observation's *latest* notification (the newer value replaces the older: the server wants the
current state, not a backlog) until the window has room again.  Nothing is dropped: a held
notification goes out when the window allows, or with its observation's end.

Requests and responses are never held (an Update or the answer to a server's request cannot
wait for hours without failing); they spend the same budget, so notifications yield to them.
Sans-I/O: ``now`` comes with every call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lwm2m.client.context import CoapEndpoint
from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import Event, ExchangeKey, ObservationCancelled, ObservationKey, Peer
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.transport.modem.commands import ApnRateControl, RateUnit

UNIT_SECONDS = {
    RateUnit.MINUTE: 60.0,
    RateUnit.HOUR: 3600.0,
    RateUnit.DAY: 86_400.0,
    RateUnit.WEEK: 604_800.0,
}


@dataclass(frozen=True, slots=True)
class UplinkLimit:
    """At most ``messages`` uplink messages in any ``window`` seconds (0: none at all)."""

    messages: int
    window: float

    def __post_init__(self) -> None:
        if self.messages < 0 or self.window <= 0:
            raise ValueError("an uplink limit needs messages >= 0 and a positive window")

    @classmethod
    def of(cls, control: ApnRateControl) -> UplinkLimit | None:
        """The limit ``AT+CGAPNRC`` reported; None when it reported none (unrestricted)."""
        window = UNIT_SECONDS.get(control.unit)
        if window is None or control.max_uplink is None:
            return None
        return cls(control.max_uplink, window)


@dataclass(slots=True)
class _Held:
    code: Code
    options: Options
    payload: bytes
    confirmable: bool


class RateControlledEndpoint:
    """A :class:`~lwm2m.client.context.CoapEndpoint` that keeps ``limit`` (module docstring)."""

    def __init__(self, inner: CoapEndpoint, limit: UplinkLimit | None = None) -> None:
        self.inner = inner
        self.limit = limit
        self._sent: deque[float] = deque()
        self._queued = 0  # notifications handed to the endpoint since the last collection
        self._held: dict[ObservationKey, _Held] = {}
        self._now = 0.0
        self.merged = 0
        """Notifications replaced by a newer one of their observation while held."""

    @property
    def config(self) -> EndpointConfig:
        return self.inner.config

    @property
    def held(self) -> int:
        """Notifications waiting for the window (one per observation at most)."""
        return len(self._held)

    def set_limit(self, limit: UplinkLimit | None, now: float) -> None:
        """The network reported another limit (or none): held notifications go if they may."""
        self.limit = limit
        self._flush(now)

    # -- the window ----------------------------------------------------------------------------

    def _used(self, now: float) -> int:
        limit = self.limit
        if limit is None:
            self._sent.clear()
            return self._queued
        while self._sent and self._sent[0] <= now - limit.window:
            self._sent.popleft()
        return len(self._sent) + self._queued

    def _room(self, now: float) -> bool:
        return self.limit is None or self._used(now) < self.limit.messages

    def _next_slot(self) -> float | None:
        """When the oldest counted uplink leaves the window (None: not limited)."""
        if self.limit is None or not self._sent:
            return None
        return self._sent[0] + self.limit.window

    def _flush(self, now: float) -> None:
        while self._held and self._room(now):
            observation = next(iter(self._held))
            held = self._held.pop(observation)
            self._pass(observation, held, now)

    def _pass(self, observation: ObservationKey, held: _Held, now: float) -> None:
        try:
            self.inner.notify(
                observation,
                held.code,
                now=now,
                options=held.options,
                payload=held.payload,
                confirmable=held.confirmable,
            )
        except StaleHandleError:
            return  # the observation ended while its notification waited
        self._queued += 1

    # -- CoapEndpoint --------------------------------------------------------------------------

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
        self._now = now
        held = self._held.get(observation)
        if held is None and not self._held and self._room(now):
            self.inner.notify(
                observation,
                code,
                now=now,
                options=options,
                payload=payload,
                confirmable=confirmable,
            )
            self._queued += 1
            return
        if held is not None:  # it keeps its place in the line, with the newest value
            self.merged += 1
            confirmable = confirmable or held.confirmable
        self._held[observation] = _Held(code, options, payload, confirmable)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out = self.inner.datagrams_to_send()
        if self.limit is not None:
            self._sent.extend(self._now for _ in out)
        self._queued = 0
        return out

    def get_timer(self) -> float | None:
        times = [self.inner.get_timer()]
        if self._held:
            times.append(self._next_slot())
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        self._now = now
        self.inner.handle_timer(now)
        self._flush(now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._now = now
        self.inner.receive(data, peer, now)

    def next_event(self) -> Event | None:
        event = self.inner.next_event()
        if isinstance(event, ObservationCancelled):
            self._held.pop(event.observation, None)
        return event

    def send_request(
        self, peer: Peer, code: Code, *, now: float, options: Options, payload: bytes
    ) -> int:
        self._now = now
        return self.inner.send_request(peer, code, now=now, options=options, payload=payload)

    def cancel(self, handle: int, now: float) -> None:
        self._now = now
        self.inner.cancel(handle, now)

    def respond(
        self, exchange: ExchangeKey, code: Code, *, now: float, options: Options, payload: bytes
    ) -> ObservationKey | None:
        self._now = now
        return self.inner.respond(exchange, code, now=now, options=options, payload=payload)
