"""The simulated device's firmware updater: the backend of /5 (docs/firmware.md).

It takes pushed packages (a Write of /5/0/0, reassembled from its Block1 blocks by the CoAP
layer), pulls them from /5/0/1 over CoAP (four schemes) or HTTP(S), checks the package format
(:mod:`~lwm2m.client.firmware.package`) against the device's model, flash, RAM and signing key,
and installs: an Update re-checks the image, refuses on a low battery, then reboots the device
through :attr:`FirmwareUpdater.reboot` (``LwM2MClient.reboot``: de-register, close, come back
with the new /3/0/3 and register anew).  A failed update keeps the old version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from lwm2m.client.firmware.coap_pull import coap_download
from lwm2m.client.firmware.http_pull import http_download
from lwm2m.client.firmware.package import PackageError, verify_image
from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits, DownloadError, Slot
from lwm2m.client.standard import device as dev
from lwm2m.client.standard.firmware import (
    DeliveryMethod,
    FirmwareUpdateObject,
    Protocol,
    UpdateResult,
)
from lwm2m.client.tree import ObjectTree

log = logging.getLogger(__name__)

FIRMWARE = 5
DEVICE = 3
Reboot = Callable[[Callable[[], None]], Awaitable[None]]
"""``reboot(apply)``: restart the device, calling ``apply`` while it is down."""

_DOWNLOADERS = {
    "coap": coap_download,
    "coaps": coap_download,
    "coap+tcp": coap_download,
    "coaps+tcp": coap_download,
    "http": http_download,
    "https": http_download,
}


class FirmwareUpdater:
    """Attach to ``tree``'s Firmware Update object; see the module docstring."""

    def __init__(
        self,
        tree: ObjectTree,
        limits: DeviceLimits,
        *,
        pull: PullSettings | None = None,
        delivery: DeliveryMethod = DeliveryMethod.BOTH,
    ) -> None:
        firmware = tree.object(FIRMWARE)
        if not isinstance(firmware, FirmwareUpdateObject):
            raise TypeError("the tree's /5 is not a FirmwareUpdateObject")
        self._tree = tree
        self._object = firmware
        self.slot = Slot(limits)
        self.settings = pull or PullSettings()
        self.reboot: Reboot | None = None
        self._task: asyncio.Task[None] | None = None
        protocols = {Protocol.COAP, Protocol.COAP_TCP, Protocol.HTTP, Protocol.HTTPS}
        if self.settings.psk is not None:
            protocols |= {Protocol.COAPS, Protocol.COAPS_TCP}
        firmware.attach(
            self, protocols=() if delivery is DeliveryMethod.PUSH else protocols, delivery=delivery
        )

    # -- the backend of /5 ---------------------------------------------------------------------

    def push(self, package: bytes) -> None:
        slot = self.slot
        slot.clear()
        try:
            slot.begin("")
            slot.identify(None, len(package))
            slot.write(0, package)
            header = slot.finish()
        except DownloadError as error:
            log.info("pushed package refused: %s", error)
            slot.clear()
            self._object.download_failed(error.result)
        else:
            self._object.download_finished(name=header.name, version=header.version)

    def pull(self, uri: str) -> None:
        self._run(self._pull(uri))

    def discard(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.slot.clear()

    def install(self) -> None:
        self._run(self._install())

    # -- internals -----------------------------------------------------------------------------

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(work)

    async def _pull(self, uri: str) -> None:
        download = _DOWNLOADERS[urlsplit(uri).scheme.lower()]
        try:
            await download(uri, self.slot, self.settings)
            header = self.slot.finish()
        except DownloadError as error:
            log.info("download of %s failed: %s", uri, error)
            if error.result is not UpdateResult.CONNECTION_LOST:
                self.slot.clear()  # kept only to resume after a lost connection
            self._object.download_failed(error.result)
        else:
            self._object.download_finished(name=header.name, version=header.version)

    async def _install(self) -> None:
        header, image = self.slot.image()
        battery = self._device_value(dev.BATTERY_LEVEL)
        if isinstance(battery, int) and battery < self.slot.limits.min_battery:
            log.info("update refused: battery at %d%%", battery)
            self._object.update_finished(UpdateResult.UPDATE_FAILED)
            return
        try:
            verify_image(header, image, self.slot.limits.public_key)  # read back from flash
        except PackageError as error:
            self.slot.clear()
            self._object.update_finished(UpdateResult(error.result.value))
            return
        if self.reboot is None:
            log.warning("update failed: the device has no way to reboot")
            self._object.update_finished(UpdateResult.UPDATE_FAILED)
            return

        def boot_new_image() -> None:
            device = self._tree.object(DEVICE)
            if isinstance(device, dev.DeviceObject):
                device.set(0, dev.FIRMWARE_VERSION, header.version)
            self.slot.clear()
            self._object.update_finished(UpdateResult.SUCCESS)

        await self.reboot(boot_new_image)

    def _device_value(self, resource_id: int) -> object:
        device = self._tree.object(DEVICE)
        if isinstance(device, dev.DeviceObject) and resource_id in device.list_resources(0):
            return device.get(0, resource_id)
        return None
