"""A server with a firmware repository and delivery on loopback, and an aiocoap device that
registers with it and takes Writes to /5/0/0 and /5/0/1."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiocoap
import pytest
from aiocoap import resource

from lwm2m.coap.config import EndpointConfig
from lwm2m.firmware import FirmwareConfig, FirmwareDelivery, FirmwareRepository
from lwm2m.server import LwM2MServer, ServerConfig

PACKAGE = random.Random(11).randbytes(5_000)
"""Five blocks of 1024 bytes and a short last one."""

COAP = EndpointConfig(ack_timeout=0.5, max_latency=1.0)


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[FirmwareRepository]:
    repository = FirmwareRepository(tmp_path / "firmware", max_size=64 * 1024)
    yield repository
    repository.close()


@pytest.fixture
async def delivery(repository: FirmwareRepository) -> AsyncIterator[FirmwareDelivery]:
    delivery = FirmwareDelivery(repository, FirmwareConfig(http_url="http://127.0.0.1:1"))
    server = LwM2MServer(
        delivery.serving(ServerConfig(host="127.0.0.1", coap_port=0, coap=COAP)),
        rng=random.Random(5),
    )
    delivery.attach(server)
    await server.start()
    yield delivery
    await server.stop()


class Sink(resource.Resource):
    """A device resource that takes PUTs (aiocoap reassembles Block1 itself)."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []
        self.requests: list[aiocoap.Message] = []

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        self.requests.append(request)
        self.bodies.append(request.payload)
        return aiocoap.Message(code=aiocoap.CHANGED)


class Device:
    """An aiocoap context registered with the server as ``endpoint``."""

    def __init__(self, context: aiocoap.Context, package: Sink, uri: Sink) -> None:
        self.context = context
        self.package = package
        self.uri = uri

    async def get(self, uri: str, **options: object) -> aiocoap.Message:
        """One GET; with a Block2 option just that block (aiocoap fetches the rest itself
        otherwise)."""
        request = aiocoap.Message(code=aiocoap.GET, uri=uri, **options)
        whole = "block2" not in options
        pending = self.context.request(request, handle_blockwise=whole)
        return await asyncio.wait_for(pending.response, 10)


async def registered_device(server: LwM2MServer, endpoint: str) -> Device:
    package, uri = Sink(), Sink()
    site = resource.Site()
    site.add_resource(["5", "0", "0"], package)
    site.add_resource(["5", "0", "1"], uri)
    context = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", 0))
    await register(context, server, endpoint)
    return Device(context, package, uri)


async def register(context: aiocoap.Context, server: LwM2MServer, endpoint: str) -> None:
    """Register ``context``'s socket as ``endpoint`` with object 5."""
    host, port = server.coap_address[:2]
    request = aiocoap.Message(
        code=aiocoap.POST,
        uri=f"coap://{host}:{port}/rd?ep={endpoint}&lt=300&lwm2m=1.1&b=U",
        payload=b"</5/0>",
        content_format=40,
    )
    answer = await asyncio.wait_for(context.request(request).response, 10)
    assert answer.code == aiocoap.CREATED


@pytest.fixture
async def devices(delivery: FirmwareDelivery) -> AsyncIterator[list[Device]]:
    """Two devices, ``dev-a`` and ``dev-b``, each on its own socket."""
    made = [await registered_device(delivery.server, name) for name in ("dev-a", "dev-b")]
    yield made
    for device in made:
        await device.context.shutdown()
