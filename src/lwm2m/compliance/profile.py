"""Deutsche Telekom's LwM2M device profile as data: the requirement tables of the seed document
``000_ecccf4fbf193dc30.txt`` ("LwM2M requirements, IoT devices and components").

Transcribed table by table: the summary (every object and its Telekom requirement, including
the ones Telekom does not require), then per object each resource with the operations,
multiplicity, OMA obligation, Telekom obligation and comment the seed gives.  Names and comments
are the seed's own words.  Where the seed leaves a cell empty (the operations of the Security
and OSCORE resources, of Registration Priority Order) the field is None.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass


class ObjectRequirement(enum.Enum):
    """Column "DT Requirement" of the summary; also OMA's "Mandatory"/"Optional" per object."""

    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    NOT_REQUIRED = "not required"


class Obligation(enum.Enum):
    """A resource's obligation, OMA's ("OMA standard mandatory") or Telekom's
    ("Telekom recommendation")."""

    MANDATORY = "mandatory"
    RECOMMENDED = "recommended"
    OPTIONAL = "optional"
    IF_SUPPORTED = "mandatory if supported"


class Condition(enum.Enum):
    """A Telekom comment that narrows "Mandatory" to some devices."""

    BATTERY = "battery"
    """ "Mandatory in case battery is used" (Battery Level, Battery Status)."""


class SecurityMode(enum.IntEnum):
    """Security Mode (/0/x/2) values (Core §E.1); the profile wants PSK and NoSec."""

    PSK = 0
    RPK = 1
    CERTIFICATE = 2
    NOSEC = 3
    CERTIFICATE_EST = 4


PROFILE_SECURITY_MODES = (SecurityMode.PSK, SecurityMode.NOSEC)
"""/0/x/2: "0 (Pre-Shared Key mode) and 3 (NoSec mode) are to be supported"."""


@dataclass(frozen=True, slots=True)
class ResourceProfile:
    resource_id: int
    name: str
    operations: str | None
    """"R", "W", "RW" or "E" as the seed gives them; None where it leaves the cell empty."""
    multiple: bool
    oma: Obligation
    telekom: Obligation
    comment: str = ""
    condition: Condition | None = None
    value_required: bool = False
    """An empty value (``""``, no bytes, no instances) does not meet the requirement: the
    seed's Device object "must contain the data from the device supplier"."""

    @property
    def readable(self) -> bool:
        return self.operations is not None and "R" in self.operations


@dataclass(frozen=True, slots=True)
class ObjectProfile:
    object_id: int
    name: str
    telekom: ObjectRequirement
    oma: ObjectRequirement | None = None
    """The object's "OMA Standard definition" where the seed has a table for it."""
    note: str = ""
    """What the seed adds to the requirement: roadmap year and priority, conditions."""
    comments: tuple[str, ...] = ()
    resources: tuple[ResourceProfile, ...] = ()

    def resource(self, resource_id: int) -> ResourceProfile | None:
        for resource in self.resources:
            if resource.resource_id == resource_id:
                return resource
        return None


@dataclass(frozen=True, slots=True)
class ObjectRange:
    """A row of the summary that covers a range of object IDs."""

    first: int
    last: int
    name: str
    telekom: ObjectRequirement


M = Obligation.MANDATORY
REC = Obligation.RECOMMENDED
OPT = Obligation.OPTIONAL
IFS = Obligation.IF_SUPPORTED
_MANDATORY = ObjectRequirement.MANDATORY
_OPTIONAL = ObjectRequirement.OPTIONAL
_NOT_REQUIRED = ObjectRequirement.NOT_REQUIRED


def _r(  # noqa: PLR0917  # a table row: the seed's columns in order
    resource_id: int,
    name: str,
    operations: str | None,
    multiple: bool,
    oma: Obligation,
    telekom: Obligation,
    comment: str = "",
    *,
    condition: Condition | None = None,
    value_required: bool = False,
) -> ResourceProfile:
    return ResourceProfile(
        resource_id, name, operations, multiple, oma, telekom, comment, condition, value_required
    )


_device = functools.partial(_r, value_required=True)
"""A readable Device object resource: it must carry the supplier's data."""


S, MULTI = False, True
_ROAMING = "No SMS support over NB-IoT; critical for roaming features"
_CELL_LOCATION = (
    "Optional; highly recommended for devices with cellular connectivity to enable location "
    "features, e.g. for devices based on Cell-ID positioning"
)


def _measurements() -> tuple[ResourceProfile, ...]:
    """ServingCellMeasurement (3370) and NeighborCellMeasurement (3371) share one table."""
    return (
        _r(6037, "sysFrameNumber", "R", S, IFS, M),
        _r(6038, "subFrameNumber", "R", S, IFS, M),
        _r(6034, "pci", "R", S, IFS, M),
        _r(6035, "rsrp", "R", S, IFS, M),
        _r(6036, "rsrq", "R", S, IFS, M),
        _r(6032, "dlEarfcn", "R", S, IFS, M),
    )


OBJECTS: tuple[ObjectProfile, ...] = (
    ObjectProfile(
        0,
        "LwM2M Security",
        _MANDATORY,
        _MANDATORY,
        comments=(
            "More than 1 instance is allowed for this object: resource 0 = bootstrap server",
        ),
        resources=(
            _r(
                0,
                "LwM2M Server URI",
                None,
                S,
                M,
                M,
                "As long as NB-IoT does not support DNS, this parameter is an IP address.",
            ),
            _r(1, "Bootstrap-Server", None, S, M, M),
            _r(
                2,
                "Security Mode",
                None,
                S,
                M,
                M,
                "0 (Pre-Shared Key mode) and 3 (NoSec mode) are to be supported",
            ),
            _r(3, "Public Key or Identity", None, S, M, M),
            _r(4, "Server Public Key", None, S, M, M),
            _r(5, "Secret Key", None, S, M, M),
            _r(
                16,
                "DTLS/TLS Ciphersuite",
                None,
                MULTI,
                OPT,
                REC,
                "Note: Deutsche Telekom requires implementation of a separate DTLS/TLS stack "
                "for use cases without Private APN.",
            ),
        ),
    ),
    ObjectProfile(
        1,
        "LwM2M Server",
        _MANDATORY,
        _MANDATORY,
        resources=(
            _r(0, "Short Server ID", "R", S, M, M),
            _r(1, "Lifetime", "RW", S, M, M),
            _r(2, "Default Minimum Period", "RW", S, OPT, REC),
            _r(3, "Default Maximum Period", "RW", S, OPT, REC),
            _r(6, "Notification Storing When Disabled or Offline", "RW", S, M, M),
            _r(7, "Binding", "RW", S, M, M),
            _r(8, "Registration Update Trigger", "E", S, M, M),
            _r(9, "Bootstrap-Request Trigger", "E", S, OPT, REC),
            _r(10, "APN Link", "RW", S, OPT, REC, "Link to Object 11 (APN Connection Profile)"),
            _r(12, "Last Bootstrapped", "R", S, OPT, REC),
            _r(13, "Registration Priority Order", None, S, OPT, REC),
        ),
    ),
    ObjectProfile(
        2,
        "Access Control",
        _OPTIONAL,
        _OPTIONAL,
        resources=(
            _r(0, "Object ID", "R", S, IFS, OPT),
            _r(1, "Object Instance ID", "R", S, IFS, OPT),
            _r(3, "Access Control Owner", "RW", S, IFS, OPT),
        ),
    ),
    ObjectProfile(
        3,
        "LWM2M Device",
        _MANDATORY,
        _MANDATORY,
        comments=(
            "This object must contain the data from the device supplier and not from the "
            "modem supplier.",
        ),
        resources=(
            _device(0, "Manufacturer", "R", S, OPT, M, "Name of device supplier"),
            _device(1, "Model Number", "R", S, OPT, M),
            _device(2, "Serial Number", "R", S, OPT, M),
            _device(
                3,
                "Firmware Version",
                "R",
                S,
                OPT,
                M,
                "This parameter contains the device firmware and not the modem firmware.",
            ),
            _r(4, "Reboot", "E", S, OPT, M),
            _r(5, "Factory Reset", "E", S, OPT, REC),
            _device(
                9,
                "Battery Level",
                "R",
                S,
                OPT,
                M,
                "Mandatory in case battery is used.",
                condition=Condition.BATTERY,
            ),
            _device(11, "Error Code", "R", MULTI, M, M),
            _device(16, "Supported Binding and Modes", "R", S, M, M),
            _device(18, "Hardware Version", "R", S, OPT, M),
            _device(
                20,
                "Battery Status",
                "R",
                S,
                OPT,
                M,
                "Mandatory for devices containing a battery",
                condition=Condition.BATTERY,
            ),
        ),
    ),
    ObjectProfile(
        4,
        "Connectivity Monitoring",
        _MANDATORY,
        _OPTIONAL,
        resources=(
            _r(0, "Network Bearer", "R", S, M, M),
            _r(1, "Available Network Bearer", "R", MULTI, M, M),
            _r(2, "Radio Signal Strength", "R", S, M, M),
            _r(3, "Link Quality", "R", S, OPT, M),
            _r(4, "IP Addresses", "R", MULTI, M, M),
            _r(7, "APN", "R", MULTI, OPT, M),
            _r(8, "CellID", "R", S, OPT, M),
            _r(9, "SMNC", "R", S, OPT, M),
            _r(10, "SMCC", "R", S, OPT, M),
            _r(11, "SignalSNR", "R", S, OPT, M),
            _r(12, "LAC", "R", S, OPT, M),
        ),
    ),
    ObjectProfile(
        5,
        "Firmware Update",
        _MANDATORY,
        _OPTIONAL,
        resources=(
            _r(0, "Package", "W", S, M, M),
            _r(1, "Package URI", "RW", S, M, M),
            _r(2, "Update", "E", S, M, M),
            _r(3, "State", "R", S, M, M),
            _r(5, "Update Result", "R", S, M, M),
            _r(7, "PkgVersion", "R", S, OPT, M),
            _r(9, "Firmware Update Delivery Method", "R", S, M, M),
        ),
    ),
    ObjectProfile(
        6,
        "Location",
        _MANDATORY,
        _OPTIONAL,
        resources=(
            _r(0, "Latitude", "R", S, M, M, "Necessary for positioning use cases."),
            _r(1, "Longitude", "R", S, M, M, "Necessary for positioning use cases."),
            _r(5, "Timestamp", "R", S, M, M, "Necessary for positioning use cases."),
        ),
    ),
    ObjectProfile(
        7,
        "Connectivity Statistics",
        _OPTIONAL,
        _OPTIONAL,
        resources=(
            _r(6, "Start", "E", S, IFS, IFS),
            _r(7, "Stop", "E", S, IFS, IFS),
        ),
    ),
    ObjectProfile(8, "Lock and Wipe", _NOT_REQUIRED),
    ObjectProfile(9, "LwM2M Software Management", _NOT_REQUIRED),
    ObjectProfile(
        10,
        "Cellular Connectivity",
        _OPTIONAL,
        _OPTIONAL,
        resources=(
            _r(1, "Disable radio period", "RW", S, OPT, OPT),
            _r(4, "PSM Timer", "RW", S, OPT, M),
            _r(11, "Activated Profile Names", "R", MULTI, IFS, IFS),
        ),
    ),
    ObjectProfile(
        11,
        "APN connection profile",
        _MANDATORY,
        _OPTIONAL,
        resources=(
            _r(0, "Profile Name", "RW", S, IFS, M),
            _r(1, "APN", "RW", S, OPT, M),
            _r(4, "Authentication Type", "RW", S, IFS, M),
            _r(10, "Connection establishment result (1)", "R", MULTI, OPT, M),
            _r(11, "Connection establishment reject cause (1)", "R", MULTI, OPT, M),
        ),
    ),
    ObjectProfile(12, "WLAN connectivity", _NOT_REQUIRED),
    ObjectProfile(
        13,
        "Bearer Selection",
        _OPTIONAL,
        _OPTIONAL,
        resources=(
            _r(6, "Operator list", "RW", S, OPT, M, _ROAMING),
            _r(7, "Operator list mode", "RW", S, OPT, M, _ROAMING),
            _r(8, "List of available PLMNs", "R", S, OPT, M, _ROAMING),
        ),
    ),
    ObjectProfile(14, "LwM2M Software Component", _NOT_REQUIRED),
    ObjectProfile(
        15,
        "DevCapMgmnt",
        _OPTIONAL,
        _OPTIONAL,
        resources=(
            _r(0, "Property", "R", S, IFS, IFS),
            _r(1, "Group", "R", S, IFS, IFS),
            _r(4, "Enabled", "R", S, IFS, IFS),
            _r(5, "opEnable", "E", S, IFS, IFS),
            _r(6, "opDisable", "E", MULTI, IFS, IFS),
        ),
    ),
    ObjectProfile(16, "Portfolio", _NOT_REQUIRED),
    ObjectProfile(17, "Communication Characteristics", _NOT_REQUIRED),
    ObjectProfile(18, "NAS", _NOT_REQUIRED),
    ObjectProfile(
        19,
        "BinaryAppDataContainer",
        _MANDATORY,
        _OPTIONAL,
        note="2021; Roadmap item – Priority 1",
        resources=(_r(0, "Data", "RW", MULTI, IFS, M),),
    ),
    ObjectProfile(20, "Event Log", _NOT_REQUIRED),
    ObjectProfile(
        21,
        "LWM2M OSCORE",
        _MANDATORY,
        _OPTIONAL,
        note="2022; Roadmap item – Priority 2",
        resources=(
            _r(0, "OSCORE Master Secret", None, S, M, OPT),
            _r(1, "OSCORE Sender ID", None, S, M, OPT),
            _r(2, "OSCORE Recipient ID", None, S, M, OPT),
        ),
    ),
    ObjectProfile(22, "Virtual Observe Notify", _NOT_REQUIRED),
    ObjectProfile(
        3353,
        "SCELLID",
        _OPTIONAL,
        _OPTIONAL,
        note=_CELL_LOCATION,
        resources=(
            _r(6030, "plmnID", "R", S, IFS, M),
            _r(6031, "BandIndicator", "R", S, IFS, M),
            _r(2, "TrackingAreaCode", "R", S, IFS, M),
            _r(6033, "CellID", "R", S, IFS, M),
        ),
    ),
    ObjectProfile(
        3370,
        "SERVINGCELLMEASUREMENT",
        _OPTIONAL,
        _OPTIONAL,
        note=_CELL_LOCATION,
        resources=_measurements(),
    ),
    ObjectProfile(
        3371,
        "NEIGHBORCELLMEASUREMENT",
        _OPTIONAL,
        _OPTIONAL,
        note=_CELL_LOCATION,
        resources=_measurements(),
    ),
    ObjectProfile(
        3372,
        "TIMINGADVANCE",
        _OPTIONAL,
        _OPTIONAL,
        note=_CELL_LOCATION,
        resources=(
            _r(6037, "sysFrameNumber", "R", S, IFS, M),
            _r(6038, "subFrameNumber", "R", S, IFS, M),
            _r(2, "timingAdvance", "R", S, IFS, M),
        ),
    ),
)

OBJECT_RANGES: tuple[ObjectRange, ...] = (
    ObjectRange(3351, 3386, "IoT Logging objects", ObjectRequirement.OPTIONAL),
)

PROFILE_NAME = "Deutsche Telekom LwM2M requirements, IoT devices and components"

_BY_ID = {obj.object_id: obj for obj in OBJECTS}


def object_profile(object_id: int) -> ObjectProfile | None:
    return _BY_ID.get(object_id)


def object_requirement(object_id: int) -> ObjectRequirement | None:
    """What the summary says about an object, also for IDs only a range row covers."""
    found = _BY_ID.get(object_id)
    if found is not None:
        return found.telekom
    for row in OBJECT_RANGES:
        if row.first <= object_id <= row.last:
            return row.telekom
    return None
