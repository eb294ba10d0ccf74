"""What a firmware campaign is: its settings, its target, each device's progress, and the
store that keeps them across restarts (docs/firmware.md, "Campaigns").

A campaign delivers one package from the repository to a set of devices, in waves, a few at
a time, and learns how each device fared from the device itself: /5/0/3 (State) and /5/0/5
(Update Result) observed, and /3/0/3 (Firmware Version) read after the device registers again.
The state machine that drives one device is :mod:`lwm2m.firmware.campaign_engine`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from lwm2m.firmware.package import check_label, is_sha256

MAX_ENDPOINTS = 1_000_000
"""Devices one campaign may name."""


class CampaignInputError(ValueError):
    """A campaign's settings that cannot take effect (HTTP 400)."""


class Method(StrEnum):
    PULL = "pull"  # a download URL written to /5/0/1
    PUSH = "push"  # the package written to /5/0/0
    AUTO = "auto"  # per device, from /5/0/9 Delivery Method (pull when it takes both)


class Status(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # no device starts; those under way go on
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class DeviceState(StrEnum):
    PENDING = "pending"  # not started (a later wave, the concurrency limit, or a retry)
    CHECKING = "checking"  # /3/0/0, /3/0/1, /3/0/3, /5/0/3, /5/0/5, /5/0/7, /5/0/9 being read
    SWITCHING = "switching"  # on NIDD, pulling: moved to UDP for the download (/1/x/8 0='U')
    DELIVERING = "delivering"  # /5/0 observed, the URL or the package being written
    DOWNLOADING = "downloading"  # the device said State 1 (or took the write)
    UPDATING = "updating"  # Execute /5/0/2 sent: install, reboot, register again
    VERIFYING = "verifying"  # registered again: /3/0/3 and /5/0/5 being read
    RETURNING = "returning"  # its attempt is over: moved back to the transport it was on
    SUCCEEDED = "succeeded"  # /3/0/3 is the package's version
    FAILED = "failed"  # with the cause in ``error``, after its retries
    SKIPPED = "skipped"  # not a target after all (filter, model, delivery method)
    CANCELLED = "cancelled"


TERMINAL = frozenset(
    {DeviceState.SUCCEEDED, DeviceState.FAILED, DeviceState.SKIPPED, DeviceState.CANCELLED}
)
UNDER_WAY = frozenset(DeviceState) - TERMINAL - {DeviceState.PENDING}

UPDATE_RESULTS = {
    0: "initial value",
    1: "firmware updated successfully",
    2: "not enough flash memory for the package",
    3: "out of RAM during download",
    4: "connection lost during download",
    5: "integrity check failure",
    6: "unsupported package type",
    7: "invalid URI",
    8: "firmware update failed",
    9: "unsupported protocol",
    10: "firmware update cancelled",
}
"""/5/0/5 Update Result values (LwM2M object 5)."""


def describe_result(result: int) -> str:
    return f"Update Result {result} ({UPDATE_RESULTS.get(result, 'unknown')})"


@dataclass(frozen=True, slots=True)
class Target:
    """The devices: a list of endpoints, or the registered devices whose binding contains
    ``binding`` and whose /3/0/0, /3/0/1, /3/0/3 match (each read from the device in its
    turn: a device that does not match is skipped)."""

    endpoints: tuple[str, ...] = ()
    manufacturer: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    binding: str | None = None

    def __post_init__(self) -> None:
        filters = (self.manufacturer, self.model, self.firmware_version, self.binding)
        if self.endpoints and any(value is not None for value in filters):
            raise CampaignInputError("a target is an endpoint list or a filter, not both")
        if len(self.endpoints) > MAX_ENDPOINTS or len(set(self.endpoints)) != len(self.endpoints):
            raise CampaignInputError(f"endpoints: at most {MAX_ENDPOINTS}, each once")
        if any(not isinstance(ep, str) or not ep for ep in self.endpoints):
            raise CampaignInputError("endpoints must be endpoint names")
        for name, value in zip(("manufacturer", "model", "firmwareVersion"), filters, strict=False):
            if value is not None:
                check_label(name, value)
        if self.binding is not None and (not self.binding or set(self.binding) - set("UTSNQ")):
            raise CampaignInputError("binding: letters of U, T, S, N, Q")

    @property
    def is_filter(self) -> bool:
        return not self.endpoints

    def matches_device(self, manufacturer: object, model: object, version: object) -> bool:
        """Whether the values read from a device pass the filter."""
        return all(
            wanted is None or wanted == found
            for wanted, found in (
                (self.manufacturer, manufacturer),
                (self.model, model),
                (self.firmware_version, version),
            )
        )

    def to_json(self) -> dict[str, object]:
        if self.endpoints:
            return {"endpoints": list(self.endpoints)}
        found = {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmwareVersion": self.firmware_version,
            "binding": self.binding,
        }
        return {key: value for key, value in found.items() if value is not None}

    @classmethod
    def from_json(cls, data: object) -> Target:
        if not isinstance(data, dict):
            raise CampaignInputError("target must be an object")
        unknown = set(data) - {"endpoints", "manufacturer", "model", "firmwareVersion", "binding"}
        if unknown:
            raise CampaignInputError(f"target: unknown field {sorted(unknown)[0]!r:.40}")
        endpoints = data.get("endpoints", [])
        if not isinstance(endpoints, list):
            raise CampaignInputError("target.endpoints must be a list of endpoint names")
        texts = {}
        for key in ("manufacturer", "model", "firmwareVersion", "binding"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise CampaignInputError(f"target.{key} must be a string")
            texts[key] = value
        return cls(
            tuple(endpoints),
            texts["manufacturer"],
            texts["model"],
            texts["firmwareVersion"],
            texts["binding"],
        )


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """What to deliver to whom, and how carefully.

    ``waves``: the sizes of the first waves (the rest is the last wave); a wave starts once
    every device of the waves before it has finished.  ``concurrency``: devices under way at
    once.  ``device_timeout``: seconds one attempt of one device may take, from its first
    request to its new /3/0/3 (a sleeping device's queued requests count).  ``retries``:
    attempts after the first.  ``failure_threshold``: the share of failed devices (among those
    finished since the campaign started or last resumed, once ``failure_minimum`` have) that
    pauses the campaign.  ``scheme``: of pull URLs."""

    sha256: str
    target: Target
    name: str = ""
    method: Method = Method.AUTO
    scheme: str = "coap"
    waves: tuple[int, ...] = ()
    concurrency: int = 10
    device_timeout: float = 600.0
    retries: int = 1
    failure_threshold: float = 0.2
    failure_minimum: int = 10

    def __post_init__(self) -> None:
        if not is_sha256(self.sha256):
            raise CampaignInputError("package must be a package's SHA-256 (lower-case hex)")
        if len(self.name) > 200 or not self.name.isprintable():
            raise CampaignInputError("name: at most 200 printable characters")
        if any(size < 1 for size in self.waves) or len(self.waves) > 100:
            raise CampaignInputError("waves: at most 100 positive sizes")
        if not 1 <= self.concurrency <= 100_000:
            raise CampaignInputError("concurrency must be 1 to 100000")
        if not (math.isfinite(self.device_timeout) and 1 <= self.device_timeout <= 30 * 86400):
            raise CampaignInputError("deviceTimeout must be 1 s to 30 days")
        if not 0 <= self.retries <= 100:
            raise CampaignInputError("retries must be 0 to 100")
        if not 0 <= self.failure_threshold <= 1 or self.failure_minimum < 1:
            raise CampaignInputError("failureThreshold must be 0 to 1, failureMinimum >= 1")

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "package": self.sha256,
            "target": self.target.to_json(),
            "method": self.method.value,
            "scheme": self.scheme,
            "waves": list(self.waves),
            "concurrency": self.concurrency,
            "deviceTimeout": self.device_timeout,
            "retries": self.retries,
            "failureThreshold": self.failure_threshold,
            "failureMinimum": self.failure_minimum,
        }

    @classmethod
    def from_json(cls, data: object) -> CampaignSpec:
        """The spec of a ``POST /api/campaigns`` body (or a stored one); CampaignInputError."""
        if not isinstance(data, dict):
            raise CampaignInputError("a campaign must be a JSON object")
        fields: dict[str, tuple[str, type | tuple[type, ...]]] = {
            "name": ("name", str),
            "package": ("sha256", str),
            "method": ("method", str),
            "scheme": ("scheme", str),
            "concurrency": ("concurrency", int),
            "deviceTimeout": ("device_timeout", (int, float)),
            "retries": ("retries", int),
            "failureThreshold": ("failure_threshold", (int, float)),
            "failureMinimum": ("failure_minimum", int),
        }
        unknown = set(data) - set(fields) - {"target", "waves"}
        if unknown:
            raise CampaignInputError(f"unknown field {sorted(unknown)[0]!r:.40}")
        if "package" not in data or "target" not in data:
            raise CampaignInputError("a campaign needs a package and a target")
        kwargs: dict[str, Any] = {}
        for key, (name, kind) in fields.items():
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, kind):
                    raise CampaignInputError(f"{key} has the wrong type")
                kwargs[name] = value
        if "method" in kwargs:
            try:
                kwargs["method"] = Method(kwargs["method"])
            except ValueError:
                raise CampaignInputError("method must be pull, push or auto") from None
        waves = data.get("waves", [])
        if not isinstance(waves, list) or any(
            isinstance(size, bool) or not isinstance(size, int) for size in waves
        ):
            raise CampaignInputError("waves must be a list of sizes")
        return cls(target=Target.from_json(data["target"]), waves=tuple(waves), **kwargs)


@dataclass(slots=True)
class DeviceProgress:
    """Where one device is.  ``error``: the cause of its last failure (kept while it retries);
    ``result``: the last /5/0/5 it reported; ``method``: how it gets the package;
    ``transport``: the transport switches made for it (``N → U → N``), or why it stayed.

    ``home``, ``outcome`` and ``transport`` are not stored: ``home`` is the transport to move
    it back to (set while it may be elsewhere), ``outcome`` the state it finishes in once
    back."""

    endpoint: str
    wave: int
    state: DeviceState = DeviceState.PENDING
    attempts: int = 0
    error: str | None = None
    result: int | None = None
    method: str | None = None
    changed: float = 0.0
    deadline: float | None = None  # of the attempt under way (not stored: re-armed at start)
    transport: str | None = None
    home: str | None = None
    outcome: DeviceState | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "wave": self.wave,
            "state": self.state.value,
            "attempts": self.attempts,
            "error": self.error,
            "result": self.result,
            "method": self.method,
            "transport": self.transport,
            "changed": self.changed,
        }


@dataclass(slots=True)
class CampaignRecord:
    """A campaign's own row: its settings, status and the counts its failure rate starts from
    (the finished and failed devices when it last resumed)."""

    id: str
    spec: CampaignSpec
    created: float
    status: Status = Status.RUNNING
    reason: str | None = None
    baseline: tuple[int, int] = (0, 0)

    def spec_text(self) -> str:
        return json.dumps(self.spec.to_json())

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            **self.spec.to_json(),
            "created": self.created,
            "status": self.status.value,
            "reason": self.reason,
        }


class CampaignStore(Protocol):
    """Campaigns and their devices' progress; answered from memory, persistent ones write
    behind (a change is in the database within a commit of the store's writer)."""

    def campaigns(self) -> list[CampaignRecord]: ...
    def devices(self, campaign_id: str) -> list[DeviceProgress]: ...
    def put_campaign(self, record: CampaignRecord) -> None: ...
    def put_devices(self, campaign_id: str, devices: Iterable[DeviceProgress]) -> None: ...


class MemoryCampaignStore:
    """Campaigns for the life of the process (a server without a database)."""

    def __init__(self) -> None:
        self._campaigns: dict[str, CampaignRecord] = {}
        self._devices: dict[str, dict[str, DeviceProgress]] = {}

    def campaigns(self) -> list[CampaignRecord]:
        return sorted(self._campaigns.values(), key=lambda record: record.created)

    def devices(self, campaign_id: str) -> list[DeviceProgress]:
        return list(self._devices.get(campaign_id, {}).values())

    def put_campaign(self, record: CampaignRecord) -> None:
        self._campaigns[record.id] = record

    def put_devices(self, campaign_id: str, devices: Iterable[DeviceProgress]) -> None:
        kept = self._devices.setdefault(campaign_id, {})
        for device in devices:
            kept[device.endpoint] = device
