"""The Telekom device profile: every mandatory and recommended resource is there and readable."""

from __future__ import annotations

import pytest

from lwm2m.client.profile import (
    ACTIVE_TIMER,
    PSM_TIMER,
    BootstrapAccount,
    ServerAccount,
    telekom_device,
)
from lwm2m.client.standard.access_control import Access
from lwm2m.client.tree import ObjectTree
from lwm2m.model import MultipleResource, ObjectInstance, Path, SingleResource

P = Path.parse
NOW = 1_700_000_000.0
ENDPOINT = "urn:imei:490154203237518"

# From seeds/000_ecccf4fbf193dc30.txt: object -> resources whose Telekom column says Mandatory,
# Recommended or "Mandatory, if supported" (for objects the device supports).  Battery Level
# (/3/0/9) and Battery Status (/3/0/20) are mandatory for battery-powered devices.
TELEKOM_REQUIRED: dict[int, tuple[int, ...]] = {
    0: (0, 1, 2, 3, 4, 5, 16),
    1: (0, 1, 2, 3, 6, 7, 8, 9, 10, 12, 13),
    3: (0, 1, 2, 3, 4, 5, 9, 11, 16, 18, 20),
    4: (0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12),
    5: (0, 1, 2, 3, 5, 7, 9),
    6: (0, 1, 5),
    7: (6, 7),
    10: (4, 11),
    11: (0, 1, 4, 10, 11),
    13: (6, 7, 8),
    15: (0, 1, 4, 5, 6),
    19: (0,),
    3353: (6030, 6031, 2, 6033),
    3370: (6037, 6038, 6034, 6035, 6036, 6032),
    3371: (6037, 6038, 6034, 6035, 6036, 6032),
    3372: (6037, 6038, 2),
}
NB_S1_EDRX_CYCLES = {0b0010: 20.48, 0b0011: 40.96, 0b0101: 81.92, 0b1001: 163.84, 0b1010: 327.68}
"""eDRX cycle in seconds by value (24.008 Table 10.5.5.32, NB-S1 mode; the shorter ones)."""
TELEKOM_OBJECTS_WITHOUT_REQUIRED_RESOURCES = (2, 21)
"""Access Control (all resources optional) and OSCORE (resources optional, no instance until
the bootstrap server provisions one)."""


@pytest.fixture(scope="module")
def device() -> ObjectTree:
    return telekom_device(ENDPOINT, seed=7, now=NOW)


def test_every_profile_object_is_present(device: ObjectTree) -> None:
    for object_id in (*TELEKOM_REQUIRED, *TELEKOM_OBJECTS_WITHOUT_REQUIRED_RESOURCES):
        assert object_id in device


@pytest.mark.parametrize(
    ("object_id", "resource_id"),
    [(oid, rid) for oid, rids in TELEKOM_REQUIRED.items() for rid in rids],
)
def test_required_resource_is_present_and_readable(
    device: ObjectTree, object_id: int, resource_id: int
) -> None:
    server_id = None if object_id == 0 else 1
    obj = device.object(object_id)
    assert obj.list_instances(), f"/{object_id} has no instance"
    resource = obj.model.resource(resource_id)
    assert resource is not None
    for iid in obj.list_instances():
        path = Path.of(object_id, iid, resource_id)
        discovered = {entry.path for entry in device.discover(path.parent, server_id=server_id)}
        assert path in discovered
        if resource.operations.readable or (
            server_id is None and not resource.operations.executable
        ):
            node = device.read(path, server_id=server_id)
            assert isinstance(node, (SingleResource, MultipleResource))


def test_identity(device: ObjectTree) -> None:
    assert device.read(P("/3/0/2"), server_id=1) == SingleResource(2, "490154203237518")
    assert device.read(P("/3/0/16"), server_id=1) == SingleResource(16, "UQ")
    assert device.read(P("/4/0/0"), server_id=1) == SingleResource(0, 7)  # NB-IoT


def test_timer_rules_of_the_profile(device: ObjectTree) -> None:
    """Extended T3412 > lifetime > pmax and pmin < eDRX cycle < pmax."""
    server = device.read(P("/1/0"), server_id=1)
    assert isinstance(server, ObjectInstance)
    values = {rid: r.value for rid, r in server.resources.items() if isinstance(r, SingleResource)}
    lifetime, pmin, pmax = values[1], values[2], values[3]
    assert isinstance(lifetime, int) and isinstance(pmin, int) and isinstance(pmax, int)
    assert PSM_TIMER > lifetime > pmax
    edrx = device.read(P("/10/0/9"), server_id=1)
    assert isinstance(edrx, SingleResource) and isinstance(edrx.value, bytes)
    cycle = NB_S1_EDRX_CYCLES[edrx.value[0] & 0x0F]
    assert pmin < cycle < pmax
    assert device.read(P("/10/0/5"), server_id=1) == SingleResource(5, ACTIVE_TIMER)


def test_register_links(device: ObjectTree) -> None:
    links = device.object_links()
    assert links.startswith("</1>;ver=1.1,</1/0>,</2/0>,")
    assert "</0" not in links and "</21" not in links
    assert "</3>;ver=1.1,</3/0>" in links and "</3370/0>" in links


def test_no_battery_means_mains_power() -> None:
    tree = telekom_device("dev-1", seed=1, now=NOW, battery=False)
    assert 9 not in tree.object(3).list_resources(0)
    assert tree.read(P("/3/0/2"), server_id=1) == SingleResource(2, "dev-1")


def test_accounts_and_bootstrap() -> None:
    tree = telekom_device(
        ENDPOINT,
        seed=1,
        now=NOW,
        servers=(
            ServerAccount(101, "coaps://10.1.1.1:5684", psk_identity=b"id", psk_key=b"k"),
            ServerAccount(102, "coap://10.2.2.2:5683"),
        ),
        bootstrap=BootstrapAccount("coaps://10.9.9.9:5684", psk_identity=b"bs", psk_key=b"k"),
    )
    assert tree.server_ids() == [101, 102]
    bootstrap = tree.read(P("/0/0"), server_id=None)
    assert isinstance(bootstrap, ObjectInstance)
    assert bootstrap.resources[1] == SingleResource(1, True)
    assert bootstrap.resources[2] == SingleResource(2, 0)  # PSK
    assert tree.read(P("/0/2/2"), server_id=None) == SingleResource(2, 3)  # NoSec
    assert tree.read(P("/0/2/16"), server_id=None) == MultipleResource(16, {})
    assert tree.read(P("/1/0/12"), server_id=101) == SingleResource(12, int(NOW))
    # each server owns its own Server instance; everything else is shared
    assert tree.rights(102, 1, 0) == Access.NONE
    assert tree.rights(101, 1, 0) == Access.FULL
    assert tree.rights(102, 3, 0) == Access.FULL
    assert Access.CREATE in tree.rights(102, 11, 65535)
    assert Access.CREATE not in tree.rights(102, 3, 65535)


def test_same_seed_same_device() -> None:
    first = telekom_device(ENDPOINT, seed=3, now=NOW)
    second = telekom_device(ENDPOINT, seed=3, now=NOW)
    other = telekom_device(ENDPOINT, seed=4, now=NOW)
    assert first.read(P("/4"), server_id=1) == second.read(P("/4"), server_id=1)
    assert first.read(P("/4"), server_id=1) != other.read(P("/4"), server_id=1)
