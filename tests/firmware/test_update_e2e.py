"""Push and Update end to end: our LwM2MServer writes a package to /5/0/0 (Block1 over real
UDP), executes /5/0/2, and the device reboots: it de-registers, comes back with the new
/3/0/3, /5/0/6 and /5/0/7 and registers anew."""

from __future__ import annotations

import pytest

from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.client.standard.firmware import State, UpdateResult
from lwm2m.operations import EmptyResponse, NodeResponse
from lwm2m.server import Deregistered, Registered
from tests.e2e.conftest import EP, Device, device, eventually  # noqa: F401
from tests.firmware.common import SIGNER, package

pytestmark = pytest.mark.timeout(30)


async def _value(dev: Device, path: str) -> object:
    response = await dev.server.read(EP, path)
    assert isinstance(response, NodeResponse), response
    return response.node.value  # type: ignore[union-attr]


async def test_push_update_reboots_and_registers_with_the_new_version(device: Device) -> None:  # noqa: F811
    updater = FirmwareUpdater(device.tree, DeviceLimits("NB-Sim 1", public_key=SIGNER.public_key()))
    updater.reboot = device.client.reboot
    data = package(version="2.0.0")
    mark = len(device.tap.log)
    response = await device.server.write(EP, "/5/0/0", {"/5/0/0": data})
    assert isinstance(response, EmptyResponse), response
    blocks = [m for m in device.tap.messages(up=False, since=mark) if m.options.block1]
    assert len(blocks) > 1  # it went block-wise
    assert await _value(device, "/5/0/3") == State.DOWNLOADED
    assert await _value(device, "/3/0/3") == "1.0.0"
    response = await device.server.execute(EP, "/5/0/2")
    assert isinstance(response, EmptyResponse), response
    await device.wait_server(Deregistered)
    await device.wait_server(Registered, count=2)
    assert await _value(device, "/3/0/3") == "2.0.0"
    assert await _value(device, "/5/0/7") == "2.0.0"
    assert await _value(device, "/5/0/6") == "nb-sim"
    assert await _value(device, "/5/0/5") == UpdateResult.SUCCESS
    assert await _value(device, "/5/0/3") == State.IDLE


async def test_failed_update_keeps_the_old_version(device: Device) -> None:  # noqa: F811
    updater = FirmwareUpdater(device.tree, DeviceLimits("NB-Sim 1", min_battery=101))
    updater.reboot = device.client.reboot
    await device.server.write(EP, "/5/0/0", {"/5/0/0": package()})
    await device.server.execute(EP, "/5/0/2")
    await eventually(
        lambda: updater.slot.received and device.tree.object(5).state is State.DOWNLOADED
    )  # type: ignore[attr-defined]
    assert await _value(device, "/5/0/5") == UpdateResult.UPDATE_FAILED
    assert await _value(device, "/3/0/3") == "1.0.0"
    assert device.server_seen(Deregistered) == []
