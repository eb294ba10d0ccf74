"""Device object (/3): identity, power, error codes, the device clock; Reboot and Factory Reset."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from lwm2m.client.objects import BadRequestError, DeviceEvent, ResourceValue, SimpleObject
from lwm2m.model import ObjectModel

MANUFACTURER = 0
MODEL_NUMBER = 1
SERIAL_NUMBER = 2
FIRMWARE_VERSION = 3
REBOOT = 4
FACTORY_RESET = 5
AVAILABLE_POWER_SOURCES = 6
POWER_SOURCE_VOLTAGE = 7
POWER_SOURCE_CURRENT = 8
BATTERY_LEVEL = 9
MEMORY_FREE = 10
ERROR_CODE = 11
RESET_ERROR_CODE = 12
CURRENT_TIME = 13
UTC_OFFSET = 14
TIMEZONE = 15
SUPPORTED_BINDINGS = 16
DEVICE_TYPE = 17
HARDWARE_VERSION = 18
SOFTWARE_VERSION = 19
BATTERY_STATUS = 20
MEMORY_TOTAL = 21

NO_ERROR = 0


class ErrorCode(IntEnum):
    NO_ERROR = 0
    LOW_BATTERY = 1
    EXTERNAL_POWER_OFF = 2
    GPS_FAILURE = 3
    LOW_SIGNAL = 4
    OUT_OF_MEMORY = 5
    SMS_FAILURE = 6
    IP_CONNECTIVITY_FAILURE = 7
    PERIPHERAL_MALFUNCTION = 8


class BatteryStatus(IntEnum):
    NORMAL = 0
    CHARGING = 1
    CHARGE_COMPLETE = 2
    DAMAGED = 3
    LOW = 4
    NOT_INSTALLED = 5
    UNKNOWN = 6


class PowerSource(IntEnum):
    DC = 0
    INTERNAL_BATTERY = 1
    EXTERNAL_BATTERY = 2
    FUEL_CELL = 3
    POE = 4
    USB = 5
    AC = 6
    SOLAR = 7


@dataclass(frozen=True, slots=True)
class Reboot(DeviceEvent):
    """A server executed /3/0/4: restart once the response is out."""


@dataclass(frozen=True, slots=True)
class FactoryReset(DeviceEvent):
    """A server executed /3/0/5: restore the factory configuration, then restart."""


_UTC_OFFSET = re.compile(r"(UTC)?([+-](0[0-9]|1[0-4])(:?[0-5][0-9])?|Z)")
_TIMEZONE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


class DeviceObject(SimpleObject):
    """The single Device instance.  Current Time runs off the clock given to :meth:`set_now`.

    Error Code follows §E.4: one instance with 0 while all is well, one instance per present
    error otherwise (:meth:`raise_error`, :meth:`clear_error`).
    """

    def __init__(
        self, model: ObjectModel, values: Mapping[int, ResourceValue], *, now: float
    ) -> None:
        self._now = now
        self._clock_offset = 0.0
        executors = {
            REBOOT: lambda iid, args: self.emit(Reboot()),
            FACTORY_RESET: lambda iid, args: self.emit(FactoryReset()),
            RESET_ERROR_CODE: lambda iid, args: self.set(0, ERROR_CODE, {0: NO_ERROR}),
        }
        super().__init__(
            model,
            {0: {ERROR_CODE: {0: NO_ERROR}, **values}},
            readers={CURRENT_TIME: lambda iid: int(self._now + self._clock_offset)},
            writers={
                CURRENT_TIME: self._set_clock,
                UTC_OFFSET: _check_utc_offset,
                TIMEZONE: _check_timezone,
            },
            executors={rid: fn for rid, fn in executors.items() if rid in model.resources},
            creatable=False,
        )

    def set_now(self, now: float) -> None:
        """Advance the device clock (seconds since the epoch) that Current Time reads."""
        self._now = now

    @property
    def error_codes(self) -> list[int]:
        return list(self._errors().values())

    def raise_error(self, code: int) -> None:
        errors = self._errors()
        if code != NO_ERROR and code not in errors.values():
            errors[max(errors, default=-1) + 1] = code
            self.set(0, ERROR_CODE, errors)

    def clear_error(self, code: int) -> None:
        errors = {ri: error for ri, error in self._errors().items() if error != code}
        self.set(0, ERROR_CODE, errors or {0: NO_ERROR})

    def _errors(self) -> dict[int, int]:
        codes = self.get(0, ERROR_CODE)
        assert isinstance(codes, Mapping)
        return {
            ri: code for ri, code in codes.items() if isinstance(code, int) and code != NO_ERROR
        }

    def _set_clock(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, int)
        self._clock_offset = value - self._now


def _check_utc_offset(instance_id: int, value: ResourceValue) -> None:
    if not isinstance(value, str) or _UTC_OFFSET.fullmatch(value) is None:
        raise BadRequestError(f"UTC offset {value!r} is not like '+01:00'")


def _check_timezone(instance_id: int, value: ResourceValue) -> None:
    if not isinstance(value, str) or _TIMEZONE.fullmatch(value) is None:
        raise BadRequestError(f"timezone {value!r} is not an IANA name like 'Europe/Berlin'")
