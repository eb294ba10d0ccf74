"""Pull (/5/0/1) against independent servers over loopback: aiocoap for coap:// and
coap+tcp:// (Block2 with ETag), the stdlib HTTP server for http:// (Range, If-Range)."""

from __future__ import annotations

import asyncio
import time

import pytest

from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.standard.firmware import FirmwareUpdateObject, State, UpdateResult
from lwm2m.coap import Message
from lwm2m.coap.config import EndpointConfig
from tests.firmware.common import MODEL, SIGNER, device, package, read, status, write
from tests.firmware.servers import Relay, aiocoap_server, free_port, http_server

pytestmark = pytest.mark.timeout(60)

FAST = EndpointConfig(ack_timeout=0.2, max_retransmit=1, max_latency=0.5, preferred_block_szx=4)
"""256-byte blocks; a block unanswered for ~0.9 s is retried by the downloader."""
SETTINGS = PullSettings(coap=FAST, timeout=2.0, retry_base=0.05, retry_cap=0.2, retry_window=5.0)
R = UpdateResult
PACKAGE = package()


async def settled(firmware: FirmwareUpdateObject, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while firmware.state is State.DOWNLOADING:
        assert time.monotonic() < deadline, "download did not finish"
        await asyncio.sleep(0.02)


async def pull(uri: str, settings: PullSettings = SETTINGS, **limits: object) -> tuple:  # type: ignore[type-arg]
    tree, updater, firmware = device(
        DeviceLimits(MODEL, public_key=SIGNER.public_key(), **limits),  # type: ignore[arg-type]
        settings,
    )
    write(tree, "/5/0/1", uri)
    assert firmware.state is State.DOWNLOADING
    await settled(firmware)
    return tree, updater, firmware


@pytest.mark.parametrize("scheme", ["coap", "coap+tcp"])
async def test_coap_pull_from_aiocoap(scheme: str) -> None:
    async with aiocoap_server(PACKAGE) as (port, served):
        tree, updater, firmware = await pull(f"{scheme}://127.0.0.1:{port}/fw/pkg")
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert read(tree, "/5/0/7") == "2.0.0" and read(tree, "/5/0/6") == "nb-sim"
    header, image = updater.slot.image()
    assert image == PACKAGE[header.length :]
    assert served.blocks == list(range(len(PACKAGE) // 256 + 1))


async def test_coap_pull_with_loss_and_reordering_resumes_at_the_block() -> None:
    async with aiocoap_server(PACKAGE) as (port, served):
        relay = Relay(("127.0.0.1", port), seed=7)
        address = await relay.start()
        relay.reorder = 0.05
        relay.lose = lambda data, up: relay.rng.random() < 0.2
        try:
            _, updater, firmware = await pull("coap://{}:{}/fw/pkg".format(*address))
        finally:
            relay.close()
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert updater.slot.image()[1] == PACKAGE[updater.slot.image()[0].length :]
    assert served.blocks == sorted(served.blocks)  # retries repeat a block, never go back


async def test_coap_pull_survives_a_sleep_and_keeps_what_it_has() -> None:
    """A blackout longer than the retry window: Update Result 4, the slot keeps its blocks,
    and writing the URI again resumes at the first missing block."""
    async with aiocoap_server(PACKAGE) as (port, served):
        relay = Relay(("127.0.0.1", port))
        address = await relay.start()
        uri = "coap://{}:{}/fw/pkg".format(*address)
        tree, updater, firmware = device(
            DeviceLimits(MODEL, public_key=SIGNER.public_key()),
            PullSettings(coap=FAST, retry_base=0.05, retry_cap=0.2, retry_window=1.5),
        )
        seen = 0

        def lose(data: bytes, up: bool) -> bool:
            nonlocal seen
            message = Message.decode(data)
            if up and message.options.block2 is not None and message.options.block2.num == 10:
                relay.dark = True  # the device falls asleep before block 10
            return False

        relay.lose = lose
        try:
            write(tree, "/5/0/1", uri)
            await settled(firmware)
            assert status(firmware) == (State.IDLE, R.CONNECTION_LOST)
            kept = updater.slot.received
            assert kept == 10 * 256
            relay.dark = False
            relay.lose = lambda data, up: False
            before = len(served.blocks)
            write(tree, "/5/0/1", uri)
            await settled(firmware)
        finally:
            relay.close()
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert served.blocks[before] == 10  # resumed, not restarted


async def test_coap_pull_restarts_when_the_package_changes() -> None:
    newer = package(version="3.0.0")
    async with aiocoap_server(PACKAGE) as (port, served):
        relay = Relay(("127.0.0.1", port))
        address = await relay.start()

        def swap(data: bytes, up: bool) -> bool:
            message = Message.decode(data)
            if up and message.options.block2 is not None and message.options.block2.num == 5:
                served.body = newer  # a new ETag from block 5 on
            return False

        relay.lose = swap
        try:
            tree, _updater, firmware = await pull("coap://{}:{}/fw/pkg".format(*address))
        finally:
            relay.close()
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert read(tree, "/5/0/7") == "3.0.0"
    assert served.blocks[:7] == [0, 1, 2, 3, 4, 5, 0]


@pytest.mark.parametrize(
    ("path", "limits", "result"),
    [
        ("/fw/nothing", {}, R.INVALID_URI),
        ("/fw/pkg", {"flash_size": 4096}, R.NOT_ENOUGH_FLASH),
    ],
)
async def test_coap_pull_refusals(path: str, limits: dict[str, int], result: R) -> None:
    async with aiocoap_server(PACKAGE) as (port, _):
        _, updater, firmware = await pull(f"coap://127.0.0.1:{port}{path}", **limits)
    assert status(firmware) == (State.IDLE, result) and updater.slot.received == 0


async def test_coap_pull_of_a_wrong_model_stops_at_the_header() -> None:
    async with aiocoap_server(package(model="other")) as (port, served):
        _, _, firmware = await pull(f"coap://127.0.0.1:{port}/fw/pkg")
    assert status(firmware) == (State.IDLE, R.UNSUPPORTED_PACKAGE)
    assert served.blocks == [0]


async def test_coap_pull_of_a_tampered_package_fails_integrity() -> None:
    async with aiocoap_server(PACKAGE[:-1] + b"\0") as (port, _):
        _, _, firmware = await pull(f"coap://127.0.0.1:{port}/fw/pkg")
    assert status(firmware) == (State.IDLE, R.INTEGRITY_FAILURE)


async def test_nobody_listening_is_connection_lost() -> None:
    settings = PullSettings(coap=FAST, retry_base=0.05, retry_cap=0.1, retry_window=1.0)
    _, _updater, firmware = await pull(f"coap://127.0.0.1:{free_port()}/fw/pkg", settings)
    assert status(firmware) == (State.IDLE, R.CONNECTION_LOST)


async def test_http_pull() -> None:
    with http_server(PACKAGE) as (port, served):
        tree, _updater, firmware = await pull(f"http://127.0.0.1:{port}/fw/pkg")
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert read(tree, "/5/0/7") == "2.0.0" and served.ranges == [None]


async def test_http_pull_resumes_with_a_range_after_a_cut() -> None:
    with http_server(PACKAGE) as (port, served):
        served.cut_after = 3000
        _, _updater, firmware = await pull(f"http://127.0.0.1:{port}/fw/pkg", ram_size=1024)
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert served.ranges == [None, "bytes=2048-"]  # whole 1 KiB RAM buffers reached flash


async def test_http_pull_restarts_when_the_package_changed() -> None:
    newer = package(version="3.0.0")
    with http_server(PACKAGE) as (port, served):
        served.cut_after = 3000

        async def swap_after_cut() -> None:
            while len(served.ranges) < 1:
                await asyncio.sleep(0.01)
            served.body = newer

        swapper = asyncio.create_task(swap_after_cut())
        tree, _, firmware = await pull(f"http://127.0.0.1:{port}/fw/pkg", ram_size=1024)
        await swapper
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert read(tree, "/5/0/7") == "3.0.0"
    assert served.ranges == [None, "bytes=2048-"]  # If-Range did not match: 200, from 0


async def test_http_404_is_invalid_uri() -> None:
    with http_server(PACKAGE) as (port, _):
        _, _, firmware = await pull(f"http://127.0.0.1:{port}/fw/other")
    assert status(firmware) == (State.IDLE, R.INVALID_URI)


async def test_coap_pull_from_a_server_without_etag() -> None:
    async with aiocoap_server(PACKAGE) as (port, served):
        served.etag = False
        _, _, firmware = await pull(f"coap://127.0.0.1:{port}/fw/pkg")
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert served.blocks == list(range(len(PACKAGE) // 256 + 1))
