"""The repository on disk and in the database, and the download grants (no network)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lwm2m.firmware import (
    DownloadGrants,
    FirmwareRepository,
    PackageConflictError,
    PackageInputError,
    PackageTooLargeError,
)
from lwm2m.storage import SqliteStore

DATA = b"firmware image " * 100
SHA = hashlib.sha256(DATA).hexdigest()


def test_packages_and_their_metadata_survive_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    store = SqliteStore(db)
    repository = FirmwareRepository.beside(db, store.firmware)
    package, created = repository.add_bytes(DATA, version="1", model="m", signature=b"s")
    assert created and package.sha256 == SHA and package.size == len(DATA)
    repository.close()
    store.close()
    store = SqliteStore(db)
    try:
        repository = FirmwareRepository.beside(db, store.firmware)
        assert repository.packages() == [package]
        assert repository.read(SHA, 15, 15) == DATA[15:30]
        assert repository.content(SHA) == DATA
        assert os.stat(repository.directory).st_mode & 0o777 == 0o700
        repository.close()
    finally:
        store.close()


def test_what_a_crash_left_half_done_is_cleaned_at_open(tmp_path: Path) -> None:
    repository = FirmwareRepository(tmp_path / "fw")
    kept, _ = repository.add_bytes(DATA, version="1", model="m")
    gone, _ = repository.add_bytes(b"other", version="1", model="m")
    os.unlink(repository.path(gone.sha256))  # metadata without a file
    orphan = hashlib.sha256(b"orphan").hexdigest()
    (tmp_path / "fw" / orphan).write_bytes(b"orphan")  # a file without metadata
    (tmp_path / "fw" / ".upload-abc").write_bytes(b"half")  # an upload cut short
    reopened = FirmwareRepository(tmp_path / "fw", repository.store)
    assert reopened.packages() == [kept]
    assert os.listdir(tmp_path / "fw") == [kept.sha256]


def test_uploads_are_bounded_and_checked(tmp_path: Path) -> None:
    repository = FirmwareRepository(tmp_path / "fw", max_size=100)
    with repository.upload() as upload, pytest.raises(PackageTooLargeError):
        upload.write(b"x" * 60)
        upload.write(b"x" * 41)
    with pytest.raises(PackageInputError):
        repository.add_bytes(b"", version="1", model="m")
    with pytest.raises(PackageInputError):
        repository.add_bytes(b"x", version="", model="m")
    with pytest.raises(PackageInputError):
        repository.add_bytes(b"x", version="1", model="m", signature=b"s" * 5000)
    repository.add_bytes(b"x", version="1", model="m")
    with pytest.raises(PackageConflictError):
        repository.add_bytes(b"x", version="1", model="other")
    assert len(os.listdir(tmp_path / "fw")) == 1


def test_a_temporary_repository_goes_at_close() -> None:
    repository = FirmwareRepository.temporary()
    repository.add_bytes(DATA, version="1", model="m")
    directory = repository.directory
    repository.close()
    assert not os.path.exists(directory)


def test_grants_expire_are_bound_and_bounded() -> None:
    tokens = iter(f"t{n}" for n in range(100))
    grants = DownloadGrants(token_source=lambda: next(tokens), max_grants=3)
    grant = grants.issue("a", SHA, now=0.0, ttl=10.0, uses=1)
    assert grants.find(grant.token, now=1.0, endpoint="b") is None  # another device
    assert grants.find(grant.token, now=1.0, endpoint="a") is grant
    assert grants.find(grant.token, now=1.0, endpoint=None) is grant  # unknown peer
    assert not grants.admit(grant, start=False)  # no block past 0 before a start
    assert grants.admit(grant, start=True) and grants.admit(grant, start=False)
    assert not grants.admit(grant, start=True)  # its one use is spent
    assert grants.find(grant.token, now=10.0, endpoint="a") is None  # expired
    for n in range(5):  # full: the one expiring first goes
        grants.issue("a", SHA, now=1.0, ttl=100.0 + n, uses=1)
    assert len(grants) == 3
    assert grants.find("t1", now=2.0, endpoint=None) is None
    assert grants.find("t5", now=2.0, endpoint=None) is not None
    assert grants.revoke(sha256=SHA) == 3 and len(grants) == 0
    with pytest.raises(ValueError):
        grants.issue("a", SHA, now=0.0, ttl=0.0, uses=1)
