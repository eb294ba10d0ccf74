"""Firmware package metadata in the database (the bytes are files beside it, in
``<database>.firmware/``: :class:`~lwm2m.firmware.repository.FirmwareRepository`)."""

from __future__ import annotations

import sqlite3

from lwm2m.firmware.package import FirmwarePackage, MemoryFirmwareStore
from lwm2m.storage.writer import Writer

_PUT = "INSERT OR REPLACE INTO firmware_packages VALUES (?, ?, ?, ?, ?, ?)"
_DELETE = "DELETE FROM firmware_packages WHERE sha256 = ?"


class SqliteFirmwareStore(MemoryFirmwareStore):
    """Answered from memory; every change also goes to the database, written behind."""

    __slots__ = ("_writer",)

    def __init__(self, writer: Writer, packages: list[FirmwarePackage]) -> None:
        super().__init__(packages)
        self._writer = writer

    def put(self, package: FirmwarePackage) -> None:
        super().put(package)
        self._writer.submit((_PUT, _rows, package))

    def delete(self, sha256: str) -> None:
        super().delete(sha256)
        self._writer.submit((_DELETE, _key, sha256))


def _rows(p: FirmwarePackage) -> tuple[tuple[object, ...]]:
    return ((p.sha256, p.size, p.version, p.model, p.signature, p.added),)


def _key(sha256: str) -> tuple[tuple[object]]:
    return ((sha256,),)


def load_firmware(connection: sqlite3.Connection) -> list[FirmwarePackage]:
    return [
        FirmwarePackage(sha256, size, version, model, signature, added)
        for sha256, size, version, model, signature, added in connection.execute(
            "SELECT * FROM firmware_packages"
        )
    ]
