"""The firmware repository: package bytes in a directory, named by their SHA-256, and their
metadata in a :class:`~lwm2m.firmware.package.FirmwareStore`.

An upload streams into a temporary file of the directory while it is hashed and counted (over
``max_size`` it stops at once: memory and disk stay bounded whatever a client sends), is
synced, and is renamed to its hash: a package file is whole or absent, never half written,
and the same bytes are one file.  The metadata is written after the file, so a crash between
the two leaves a file nobody names, which the next :class:`FirmwareRepository` removes;
metadata whose file is gone is dropped the same way.

Reads (:meth:`FirmwareRepository.read`) are positional reads on a descriptor kept open per
package: a CoAP block costs one ``pread`` from the page cache, short enough for the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable

from lwm2m.firmware.package import (
    FirmwarePackage,
    FirmwareStore,
    MemoryFirmwareStore,
    PackageConflictError,
    PackageInputError,
    PackageTooLargeError,
    UnknownPackageError,
    is_sha256,
)

logger = logging.getLogger(__name__)

MAX_PACKAGE_SIZE = 16 << 20
"""Default size limit of a package (bytes): NB-IoT modules' images are well under it."""

_UPLOAD_PREFIX = ".upload-"


class Upload:
    """A package being received: :meth:`write` chunks, then :meth:`FirmwareRepository.add`
    it, or :meth:`discard` it.  Use it as a context manager to discard what is not added."""

    def __init__(self, directory: str, max_size: int) -> None:
        fd, self._path = tempfile.mkstemp(dir=directory, prefix=_UPLOAD_PREFIX)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._max_size = max_size
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """PackageTooLargeError once the bytes pass the limit (nothing more is written)."""
        self.size += len(chunk)
        if self.size > self._max_size:
            raise PackageTooLargeError(self._max_size)
        self._hash.update(chunk)
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _finish(self) -> str:
        """Sync the bytes; the temporary file's path."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._path

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class FirmwareRepository:
    """Packages in ``directory`` (created, mode 0700), metadata in ``store``.

    :meth:`beside` opens the repository that belongs to a database file; :meth:`temporary`
    one that is removed at :meth:`close`.  ``on_delete`` callbacks run when a package goes
    (delivery revokes its download URLs there).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        store: FirmwareStore | None = None,
        *,
        max_size: int = MAX_PACKAGE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be positive")
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self.store: FirmwareStore = store if store is not None else MemoryFirmwareStore()
        self.max_size = max_size
        self._clock = clock
        self._fds: dict[str, int] = {}
        self._temporary = False
        self.on_delete: list[Callable[[str], object]] = []
        self._reconcile()

    @classmethod
    def beside(
        cls, database: str, store: FirmwareStore | None = None, *, max_size: int = MAX_PACKAGE_SIZE
    ) -> FirmwareRepository:
        """The repository of the database file ``database``: ``<database>.firmware/``."""
        return cls(f"{database}.firmware", store, max_size=max_size)

    @classmethod
    def temporary(cls, *, max_size: int = MAX_PACKAGE_SIZE) -> FirmwareRepository:
        """Packages kept for the life of the repository (a server without a database)."""
        repository = cls(tempfile.mkdtemp(prefix="lwm2m-firmware-"), max_size=max_size)
        repository._temporary = True
        return repository

    def _reconcile(self) -> None:
        """Drop what a crash left half done: uploads, files without metadata, metadata
        without a file."""
        names = set(os.listdir(self.directory))
        for package in self.store.all():
            if package.sha256 not in names:
                logger.warning("firmware %s has no file any more: dropped", package.sha256)
                self.store.delete(package.sha256)
            names.discard(package.sha256)
        for name in names:
            if name.startswith(_UPLOAD_PREFIX) or is_sha256(name):
                logger.info("firmware repository: removing leftover %s", name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.directory, name))

    # -- adding ------------------------------------------------------------------------------

    def upload(self) -> Upload:
        return Upload(self.directory, self.max_size)

    def add(
        self, upload: Upload, *, version: str, model: str, signature: bytes | None = None
    ) -> tuple[FirmwarePackage, bool]:
        """Keep ``upload`` as a package; the package and whether it is new.  The same bytes
        with the same metadata are the package there already (the upload is discarded);
        with other metadata, PackageConflictError.  PackageInputError for an empty upload or
        bad metadata."""
        if upload.size == 0:
            upload.discard()
            raise PackageInputError("the package is empty")
        package = FirmwarePackage(
            upload.sha256, upload.size, version, model, signature or None, self._clock()
        )
        existing = self.store.get(package.sha256)
        if existing is not None:
            upload.discard()
            same = (existing.version, existing.model, existing.signature) == (
                package.version,
                package.model,
                package.signature,
            )
            if not same:
                raise PackageConflictError(
                    f"these bytes are package {existing.sha256} already, version "
                    f"{existing.version!r} for {existing.model!r}"
                )
            return existing, False
        os.replace(upload._finish(), self.path(package.sha256))
        _sync_directory(self.directory)
        self.store.put(package)
        logger.info(
            "firmware %s added: %s for %s, %d bytes",
            package.sha256,
            package.version,
            package.model,
            package.size,
        )
        return package, True

    def add_bytes(
        self, data: bytes, *, version: str, model: str, signature: bytes | None = None
    ) -> tuple[FirmwarePackage, bool]:
        with self.upload() as upload:
            upload.write(data)
            return self.add(upload, version=version, model=model, signature=signature)

    # -- reading -----------------------------------------------------------------------------

    def packages(self) -> list[FirmwarePackage]:
        return self.store.all()

    def get(self, sha256: str) -> FirmwarePackage | None:
        return self.store.get(sha256)

    def package(self, sha256: str) -> FirmwarePackage:
        """UnknownPackageError when there is none."""
        package = self.store.get(sha256)
        if package is None:
            raise UnknownPackageError(f"no firmware package {sha256!r:.80}")
        return package

    def path(self, sha256: str) -> str:
        if not is_sha256(sha256):
            raise UnknownPackageError(f"{sha256!r:.80} is not a SHA-256")
        return os.path.join(self.directory, sha256)

    def read(self, sha256: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (fewer at the end); UnknownPackageError."""
        fd = self._fds.get(sha256)
        if fd is None:
            self.package(sha256)
            fd = self._fds[sha256] = os.open(self.path(sha256), os.O_RDONLY)
        return os.pread(fd, length, offset)

    def content(self, sha256: str) -> bytes:
        """The whole package (for a push, which sends it from memory anyway)."""
        package = self.package(sha256)
        return self.read(sha256, 0, package.size)

    # -- removing ----------------------------------------------------------------------------

    def delete(self, sha256: str) -> FirmwarePackage:
        """Remove a package (its download URLs stop working first); UnknownPackageError."""
        package = self.package(sha256)
        for callback in list(self.on_delete):
            callback(sha256)
        self.store.delete(sha256)
        fd = self._fds.pop(sha256, None)
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(sha256))
        logger.info("firmware %s deleted", sha256)
        return package

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)


def _sync_directory(directory: str) -> None:
    """Make a rename durable (the directory entry, not just the file)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
