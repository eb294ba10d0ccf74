"""Campaigns over 200 of the project's simulated devices in this process, with real signed
packages (``build_package``) downloaded block by block from the server's ``/fw`` resource:
UDP, DTLS (PSK) and queue-mode devices; devices with the wrong signing key (Update Result 5);
devices that lose power while downloading (no progress, then not registered); the failure
threshold pausing a campaign; cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lwm2m.client.device import LwM2MClient
from lwm2m.client.firmware.package import build_package
from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.coap.config import EndpointConfig
from lwm2m.firmware import FirmwareDelivery, FirmwarePackage, FirmwareRepository
from lwm2m.firmware.campaign import (
    CampaignSpec,
    DeviceState,
    MemoryCampaignStore,
    Method,
    Status,
    Target,
)
from lwm2m.firmware.campaign_engine import CampaignEngine
from lwm2m.firmware.campaign_runner import CampaignRunner
from lwm2m.loadtest.campaign import MODEL, firmware_device
from lwm2m.model import Path
from lwm2m.security.credentials import Psk, PskCredential, Secret
from lwm2m.server import LwM2MServer, ServerConfig

pytestmark = pytest.mark.timeout(150)

FAST = EndpointConfig(ack_timeout=0.5, max_retransmit=2, max_latency=0.5)
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
IMAGE = bytes(range(256)) * 40


@dataclass
class Rig:
    server: LwM2MServer
    delivery: FirmwareDelivery
    runner: CampaignRunner
    package: FirmwarePackage
    devices: dict[str, tuple[LwM2MClient, FirmwareUpdater]] = field(default_factory=dict)

    async def add(self, index: int, kind: str, *, key: Ed25519PrivateKey = SIGNER) -> str:
        host, port = self.server.coap_address[:2]
        limits = DeviceLimits(MODEL, public_key=key.public_key(), min_battery=0)
        pull = PullSettings(coap=FAST, retry_base=0.2, retry_window=3.0)
        options: dict[str, object] = {}
        uri = f"coap://{host}:{port}"
        if kind == "dtls":
            uri = f"coaps://{host}:{self.server.coaps_address[1]}"
            identity, secret = f"dev-{index}".encode(), index.to_bytes(16, "big")
            options["psk"] = (identity, secret)
        elif kind == "queue":
            options.update(binding="UQ", awake_window=1.0, lifetime=6)
        client, updater = firmware_device(
            index,
            uri,
            limits=limits,
            pull=pull,
            coap=FAST,
            **options,  # type: ignore[arg-type]
        )
        if kind == "dtls":
            identity, secret = options["psk"]  # type: ignore[misc]
            self.server.set_credential(
                PskCredential(client.endpoint_name, Psk(identity, Secret(secret)))
            )
        self.devices[client.endpoint_name] = client, updater
        await client.start()
        return client.endpoint_name

    async def registered(self, count: int) -> None:
        await until(lambda: len(self.server.registrations.all()) >= count, 30)


async def until(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.1)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    repository = FirmwareRepository.temporary()
    data = build_package(IMAGE, model=MODEL, version="2.0.0", name="nb-sim", signing_key=SIGNER)
    package, _ = repository.add_bytes(data, version="2.0.0", model=MODEL)
    delivery = FirmwareDelivery(repository)
    config = ServerConfig(host="127.0.0.1", coap_port=0, coaps_port=0, coap=FAST, awake_window=0.9)
    server = LwM2MServer(delivery.serving(config))
    delivery.attach(server)
    await server.start()
    runner = CampaignRunner(delivery, MemoryCampaignStore())
    await runner.start()
    rig = Rig(server, delivery, runner, package)
    try:
        yield rig
    finally:
        await runner.stop()
        await asyncio.gather(
            *(client.stop(timeout=0.2) for client, _ in rig.devices.values()),
            return_exceptions=True,
        )
        await server.stop()
        repository.close()


def version_of(client: LwM2MClient) -> object:
    node = client.tree.read(Path.of(3, 0, 3), server_id=1)
    return getattr(node, "value", None)


async def finished(engine: CampaignEngine, timeout: float) -> None:
    await until(lambda: engine.record.status is not Status.RUNNING, timeout)


async def test_campaign_over_200_devices_updates_the_right_ones(rig: Rig) -> None:
    kinds = ["udp"] * 3 + ["dtls", "queue"]  # 120 UDP, 40 DTLS, 40 queue mode
    bad_key, power_loss = set(), set()
    for index in range(200):
        key = STRANGER if index % 20 == 7 else SIGNER
        endpoint = await rig.add(index, kinds[index % 5], key=key)
        if key is STRANGER:
            bad_key.add(endpoint)
        elif index % 40 == 13:
            power_loss.add(endpoint)
    await rig.registered(200)
    spec = CampaignSpec(
        rig.package.sha256,
        Target(model=MODEL),
        method=Method.AUTO,
        waves=(20,),
        concurrency=50,
        device_timeout=25.0,
        retries=1,
        failure_threshold=0.5,
    )
    engine = rig.runner.create(spec)
    lost: set[str] = set()

    async def pull_the_plug() -> None:
        """Devices of ``power_loss`` go dark once they are downloading."""
        while lost != power_loss:
            for endpoint in power_loss - lost:
                if engine.devices[endpoint].state is DeviceState.DOWNLOADING:
                    client, updater = rig.devices[endpoint]
                    updater.discard()
                    await client.stop(timeout=0.01)
                    lost.add(endpoint)
            await asyncio.sleep(0.01)

    plug = asyncio.create_task(pull_the_plug())
    await finished(engine, 120)
    plug.cancel()
    assert engine.record.status is Status.COMPLETED, engine.progress()
    states = {ep: device.state for ep, device in engine.devices.items()}
    good = set(rig.devices) - bad_key - power_loss
    assert {ep for ep, state in states.items() if state is DeviceState.SUCCEEDED} == good
    for endpoint in good:  # registered again with the new version
        assert version_of(rig.devices[endpoint][0]) == "2.0.0"
        assert engine.devices[endpoint].result == 1
    for endpoint in bad_key:
        device = engine.devices[endpoint]
        assert device.state is DeviceState.FAILED
        assert "Update Result 5" in (device.error or ""), device
        assert device.attempts == 2  # retried once
        assert version_of(rig.devices[endpoint][0]) == "1.0.0"
    for endpoint in power_loss:
        device = engine.devices[endpoint]
        assert device.state is DeviceState.FAILED, device
        error = device.error or ""
        assert "not registered within" in error or "no progress" in error, device
    progress = engine.progress()
    assert progress["counts"] == {
        "succeeded": len(good),
        "failed": len(bad_key) + len(power_loss),
    }


async def test_the_failure_threshold_pauses_and_cancel_stops(rig: Rig) -> None:
    endpoints = [await rig.add(index, "udp", key=STRANGER) for index in range(30)]
    await rig.registered(30)
    spec = CampaignSpec(
        rig.package.sha256,
        Target(endpoints=tuple(endpoints)),
        concurrency=4,
        retries=0,
        failure_threshold=0.5,
        failure_minimum=5,
    )
    engine = rig.runner.create(spec)
    await until(lambda: engine.record.status is Status.PAUSED, 30)
    assert "over the threshold of 50%" in (engine.record.reason or "")
    await until(lambda: engine.under_way == 0, 30)  # those under way finish
    assert engine.counts[DeviceState.PENDING] > 10  # nobody new started
    failed = engine.counts[DeviceState.FAILED]
    assert 5 <= failed <= 8
    rig.runner.resume(engine.record.id)  # counts from zero again: four more start
    await until(lambda: engine.counts[DeviceState.FAILED] >= failed + 4, 30)
    rig.runner.cancel(engine.record.id)
    assert engine.record.status is Status.CANCELLED
    await until(lambda: engine.under_way == 0, 30)
    assert engine.counts[DeviceState.CANCELLED] >= 1
    assert all(version_of(client) == "1.0.0" for client, _ in rig.devices.values())
