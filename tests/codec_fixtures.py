"""Hand-built object models and the LwM2M Core example client's nodes, for codec tests.

The Device object (3) follows the OMA registry's 3.xml (v1.2): every resource ID, type and
multiplicity is the registry's.  ``DEVICE_INSTANCE`` is the example client's /3/0 shared by the
Core data format examples: TLV "Single Object Instance Request Example" (Core 1.1 §7.4.3),
SenML JSON Table 7.4.4-2, SenML CBOR (Core 1.1.1 §7.4.5) and LwM2M JSON (1.0 §6.4.4); see the
vector modules under ``tests/vectors`` for where each was checked.  The Server (1) and Access
Control (2) models carry the resources the TLV examples use; objects 65 and 66 are the spec's
object-link illustration, with the values of its TLV example (the SenML Table 7.4.4-4 version
spells some differently: "myService1", /65/0/2 = 1).
"""

from __future__ import annotations

from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    ObjectInstance,
    ObjectLink,
    ObjectModel,
    ObjectNode,
    Operations,
    ResourceModel,
    ResourceType,
    SingleResource,
)

T = ResourceType


def _res(
    rid: int,
    name: str,
    ops: Operations,
    rtype: ResourceType,
    *,
    multiple: bool = False,
    mandatory: bool = False,
    range_: str = "",
    units: str = "",
) -> ResourceModel:
    return ResourceModel(rid, name, ops, multiple, mandatory, rtype, range_, units)


def _obj(oid: int, name: str, multiple: bool, *resources: ResourceModel) -> ObjectModel:
    return ObjectModel(oid, name, multiple, False, {r.id: r for r in resources}, "1.1", "1.1")


R, W, RW, E = Operations.R, Operations.W, Operations.RW, Operations.E

DEVICE = ObjectModel(
    3,
    "Device",
    multiple=False,
    mandatory=True,
    resources={
        r.id: r
        for r in (
            _res(0, "Manufacturer", R, T.STRING),
            _res(1, "Model Number", R, T.STRING),
            _res(2, "Serial Number", R, T.STRING),
            _res(3, "Firmware Version", R, T.STRING),
            _res(4, "Reboot", E, T.NONE, mandatory=True),
            _res(5, "Factory Reset", E, T.NONE),
            _res(6, "Available Power Sources", R, T.INTEGER, multiple=True, range_="0..7"),
            _res(7, "Power Source Voltage", R, T.INTEGER, multiple=True),
            _res(8, "Power Source Current", R, T.INTEGER, multiple=True),
            _res(9, "Battery Level", R, T.INTEGER, range_="0..100", units="/100"),
            _res(10, "Memory Free", R, T.INTEGER),
            _res(11, "Error Code", R, T.INTEGER, multiple=True, mandatory=True, range_="0..32"),
            _res(12, "Reset Error Code", E, T.NONE),
            _res(13, "Current Time", RW, T.TIME),
            _res(14, "UTC Offset", RW, T.STRING),
            _res(15, "Timezone", RW, T.STRING),
            _res(16, "Supported Binding and Modes", R, T.STRING, mandatory=True),
            _res(17, "Device Type", R, T.STRING),
            _res(18, "Hardware Version", R, T.STRING),
            _res(19, "Software Version", R, T.STRING),
            _res(20, "Battery Status", R, T.INTEGER, range_="0..6"),
            _res(21, "Memory Total", R, T.INTEGER),
            _res(22, "ExtDevInfo", R, T.OBJLNK, multiple=True),
        )
    },
    version="1.2",
    lwm2m_version="1.1",
    urn="urn:oma:lwm2m:oma:3:1.2",
)

SERVER = _obj(
    1,
    "LwM2M Server",
    True,
    _res(0, "Short Server ID", R, T.UNSIGNED_INTEGER, mandatory=True, range_="1..65534"),
    _res(1, "Lifetime", RW, T.INTEGER, mandatory=True, units="s"),
    _res(2, "Default Minimum Period", RW, T.INTEGER, units="s"),
    _res(3, "Default Maximum Period", RW, T.INTEGER, units="s"),
    _res(4, "Disable", E, T.NONE),
    _res(5, "Disable Timeout", RW, T.INTEGER, units="s"),
    _res(6, "Notification Storing When Disabled or Offline", RW, T.BOOLEAN, mandatory=True),
    _res(7, "Binding", RW, T.STRING, mandatory=True),
    _res(8, "Registration Update Trigger", E, T.NONE, mandatory=True),
)

ACCESS_CONTROL = _obj(
    2,
    "LwM2M Access Control",
    True,
    _res(0, "Object ID", R, T.INTEGER, mandatory=True, range_="1..65534"),
    _res(1, "Object Instance ID", R, T.INTEGER, mandatory=True, range_="0..65535"),
    _res(2, "ACL", RW, T.INTEGER, multiple=True, range_="0..31"),
    _res(3, "Access Control Owner", RW, T.INTEGER, mandatory=True, range_="0..65535"),
)

FIRMWARE_UPDATE = _obj(
    5,
    "Firmware Update",
    False,
    _res(0, "Package", W, T.OPAQUE, mandatory=True),
    _res(1, "Package URI", RW, T.STRING, mandatory=True),
    _res(2, "Update", E, T.NONE, mandatory=True),
    _res(3, "State", R, T.INTEGER, mandatory=True, range_="0..3"),
    _res(5, "Update Result", R, T.INTEGER, mandatory=True, range_="0..9"),
)

LINK_OBJECT_65 = _obj(
    65,
    "Object link test 65",
    True,
    _res(0, "Links", R, T.OBJLNK, multiple=True),
    _res(1, "Name", R, T.STRING),
    _res(2, "Number", R, T.INTEGER),
)

LINK_OBJECT_66 = _obj(
    66,
    "Object link test 66",
    True,
    _res(0, "Service", R, T.STRING),
    _res(1, "Address", R, T.STRING),
    _res(2, "Link", R, T.OBJLNK),
)

ALL_TYPES = _obj(
    9999,
    "Every data type (test only)",
    True,
    _res(0, "string", RW, T.STRING),
    _res(1, "integer", RW, T.INTEGER),
    _res(2, "unsigned", RW, T.UNSIGNED_INTEGER),
    _res(3, "float", RW, T.FLOAT),
    _res(4, "boolean", RW, T.BOOLEAN),
    _res(5, "opaque", RW, T.OPAQUE),
    _res(6, "time", RW, T.TIME),
    _res(7, "objlnk", RW, T.OBJLNK),
    _res(8, "corelnk", RW, T.CORELNK),
    _res(9, "execute", E, T.NONE),
    _res(10, "strings", RW, T.STRING, multiple=True),
    _res(11, "integers", RW, T.INTEGER, multiple=True),
    _res(12, "unsigneds", RW, T.UNSIGNED_INTEGER, multiple=True),
    _res(13, "floats", RW, T.FLOAT, multiple=True),
    _res(14, "booleans", RW, T.BOOLEAN, multiple=True),
    _res(15, "opaques", RW, T.OPAQUE, multiple=True),
    _res(16, "times", RW, T.TIME, multiple=True),
    _res(17, "objlnks", RW, T.OBJLNK, multiple=True),
    _res(18, "corelnks", RW, T.CORELNK, multiple=True),
)
"""One resource of each data type, single (0-9) and multiple (10-18): for round trips."""


def example_models() -> ModelRegistry:
    """A fresh registry of every model above."""
    return ModelRegistry(
        [DEVICE, SERVER, ACCESS_CONTROL, FIRMWARE_UPDATE, LINK_OBJECT_65, LINK_OBJECT_66, ALL_TYPES]
    )


DEVICE_INSTANCE = ObjectInstance(
    0,
    {
        0: SingleResource(0, "Open Mobile Alliance"),
        1: SingleResource(1, "Lightweight M2M Client"),
        2: SingleResource(2, "345000123"),
        3: SingleResource(3, "1.0"),
        6: MultipleResource(6, {0: 1, 1: 5}),
        7: MultipleResource(7, {0: 3800, 1: 5000}),
        8: MultipleResource(8, {0: 125, 1: 900}),
        9: SingleResource(9, 100),
        10: SingleResource(10, 15),
        11: MultipleResource(11, {0: 0}),
        13: SingleResource(13, 1367491215),
        14: SingleResource(14, "+02:00"),
        16: SingleResource(16, "U"),
    },
)
"""The example client's Device instance /3/0 (Core 1.1 §7.4 data format examples)."""

DEVICE_OBJECT = ObjectNode(3, {0: DEVICE_INSTANCE})

SERVER_OBJECT_ONE_INSTANCE = ObjectNode(
    1,
    {
        0: ObjectInstance(
            0,
            {
                0: SingleResource(0, 1),
                1: SingleResource(1, 86400),
                6: SingleResource(6, True),
                7: SingleResource(7, "U"),
            },
        )
    },
)
"""/1 of the TLV example C) (one Server instance)."""

ACCESS_CONTROL_OBJECT = ObjectNode(
    2,
    {
        0: ObjectInstance(
            0,
            {
                0: SingleResource(0, 1),
                1: SingleResource(1, 0),
                2: MultipleResource(2, {127: 7}),
                3: SingleResource(3, 127),
            },
        ),
        2: ObjectInstance(
            2,
            {
                0: SingleResource(0, 3),
                1: SingleResource(1, 0),
                2: MultipleResource(2, {127: 7, 310: 1}),
                3: SingleResource(3, 127),
            },
        ),
    },
)
"""/2 of the TLV example B) (Access Control instances 0 and 2)."""

OBJECT_65_INSTANCE = ObjectInstance(
    0,
    {
        0: MultipleResource(0, {0: ObjectLink(66, 0), 1: ObjectLink(66, 1)}),
        1: SingleResource(1, "8613800755500"),
        2: SingleResource(2, 0x12345678),
    },
)

OBJECT_66 = ObjectNode(
    66,
    {
        0: ObjectInstance(
            0,
            {
                0: SingleResource(0, "myService 1"),
                1: SingleResource(1, "Internet.15.234"),
                2: SingleResource(2, ObjectLink(67, 0)),
            },
        ),
        1: ObjectInstance(
            1,
            {
                0: SingleResource(0, "myService 2"),
                1: SingleResource(1, "Internet.15.235"),
                2: SingleResource(2, ObjectLink(65535, 65535)),
            },
        ),
    },
)
