"""A device that meets Deutsche Telekom's LwM2M device profile, built from the standard objects.

Every resource the profile marks mandatory or recommended is present.  The defaults follow the
profile's NB-IoT timer rules: extended T3412 (PSM timer) > lifetime > default pmax, and
default pmin < eDRX cycle < default pmax.  Radio, battery and location values are plausible
starting points from ``seed``; :class:`~lwm2m.client.simulator.DeviceSimulator` moves them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lwm2m.client.objects import ObjectImplementation, ResourceValue, SimpleObject
from lwm2m.client.standard import device as dev
from lwm2m.client.standard import server as srv
from lwm2m.client.standard.access_control import (
    BOOTSTRAP_OWNER,
    OBJECT_LEVEL,
    Access,
    AccessControlObject,
)
from lwm2m.client.standard.cellular import CellularConnectivityObject
from lwm2m.client.standard.devcap import DevCapObject
from lwm2m.client.standard.device import DeviceObject
from lwm2m.client.standard.firmware import FirmwareUpdateObject
from lwm2m.client.standard.security import security_instance
from lwm2m.client.standard.server import ServerObject
from lwm2m.client.standard.statistics import ConnectivityStatisticsObject
from lwm2m.client.tree import ACCESS_CONTROL, BOOTSTRAP_ONLY, SERVER, ObjectTree
from lwm2m.model import ModelRegistry, ObjectLink, ObjectModel
from lwm2m.model.builtin import builtin_models

NB_IOT = 7
LTE_FDD = 6
TELEKOM_PLMN = 26201
BAND_8_DL_EARFCN = 3740
BONN = (50.7374, 7.0982)
SERVER_CREATABLE = (11, 19)
"""Objects whose instances servers may create: APN profiles and data containers."""

PSM_TIMER = 90000
"""Extended T3412 in seconds (25 h), above the default lifetime."""
ACTIVE_TIMER = 60
EDRX_NB_S1 = b"\x05"
"""24.008 §10.5.5.32 octet 3: paging time window 2.56 s, eDRX cycle 81.92 s."""


@dataclass(frozen=True, slots=True)
class ServerAccount:
    """A device-management server: NoSec unless a PSK identity is given."""

    short_server_id: int
    uri: str
    lifetime: int = 86400
    default_pmin: int = 60
    default_pmax: int = 43200
    binding: str = "UQ"
    psk_identity: bytes | None = None
    psk_key: bytes = b""


@dataclass(frozen=True, slots=True)
class BootstrapAccount:
    uri: str
    psk_identity: bytes | None = None
    psk_key: bytes = b""
    hold_off: int = 0


DEFAULT_SERVER = ServerAccount(short_server_id=1, uri="coap://127.0.0.1:5683")
"""An IP address, not a name: NB-IoT devices often have no DNS (profile, /0/x/0)."""


def telekom_device(
    endpoint: str,
    *,
    seed: int,
    now: float,
    servers: Sequence[ServerAccount] = (DEFAULT_SERVER,),
    bootstrap: BootstrapAccount | None = None,
    manufacturer: str = "lwm2m project",
    model_number: str = "NB-Sim 1",
    firmware_version: str = "1.0.0",
    hardware_version: str = "1.0",
    battery: bool = True,
    bindings: str = "UQ",
    apn: str = "internet.nbiot.telekom.de",
    location: tuple[float, float] = BONN,
    models: ModelRegistry | None = None,
    modem: bool = False,
) -> ObjectTree:
    """The whole data model of a Telekom-profile device named ``endpoint``.

    The serial number is the IMEI of a ``urn:imei:`` endpoint, else the endpoint itself.  With
    more than one server, each owns its Server instance and every server has full rights on
    the other instances and may create APN profiles and data containers.

    ``modem``: the device has a real modem (:mod:`lwm2m.client.cellular` fills /4, /7 and /10
    from it), so /4 starts with only what is known without it, /10 requests what servers
    write, and the cell measurement objects (3353, 3370-3372), which the driver cannot
    measure, are left out rather than invented.
    """
    models = models or builtin_models()
    rng = random.Random(seed)

    def model(object_id: int) -> ObjectModel:
        found = models.get(object_id)
        if found is None:
            raise ValueError(f"no model for object {object_id}")
        return found

    cell = _cell(rng)
    monitoring: dict[int, ResourceValue] = {
        0: NB_IOT,
        1: {0: NB_IOT, 1: LTE_FDD},
        2: cell["rsrp"],
        3: cell["rsrq"],
        4: {0: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"},
        7: {0: apn},
        8: cell["cell_id"],
        9: TELEKOM_PLMN % 100,
        10: TELEKOM_PLMN // 100,
        11: cell["snr"],
        12: cell["tac"],
    }
    cellular: ObjectImplementation = SimpleObject(
        model(10),
        {
            0: {
                1: 0,
                4: PSM_TIMER,
                5: ACTIVE_TIMER,
                9: EDRX_NB_S1,
                11: {0: ObjectLink(11, 0)},
                12: 0b11,
                13: 0b11,
            }
        },
    )
    if modem:
        monitoring = {0: NB_IOT, 1: {0: NB_IOT}, 4: {}, 7: {0: apn}}
        cellular = CellularConnectivityObject(
            model(10),
            psm_timer=PSM_TIMER,
            active_timer=ACTIVE_TIMER,
            edrx=EDRX_NB_S1,
            apn_profile=ObjectLink(11, 0),
        )
    objects: list[ObjectImplementation] = [
        SimpleObject(model(0), _security(servers, bootstrap)),
        ServerObject(model(1), _servers(servers, now, bootstrapped=bootstrap is not None)),
        AccessControlObject(model(2)),
        DeviceObject(
            model(3),
            _device(
                endpoint,
                manufacturer=manufacturer,
                model_number=model_number,
                firmware_version=firmware_version,
                hardware_version=hardware_version,
                battery=battery,
                bindings=bindings,
            ),
            now=now,
        ),
        SimpleObject(model(4), {0: monitoring}),
        FirmwareUpdateObject(model(5)),
        SimpleObject(
            model(6),
            {0: {0: location[0], 1: location[1], 2: 60.0, 3: 10.0, 5: int(now), 6: 0.0}},
        ),
        ConnectivityStatisticsObject(model(7)),
        cellular,
        SimpleObject(
            model(11),
            {
                0: {
                    0: "Telekom NB-IoT",
                    1: apn,
                    3: True,
                    4: 3,
                    9: {0: int(now)},
                    10: {0: 0},
                    11: {0: 0},
                    13: 0,
                    14: 0,
                }
            },
        ),
        SimpleObject(
            model(13), {0: {6: str(TELEKOM_PLMN), 7: False, 8: "26201,26202,26203", 10: -130}}
        ),
        DevCapObject(
            model(15),
            {
                0: {0: "0;1", 1: 0, 2: "temperature, humidity", 3: True, 4: True},
                1: {0: "0", 1: 3, 2: "GNSS", 3: True, 4: True},
            },
        ),
        SimpleObject(model(19), {0: {0: {0: b""}, 3: "uplink data", 4: "CBOR"}}),
        SimpleObject(model(21)),
    ]
    if not modem:
        objects += _cell_measurements(model, cell, rng, now)
    tree = ObjectTree(objects)
    _grant_access(tree, [account.short_server_id for account in servers])
    return tree


def _cell_measurements(
    model: Callable[[int], ObjectModel], cell: dict[str, int], rng: random.Random, now: float
) -> list[ObjectImplementation]:
    """Simulated serving-cell, measurement and timing-advance objects (3353, 3370-3372)."""
    return [
        SimpleObject(
            model(3353),
            {0: {6030: TELEKOM_PLMN, 6031: 8, 2: cell["tac"], 6033: cell["cell_id"]}},
        ),
        SimpleObject(model(3370), {0: _measurement(cell, now)}),
        SimpleObject(
            model(3371),
            {iid: _measurement(_cell(rng, cell), now) for iid in range(2)},
            creatable=False,
        ),
        SimpleObject(
            model(3372), {0: {6037: _frame(now), 6038: _subframe(now), 2: cell["timing"]}}
        ),
    ]


def _security(
    servers: Sequence[ServerAccount], bootstrap: BootstrapAccount | None
) -> dict[int, dict[int, ResourceValue]]:
    instances = [
        security_instance(
            account.uri,
            bootstrap=False,
            short_server_id=account.short_server_id,
            psk_identity=account.psk_identity,
            psk_key=account.psk_key,
        )
        for account in servers
    ]
    if bootstrap is not None:
        instances.insert(
            0,
            security_instance(
                bootstrap.uri,
                bootstrap=True,
                psk_identity=bootstrap.psk_identity,
                psk_key=bootstrap.psk_key,
                hold_off=bootstrap.hold_off,
            ),
        )
    return dict(enumerate(instances))


def _servers(
    servers: Sequence[ServerAccount], now: float, *, bootstrapped: bool
) -> dict[int, dict[int, ResourceValue]]:
    return {
        iid: {
            srv.SHORT_SERVER_ID: account.short_server_id,
            srv.LIFETIME: account.lifetime,
            srv.DEFAULT_PMIN: account.default_pmin,
            srv.DEFAULT_PMAX: account.default_pmax,
            srv.DISABLE_TIMEOUT: srv.DEFAULT_DISABLE_TIMEOUT,
            srv.NOTIFICATION_STORING: True,
            srv.BINDING: account.binding,
            srv.APN_LINK: ObjectLink(11, 0),
            srv.LAST_BOOTSTRAPPED: int(now) if bootstrapped else 0,
            srv.REGISTRATION_PRIORITY_ORDER: iid,
        }
        for iid, account in enumerate(servers)
    }


def _device(
    endpoint: str,
    *,
    manufacturer: str,
    model_number: str,
    firmware_version: str,
    hardware_version: str,
    battery: bool,
    bindings: str,
) -> dict[int, ResourceValue]:
    values: dict[int, ResourceValue] = {
        dev.MANUFACTURER: manufacturer,
        dev.MODEL_NUMBER: model_number,
        dev.SERIAL_NUMBER: endpoint.removeprefix("urn:imei:"),
        dev.FIRMWARE_VERSION: firmware_version,
        dev.MEMORY_FREE: 96,
        dev.UTC_OFFSET: "+01:00",
        dev.TIMEZONE: "Europe/Berlin",
        dev.SUPPORTED_BINDINGS: bindings,
        dev.DEVICE_TYPE: "NB-IoT sensor",
        dev.HARDWARE_VERSION: hardware_version,
        dev.SOFTWARE_VERSION: firmware_version,
        dev.MEMORY_TOTAL: 256,
    }
    if battery:
        values |= {
            dev.AVAILABLE_POWER_SOURCES: {0: dev.PowerSource.INTERNAL_BATTERY.value},
            dev.POWER_SOURCE_VOLTAGE: {0: 3600},
            dev.POWER_SOURCE_CURRENT: {0: 5},
            dev.BATTERY_LEVEL: 100,
            dev.BATTERY_STATUS: dev.BatteryStatus.NORMAL.value,
        }
    else:
        values |= {
            dev.AVAILABLE_POWER_SOURCES: {0: dev.PowerSource.DC.value},
            dev.POWER_SOURCE_VOLTAGE: {0: 5000},
            dev.POWER_SOURCE_CURRENT: {0: 20},
        }
    return values


def _cell(rng: random.Random, serving: dict[str, int] | None = None) -> dict[str, int]:
    """A plausible LTE/NB-IoT cell on band 8; a neighbour of ``serving`` is weaker."""
    rsrp = rng.randint(-115, -85) if serving is None else serving["rsrp"] - rng.randint(3, 15)
    return {
        "cell_id": rng.randrange(1 << 28),
        "tac": serving["tac"] if serving else rng.randrange(1, 0xFFFE),
        "pci": rng.randrange(504),
        "rsrp": max(rsrp, -140),
        "rsrq": rng.randint(-14, -6),
        "snr": rng.randint(0, 20),
        "timing": rng.randint(2, 40),
    }


def _measurement(cell: dict[str, int], now: float) -> dict[int, ResourceValue]:
    return {
        6037: _frame(now),
        6038: _subframe(now),
        6034: cell["pci"],
        6035: cell["rsrp"],
        6036: cell["rsrq"],
        6032: BAND_8_DL_EARFCN,
    }


def _frame(now: float) -> int:
    """System frame number: 10 ms radio frames counted modulo 1024."""
    return int(now * 100) % 1024


def _subframe(now: float) -> int:
    return int(now * 1000) % 10


def _grant_access(tree: ObjectTree, server_ids: list[int]) -> None:
    """AC instances (Core §7.3): own Server instance per server, shared rights elsewhere."""
    if not server_ids:
        return
    acl = tree.object(ACCESS_CONTROL)
    assert isinstance(acl, AccessControlObject)
    everyone = dict.fromkeys(server_ids, Access.FULL)
    servers = tree.object(SERVER)
    assert isinstance(servers, ServerObject)
    for obj in tree:
        if obj.object_id in BOOTSTRAP_ONLY or obj is acl:
            continue
        if obj.object_id in SERVER_CREATABLE:
            acl.grant(
                obj.object_id,
                OBJECT_LEVEL,
                owner=BOOTSTRAP_OWNER,
                acl=dict.fromkeys(server_ids, Access.CREATE),
            )
        for iid in obj.list_instances():
            if obj is servers:
                acl.grant(SERVER, iid, owner=servers.short_server_id(iid))
            else:
                acl.grant(obj.object_id, iid, owner=server_ids[0], acl=everyone)
