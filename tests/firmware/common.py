"""A Telekom-profile device with a firmware updater, and packages for it."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lwm2m.client.firmware.package import build_package
from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.client.profile import telekom_device
from lwm2m.client.standard.firmware import FirmwareUpdateObject, State, UpdateResult
from lwm2m.client.tree import ObjectTree
from lwm2m.model import Path, SingleResource

MODEL = "NB-Sim 1"
T0 = 1_700_000_000.0
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
IMAGE = bytes(range(256)) * 40  # 10 KiB


def package(
    image: bytes = IMAGE,
    *,
    version: str = "2.0.0",
    model: str = MODEL,
    signer: Ed25519PrivateKey | None = SIGNER,
) -> bytes:
    return build_package(image, model=model, version=version, name="nb-sim", signing_key=signer)


def device(
    limits: DeviceLimits | None = None, pull: PullSettings | None = None
) -> tuple[ObjectTree, FirmwareUpdater, FirmwareUpdateObject]:
    tree = telekom_device("urn:imei:490154203237518", seed=1, now=T0)
    limits = limits or DeviceLimits(MODEL, public_key=SIGNER.public_key())
    updater = FirmwareUpdater(tree, limits, pull=pull)
    firmware = tree.object(5)
    assert isinstance(firmware, FirmwareUpdateObject)
    return tree, updater, firmware


def write(tree: ObjectTree, path: str, value: bytes | str) -> None:
    target = Path.parse(path)
    rid = target.resource_id
    assert rid is not None
    tree.write(target, SingleResource(rid, value), replace=True, server_id=1)


def status(firmware: FirmwareUpdateObject) -> tuple[State, UpdateResult]:
    return firmware.state, firmware.result


def read(tree: ObjectTree, path: str) -> object:
    node = tree.read(Path.parse(path), server_id=1)
    return node.value if isinstance(node, SingleResource) else node
