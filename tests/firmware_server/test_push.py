"""Push: the server writes a package to a device's /5/0/0 (Block1 with Request-Tag, as
application/octet-stream) and a download URL to its /5/0/1; the device is aiocoap."""

from __future__ import annotations

import asyncio

import aiocoap
import pytest
from aiocoap import resource
from aiocoap.optiontypes import BlockOption

from lwm2m.firmware import FirmwareDelivery
from lwm2m.operations import EmptyResponse, ErrorResponse
from tests.firmware_server.conftest import PACKAGE, Device, register

pytestmark = pytest.mark.timeout(30)


async def test_push_writes_the_package_block_wise_with_a_request_tag(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    answer = await delivery.push("dev-a", package.sha256)
    assert isinstance(answer, EmptyResponse)
    device = devices[0]
    assert device.package.bodies == [PACKAGE]
    request = device.package.requests[0]
    assert request.opt.content_format == 42
    assert devices[1].package.bodies == []


async def test_offer_writes_a_url_the_device_then_downloads_from(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    url, answer = await delivery.offer("dev-a", package.sha256, "coap")
    assert isinstance(answer, EmptyResponse)
    device = devices[0]
    assert device.uri.bodies == [url.encode()]
    downloaded = await device.get(url)
    assert downloaded.payload == PACKAGE


class SmallBlocksOnly(resource.Resource):
    """/5/0/0 of a device with 256-byte buffers: it sees each block (no assembly by aiocoap),
    answers a bigger one 4.13 with a Block1 hint (RFC 7959 §2.9.3), and keeps what fits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = bytearray()
        self.tags: set[bytes] = set()
        self.refused = 0

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return False

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        block1 = request.opt.block1
        assert block1 is not None
        if block1.size_exponent > 4:
            self.refused += 1
            return aiocoap.Message(
                code=aiocoap.REQUEST_ENTITY_TOO_LARGE,
                block1=BlockOption.BlockwiseTuple(0, False, 4),
            )
        self.tags.add(bytes(request.opt.request_tag[0]))
        assert block1.start == len(self.body)
        self.body += request.payload
        answer = BlockOption.BlockwiseTuple(block1.block_number, block1.more, 4)
        code = aiocoap.CONTINUE if block1.more else aiocoap.CHANGED
        return aiocoap.Message(code=code, block1=answer)


async def test_a_device_refusing_big_blocks_gets_the_package_in_smaller_ones(
    delivery: FirmwareDelivery,
) -> None:
    server = delivery.server
    sink = SmallBlocksOnly()
    site = resource.Site()
    site.add_resource(["5", "0", "0"], sink)
    context = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", 0))
    try:
        await register(context, server, "small")
        package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
        answer = await asyncio.wait_for(delivery.push("small", package.sha256), 20)
        assert isinstance(answer, EmptyResponse)
        assert sink.refused == 1 and bytes(sink.body) == PACKAGE
        assert len(sink.tags) == 1  # one Request-Tag for the transfer started over
    finally:
        await context.shutdown()


async def test_a_refused_offer_revokes_its_url(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    devices[0].uri.render_put = _refuse  # type: ignore[method-assign]
    url, answer = await delivery.offer("dev-a", package.sha256)
    assert isinstance(answer, ErrorResponse) and answer.code.dotted == "4.00"
    assert len(delivery.grants) == 0
    assert (await devices[0].get(url)).code == aiocoap.NOT_FOUND


async def _refuse(request: aiocoap.Message) -> aiocoap.Message:
    return aiocoap.Message(code=aiocoap.BAD_REQUEST)
