"""An in-memory world for the server core: a virtual clock and hand-made LwM2M clients.

Clients are plain CoAP endpoints that send requests built by hand (Uri-Path, Uri-Query and
link-format payloads as a device would) and answer the server's requests with a handler, so
the server is tested against the wire format, not against our own client code.  Other
``test_server_*`` modules import :class:`World` from here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    ObservationKey,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec import default_codecs
from lwm2m.codec.base import ContentFormat
from lwm2m.model import builtin_models
from lwm2m.server import (
    CoreEvent,
    RequestAborted,
    RequestCompleted,
    ServerConfig,
    ServerCore,
)

EPOCH = 1_700_000_000.0
SERVER = ("server", 5683)
OBJECTS = b'</>;rt="oma.lwm2m";ct=112,</1/0>,</3/0>,</4/0>,</5>'
FAST = EndpointConfig(ack_timeout=1.0, ack_random_factor=1.0, max_latency=1.0)

Answer = tuple[Code, Options, bytes]
Handler = Callable[[Message], Answer]


def not_found(_: Message) -> Answer:
    return Code.NOT_FOUND, Options(), b""


@dataclass
class Client:
    """A device's CoAP endpoint; ``handler`` answers what the server asks."""

    world: World
    peer: Hashable
    endpoint: Endpoint
    handler: Handler = not_found
    requests: list[Message] = field(default_factory=list)  # what the server sent us
    responses: dict[int, Message] = field(default_factory=dict)
    failures: dict[int, RequestFailed] = field(default_factory=dict)
    listening: bool = True  # False: datagrams to this client are lost (a sleeping device)
    location: tuple[str, ...] = ()
    observers: list[ObservationKey] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def send(
        self,
        code: Code,
        path: Sequence[str],
        query: Sequence[str] = (),
        payload: bytes = b"",
        content_format: int | None = None,
        **options: object,
    ) -> int:
        opts = Options.build(
            uri_path=tuple(path),
            uri_query=tuple(query),
            content_format=content_format,
            **options,  # type: ignore[arg-type]
        )
        handle = self.endpoint.send_request(
            SERVER, code, options=opts, payload=payload, now=self.world.now
        )
        self.world.flush()
        return handle

    def ask(self, *args: object, **kwargs: object) -> Message:
        """Send a request and run the world until its response is in."""
        handle = self.send(*args, **kwargs)  # type: ignore[arg-type]
        self.world.run_until(lambda: handle in self.responses or handle in self.failures)
        assert handle in self.responses, f"request failed: {self.failures.get(handle)}"
        return self.responses[handle]

    def register(
        self,
        endpoint: str,
        query: Sequence[str] = ("lt=300", "lwm2m=1.1", "b=U"),
        payload: bytes = OBJECTS,
    ) -> Message:
        response = self.ask(
            Code.POST, ("rd",), (f"ep={endpoint}", *query), payload, ContentFormat.LINK
        )
        if response.code is Code.CREATED:
            self.location = response.options.location_path
        return response

    def update(self, query: Sequence[str] = (), payload: bytes = b"") -> Message:
        cf = ContentFormat.LINK if payload else None
        return self.ask(Code.POST, self.location, query, payload, cf)

    def deregister(self) -> Message:
        return self.ask(Code.DELETE, self.location)

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, ResponseReceived):
            self.responses[event.handle] = event.response
        elif isinstance(event, RequestFailed):
            self.failures[event.handle] = event
        elif isinstance(event, RequestReceived):
            self.requests.append(event.request)
            code, options, payload = self.handler(event.request)
            self.answer(event.exchange, code, options, payload)

    def answer(self, exchange: ExchangeKey, code: Code, options: Options, payload: bytes) -> None:
        key = self.endpoint.respond(
            exchange, code, options=options, payload=payload, now=self.world.now
        )
        if key is not None:
            self.observers.append(key)

    def notify(
        self, payload: bytes, cf: int, *, observer: int = -1, code: Code = Code.CONTENT
    ) -> None:
        self.endpoint.notify(
            self.observers[observer],
            code,
            options=Options.build(content_format=cf),
            payload=payload,
            now=self.world.now,
        )
        self.world.run(0.1)


class World:
    """The server core and its clients on a lossless network with a virtual clock."""

    def __init__(self, config: ServerConfig | None = None, *, latency: float = 0.01) -> None:
        self.now = 0.0
        self.latency = latency
        self.rng = random.Random(1)
        self.config = config or ServerConfig(coap=FAST, awake_window=10.0, expiry_grace=5.0)
        self.core = ServerCore(self.config, random.Random(2), lambda: EPOCH + self.now)
        self.models = builtin_models()
        self.codecs = default_codecs(lambda: EPOCH + self.now)
        self.clients: dict[Hashable, Client] = {}
        self.events: list[CoreEvent] = []
        self.outcomes: dict[int, RequestCompleted | RequestAborted] = {}
        self._flight: list[tuple[float, bytes, Hashable, Hashable]] = []

    def client(self, peer: Hashable = ("10.0.0.1", 40000), handler: Handler = not_found) -> Client:
        endpoint = Endpoint(FAST, random.Random(self.rng.getrandbits(32)))
        client = Client(self, peer, endpoint, handler)
        self.clients[peer] = client
        return client

    def of_type(self, kind: type) -> list:  # type: ignore[type-arg]
        self.flush()
        return [event for event in self.events if isinstance(event, kind)]

    def flush(self) -> None:
        """Collect what everyone wants to send and every event, until quiet."""
        busy = True
        while busy:
            busy = False
            for data, peer in self.core.datagrams_to_send():
                busy = True
                self._flight.append((self.now + self.latency, data, SERVER, peer))
            while (event := self.core.next_event()) is not None:
                busy = True
                self.events.append(event)
                if isinstance(event, RequestCompleted | RequestAborted):
                    self.outcomes[event.request_id] = event
            for client in list(self.clients.values()):
                for data, _ in client.endpoint.datagrams_to_send():
                    busy = True
                    self._flight.append((self.now + self.latency, data, client.peer, SERVER))
                while (event := client.endpoint.next_event()) is not None:
                    busy = True
                    client.on_event(event)

    def _next_time(self) -> float | None:
        times = [t for t, *_ in self._flight]
        times += [t for t in (self.core.get_timer(),) if t is not None]
        for client in self.clients.values():
            timer = client.endpoint.get_timer()
            if timer is not None:
                times.append(timer)
        return min(times) if times else None

    def step(self) -> bool:
        self.flush()
        when = self._next_time()
        if when is None:
            return False
        self.now = max(self.now, when)
        due = [f for f in self._flight if f[0] <= self.now]
        self._flight = [f for f in self._flight if f[0] > self.now]
        for _, data, source, destination in due:
            if destination == SERVER:
                self.core.receive(data, source, self.now)
            else:
                client = self.clients.get(destination)
                if client is not None and client.listening:
                    client.endpoint.receive(data, source, self.now)
        timer = self.core.get_timer()
        if timer is not None and timer <= self.now:
            self.core.handle_timer(self.now)
        for client in self.clients.values():
            timer = client.endpoint.get_timer()
            if timer is not None and timer <= self.now:
                client.endpoint.handle_timer(self.now)
        self.flush()
        return True

    def run(self, seconds: float) -> None:
        """Advance the clock by ``seconds``, processing everything due on the way."""
        until = self.now + seconds
        while True:
            self.flush()
            when = self._next_time()
            if when is None or when > until:
                self.now = until
                return
            self.step()

    def run_until(self, predicate: Callable[[], bool], limit: float = 1000.0) -> None:
        deadline = self.now + limit
        while not predicate():
            if self.now > deadline or not self.step():
                raise AssertionError(f"condition not reached by t={self.now}")

    def outcome(self, request_id: int, limit: float = 1000.0) -> RequestCompleted | RequestAborted:
        self.flush()
        self.run_until(lambda: request_id in self.outcomes, limit)
        return self.outcomes[request_id]


def content(payload: bytes, cf: int) -> Handler:
    """A handler answering every request with 2.05 and this body."""

    def handler(_: Message) -> Answer:
        return Code.CONTENT, Options.build(content_format=cf), payload

    return handler


# -- the harness itself ----------------------------------------------------------------------


def test_register_round_trip_through_the_world() -> None:
    world = World()
    client = world.client()
    response = client.register("urn:imei:490154203237518")
    assert response.code is Code.CREATED
    assert response.options.location_path[0] == "rd"
    assert world.core.registration("urn:imei:490154203237518") is not None


def test_run_advances_the_clock_even_when_idle() -> None:
    world = World()
    world.run(12.5)
    assert world.now == 12.5
