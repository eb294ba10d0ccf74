"""The package format, /5's state machine and every Update Result a pushed package can cause."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lwm2m.client.firmware.package import (
    MAX_HEADER_SIZE,
    PackageError,
    Refusal,
    load_public_key,
    parse_header,
    verify_image,
)
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.objects import BadRequestError, MethodNotAllowedError
from lwm2m.client.profile import telekom_device
from lwm2m.client.standard.firmware import (
    FirmwareUpdateObject,
    NoUpdaterError,
    State,
    UpdateResult,
)
from lwm2m.model import MultipleResource, Path
from tests.firmware.common import IMAGE, MODEL, SIGNER, T0, device, package, read, status, write

R = UpdateResult


def test_header_round_trip_and_early_parse() -> None:
    data = package()
    header = parse_header(data)
    assert header is not None
    assert (header.model, header.version, header.name) == (MODEL, "2.0.0", "nb-sim")
    assert header.image_size == len(IMAGE) and header.signature is not None
    assert data[header.length :] == IMAGE and header.length <= MAX_HEADER_SIZE
    for cut in range(header.length):  # a prefix is never mistaken for a header
        assert parse_header(data[:cut]) is None
    verify_image(header, IMAGE, SIGNER.public_key())


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (b"ELF\x7f" + package()[4:], Refusal.UNSUPPORTED_PACKAGE),
        (b"LWFW\x02" + package()[5:], Refusal.UNSUPPORTED_PACKAGE),
        (b"PK", Refusal.UNSUPPORTED_PACKAGE),
    ],
)
def test_foreign_headers_are_unsupported(data: bytes, refusal: Refusal) -> None:
    with pytest.raises(PackageError) as caught:
        parse_header(data)
    assert caught.value.result is refusal


def test_signature_and_digest_checks() -> None:
    other = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    key = SIGNER.public_key()
    for data in (package(signer=other), package(signer=None)):
        header = parse_header(data)
        assert header is not None
        with pytest.raises(PackageError, match="sign"):
            verify_image(header, data[header.length :], key)
        verify_image(header, data[header.length :], None)  # no key: the digest suffices
    header = parse_header(package())
    assert header is not None
    with pytest.raises(PackageError, match="SHA-256"):
        verify_image(header, IMAGE[:-1] + b"\0", key)


def test_public_key_formats() -> None:
    from cryptography.hazmat.primitives import serialization

    key = SIGNER.public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for text in (raw, raw.hex().encode(), pem):
        assert load_public_key(text).public_bytes_raw() == raw
    with pytest.raises(ValueError):
        load_public_key(b"abcd")


def test_without_an_updater_nothing_is_claimed_and_writes_are_refused() -> None:
    tree = telekom_device("urn:imei:490154203237518", seed=1, now=T0)
    assert read(tree, "/5/0/8") == MultipleResource(8, {})
    with pytest.raises(NoUpdaterError):
        write(tree, "/5/0/1", "coap://10.0.0.1/fw")
    with pytest.raises(NoUpdaterError):
        write(tree, "/5/0/0", package())


def test_protocol_support_and_delivery_tell_the_truth() -> None:
    tree, _, _ = device()
    assert read(tree, "/5/0/8") == MultipleResource(8, {0: 0, 1: 2, 2: 3, 3: 4})  # no PSK
    assert read(tree, "/5/0/9") == 2
    write(tree, "/5/0/1", "coaps://10.0.0.1/fw")
    assert status(tree.object(5)) == (State.IDLE, R.UNSUPPORTED_PROTOCOL)  # type: ignore[arg-type]


def test_pushed_package_downloaded_then_reset() -> None:
    tree, updater, firmware = device()
    write(tree, "/5/0/0", package())
    assert status(firmware) == (State.DOWNLOADED, R.INITIAL)
    assert read(tree, "/5/0/7") == "2.0.0" and read(tree, "/5/0/6") == "nb-sim"
    assert updater.slot.received == len(package())
    with pytest.raises(BadRequestError):
        write(tree, "/5/0/0", package())  # busy
    write(tree, "/5/0/0", b"\0")
    assert status(firmware) == (State.IDLE, R.INITIAL)
    assert updater.slot.received == 0 and read(tree, "/5/0/7") == ""


def test_update_only_when_downloaded_and_cancel_by_empty_uri() -> None:
    tree, updater, firmware = device()
    with pytest.raises(MethodNotAllowedError):
        tree.execute(Path.parse("/5/0/2"), server_id=1)
    write(tree, "/5/0/0", package())
    write(tree, "/5/0/1", "")
    assert status(firmware) == (State.IDLE, R.INITIAL) and updater.slot.received == 0
    with pytest.raises(MethodNotAllowedError):
        tree.execute(Path.parse("/5/0/2"), server_id=1)


@pytest.mark.parametrize(
    ("limits", "data", "result"),
    [
        (DeviceLimits(MODEL, flash_size=4096), package(), R.NOT_ENOUGH_FLASH),
        (DeviceLimits(MODEL, ram_size=4096), package(), R.OUT_OF_RAM),
        (
            DeviceLimits(MODEL, public_key=SIGNER.public_key()),
            package(signer=None),
            R.INTEGRITY_FAILURE,
        ),
        (DeviceLimits(MODEL), package()[:-1] + b"\0", R.INTEGRITY_FAILURE),
        (DeviceLimits(MODEL), package()[:100], R.INTEGRITY_FAILURE),
        (DeviceLimits(MODEL), b"\x7fELF" + IMAGE, R.UNSUPPORTED_PACKAGE),
        (DeviceLimits(MODEL), package(model="NB-Sim 2"), R.UNSUPPORTED_PACKAGE),
    ],
)
def test_pushed_package_refusals(limits: DeviceLimits, data: bytes, result: UpdateResult) -> None:
    tree, updater, firmware = device(limits)
    write(tree, "/5/0/0", data)
    assert status(firmware) == (State.IDLE, result)
    assert updater.slot.received == 0


@pytest.mark.parametrize(
    ("uri", "result"),
    [
        ("not a uri", R.INVALID_URI),
        ("coap://", R.INVALID_URI),
        ("coap://host:99999/fw", R.INVALID_URI),
        ("ftp://fw.example.com/pkg", R.UNSUPPORTED_PROTOCOL),
    ],
)
def test_uri_problems(uri: str, result: UpdateResult) -> None:
    tree, _, firmware = device()
    write(tree, "/5/0/1", uri)
    assert status(firmware) == (State.IDLE, result)


async def test_low_battery_update_fails_and_keeps_the_package() -> None:
    tree, _, firmware = device()
    device_object = tree.object(3)
    assert isinstance(device_object, FirmwareUpdateObject) is False
    device_object.set(0, 9, 5)  # type: ignore[attr-defined]
    write(tree, "/5/0/0", package())
    tree.execute(Path.parse("/5/0/2"), server_id=1)
    assert status(firmware) == (State.UPDATING, R.INITIAL)
    await asyncio.sleep(0.01)
    assert status(firmware) == (State.DOWNLOADED, R.UPDATE_FAILED)
    assert read(tree, "/3/0/3") == "1.0.0"


async def test_update_without_a_reboot_path_fails() -> None:
    tree, _, firmware = device()
    write(tree, "/5/0/0", package())
    tree.execute(Path.parse("/5/0/2"), server_id=1)
    await asyncio.sleep(0.01)
    assert status(firmware) == (State.DOWNLOADED, R.UPDATE_FAILED)
    assert read(tree, "/3/0/3") == "1.0.0"


async def test_update_reboots_into_the_new_version() -> None:
    tree, updater, firmware = device()
    reboots: list[str] = []

    async def reboot(apply: object) -> None:
        reboots.append(str(read(tree, "/3/0/3")))
        apply()  # type: ignore[operator]

    updater.reboot = reboot
    write(tree, "/5/0/0", package())
    tree.execute(Path.parse("/5/0/2"), server_id=1)
    await asyncio.sleep(0.01)
    assert reboots == ["1.0.0"]
    assert status(firmware) == (State.IDLE, R.SUCCESS)
    assert read(tree, "/3/0/3") == "2.0.0" and read(tree, "/5/0/7") == "2.0.0"
