"""Endpoints joined in memory on a virtual clock, over a lossy, duplicating, reordering network.

Everything random comes from one seeded ``random.Random``, so a failing seed replays exactly.
Each node's events are collected in ``node.events`` and passed to its ``handler`` (which may
call back into the endpoint, e.g. to respond); the network flushes after every step.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import Event

E = TypeVar("E")
Handler = Callable[["Node", Event], None]
#: Sees every datagram put on the wire; returns the datagrams to deliver instead (or None).
Intercept = Callable[[bytes, Hashable, Hashable], list[bytes] | None]


@dataclass
class Node:
    network: Network
    address: Hashable
    endpoint: Endpoint
    handler: Handler | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def now(self) -> float:
        return self.network.now

    def of_type(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


class Network:
    def __init__(
        self,
        seed: int = 0,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        latency: float = 0.05,
    ) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder  # extra delay up to this many seconds, drawn per datagram
        self.latency = latency
        self.intercept: Intercept | None = None
        self.nodes: dict[Hashable, Node] = {}
        self.sent: list[tuple[float, Hashable, Hashable, bytes]] = []  # wire log
        self._flight: list[tuple[float, int, bytes, Hashable, Hashable]] = []
        self._seq = 0

    def add(
        self,
        address: Hashable,
        config: EndpointConfig | None = None,
        handler: Handler | None = None,
    ) -> Node:
        endpoint = Endpoint(config or EndpointConfig(), random.Random(self.rng.getrandbits(64)))
        node = Node(self, address, endpoint, handler)
        self.nodes[address] = node
        return node

    def inject(self, data: bytes, source: Hashable, destination: Hashable) -> None:
        """Deliver raw bytes now, as if ``source`` had sent them."""
        self.nodes[destination].endpoint.receive(data, source, self.now)
        self.flush()

    def flush(self) -> None:
        """Move queued datagrams onto the wire and events to handlers, until quiet."""
        busy = True
        while busy:
            busy = False
            for node in list(self.nodes.values()):
                for data, peer in node.endpoint.datagrams_to_send():
                    busy = True
                    self._put(data, node.address, peer)
                while (event := node.endpoint.next_event()) is not None:
                    busy = True
                    node.events.append(event)
                    if node.handler is not None:
                        node.handler(node, event)

    def _put(self, data: bytes, source: Hashable, destination: Hashable) -> None:
        self.sent.append((self.now, source, destination, data))
        datagrams = [data] if self.intercept is None else self.intercept(data, source, destination)
        for datagram in datagrams if datagrams is not None else [data]:
            copies = 2 if self.rng.random() < self.duplicate else 1
            for _ in range(copies):
                if self.rng.random() < self.loss:
                    continue
                delay = self.latency + self.rng.uniform(0, self.reorder)
                self._seq += 1
                heapq.heappush(
                    self._flight, (self.now + delay, self._seq, datagram, source, destination)
                )

    def next_time(self) -> float | None:
        times = [node.endpoint.get_timer() for node in self.nodes.values()]
        if self._flight:
            times.append(self._flight[0][0])
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def step(self) -> bool:
        """Advance to the next delivery or timer; False when nothing is left to happen."""
        self.flush()
        when = self.next_time()
        if when is None:
            return False
        self.now = max(self.now, when)
        while self._flight and self._flight[0][0] <= self.now:
            _, _, data, source, destination = heapq.heappop(self._flight)
            node = self.nodes.get(destination)
            if node is not None:
                node.endpoint.receive(data, source, self.now)
        for node in self.nodes.values():
            timer = node.endpoint.get_timer()
            if timer is not None and timer <= self.now:
                node.endpoint.handle_timer(self.now)
        self.flush()
        return True

    def run(self, until: float | None = None, max_steps: int = 1_000_000) -> None:
        """Run until nothing is pending (all timers drained) or the clock passes ``until``."""
        for _ in range(max_steps):
            self.flush()
            when = self.next_time()
            if when is None or (until is not None and when > until):
                if until is not None:
                    self.now = max(self.now, until)
                return
            self.step()
        raise AssertionError("network did not settle")

    def run_until(self, predicate: Callable[[], bool], limit: float = 10_000.0) -> None:
        while not predicate():
            if self.now > limit or not self.step():
                raise AssertionError(f"condition not reached by t={self.now}")
