"""``lwm2m client``'s firmware flags: the signing key, flash and RAM sizes take effect."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lwm2m.cli.client import _firmware
from lwm2m.cli.payload import InputError
from lwm2m.client.profile import telekom_device
from lwm2m.client.standard.firmware import DeliveryMethod
from lwm2m.model import MultipleResource
from tests.firmware.common import SIGNER, T0, read


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(
        **{"firmware_key": None, "flash_size": 1 << 20, "ram_size": 64 << 10, **given}
    )


def test_flags_reach_the_updater(tmp_path: Path) -> None:
    key = tmp_path / "fw.pub"
    key.write_bytes(
        SIGNER.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    tree = telekom_device("urn:imei:490154203237518", seed=1, now=T0)
    updater = _firmware(
        _args(firmware_key=str(key), flash_size=5000, ram_size=512), tree, DeliveryMethod.BOTH
    )
    limits = updater.slot.limits
    assert (limits.model, limits.flash_size, limits.ram_size) == ("NB-Sim 1", 5000, 512)
    assert limits.public_key is not None
    assert limits.public_key.public_bytes_raw() == SIGNER.public_key().public_bytes_raw()


def test_nidd_devices_take_pushed_packages_only() -> None:
    tree = telekom_device("urn:imei:490154203237518", seed=1, now=T0)
    _firmware(_args(), tree, DeliveryMethod.PUSH)
    assert read(tree, "/5/0/9") == DeliveryMethod.PUSH
    assert read(tree, "/5/0/8") == MultipleResource(8, {})


@pytest.mark.parametrize(
    ("given", "message"),
    [({"firmware_key": "/nonexistent"}, "--firmware-key"), ({"ram_size": 8}, "ram_size")],
)
def test_bad_flags_are_refused(given: dict[str, object], message: str) -> None:
    tree = telekom_device("urn:imei:490154203237518", seed=1, now=T0)
    with pytest.raises(InputError, match=message):
        _firmware(_args(**given), tree, DeliveryMethod.BOTH)
