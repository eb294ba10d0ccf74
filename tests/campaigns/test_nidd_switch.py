"""Campaigns over NIDD devices on the emulated operator network (the rig of tests/nidd: the
server on UDP and on the network's T8 API, the device a client holding UDP and NIDD behind our
modem driver on the network's AT port): a device on N whose binding offers U is moved to U,
pulls the package over CoAP/UDP and ends updated and back on N, its registration replaced only
by the firmware reboot's Register; one that fails its update is moved back with its
registration untouched; one whose binding has no U takes the package pushed over NIDD."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lwm2m.client.device import LwM2MClient
from lwm2m.client.firmware.package import build_package
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.firmware import FirmwareDelivery, FirmwareRepository
from lwm2m.firmware.campaign import (
    CampaignSpec,
    DeviceState,
    MemoryCampaignStore,
    Status,
    Target,
)
from lwm2m.firmware.campaign_engine import CampaignEngine
from lwm2m.firmware.campaign_runner import CampaignRunner
from lwm2m.server import LwM2MServer, ServerConfig, ServerEvent
from lwm2m.server.events import Registered, Updated
from lwm2m.server.switching import transport_of
from tests.campaigns.test_campaign import SIGNER, STRANGER, version_of
from tests.nidd import test_server_nidd
from tests.nidd.test_server_nidd import Rig, _configured, eventually
from tests.transports.test_switching import _device as switching_device

rig = test_server_nidd.rig  # the emulated network and the server over T8 (uses `firmware`)

pytestmark = pytest.mark.timeout(150)

MODEL = "NB-Sim 1"  # telekom_device's /3/0/1
PACKAGE = build_package(
    bytes(range(256)) * 6, model=MODEL, version="2.0.0", name="nb-sim", signing_key=SIGNER
)


@pytest.fixture
def firmware(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FirmwareDelivery, str]]:
    """The rig's server made with firmware delivery (request it before ``rig``)."""
    repository = FirmwareRepository.temporary()
    package, _ = repository.add_bytes(PACKAGE, version="2.0.0", model=MODEL)
    delivery = FirmwareDelivery(repository)

    def server(config: ServerConfig) -> LwM2MServer:
        made = LwM2MServer(delivery.serving(config))
        delivery.attach(made)
        return made

    monkeypatch.setattr(test_server_nidd, "LwM2MServer", server)
    yield delivery, package.sha256
    repository.close()


@pytest.fixture
async def campaigns(
    firmware: tuple[FirmwareDelivery, str], rig: Rig
) -> AsyncIterator[CampaignRunner]:
    runner = CampaignRunner(firmware[0], MemoryCampaignStore())
    await runner.start()
    await _configured(rig)
    yield runner
    await runner.stop()


@contextlib.asynccontextmanager
async def _device(rig: Rig, *, binding: str, key: Ed25519PrivateKey) -> AsyncIterator[LwM2MClient]:
    """The UDP+NIDD client of tests/transports, its Preferred Transport N (so it registers over
    N, also after its firmware reboot), given a firmware updater that takes push and pull."""
    async with switching_device(rig, binding=binding, preferred="N") as client:
        updater = FirmwareUpdater(
            client.tree, DeviceLimits(MODEL, public_key=key.public_key(), min_battery=0)
        )
        updater.reboot = client.reboot
        await eventually(lambda: rig.server.registrations.get(client.endpoint_name))
        yield client


def _events_of(rig: Rig, endpoint: str) -> tuple[list[Registered | Updated], Callable[[], None]]:
    """The endpoint's Register and Update events from now on, and the unsubscriber."""
    seen: list[Registered | Updated] = []

    def watch(event: ServerEvent) -> None:
        if isinstance(event, Registered | Updated) and event.registration.endpoint == endpoint:
            seen.append(event)

    return seen, rig.server.subscribe(watch)


def _transport(rig: Rig, endpoint: str) -> str | None:
    registration = rig.server.registrations.get(endpoint)
    return None if registration is None else transport_of(registration.address)


async def _run(
    runner: CampaignRunner, sha256: str, endpoint: str
) -> tuple[CampaignEngine, list[DeviceState]]:
    """A campaign of ``endpoint`` alone, run to its end; the states the device went through."""
    spec = CampaignSpec(sha256, Target(endpoints=(endpoint,)), device_timeout=90.0, retries=0)
    engine = runner.create(spec)
    states: list[DeviceState] = []
    runner.listen(lambda _: states.append(engine.devices[endpoint].state))
    await eventually(lambda: engine.record.status is Status.COMPLETED, 120)
    return engine, states


async def test_a_nidd_device_is_moved_to_udp_to_pull_and_ends_updated_on_n(
    campaigns: CampaignRunner, rig: Rig, firmware: tuple[FirmwareDelivery, str]
) -> None:
    async with _device(rig, binding="UN", key=SIGNER) as client:
        endpoint = client.endpoint_name
        assert _transport(rig, endpoint) == "N"
        seen, unsubscribe = _events_of(rig, endpoint)
        engine, states = await _run(campaigns, firmware[1], endpoint)
        unsubscribe()
        device = engine.devices[endpoint]
        assert device.state is DeviceState.SUCCEEDED, device
        assert device.method == "pull" and device.result == 1
        assert device.transport == "N → U → N"
        assert version_of(client) == "2.0.0"
        assert _transport(rig, endpoint) == "N"
        assert DeviceState.SWITCHING in states and DeviceState.RETURNING in states
        # one Register, the reboot's, over N; the switch to U was an Update
        registers = [event for event in seen if isinstance(event, Registered)]
        assert len(registers) == 1 and transport_of(registers[0].registration.address) == "N"
        moves = [transport_of(event.registration.address) for event in seen]
        assert moves[: moves.index("N")] == ["U"]  # Updated over U, then the reboot's Register


async def test_a_failed_update_is_moved_back_to_n_in_the_same_registration(
    campaigns: CampaignRunner, rig: Rig, firmware: tuple[FirmwareDelivery, str]
) -> None:
    async with _device(rig, binding="UN", key=STRANGER) as client:
        endpoint = client.endpoint_name
        before = rig.server.registrations.get(endpoint)
        assert before is not None
        seen, unsubscribe = _events_of(rig, endpoint)
        engine, _ = await _run(campaigns, firmware[1], endpoint)
        unsubscribe()
        device = engine.devices[endpoint]
        assert device.state is DeviceState.FAILED, device
        assert "Update Result 5" in (device.error or "")
        assert device.transport == "N → U → N"
        assert version_of(client) == "1.0.0"
        after = rig.server.registrations.get(endpoint)
        assert after is not None and transport_of(after.address) == "N"
        assert after.registration_id == before.registration_id
        assert not [event for event in seen if isinstance(event, Registered)]
        assert [transport_of(e.registration.address) for e in seen] == ["U", "N"]


async def test_a_binding_without_u_is_pushed_to_over_nidd(
    campaigns: CampaignRunner, rig: Rig, firmware: tuple[FirmwareDelivery, str]
) -> None:
    async with _device(rig, binding="N", key=SIGNER) as client:
        endpoint = client.endpoint_name
        engine, states = await _run(campaigns, firmware[1], endpoint)
        device = engine.devices[endpoint]
        assert device.state is DeviceState.SUCCEEDED, device
        assert device.method == "push"
        assert device.transport == "stayed on N: its binding 'N' offers no U; pushed over NIDD"
        assert DeviceState.SWITCHING not in states
        assert version_of(client) == "2.0.0"
        assert _transport(rig, endpoint) == "N"
