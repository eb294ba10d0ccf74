"""LwM2MServer over real loopback UDP, driven by aiocoap (an independent CoAP implementation)
sending hand-made Register/Update/De-register requests and answering a server Read."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiocoap
import pytest
from aiocoap import resource

from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.message import Message
from lwm2m.codec.base import ContentFormat
from lwm2m.loadtest.device import Fleet, endpoint_name
from lwm2m.model import SingleResource
from lwm2m.operations import ErrorResponse, NodeResponse
from lwm2m.server import (
    Deregistered,
    LwM2MServer,
    Registered,
    RequestTimeoutError,
    ServerConfig,
    ServerEvent,
    UnknownEndpointError,
    Updated,
)

pytestmark = pytest.mark.timeout(30)

ENDPOINT = "urn:imei:356938035643809"
WAIT = 10.0


class Manufacturer(resource.Resource):
    """/3/0/0 as a 1.0 device answers it: text/plain."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        self.reads += 1
        return aiocoap.Message(payload=b"aiocoap-device", content_format=0)


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    config = ServerConfig(
        host="127.0.0.1",
        coap_port=0,
        coap=EndpointConfig(ack_timeout=0.5, max_retransmit=2, max_latency=1.0),
    )
    server = LwM2MServer(config)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def device() -> AsyncIterator[tuple[aiocoap.Context, Manufacturer]]:
    site = resource.Site()
    manufacturer = Manufacturer()
    site.add_resource(["3", "0", "0"], manufacturer)
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", 0), transports=["udp6"]
    )
    yield context, manufacturer
    await context.shutdown()


async def ask(context: aiocoap.Context, **fields: object) -> aiocoap.Message:
    response: aiocoap.Message = await asyncio.wait_for(
        context.request(aiocoap.Message(**fields)).response, WAIT
    )
    return response


async def test_register_read_update_deregister(
    server: LwM2MServer, device: tuple[aiocoap.Context, Manufacturer]
) -> None:
    context, manufacturer = device
    events: list[ServerEvent] = []
    unsubscribe = server.subscribe(events.append)
    host, port = server.coap_address
    base = f"coap://{host}:{port}"

    registered = await ask(
        context,
        code=aiocoap.POST,
        uri=f"{base}/rd?ep={ENDPOINT}&lt=60&lwm2m=1.0&b=U",
        payload=b'</>;rt="oma.lwm2m",</1/0>,</3/0>',
        content_format=ContentFormat.LINK,
    )
    assert registered.code == aiocoap.CREATED
    location = "/".join(registered.opt.location_path)
    assert location.startswith("rd/")
    reg = server.registrations.get(ENDPOINT)
    assert reg is not None and reg.lwm2m_version == "1.0" and reg.lifetime == 60
    assert reg.address[0] in ("127.0.0.1", "::ffff:127.0.0.1")  # type: ignore[index]

    response = await server.read(ENDPOINT, "/3/0/0", timeout=WAIT)
    assert isinstance(response, NodeResponse)
    assert response.node == SingleResource(0, "aiocoap-device")
    assert manufacturer.reads == 1
    missing = await server.read(ENDPOINT, "/3/0/1", timeout=WAIT)
    assert isinstance(missing, ErrorResponse) and missing.code.dotted == "4.04"

    updated = await ask(context, code=aiocoap.POST, uri=f"{base}/{location}?lt=120")
    assert updated.code == aiocoap.CHANGED
    assert server.registrations.get(ENDPOINT).lifetime == 120  # type: ignore[union-attr]
    unknown = await ask(context, code=aiocoap.POST, uri=f"{base}/rd/nope")
    assert unknown.code == aiocoap.NOT_FOUND

    deleted = await ask(context, code=aiocoap.DELETE, uri=f"{base}/{location}")
    assert deleted.code == aiocoap.DELETED
    assert server.registrations.get(ENDPOINT) is None
    assert server.registrations.all() == []
    with pytest.raises(UnknownEndpointError):
        await server.read(ENDPOINT, "/3/0/0", timeout=WAIT)
    unsubscribe()
    assert [type(e) for e in events] == [Registered, Updated, Deregistered]
    assert events[0].to_json()["registration"]["endpoint"] == ENDPOINT  # type: ignore[index]


async def test_bad_register_is_4_00_and_the_server_keeps_serving(
    server: LwM2MServer, device: tuple[aiocoap.Context, Manufacturer]
) -> None:
    context, _ = device
    host, port = server.coap_address
    bad = await ask(context, code=aiocoap.POST, uri=f"coap://{host}:{port}/rd?lt=0", payload=b"")
    assert bad.code == aiocoap.BAD_REQUEST
    good = await ask(
        context,
        code=aiocoap.POST,
        uri=f"coap://{host}:{port}/rd?ep=ok&lwm2m=1.1",
        payload=b"</3/0>",
        content_format=ContentFormat.LINK,
    )
    assert good.code == aiocoap.CREATED
    assert [r.endpoint for r in server.registrations.all()] == ["ok"]


async def test_a_silent_device_times_out(server: LwM2MServer) -> None:
    host, port = server.coap_address
    context = await aiocoap.Context.create_client_context()
    try:
        await ask(
            context,
            code=aiocoap.POST,
            uri=f"coap://{host}:{port}/rd?ep=silent&lwm2m=1.1",
            payload=b"</3/0>",
            content_format=ContentFormat.LINK,
        )
    finally:
        await context.shutdown()  # the device is gone; its address no longer answers
    with pytest.raises(RequestTimeoutError):
        await server.read("silent", "/3/0", timeout=0.5)


async def test_a_cancelled_request_is_not_retransmitted(server: LwM2MServer) -> None:
    """The caller's cancellation reaches the core: the request is over, not just unawaited."""
    loop = asyncio.get_running_loop()
    device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    device.setblocking(False)
    device.bind(("127.0.0.1", 0))
    try:
        device.connect(server.coap_address)
        await loop.sock_sendall(device, Fleet(0, 1).register(0))
        await asyncio.wait_for(loop.sock_recv(device, 2048), WAIT)  # 2.01 Created
        read = asyncio.create_task(server.read(endpoint_name(0), "/3/0/9"))
        request = Message.decode(await asyncio.wait_for(loop.sock_recv(device, 2048), WAIT))
        assert request.options.uri_path == ("3", "0", "9")
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        with pytest.raises(TimeoutError):  # ACK_TIMEOUT is 0.5 s here
            await asyncio.wait_for(loop.sock_recv(device, 2048), 1.2)
    finally:
        device.close()
