"""What the repository knows about a firmware package, and where that is kept.

A package is named by the SHA-256 of its bytes, so the same image uploaded twice is one
package; its metadata (version, model, optional signature) lives in a :class:`FirmwareStore`,
the bytes in the repository's directory (:mod:`lwm2m.firmware.repository`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

MAX_LABEL = 255
"""Longest version or model string (characters)."""

MAX_SIGNATURE = 4096
"""Largest signature kept with a package (bytes): an RSA-4096 signature or a CMS envelope."""


class FirmwareError(Exception):
    """Base of the repository's refusals; each maps to one HTTP status in the REST API."""


class PackageInputError(FirmwareError, ValueError):
    """The upload is not a package the repository takes: empty, bad version or model."""


class PackageTooLargeError(FirmwareError):
    """The upload is over the repository's size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a package may have at most {limit} bytes")
        self.limit = limit


class PackageConflictError(FirmwareError):
    """The same bytes are in the repository already, under another version, model or
    signature: one image cannot be two releases."""


class UnknownPackageError(FirmwareError, LookupError):
    """No package has that SHA-256."""


@dataclass(frozen=True, slots=True)
class FirmwarePackage:
    """One package: ``sha256`` (lower-case hex) names its bytes, ``added`` is Unix seconds."""

    sha256: str
    size: int
    version: str
    model: str
    signature: bytes | None
    added: float

    def __post_init__(self) -> None:
        if not is_sha256(self.sha256):
            raise PackageInputError(f"{self.sha256!r:.80} is not a lower-case hex SHA-256")
        check_label("version", self.version)
        check_label("model", self.model)
        if self.signature is not None and not 0 < len(self.signature) <= MAX_SIGNATURE:
            raise PackageInputError(f"a signature has 1 to {MAX_SIGNATURE} bytes")
        if self.size < 1:
            raise PackageInputError("a package has at least one byte")

    @property
    def etag(self) -> bytes:
        """The CoAP ETag (8 bytes, RFC 7252's maximum) and, in hex, the HTTP one: the first
        bytes of the hash, so any change of content changes it."""
        return bytes.fromhex(self.sha256[:16])

    @property
    def http_etag(self) -> str:
        """The ETag header: a strong validator, the CoAP ETag in hex."""
        return f'"{self.sha256[:16]}"'

    def to_json(self) -> dict[str, object]:
        signature = self.signature
        return {
            "sha256": self.sha256,
            "size": self.size,
            "version": self.version,
            "model": self.model,
            "signature": None if signature is None else base64.b64encode(signature).decode(),
            "added": self.added,
        }


def is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def check_label(name: str, value: str) -> None:
    """A version or model: 1 to :data:`MAX_LABEL` printable characters."""
    if not 0 < len(value) <= MAX_LABEL or not value.isprintable():
        raise PackageInputError(f"{name} must be 1 to {MAX_LABEL} printable characters")


class FirmwareStore(Protocol):
    """Package metadata by SHA-256; answered from memory, persistent ones write behind."""

    def all(self) -> list[FirmwarePackage]: ...
    def get(self, sha256: str) -> FirmwarePackage | None: ...
    def put(self, package: FirmwarePackage) -> None: ...
    def delete(self, sha256: str) -> None: ...


class MemoryFirmwareStore:
    """Metadata for the life of the process (``lwm2m server --db :memory:``)."""

    __slots__ = ("_packages",)

    def __init__(self, packages: Iterable[FirmwarePackage] = ()) -> None:
        self._packages = {package.sha256: package for package in packages}

    def all(self) -> list[FirmwarePackage]:
        return sorted(self._packages.values(), key=lambda package: package.added)

    def get(self, sha256: str) -> FirmwarePackage | None:
        return self._packages.get(sha256)

    def put(self, package: FirmwarePackage) -> None:
        self._packages[package.sha256] = package

    def delete(self, sha256: str) -> None:
        self._packages.pop(sha256, None)
