"""The firmware package format of the simulated device (docs/firmware.md).

A package is a header followed by the image.  All integers are big-endian::

    magic            4   b"LWFW"
    format version   1   1
    flags            1   bit 0: an Ed25519 signature follows the digest
    model            1+n length, UTF-8: the hardware model the image is built for (/3/0/1)
    version          1+n length, UTF-8: the firmware version it installs (/3/0/3, /5/0/7)
    name             1+n length, UTF-8: the package name (/5/0/6)
    image size       4   bytes of image after the header
    SHA-256          32  of the image
    signature        64  Ed25519 over every header byte before it (so over the digest, hence
                         the image, and over model and version), when flag bit 0 is set

The header is read as soon as its bytes arrive, so a download stops early on a package the
device cannot take (wrong magic or model, too big for its flash); the digest and signature are
checked once the image is complete.  Each refusal names the Update Result (/5/0/5) it causes.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

MAGIC = b"LWFW"
FORMAT_VERSION = 1
SIGNED = 0x01
SIGNATURE_SIZE = 64
DIGEST_SIZE = 32
_FIXED = struct.Struct(">4sBB")
_SIZE = struct.Struct(">I")
MAX_HEADER_SIZE = _FIXED.size + 3 * 256 + _SIZE.size + DIGEST_SIZE + SIGNATURE_SIZE
"""No header is longer: what a device must buffer before it knows what it is downloading."""


class Refusal(IntEnum):
    """Why a package is refused, as the Update Result it sets."""

    NOT_ENOUGH_FLASH = 2
    INTEGRITY_FAILURE = 5
    UNSUPPORTED_PACKAGE = 6


class PackageError(ValueError):
    """A package the device refuses; ``result`` is the Update Result that says why."""

    def __init__(self, result: Refusal, message: str) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, slots=True)
class PackageHeader:
    model: str
    version: str
    name: str
    image_size: int
    sha256: bytes
    signature: bytes | None
    length: int
    """Bytes of header: the image starts there."""
    signed_part: bytes
    """The header bytes the signature covers."""

    @property
    def package_size(self) -> int:
        return self.length + self.image_size


def build_package(
    image: bytes,
    *,
    model: str,
    version: str,
    name: str = "",
    signing_key: Ed25519PrivateKey | None = None,
) -> bytes:
    """A package for ``image``; signed when ``signing_key`` is given."""
    flags = SIGNED if signing_key is not None else 0
    head = bytearray(_FIXED.pack(MAGIC, FORMAT_VERSION, flags))
    for text in (model, version, name):
        encoded = text.encode("utf-8")
        if len(encoded) > 255:
            raise ValueError(f"{text[:20]!r}...: at most 255 bytes")
        head += bytes([len(encoded)]) + encoded
    head += _SIZE.pack(len(image)) + hashlib.sha256(image).digest()
    if signing_key is not None:
        head += signing_key.sign(bytes(head))
    return bytes(head) + image


def parse_header(data: bytes) -> PackageHeader | None:
    """The header at the start of ``data``; None while more bytes are needed.

    Raises :class:`PackageError` (unsupported package) for a wrong magic or format version.
    """
    if len(data) < _FIXED.size:
        if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise PackageError(Refusal.UNSUPPORTED_PACKAGE, "not a firmware package (magic)")
        return None
    magic, version, flags = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise PackageError(Refusal.UNSUPPORTED_PACKAGE, "not a firmware package (magic)")
    if version != FORMAT_VERSION or flags & ~SIGNED:
        raise PackageError(Refusal.UNSUPPORTED_PACKAGE, f"package format {version} unsupported")
    offset = _FIXED.size
    texts = []
    for _ in range(3):
        if len(data) <= offset:
            return None
        end = offset + 1 + data[offset]
        if len(data) < end:
            return None
        try:
            texts.append(data[offset + 1 : end].decode("utf-8"))
        except UnicodeDecodeError:
            raise PackageError(Refusal.UNSUPPORTED_PACKAGE, "header text not UTF-8") from None
        offset = end
    signed_end = offset + _SIZE.size + DIGEST_SIZE
    length = signed_end + (SIGNATURE_SIZE if flags & SIGNED else 0)
    if len(data) < length:
        return None
    (image_size,) = _SIZE.unpack_from(data, offset)
    return PackageHeader(
        model=texts[0],
        version=texts[1],
        name=texts[2],
        image_size=image_size,
        sha256=bytes(data[offset + _SIZE.size : signed_end]),
        signature=bytes(data[signed_end:length]) if flags & SIGNED else None,
        length=length,
        signed_part=bytes(data[:signed_end]),
    )


def verify_image(header: PackageHeader, image: bytes, key: Ed25519PublicKey | None) -> None:
    """Check the image against the header's digest and, with ``key``, the signature.

    A device provisioned with a key takes signed packages only.
    """
    if len(image) != header.image_size:
        raise PackageError(
            Refusal.INTEGRITY_FAILURE, f"image is {len(image)} bytes, not {header.image_size}"
        )
    if hashlib.sha256(image).digest() != header.sha256:
        raise PackageError(Refusal.INTEGRITY_FAILURE, "image does not match its SHA-256")
    if key is None:
        return
    if header.signature is None:
        raise PackageError(Refusal.INTEGRITY_FAILURE, "package is not signed")
    try:
        key.verify(header.signature, header.signed_part)
    except InvalidSignature:
        raise PackageError(Refusal.INTEGRITY_FAILURE, "signature does not verify") from None


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, or its 32 raw bytes (also as 64 hex digits)."""
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        key = load_pem_public_key(stripped)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    raw = bytes.fromhex(stripped.decode("ascii")) if len(stripped) == 64 else stripped
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (PEM, raw or hex)")
    return Ed25519PublicKey.from_public_bytes(raw)
