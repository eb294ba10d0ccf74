"""Our endpoint against aiocoap (an independent implementation) over real loopback UDP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiocoap
import pytest
from aiocoap import resource

from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    Event,
    NotificationReceived,
    ObservationCancelled,
    ObservationEnded,
    ObservationKey,
    RequestReceived,
)
from lwm2m.coap.options import Options
from lwm2m.transport.udp import UdpEndpoint, open_udp_endpoint

pytestmark = pytest.mark.timeout(30)

BIG = random.Random(1).randbytes(20_000)
CONFIG = EndpointConfig(ack_timeout=0.5, max_latency=1.0, preferred_block_szx=6)


class OurServer:
    """Resources: /small (GET), /big (GET Block2), /store (PUT Block1), /obs (Observe)."""

    def __init__(self) -> None:
        self.stored = b""
        self.observers: list[ObservationKey] = []
        self.cancelled: list[ObservationCancelled] = []
        self.udp: UdpEndpoint | None = None

    def __call__(self, event: Event) -> None:
        assert self.udp is not None
        endpoint, now = self.udp.endpoint, self.udp.now()
        if isinstance(event, ObservationCancelled):
            self.cancelled.append(event)
            return
        if not isinstance(event, RequestReceived):
            return
        path = event.request.options.uri_path
        if path == ("store",) and event.request.code is Code.PUT:
            self.stored = event.request.payload
            endpoint.respond(event.exchange, Code.CHANGED, now=now)
        elif path == ("big",):
            endpoint.respond(event.exchange, Code.CONTENT, payload=BIG, now=now)
        elif path == ("obs",):
            key = endpoint.respond(event.exchange, Code.CONTENT, payload=b"0", now=now)
            if key is not None:
                self.observers.append(key)
        elif path == ("small",):
            endpoint.respond(event.exchange, Code.CONTENT, payload=b"hello", now=now)
        else:
            endpoint.respond(event.exchange, Code.NOT_FOUND, now=now)


@pytest.fixture
async def our_server() -> AsyncIterator[tuple[OurServer, str]]:
    app = OurServer()
    udp = await open_udp_endpoint(Endpoint(CONFIG, random.Random(7)), on_event=app)
    app.udp = udp
    host, port = udp.local_address
    yield app, f"coap://{host}:{port}"
    udp.close()


@pytest.fixture
async def aiocoap_client() -> AsyncIterator[aiocoap.Context]:
    context = await aiocoap.Context.create_client_context()
    yield context
    await context.shutdown()


async def test_aiocoap_client_get(
    our_server: tuple[OurServer, str], aiocoap_client: aiocoap.Context
) -> None:
    _, base = our_server
    request = aiocoap.Message(code=aiocoap.GET, uri=f"{base}/small")
    response = await asyncio.wait_for(aiocoap_client.request(request).response, 10)
    assert response.code == aiocoap.CONTENT and response.payload == b"hello"
    missing = aiocoap.Message(code=aiocoap.GET, uri=f"{base}/nothing")
    response = await asyncio.wait_for(aiocoap_client.request(missing).response, 10)
    assert response.code == aiocoap.NOT_FOUND


async def test_aiocoap_client_put_block1(
    our_server: tuple[OurServer, str], aiocoap_client: aiocoap.Context
) -> None:
    app, base = our_server
    request = aiocoap.Message(code=aiocoap.PUT, uri=f"{base}/store", payload=BIG)
    response = await asyncio.wait_for(aiocoap_client.request(request).response, 10)
    assert response.code == aiocoap.CHANGED
    assert app.stored == BIG


async def test_aiocoap_client_get_block2(
    our_server: tuple[OurServer, str], aiocoap_client: aiocoap.Context
) -> None:
    _, base = our_server
    request = aiocoap.Message(code=aiocoap.GET, uri=f"{base}/big")
    response = await asyncio.wait_for(aiocoap_client.request(request).response, 10)
    assert response.code == aiocoap.CONTENT and response.payload == BIG


async def test_aiocoap_client_observes(
    our_server: tuple[OurServer, str], aiocoap_client: aiocoap.Context
) -> None:
    app, base = our_server
    assert app.udp is not None
    request = aiocoap_client.request(
        aiocoap.Message(code=aiocoap.GET, uri=f"{base}/obs", observe=0)
    )
    first = await asyncio.wait_for(request.response, 10)
    assert first.payload == b"0" and first.opt.observe is not None
    (observer,) = app.observers
    received = []
    notifications = aiter(request.observation)
    for i in range(1, 4):
        app.udp.endpoint.notify(
            observer, Code.CONTENT, payload=str(i).encode(), now=app.udp.now(), confirmable=i == 2
        )
        app.udp.pump()
        received.append((await asyncio.wait_for(anext(notifications), 10)).payload)
    assert received == [b"1", b"2", b"3"]
    request.observation.cancel()
    # aiocoap forgets the token; our next CON notification is rejected and ends the observation.
    for _ in range(3):
        app.udp.endpoint.notify(
            observer, Code.CONTENT, payload=b"x", now=app.udp.now(), confirmable=True
        )
        app.udp.pump()
        await asyncio.sleep(0.1)
        if app.cancelled:
            break
    assert [event.observation for event in app.cancelled] == [observer]


# -- our client against an aiocoap server ----------------------------------------------------


class Big(resource.Resource):
    def __init__(self) -> None:
        super().__init__()
        self.stored = b""

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=BIG)

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        self.stored = request.payload
        return aiocoap.Message(code=aiocoap.CHANGED)


class Counter(resource.ObservableResource):
    def __init__(self) -> None:
        super().__init__()
        self.value = 0

    def bump(self) -> None:
        self.value += 1
        self.updated_state()

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=str(self.value).encode())


@pytest.fixture
async def aiocoap_server() -> AsyncIterator[tuple[tuple[str, int], Big, Counter]]:
    site = resource.Site()
    big, counter = Big(), Counter()
    site.add_resource(["big"], big)
    site.add_resource(["counter"], counter)
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", 0), transports=["udp6"]
    )
    port = context.request_interfaces[0].token_interface.message_interface._local_port()
    yield ("127.0.0.1", port), big, counter
    await context.shutdown()


@pytest.fixture
async def our_client() -> AsyncIterator[tuple[UdpEndpoint, list[Event]]]:
    events: list[Event] = []
    udp = await open_udp_endpoint(Endpoint(CONFIG, random.Random(8)), on_event=events.append)
    yield udp, events
    udp.close()


async def test_our_client_against_aiocoap_server(
    aiocoap_server: tuple[tuple[str, int], Big, Counter],
    our_client: tuple[UdpEndpoint, list[Event]],
) -> None:
    address, big, _ = aiocoap_server
    udp, _ = our_client
    options = Options.build(uri_path=("big",))
    response = await asyncio.wait_for(udp.request(address, Code.GET, options=options), 10)
    assert response.code is Code.CONTENT and response.payload == BIG
    response = await asyncio.wait_for(
        udp.request(address, Code.PUT, options=options, payload=BIG[::-1]), 10
    )
    assert response.code is Code.CHANGED and big.stored == BIG[::-1]


async def test_our_client_observes_aiocoap_server(
    aiocoap_server: tuple[tuple[str, int], Big, Counter],
    our_client: tuple[UdpEndpoint, list[Event]],
) -> None:
    address, _, counter = aiocoap_server
    udp, events = our_client
    options = Options.build(uri_path=("counter",), observe=0)
    first = await asyncio.wait_for(udp.request(address, Code.GET, options=options), 10)
    assert first.payload == b"0" and first.options.observe is not None
    for _ in range(3):
        counter.bump()
        await asyncio.sleep(0.05)
    for _ in range(100):
        if len([e for e in events if isinstance(e, NotificationReceived)]) >= 3:
            break
        await asyncio.sleep(0.02)
    payloads = [e.notification.payload for e in events if isinstance(e, NotificationReceived)]
    assert payloads == [b"1", b"2", b"3"]
    handle = next(e.handle for e in events if isinstance(e, NotificationReceived))
    udp.endpoint.cancel_observation(handle, udp.now())
    udp.pump()
    for _ in range(100):
        if any(isinstance(e, ObservationEnded) for e in events):
            break
        await asyncio.sleep(0.02)
    ended = [e for e in events if isinstance(e, ObservationEnded)]
    assert len(ended) == 1 and ended[0].response is not None
    assert ended[0].response.options.observe is None
