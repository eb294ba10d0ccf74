"""Firmware Update object (/5): the state machine of §E.6, without the transfers.

Servers push a package (write /5/0/0), or write a Package URI and the device pulls it: the
downloader (a later engine) acts on :class:`FirmwareDownloadRequested` and reports back with
:meth:`FirmwareUpdateObject.download_finished` or :meth:`~FirmwareUpdateObject.download_failed`.
Executing Update emits :class:`FirmwareUpdateRequested`; the device installs the package and
reports :meth:`~FirmwareUpdateObject.update_finished`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from lwm2m.client.objects import (
    BadRequestError,
    DeviceEvent,
    MethodNotAllowedError,
    ResourceValue,
    SimpleObject,
)
from lwm2m.model import ObjectModel

PACKAGE = 0
PACKAGE_URI = 1
UPDATE = 2
STATE = 3
UPDATE_RESULT = 5
PKG_NAME = 6
PKG_VERSION = 7
PROTOCOL_SUPPORT = 8
DELIVERY_METHOD = 9
CANCEL = 10


class State(IntEnum):
    IDLE = 0
    DOWNLOADING = 1
    DOWNLOADED = 2
    UPDATING = 3


class UpdateResult(IntEnum):
    INITIAL = 0
    SUCCESS = 1
    NOT_ENOUGH_FLASH = 2
    OUT_OF_RAM = 3
    CONNECTION_LOST = 4
    INTEGRITY_FAILURE = 5
    UNSUPPORTED_PACKAGE = 6
    INVALID_URI = 7
    UPDATE_FAILED = 8
    UNSUPPORTED_PROTOCOL = 9
    CANCELLED = 10


class Protocol(IntEnum):
    COAP = 0
    COAPS = 1
    HTTP = 2
    HTTPS = 3
    COAP_TCP = 4
    COAPS_TCP = 5


class DeliveryMethod(IntEnum):
    PULL = 0
    PUSH = 1
    BOTH = 2


SCHEMES = {
    "coap": Protocol.COAP,
    "coaps": Protocol.COAPS,
    "http": Protocol.HTTP,
    "https": Protocol.HTTPS,
    "coap+tcp": Protocol.COAP_TCP,
    "coaps+tcp": Protocol.COAPS_TCP,
}
_RESET = (b"", b"\0")


@dataclass(frozen=True, slots=True)
class FirmwareDownloadRequested(DeviceEvent):
    uri: str


@dataclass(frozen=True, slots=True)
class FirmwareUpdateRequested(DeviceEvent):
    """Install the downloaded package (:attr:`FirmwareUpdateObject.package` when pushed)."""


class FirmwareUpdateObject(SimpleObject):
    def __init__(
        self,
        model: ObjectModel,
        *,
        protocols: Iterable[Protocol] = (Protocol.COAP, Protocol.COAPS),
        delivery: DeliveryMethod = DeliveryMethod.BOTH,
    ) -> None:
        self._protocols = frozenset(protocols)
        values: dict[int, ResourceValue] = {
            PACKAGE: b"",
            PACKAGE_URI: "",
            STATE: State.IDLE.value,
            UPDATE_RESULT: UpdateResult.INITIAL.value,
            PKG_NAME: "",
            PKG_VERSION: "",
            PROTOCOL_SUPPORT: {i: p.value for i, p in enumerate(sorted(self._protocols))},
            DELIVERY_METHOD: delivery.value,
        }
        executors = {UPDATE: self._update, CANCEL: self._cancel}
        super().__init__(
            model,
            {0: {rid: v for rid, v in values.items() if rid in model.resources}},
            writers={PACKAGE: self._write_package, PACKAGE_URI: self._write_uri},
            executors={rid: fn for rid, fn in executors.items() if rid in model.resources},
            creatable=False,
        )

    @property
    def state(self) -> State:
        return State(self._int(STATE))

    @property
    def result(self) -> UpdateResult:
        return UpdateResult(self._int(UPDATE_RESULT))

    @property
    def package(self) -> bytes:
        """The pushed package (empty when it was pulled or there is none)."""
        package = self.get(0, PACKAGE)
        assert isinstance(package, bytes)
        return package

    # -- device side ---------------------------------------------------------------------------

    def download_finished(self, *, name: str = "", version: str = "") -> None:
        """The pulled package arrived and passed its checks."""
        self._expect(State.DOWNLOADING)
        self._describe(name, version)
        self._enter(State.DOWNLOADED, UpdateResult.INITIAL)

    def download_failed(self, result: UpdateResult) -> None:
        self._expect(State.DOWNLOADING)
        self._enter(State.IDLE, result)

    def update_finished(self, *, success: bool) -> None:
        """Success returns to Idle with result 1; failure keeps the package (Downloaded, 8)."""
        self._expect(State.UPDATING)
        if success:
            self._enter(State.IDLE, UpdateResult.SUCCESS)
        else:
            self._enter(State.DOWNLOADED, UpdateResult.UPDATE_FAILED)

    # -- handlers ------------------------------------------------------------------------------

    def _write_package(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, bytes)
        if value in _RESET:
            self._reset()
            return
        self._require_idle()
        self.set(0, PACKAGE_URI, "")
        self._enter(State.DOWNLOADING, UpdateResult.INITIAL)
        self._enter(State.DOWNLOADED, UpdateResult.INITIAL)

    def _write_uri(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, str)
        if not value:
            self._reset()
            return
        self._require_idle()
        scheme, sep, rest = value.partition("://")
        if not sep or not rest:
            self.set(0, UPDATE_RESULT, UpdateResult.INVALID_URI.value)
        elif SCHEMES.get(scheme.lower()) not in self._protocols:
            self.set(0, UPDATE_RESULT, UpdateResult.UNSUPPORTED_PROTOCOL.value)
        else:
            self._enter(State.DOWNLOADING, UpdateResult.INITIAL)
            self.emit(FirmwareDownloadRequested(value))

    def _update(self, instance_id: int, args: str) -> None:
        if self.state is not State.DOWNLOADED:
            raise MethodNotAllowedError(f"nothing to install in state {self.state.name}")
        self._enter(State.UPDATING, UpdateResult.INITIAL)
        self.emit(FirmwareUpdateRequested())

    def _cancel(self, instance_id: int, args: str) -> None:
        if self.state not in (State.DOWNLOADING, State.DOWNLOADED):
            raise MethodNotAllowedError(f"nothing to cancel in state {self.state.name}")
        self._clear_package()
        self._enter(State.IDLE, UpdateResult.CANCELLED)

    # -- internals -----------------------------------------------------------------------------

    def _reset(self) -> None:
        if self.state is State.UPDATING:
            raise BadRequestError("cannot reset while updating")
        self._clear_package()
        self._enter(State.IDLE, UpdateResult.INITIAL)

    def _clear_package(self) -> None:
        self.set(0, PACKAGE, b"")
        self.set(0, PACKAGE_URI, "")
        self._describe("", "")

    def _describe(self, name: str, version: str) -> None:
        for rid, text in ((PKG_NAME, name), (PKG_VERSION, version)):
            if rid in self.model.resources:
                self.set(0, rid, text)

    def _require_idle(self) -> None:
        if self.state is not State.IDLE:
            raise BadRequestError(f"firmware update busy ({self.state.name})")

    def _expect(self, state: State) -> None:
        if self.state is not state:
            raise ValueError(f"firmware update is {self.state.name}, not {state.name}")

    def _enter(self, state: State, result: UpdateResult) -> None:
        self.set(0, UPDATE_RESULT, result.value)
        self.set(0, STATE, state.value)

    def _int(self, resource_id: int) -> int:
        value = self.get(0, resource_id)
        assert isinstance(value, int)
        return value
