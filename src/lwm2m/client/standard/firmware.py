"""Firmware Update object (/5): the state machine of Core §E.6 over a device's updater.

The object holds the resources and decides the transitions; what a transfer or an install
*does* is the :class:`FirmwareBackend`'s (for the simulated device:
:class:`lwm2m.client.firmware.updater.FirmwareUpdater`), which reports back with
:meth:`FirmwareUpdateObject.download_finished`, :meth:`~FirmwareUpdateObject.download_failed`
and :meth:`~FirmwareUpdateObject.update_finished`.  Until a backend is attached the device
supports no delivery: writes of a package or a URI are refused (5.01), and /5/0/8 lists no
protocol, so a server is never told of an ability the device lacks.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from enum import IntEnum
from urllib.parse import urlsplit

from lwm2m.client.objects import (
    BadRequestError,
    MethodNotAllowedError,
    ObjectError,
    ResourceValue,
    SimpleObject,
)
from lwm2m.coap.codes import Code
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
    """Values of /5/0/8 (Firmware Update Protocol Support)."""

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


class NoUpdaterError(ObjectError):
    """The device has no firmware updater: 5.01."""

    code = Code.NOT_IMPLEMENTED


class FirmwareBackend(typing.Protocol):
    """What carries out the transfers and the install; reports back through the object."""

    def push(self, package: bytes) -> None:
        """Take a pushed package (state Downloading): download_finished or download_failed."""

    def pull(self, uri: str) -> None:
        """Start downloading ``uri`` (state Downloading), resuming what is kept of it."""

    def discard(self) -> None:
        """Stop any transfer and drop the package (a reset or Cancel)."""

    def install(self) -> None:
        """Install the downloaded package (state Updating): update_finished, now or later."""


class FirmwareUpdateObject(SimpleObject):
    def __init__(self, model: ObjectModel) -> None:
        values: dict[int, ResourceValue] = {
            PACKAGE: b"",  # present (writable); what is written goes to the backend
            PACKAGE_URI: "",
            STATE: State.IDLE.value,
            UPDATE_RESULT: UpdateResult.INITIAL.value,
            PKG_NAME: "",
            PKG_VERSION: "",
            PROTOCOL_SUPPORT: {},
            DELIVERY_METHOD: DeliveryMethod.PUSH.value,
        }
        executors = {UPDATE: self._update, CANCEL: self._cancel}
        super().__init__(
            model,
            {0: {rid: v for rid, v in values.items() if rid in model.resources}},
            writers={PACKAGE: self._write_package, PACKAGE_URI: self._write_uri},
            executors={rid: fn for rid, fn in executors.items() if rid in model.resources},
            creatable=False,
        )
        self._backend: FirmwareBackend | None = None
        self._protocols: frozenset[Protocol] = frozenset()
        self._delivery = DeliveryMethod.PUSH

    def attach(
        self,
        backend: FirmwareBackend,
        *,
        protocols: Iterable[Protocol],
        delivery: DeliveryMethod,
    ) -> None:
        """Let ``backend`` carry out updates; /5/0/8 and /5/0/9 say what it supports."""
        self._backend = backend
        self._protocols = frozenset(protocols)
        self._delivery = delivery
        self.set(0, PROTOCOL_SUPPORT, {i: p.value for i, p in enumerate(sorted(self._protocols))})
        if DELIVERY_METHOD in self.model.resources:
            self.set(0, DELIVERY_METHOD, delivery.value)

    @property
    def state(self) -> State:
        return State(self._int(STATE))

    @property
    def result(self) -> UpdateResult:
        return UpdateResult(self._int(UPDATE_RESULT))

    # -- device side ---------------------------------------------------------------------------

    def download_finished(self, *, name: str, version: str) -> None:
        """The package arrived whole and passed its checks."""
        self._expect(State.DOWNLOADING)
        self._describe(name, version)
        self._enter(State.DOWNLOADED, UpdateResult.INITIAL)

    def download_failed(self, result: UpdateResult) -> None:
        self._expect(State.DOWNLOADING)
        self._enter(State.IDLE, result)

    def update_finished(self, result: UpdateResult) -> None:
        """Success (1) returns to Idle; an integrity failure (5) drops the package (Idle);
        any other failure keeps it for another Update (Downloaded)."""
        self._expect(State.UPDATING)
        if result in (UpdateResult.SUCCESS, UpdateResult.INTEGRITY_FAILURE):
            self._enter(State.IDLE, result)
        else:
            self._enter(State.DOWNLOADED, result)

    # -- handlers ------------------------------------------------------------------------------

    def write(
        self, instance_id: int, resource_id: int, value: ResourceValue, *, replace: bool
    ) -> None:
        if resource_id != PACKAGE:
            super().write(instance_id, resource_id, value, replace=replace)
            return
        self._check_supported(instance_id, resource_id)
        self._write_package(instance_id, value)  # the backend keeps the bytes, not the tree

    def _write_package(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, bytes)
        if value in _RESET:
            self._reset()
            return
        backend = self._require_backend()
        if self._delivery is DeliveryMethod.PULL:
            raise MethodNotAllowedError("this device takes packages by URI only")
        self._require_idle()
        self.set(0, PACKAGE_URI, "")
        self._enter(State.DOWNLOADING, UpdateResult.INITIAL)
        backend.push(value)

    def _write_uri(self, instance_id: int, value: ResourceValue) -> None:
        assert isinstance(value, str)
        if not value:
            self._reset()
            return
        backend = self._require_backend()
        self._require_idle()
        try:
            parts = urlsplit(value)
            valid = bool(parts.scheme and parts.hostname)
            _ = parts.port  # raises on a malformed port
        except ValueError:
            valid = False
        if not valid:
            self._enter(State.IDLE, UpdateResult.INVALID_URI)
        elif SCHEMES.get(parts.scheme.lower()) not in self._protocols:
            self._enter(State.IDLE, UpdateResult.UNSUPPORTED_PROTOCOL)
        else:
            self._enter(State.DOWNLOADING, UpdateResult.INITIAL)
            backend.pull(value)

    def _update(self, instance_id: int, args: str) -> None:
        if self.state is not State.DOWNLOADED:
            raise MethodNotAllowedError(f"nothing to install in state {self.state.name}")
        self._enter(State.UPDATING, UpdateResult.INITIAL)
        self._require_backend().install()

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
        if self._backend is not None:
            self._backend.discard()
        self.set(0, PACKAGE_URI, "")
        self._describe("", "")

    def _describe(self, name: str, version: str) -> None:
        for rid, text in ((PKG_NAME, name), (PKG_VERSION, version)):
            if rid in self.model.resources:
                self.set(0, rid, text)

    def _require_backend(self) -> FirmwareBackend:
        if self._backend is None:
            raise NoUpdaterError("this device has no firmware updater")
        return self._backend

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
