"""A ClientEngine and hand-made LwM2M servers joined in memory, on a virtual clock.

Each :class:`FakeServer` is a bare CoAP endpoint that answers the registration interface
(Register 2.01, Update 2.04, De-register 2.02, Send 2.04, or what a test sets) and lets a test
send hand-made DM requests and collect their responses and notifications.  Nothing is real
but the client engine under test.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from lwm2m.client.engine import ClientConfig, ClientEngine, ClientEvent
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    NotificationReceived,
    ObservationEnded,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.model import Path

T0 = 1_700_000_000.0
CLIENT = ("10.0.0.2", 56830)
EP = "urn:imei:490154203237518"
COAP = EndpointConfig()  # RFC 7252 defaults: MAX_TRANSMIT_WAIT 93 s
DEFAULT_CONFIG = ClientConfig()


def server_address(ssid: int) -> tuple[str, int]:
    return (f"10.0.0.{100 + ssid}", 5683)


@dataclass
class Received:
    at: float
    message: Message


@dataclass
class FakeServer:
    address: Hashable
    endpoint: Endpoint
    now: Callable[[], float]
    reachable: bool = True
    register_code: Code = Code.CREATED
    update_code: Code = Code.CHANGED
    location: tuple[str, ...] = ("rd", "5a3f")
    requests: list[Received] = field(default_factory=list)
    responses: dict[int, Message] = field(default_factory=dict)
    failures: dict[int, object] = field(default_factory=dict)
    notifications: dict[int, list[Received]] = field(default_factory=dict)
    ended: dict[int, Message | None] = field(default_factory=dict)

    def on_request(self, event: RequestReceived) -> None:
        request = event.request
        self.requests.append(Received(self.now(), request))
        head = request.options.uri_path[:1]
        if head == ("rd",) and request.code is Code.POST and len(request.options.uri_path) == 1:
            code = self.register_code
            options = Options.build(location_path=self.location if code.is_success else ())
            self.endpoint.respond(event.exchange, code, options=options, now=self.now())
        elif head == ("rd",) and request.code is Code.POST:
            self.endpoint.respond(event.exchange, self.update_code, now=self.now())
        elif head == ("rd",) and request.code is Code.DELETE:
            self.endpoint.respond(event.exchange, Code.DELETED, now=self.now())
        elif head == ("dp",):
            self.endpoint.respond(event.exchange, Code.CHANGED, now=self.now())
        else:
            self.endpoint.respond(event.exchange, Code.NOT_FOUND, now=self.now())

    def of(self, path: str, code: Code | None = None) -> list[Received]:
        """Requests received at ``path`` (``rd``: Register, ``rd/5a3f``: Update or De-register)."""
        return [
            r
            for r in self.requests
            if "/".join(r.message.options.uri_path) == path
            and (code is None or r.message.code is code)
        ]

    def request(
        self,
        code: Code,
        path: str = "",
        *,
        payload: bytes = b"",
        confirmable: bool = True,
        **options: object,
    ) -> int:
        segments = tuple(s for s in path.split("/") if s)
        opts = Options.build(uri_path=segments, **options)  # type: ignore[arg-type]
        return self.endpoint.send_request(
            CLIENT, code, options=opts, payload=payload, confirmable=confirmable, now=self.now()
        )


class Harness:
    """The engine under test, its servers and the wire between them (latency 50 ms)."""

    def __init__(
        self,
        tree: ObjectTree | None = None,
        *,
        ssids: tuple[int, ...] = (1,),
        config: ClientConfig = DEFAULT_CONFIG,
        lifetime: int = 300,
        binding: str = "U",
        seed: int = 1,
    ) -> None:
        self.now = T0
        self.rng = random.Random(seed)
        self.tree = tree or telekom_device(
            EP,
            seed=seed,
            now=T0,
            servers=[
                ServerAccount(
                    ssid,
                    "coap://{}:{}".format(*server_address(ssid)),
                    lifetime=lifetime,
                    default_pmin=0,
                    default_pmax=0,
                    binding=binding,
                )
                for ssid in ssids
            ],
        )
        self.engine = ClientEngine(self.tree, EP, rng=random.Random(seed), config=config, coap=COAP)
        self.servers = {
            ssid: FakeServer(
                server_address(ssid),
                Endpoint(COAP, random.Random(seed + ssid)),
                lambda: self.now,
            )
            for ssid in ssids
        }
        self.events: list[ClientEvent] = []
        self.timeline: list[tuple[float, ClientEvent]] = []
        self.wire: list[tuple[float, Hashable, Hashable, bytes]] = []
        self._flight: list[tuple[float, int, bytes, Hashable, Hashable]] = []
        self._seq = 0

    @property
    def server(self) -> FakeServer:
        return next(iter(self.servers.values()))

    def start(self) -> None:
        self.engine.start(self.now)
        self.run(until=self.now + 1)

    def _put(self, data: bytes, source: Hashable, destination: Hashable) -> None:
        self.wire.append((self.now, source, destination, data))
        self._seq += 1
        heapq.heappush(self._flight, (self.now + 0.05, self._seq, data, source, destination))

    def flush(self) -> None:
        busy = True
        while busy:
            busy = False
            for data, peer in self.engine.datagrams_to_send():
                busy = True
                self._put(data, CLIENT, peer)
            while (event := self.engine.next_event()) is not None:
                busy = True
                self.events.append(event)
                self.timeline.append((self.now, event))
            for server in self.servers.values():
                for data, peer in server.endpoint.datagrams_to_send():
                    busy = True
                    self._put(data, server.address, peer)
                while (ev := server.endpoint.next_event()) is not None:
                    busy = True
                    if isinstance(ev, RequestReceived):
                        server.on_request(ev)
                    elif isinstance(ev, ResponseReceived):
                        server.responses[ev.handle] = ev.response
                    elif isinstance(ev, NotificationReceived):
                        server.notifications.setdefault(ev.handle, []).append(
                            Received(self.now, ev.notification)
                        )
                    elif isinstance(ev, ObservationEnded):
                        server.ended[ev.handle] = ev.response
                    elif isinstance(ev, RequestFailed):
                        server.failures[ev.handle] = ev.reason

    def _next_time(self) -> float | None:
        times = [self.engine.get_timer()]
        times += [s.endpoint.get_timer() for s in self.servers.values()]
        if self._flight:
            times.append(self._flight[0][0])
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def run(self, until: float) -> None:
        """Advance the clock to ``until``, delivering datagrams and firing timers on the way."""
        while True:
            self.flush()
            when = self._next_time()
            if when is None or when > until:
                self.now = until
                self.engine.handle_timer(self.now)
                self.flush()
                return
            self.now = max(self.now, when)
            while self._flight and self._flight[0][0] <= self.now:
                _, _, data, source, destination = heapq.heappop(self._flight)
                if destination == CLIENT:
                    self.engine.receive(data, source, self.now)
                else:
                    server = next(s for s in self.servers.values() if s.address == destination)
                    if server.reachable:
                        server.endpoint.receive(data, source, self.now)
            self.engine.handle_timer(self.now)
            for server in self.servers.values():
                timer = server.endpoint.get_timer()
                if timer is not None and timer <= self.now:
                    server.endpoint.handle_timer(self.now)

    def advance(self, seconds: float) -> None:
        self.run(self.now + seconds)

    def ask(self, code: Code, path: str = "", ssid: int | None = None, **kw: object) -> Message:
        """A hand-made server request; returns the client's response."""
        server = self.servers[ssid] if ssid is not None else self.server
        handle = server.request(code, path, **kw)  # type: ignore[arg-type]
        self.run(until=self.now + 5)
        assert handle in server.responses, f"no response to {code} {path}"
        return server.responses[handle]

    def of_type(self, kind: type) -> list[object]:
        return [e for e in self.events if isinstance(e, kind)]


def P(text: str) -> Path:
    return Path.parse(text)
