"""Update Result 4 in a campaign, as the device reports it: the download URL names a CoAP
relay (``FirmwareConfig.public_host``, the server's own port on another loopback address)
that stops forwarding the first download after a few blocks.  The device's pull retries until
its retry window passes without progress, reports /5/0/5 = 4 (connection lost), and the
campaign fails that attempt with the device's cause, not a deadline of its own; the retry gets
a fresh URL, which the relay lets through, and the device ends updated.  The campaign's typed
events (``CampaignRunner.subscribe``) tell the same story."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lwm2m.client.firmware.package import build_package
from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.coap.codes import Code
from lwm2m.coap.errors import MessageFormatError
from lwm2m.coap.message import Message
from lwm2m.firmware import FirmwareConfig, FirmwareDelivery, FirmwareRepository
from lwm2m.firmware.campaign import CampaignSpec, DeviceState, MemoryCampaignStore, Status, Target
from lwm2m.firmware.campaign_events import CampaignEvent
from lwm2m.firmware.campaign_runner import CampaignRunner
from lwm2m.loadtest.campaign import MODEL, firmware_device
from lwm2m.server import LwM2MServer, ServerConfig
from tests.campaigns.test_campaign import FAST, until, version_of

pytestmark = pytest.mark.timeout(90)

SERVER_HOST, RELAY_HOST = "127.0.0.2", "127.0.0.3"
BLOCKS = 3
"""Block requests of the first download the relay forwards before it cuts the download."""


class CuttingRelay(asyncio.DatagramProtocol):
    """A UDP relay in front of ``server`` (one upstream socket per device address) that
    forwards ``BLOCKS`` GETs of the first download URL it sees, then drops that URL's
    requests; everything else passes both ways."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.cut: str | None = None
        self.forwarded = self.dropped = 0
        self.downstream: asyncio.DatagramTransport | None = None
        self.upstreams: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        self.opening: dict[tuple[str, int], list[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.downstream = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._drops(data):
            self.dropped += 1
            return
        upstream = self.upstreams.get(addr)
        if upstream is not None:
            upstream.sendto(data)
        elif addr in self.opening:
            self.opening[addr].append(data)
        else:
            self.opening[addr] = [data]
            asyncio.get_running_loop().create_task(self._open(addr))

    def _drops(self, data: bytes) -> bool:
        try:
            request = Message.decode(data)
        except MessageFormatError:
            return False
        path = request.options.uri_path
        if request.code is not Code.GET or len(path) != 2 or path[0] != "fw":
            return False
        if self.cut is None:
            self.cut = path[1]
        if path[1] != self.cut:
            return False
        self.forwarded += 1
        return self.forwarded > BLOCKS

    async def _open(self, addr: tuple[str, int]) -> None:
        """The upstream socket of device ``addr``; what it sent meanwhile goes first."""
        assert self.downstream is not None
        back = self.downstream

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, _: tuple[str, int]) -> None:
                back.sendto(data, addr)

        loop = asyncio.get_running_loop()
        upstream, _ = await loop.create_datagram_endpoint(Back, remote_addr=self.server)
        self.upstreams[addr] = upstream
        for data in self.opening.pop(addr):
            upstream.sendto(data)

    def close(self) -> None:
        for transport in (*self.upstreams.values(), self.downstream):
            if transport is not None:
                transport.close()


@pytest.fixture
async def served() -> AsyncIterator[tuple[LwM2MServer, CampaignRunner, CuttingRelay, str]]:
    repository = FirmwareRepository.temporary()
    image = bytes(range(256)) * 24  # 6 KiB: 7 blocks of 1 KiB with the header
    data = build_package(image, model=MODEL, version="2.0.0", name="nb-sim")
    package, _ = repository.add_bytes(data, version="2.0.0", model=MODEL)
    delivery = FirmwareDelivery(repository, FirmwareConfig(public_host=RELAY_HOST))
    config = ServerConfig(host=SERVER_HOST, coap_port=0, coap=FAST)
    server = LwM2MServer(delivery.serving(config))
    delivery.attach(server)
    await server.start()
    port = server.coap_address[1]
    relay = CuttingRelay((SERVER_HOST, port))
    await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: relay, local_addr=(RELAY_HOST, port)
    )
    runner = CampaignRunner(delivery, MemoryCampaignStore())
    await runner.start()
    try:
        yield server, runner, relay, package.sha256
    finally:
        await runner.stop()
        relay.close()
        await server.stop()
        repository.close()


async def test_a_cut_download_is_update_result_4_from_the_device_then_retried(
    served: tuple[LwM2MServer, CampaignRunner, CuttingRelay, str],
) -> None:
    server, runner, relay, sha256 = served
    pull = PullSettings(coap=FAST, retry_base=0.2, retry_window=2.0)
    client, updater = firmware_device(
        0,
        f"coap://{SERVER_HOST}:{server.coap_address[1]}",
        limits=DeviceLimits(MODEL, min_battery=0),
        pull=pull,
        coap=FAST,
    )
    await client.start()
    try:
        await until(lambda: server.registrations.get(client.endpoint_name) is not None, 10)
        endpoint = client.endpoint_name
        spec = CampaignSpec(sha256, Target(endpoints=(endpoint,)), device_timeout=60.0, retries=1)
        events: list[CampaignEvent] = []
        runner.subscribe(events.append)
        engine = runner.create(spec)
        seen: list[tuple[int, DeviceState, int | None, str | None]] = []

        def watch(_: str) -> None:
            device = engine.devices[endpoint]
            seen.append((device.attempts, device.state, device.result, device.error))

        runner.listen(watch)
        await until(lambda: engine.record.status is not Status.RUNNING, 60)
        device = engine.devices[endpoint]
        assert device.state is DeviceState.SUCCEEDED, device
        assert device.attempts == 2 and device.result == 1
        assert relay.dropped > 0 and relay.forwarded > BLOCKS  # the cut happened mid-way
        lost = "Update Result 4 (connection lost during download)"
        assert device.error == lost  # the first attempt's cause, kept
        # The first attempt ended on the device's /5/0/5 = 4 (its 60 s deadline far away):
        # straight to the second attempt's check.
        failed = next(index for index, (*_, result, _) in enumerate(seen) if result == 4)
        assert seen[failed] == (2, DeviceState.CHECKING, 4, lost)
        assert all(attempt == 1 and error is None for attempt, *_, error in seen[:failed])
        assert version_of(client) == "2.0.0"
        # The same story as typed events, each naming the campaign.
        campaign = engine.record.id
        frames = [event.to_json() for event in events]
        assert {frame["campaign"] for frame in frames} == {campaign}
        assert [(f["status"], f["finished"]) for f in frames if f["type"] == "campaignStatus"] == [
            ("running", 0),
            ("completed", 1),
        ]
        devices = [f for f in frames if f["type"] == "campaignDevice"]
        assert {f["endpoint"] for f in devices} == {endpoint}
        assert (devices[-1]["state"], devices[-1]["result"]) == ("succeeded", 1)
        assert any(f["result"] == 4 and f["error"] == lost for f in devices)
        assert updater.slot.received == 0  # installed and cleared
    finally:
        await client.stop(timeout=0.2)
