"""The simulated device's download slot: the package so far, what identifies it, its limits.

A slot is flash: it survives a sleep and a lost connection, so a download of the same URI
resumes at the first byte it lacks, unless the server's validator (a CoAP ETag, an HTTP
entity tag) or the package's size says the package changed, which restarts it from zero.
Every chunk passes through a RAM buffer of ``ram_size`` bytes on its way to flash.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lwm2m.client.firmware.package import (
    MAX_HEADER_SIZE,
    PackageError,
    PackageHeader,
    Refusal,
    parse_header,
    verify_image,
)
from lwm2m.client.standard.firmware import UpdateResult


class DownloadError(Exception):
    """A download that ends without a package; ``result`` is the Update Result it sets."""

    def __init__(self, result: UpdateResult, message: str) -> None:
        super().__init__(message)
        self.result = result


def _refused(error: PackageError) -> DownloadError:
    return DownloadError(UpdateResult(error.result.value), str(error))


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """What the simulated device's hardware allows."""

    model: str
    """The hardware model a package must be built for (/3/0/1)."""
    flash_size: int = 1 << 20
    """Bytes of the download slot: a bigger package is refused (Update Result 2)."""
    ram_size: int = 64 << 10
    """Bytes the device can hold in RAM at once: a pushed package arrives whole (the CoAP layer
    reassembles it), a pulled one a block or chunk at a time (Update Result 3 beyond it)."""
    public_key: Ed25519PublicKey | None = None
    """The key packages must be signed with; None takes unsigned packages (digest only)."""
    min_battery: int = 20
    """Battery level (/3/0/9, %) under which an install is refused (Update Result 8)."""

    def __post_init__(self) -> None:
        if self.ram_size < 16 or self.flash_size < 0:
            raise ValueError("ram_size must be at least 16 bytes and flash_size not negative")


class Slot:
    """The download slot in flash (see the module docstring)."""

    def __init__(self, limits: DeviceLimits) -> None:
        self.limits = limits
        self.uri: str | None = None
        self.validator: bytes | None = None
        self.total: int | None = None
        self._data = bytearray()
        self._header: PackageHeader | None = None

    @property
    def received(self) -> int:
        return len(self._data)

    def begin(self, uri: str) -> int:
        """Start or resume downloading ``uri``; the offset to ask for."""
        if uri != self.uri:
            self.clear()
            self.uri = uri
        return self.received

    def identify(self, validator: bytes | None, total: int | None) -> bool:
        """What the server says the package is; False when it changed, and the slot restarts.

        A server that gives no validator at all is taken at its word (the package's digest
        is then the only guard against a mix of two packages: Update Result 5).
        """
        same = self.received == 0 or (
            validator == self.validator
            and (total is None or self.total is None or total == self.total)
        )
        if not same:
            self.restart()
        self.validator = validator
        if total is not None:
            self.total = total
        if total is not None and total > self.limits.flash_size:
            raise DownloadError(
                UpdateResult.NOT_ENOUGH_FLASH,
                f"package of {total} bytes, flash holds {self.limits.flash_size}",
            )
        return same

    def write(self, offset: int, chunk: bytes) -> None:
        """Add the chunk at ``offset`` (the end of what the slot holds)."""
        if offset != self.received:
            raise ValueError(f"chunk at {offset}, slot holds {self.received}")
        if len(chunk) > self.limits.ram_size:
            raise DownloadError(
                UpdateResult.OUT_OF_RAM,
                f"{len(chunk)} bytes at once, RAM holds {self.limits.ram_size}",
            )
        if self.received + len(chunk) > self.limits.flash_size:
            raise DownloadError(UpdateResult.NOT_ENOUGH_FLASH, "package outgrows the flash")
        self._data += chunk
        self._check_header()

    def finish(self) -> PackageHeader:
        """The complete package's header, once its digest (and signature) verify; a package
        that fails is dropped."""
        try:
            header = self._check_header()
            if header is None:
                raise PackageError(Refusal.INTEGRITY_FAILURE, "package ends inside its header")
            verify_image(header, bytes(self._data[header.length :]), self.limits.public_key)
        except PackageError as error:
            self.clear()
            raise _refused(error) from None
        except DownloadError:
            self.clear()
            raise
        return header

    def image(self) -> tuple[PackageHeader, bytes]:
        """The verified package's header and image (read back from flash to install)."""
        header = parse_header(bytes(self._data[:MAX_HEADER_SIZE]))
        assert header is not None
        return header, bytes(self._data[header.length :])

    def restart(self) -> None:
        """Drop the bytes held; the URI stays (the next answer starts at byte 0)."""
        self.validator = self.total = None
        self._data = bytearray()
        self._header = None

    def clear(self) -> None:
        self.uri = self.validator = self.total = None
        self._data = bytearray()
        self._header = None

    def _check_header(self) -> PackageHeader | None:
        """Read the header as soon as it is complete: a package for another model, or too big
        for the flash, is refused before the rest is downloaded."""
        if self._header is not None:
            return self._header
        try:
            header = parse_header(bytes(self._data[:MAX_HEADER_SIZE]))
        except PackageError as error:
            raise _refused(error) from None
        if header is None:
            return None
        if header.model != self.limits.model:
            raise DownloadError(
                UpdateResult.UNSUPPORTED_PACKAGE,
                f"package for model {header.model!r}, this is {self.limits.model!r}",
            )
        if header.package_size > self.limits.flash_size:
            raise DownloadError(
                UpdateResult.NOT_ENOUGH_FLASH,
                f"package of {header.package_size} bytes, flash holds {self.limits.flash_size}",
            )
        self._header = header
        return header
