"""What the client engine reports to the device code and its façade."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from lwm2m.client.objects import DeviceEvent
from lwm2m.coap.codes import Code
from lwm2m.coap.events import Peer


@dataclass(frozen=True, slots=True)
class Registered:
    short_server_id: int
    location: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Updated:
    short_server_id: int


@dataclass(frozen=True, slots=True)
class Deregistered:
    short_server_id: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    """Register or Update failed (``code`` None: no answer, or the request could not be built,
    which is logged); the next try is at ``retry_at``."""

    short_server_id: int
    code: Code | None
    retry_at: float


@dataclass(frozen=True, slots=True)
class SendCompleted:
    """The answer to the Send ``send_id`` (``code`` None: no answer)."""

    send_id: int
    short_server_id: int
    code: Code | None


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A device event the engine does not handle itself (Reboot, Factory Reset, bootstrap)."""

    event: DeviceEvent


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """Bootstrap-Finish accepted: registration starts with these accounts."""

    short_server_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BootstrapFailed:
    """A bootstrap failed (``code``: the bootstrap server's answer to Bootstrap-Request, or 4.06
    when its configuration failed the check; None: no answer); the next try is at ``retry_at``
    (None: there is no bootstrap server account)."""

    code: Code | None
    reason: str
    retry_at: float | None


@dataclass(frozen=True, slots=True)
class Stopped:
    """Every registration is over after :meth:`~lwm2m.client.engine.ClientEngine.stop`."""


@dataclass(frozen=True, slots=True)
class ServerSilent:
    """A request to ``peer`` went unanswered until CoAP gave up: a secure transport should
    start its session over (the server may have lost it, or a NAT the address)."""

    peer: Peer


ClientEvent: TypeAlias = (
    Registered
    | Updated
    | Deregistered
    | RegistrationFailed
    | SendCompleted
    | DeviceRequest
    | Bootstrapped
    | BootstrapFailed
    | Stopped
    | ServerSilent
)
