"""Pull over CoAP: aiocoap, an independent implementation, downloads from the server's own
CoAP port with a per-device URL (Block2, ETag, Size2), and is refused what it may not have."""

from __future__ import annotations

import hashlib

import aiocoap
import pytest
from aiocoap.optiontypes import BlockOption

from lwm2m.firmware import FirmwareDelivery
from tests.firmware_server.conftest import PACKAGE, Device

pytestmark = pytest.mark.timeout(30)


def _etag() -> bytes:
    return hashlib.sha256(PACKAGE).digest()[:8]


async def test_aiocoap_downloads_the_whole_package_block_by_block(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    url, grant = delivery.url("dev-a", package.sha256, "coap")
    assert url.startswith("coap://127.0.0.1:") and f"/fw/{grant.token}" in url
    response = await devices[0].get(url)  # aiocoap fetches the Block2 blocks itself
    assert response.code == aiocoap.CONTENT
    assert response.payload == PACKAGE
    assert response.opt.etag == _etag()
    assert response.opt.content_format == 42


async def test_every_block_carries_etag_size2_and_the_block_asked_for(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    url, _ = delivery.url("dev-a", package.sha256)
    received = b""
    for num in range(10):  # 512-byte blocks: the server serves the size asked for
        block = BlockOption.BlockwiseTuple(num, False, 5)
        response = await devices[0].get(url, block2=block)
        assert response.code == aiocoap.CONTENT
        assert response.opt.etag == _etag()
        assert response.opt.size2 == len(PACKAGE)
        assert response.opt.block2.block_number == num and response.opt.block2.size_exponent == 5
        received += response.payload
        if not response.opt.block2.more:
            break
    assert received == PACKAGE and num == 9
    past = await devices[0].get(url, block2=BlockOption.BlockwiseTuple(10, False, 5))
    assert past.code == aiocoap.BAD_OPTION


async def test_an_etag_the_device_has_is_validated_without_the_body(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    url, grant = delivery.url("dev-a", package.sha256, uses=1)
    response = await devices[0].get(url, etag=_etag())
    assert response.code == aiocoap.VALID and response.payload == b""
    assert grant.uses_left == 1  # a validation spends no use


async def test_another_device_expired_used_up_unknown_or_deleted_is_not_found(
    delivery: FirmwareDelivery, devices: list[Device]
) -> None:
    device_a, device_b = devices
    package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
    url, _ = delivery.url("dev-a", package.sha256, uses=1)
    assert (await device_b.get(url)).code == aiocoap.NOT_FOUND  # dev-b holds dev-a's URL
    first = await device_a.get(url, block2=BlockOption.BlockwiseTuple(0, False, 6))
    assert first.code == aiocoap.CONTENT
    later = await device_a.get(url, block2=BlockOption.BlockwiseTuple(3, False, 6))
    assert later.code == aiocoap.CONTENT and later.payload == PACKAGE[3072:4096]
    again = await device_a.get(url, block2=BlockOption.BlockwiseTuple(0, False, 6))
    assert again.code == aiocoap.NOT_FOUND and again.payload == b""  # one start, used
    unknown = url.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAAA"
    assert (await device_a.get(unknown)).code == aiocoap.NOT_FOUND
    expired, _ = delivery.url("dev-a", package.sha256, ttl=1e-9)
    assert (await device_a.get(expired)).code == aiocoap.NOT_FOUND
    fresh, _ = delivery.url("dev-a", package.sha256)
    delivery.repository.delete(package.sha256)
    assert (await device_a.get(fresh)).code == aiocoap.NOT_FOUND
    nothing = await device_a.get(url.rsplit("/", 2)[0] + "/fw")
    assert nothing.code == aiocoap.NOT_FOUND


async def test_a_peer_no_device_is_registered_at_downloads_on_the_token_alone(
    delivery: FirmwareDelivery,
) -> None:
    """A device's downloader may use a socket of its own (another port than its
    registration's): the token is the authorisation then."""
    context = await aiocoap.Context.create_client_context()
    try:
        package, _ = delivery.repository.add_bytes(PACKAGE, version="2.0", model="m1")
        url, _ = delivery.url("dev-x", package.sha256)
        request = aiocoap.Message(code=aiocoap.GET, uri=url)
        response = await context.request(request).response
        assert response.code == aiocoap.CONTENT and response.payload == PACKAGE
        put = aiocoap.Message(code=aiocoap.PUT, uri=url, payload=b"x")
        assert (await context.request(put).response).code == aiocoap.METHOD_NOT_ALLOWED
    finally:
        await context.shutdown()
