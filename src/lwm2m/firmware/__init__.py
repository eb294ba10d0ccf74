"""The server's firmware repository and delivery (docs/firmware.md): packages by SHA-256 with
their metadata, per-device download URLs served from the server's own CoAP(S) and HTTP ports,
and push to /5/0/0.  Campaigns build on these."""

from lwm2m.firmware.delivery import SCHEMES, Download, FirmwareConfig, FirmwareDelivery
from lwm2m.firmware.grants import DownloadGrant, DownloadGrants
from lwm2m.firmware.package import (
    FirmwareError,
    FirmwarePackage,
    FirmwareStore,
    MemoryFirmwareStore,
    PackageConflictError,
    PackageInputError,
    PackageTooLargeError,
    UnknownPackageError,
)
from lwm2m.firmware.repository import MAX_PACKAGE_SIZE, FirmwareRepository, Upload

__all__ = [
    "MAX_PACKAGE_SIZE",
    "SCHEMES",
    "Download",
    "DownloadGrant",
    "DownloadGrants",
    "FirmwareConfig",
    "FirmwareDelivery",
    "FirmwareError",
    "FirmwarePackage",
    "FirmwareRepository",
    "FirmwareStore",
    "MemoryFirmwareStore",
    "PackageConflictError",
    "PackageInputError",
    "PackageTooLargeError",
    "UnknownPackageError",
    "Upload",
]
