"""Server object (/1): one instance per LwM2M server account; its executes become events.

The registration engine subscribes to the tree and acts on :class:`RegistrationUpdateTrigger`,
:class:`BootstrapRequestTrigger` and :class:`DisableServer`.  It also sets
:attr:`ServerObject.transport_check`, so that a transport argument, a Binding or a Preferred
Transport the client cannot serve is refused (4.00 with the reason) instead of accepted and
ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lwm2m.client.objects import (
    BadRequestError,
    DeviceEvent,
    ResourceValue,
    SimpleObject,
    parse_execute_args,
)
from lwm2m.model import ObjectModel
from lwm2m.operations import MAX_LIFETIME
from lwm2m.operations.attributes import MAX_PERIOD

SHORT_SERVER_ID = 0
LIFETIME = 1
DEFAULT_PMIN = 2
DEFAULT_PMAX = 3
DISABLE = 4
DISABLE_TIMEOUT = 5
NOTIFICATION_STORING = 6
BINDING = 7
REGISTRATION_UPDATE_TRIGGER = 8
BOOTSTRAP_REQUEST_TRIGGER = 9
APN_LINK = 10
LAST_BOOTSTRAPPED = 12
REGISTRATION_PRIORITY_ORDER = 13
BOOTSTRAP_ON_FAILURE = 16
RETRY_COUNT = 17
PREFERRED_TRANSPORT = 22
MUTE_SEND = 23

DEFAULT_DISABLE_TIMEOUT = 86400
"""Seconds a Disable lasts when Disable Timeout is absent (Core §E.2)."""
TRANSPORTS = frozenset("UTSN")
"""UDP, TCP, SMS, Non-IP (Core 1.1 §6.2.1.1); ``Q`` (queue mode) may join them in a binding."""


@dataclass(frozen=True, slots=True)
class RegistrationUpdateTrigger(DeviceEvent):
    """Send an Update to this server, over ``transport`` (``"U"``, ...) when one was given."""

    short_server_id: int
    transport: str | None = None


@dataclass(frozen=True, slots=True)
class BootstrapRequestTrigger(DeviceEvent):
    """Start a client-initiated bootstrap (executed by this server)."""

    short_server_id: int


@dataclass(frozen=True, slots=True)
class DisableServer(DeviceEvent):
    """De-register from this server and stay silent towards it for ``timeout`` seconds."""

    short_server_id: int
    timeout: int


TransportCheck = Callable[[int, str], str | None]
"""``check(instance_id, letters)``: why the account cannot use any of ``letters``, or None."""


class ServerObject(SimpleObject):
    def __init__(
        self, model: ObjectModel, instances: Mapping[int, Mapping[int, ResourceValue]]
    ) -> None:
        self.transport_check: TransportCheck | None = None
        executors = {
            DISABLE: self._disable,
            REGISTRATION_UPDATE_TRIGGER: self._update,
            BOOTSTRAP_REQUEST_TRIGGER: self._bootstrap,
        }
        super().__init__(
            model,
            instances,
            executors={rid: fn for rid, fn in executors.items() if rid in model.resources},
            writers={
                **CHECKS,
                BINDING: self._write_binding,
                PREFERRED_TRANSPORT: self._write_preferred,
            },
        )

    def create(self, instance_id: int, values: Mapping[int, ResourceValue]) -> None:
        """A new account (Bootstrap-Write): its values pass the checks a Write passes."""
        for rid, value in values.items():
            check = CHECKS.get(rid)
            if check is not None:
                try:
                    check(instance_id, value)
                except BadRequestError as exc:
                    raise BadRequestError(exc.message, path=self.path(instance_id, rid)) from None
        super().create(instance_id, values)

    def short_server_id(self, instance_id: int) -> int:
        ssid = self.get(instance_id, SHORT_SERVER_ID)
        assert isinstance(ssid, int)
        return ssid

    def instance_of(self, short_server_id: int) -> int | None:
        """The instance holding the account of ``short_server_id``."""
        for iid in self.list_instances():
            if self.short_server_id(iid) == short_server_id:
                return iid
        return None

    def _update(self, instance_id: int, args: str) -> None:
        transport = parse_execute_args(args).get(0)
        if transport is not None and transport not in TRANSPORTS:
            raise BadRequestError(
                f"unknown transport {transport!r}",
                path=self.path(instance_id, REGISTRATION_UPDATE_TRIGGER),
            )
        if transport is not None:
            self._check_usable(instance_id, transport)
        self.emit(RegistrationUpdateTrigger(self.short_server_id(instance_id), transport))

    def _check_usable(self, instance_id: int, letters: str) -> None:
        refusal = (
            None if self.transport_check is None else self.transport_check(instance_id, letters)
        )
        if refusal is not None:
            raise BadRequestError(refusal)

    def _write_binding(self, instance_id: int, value: ResourceValue) -> None:
        _check_binding(instance_id, value)
        assert isinstance(value, str)
        self._check_usable(instance_id, value.replace("Q", ""))

    def _write_preferred(self, instance_id: int, value: ResourceValue) -> None:
        _check_transport(instance_id, value)
        assert isinstance(value, str)
        self._check_usable(instance_id, value)

    def _bootstrap(self, instance_id: int, args: str) -> None:
        self.emit(BootstrapRequestTrigger(self.short_server_id(instance_id)))

    def _disable(self, instance_id: int, args: str) -> None:
        resources = self.list_resources(instance_id)
        timeout = (
            self.get(instance_id, DISABLE_TIMEOUT)
            if DISABLE_TIMEOUT in resources
            else DEFAULT_DISABLE_TIMEOUT
        )
        assert isinstance(timeout, int)
        self.emit(DisableServer(self.short_server_id(instance_id), timeout))


def _check_binding(instance_id: int, value: ResourceValue) -> None:
    assert isinstance(value, str)
    transports = value.replace("Q", "", 1)
    if not transports or set(transports) - TRANSPORTS or len(set(transports)) != len(transports):
        raise BadRequestError(f"binding {value!r} is not a set of U, T, S, N with optional Q")


def _check_transport(instance_id: int, value: ResourceValue) -> None:
    if value not in TRANSPORTS:
        raise BadRequestError(f"preferred transport {value!r} is not one of U, T, S, N")


def _within(low: int, high: int) -> Callable[[int, ResourceValue], None]:
    """A check for values the registration engine computes with: the DDF gives no range for
    them, the Register and the notification attributes do."""

    def check(instance_id: int, value: ResourceValue) -> None:
        if not isinstance(value, int) or not low <= value <= high:
            raise BadRequestError(f"{value!r:.40} is outside {low}..{high}")

    return check


CHECKS: dict[int, Callable[[int, ResourceValue], None]] = {
    LIFETIME: _within(1, MAX_LIFETIME),
    DEFAULT_PMIN: _within(0, MAX_PERIOD),
    DEFAULT_PMAX: _within(0, MAX_PERIOD),
    DISABLE_TIMEOUT: _within(0, MAX_PERIOD),
    BINDING: _check_binding,
    PREFERRED_TRANSPORT: _check_transport,
}
"""What a server (or the bootstrap server) may write to a Server instance."""
