"""Waking sleeping queue-mode devices: per-device policy, trigger paths and the rate limit ◆.

A request for a sleeping queue-mode device waits in the server's queue (:mod:`.flow`).  When
the device has a trigger path, the server may wake it instead of waiting for its next Update:
an SMS trigger (a NON Execute of the Registration Update Trigger, /1/x/8) to its ``sms=``
number through the SMSC, or a 3GPP T8 device-triggering transaction carrying the same CoAP
bytes for a NIDD device.  :class:`WakePlanner` decides, from each device's
:class:`WakePolicy`, whether and how; the façade's carriers send (:mod:`.cellular`).

Sans-I/O: ``now`` is monotonic seconds; the planner keeps per device only the send times of
the last hour (at most ``max_per_hour`` of them) and one pending trigger, and forgets both
when the registration ends.  Policies set through the API live as long as the process.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from lwm2m.server.registration import Registration
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.sms.binding import MSISDN

HOUR = 3600.0
MAX_PER_HOUR = 60
"""Most triggers a policy may allow per hour (one a minute; SMSCs throttle far below that)."""


class WakeChannel(enum.Enum):
    SMS = "sms"  # an SMS trigger through the SMSC (SMPP)
    T8 = "t8"  # a T8 device-triggering transaction at the SCEF


class WakeMode(enum.Enum):
    TRIGGER = "trigger"  # a queued request sends a trigger (when the device has a path)
    WAIT = "wait"  # queued requests wait for the device (or its UE reachability report)


@dataclass(frozen=True, slots=True)
class WakePolicy:
    """How a device is woken.  ``channel`` None takes the first path it has (SMS, then T8);
    ``server_instance`` None takes the lowest Server object instance (/1/x) it registered."""

    mode: WakeMode = WakeMode.TRIGGER
    channel: WakeChannel | None = None
    max_per_hour: int = 4
    server_instance: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.max_per_hour <= MAX_PER_HOUR:
            raise ValueError(f"maxPerHour must be 0..{MAX_PER_HOUR}")
        if self.server_instance is not None and not 0 <= self.server_instance <= 0xFFFF:
            raise ValueError("serverInstance must be 0..65535")

    def to_json(self) -> dict[str, object]:
        return {
            "mode": self.mode.value,
            "channel": None if self.channel is None else self.channel.value,
            "maxPerHour": self.max_per_hour,
            "serverInstance": self.server_instance,
        }

    @classmethod
    def from_json(cls, data: object) -> WakePolicy:
        """The REST API's body; fields left out take their defaults; ValueError names what is
        wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("the wake policy must be a JSON object")
        unknown = set(data) - {"mode", "channel", "maxPerHour", "serverInstance"}
        if unknown:
            raise ValueError(f"unknown wake policy fields: {', '.join(sorted(unknown))}")
        mode = _choice(WakeMode, data.get("mode", WakeMode.TRIGGER.value), "mode")
        channel = data.get("channel")
        per_hour, instance = data.get("maxPerHour", 4), data.get("serverInstance")
        if not _is_int(per_hour) or not (instance is None or _is_int(instance)):
            raise ValueError("maxPerHour and serverInstance must be integers")
        return cls(
            mode,
            None if channel is None else parse_channel(channel),
            per_hour,
            instance,
        )


def parse_channel(value: object) -> WakeChannel:
    return _choice(WakeChannel, value, "channel")


E = TypeVar("E", bound=enum.Enum)


def _choice(kind: type[E], value: object, name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = " or ".join(repr(member.value) for member in kind)
        raise ValueError(f"{name} must be {allowed}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class WakeSettings:
    """Server-wide waking settings (``ServerConfig.wake``)."""

    #: The policy of every device that has none of its own.
    default: WakePolicy = field(default_factory=WakePolicy)
    #: Seconds a trigger sent counts as pending: no further trigger for queued requests is
    #: sent meanwhile, unless the device wakes or the trigger is reported undelivered.
    pending_for: float = 900.0
    #: ``validityPeriod`` of a T8 device-triggering transaction (seconds the SCEF tries).
    t8_validity: int = 300
    #: ``applicationPortId`` of a T8 trigger: the port the device's trigger application
    #: listens on (CoAP's, by default).
    t8_application_port: int = 5683

    def __post_init__(self) -> None:
        if self.pending_for <= 0 or self.t8_validity <= 0:
            raise ValueError("pending_for and t8_validity must be positive")
        if not 0 <= self.t8_application_port <= 0xFFFF:
            raise ValueError("t8_application_port must be 0..65535")


@dataclass(frozen=True, slots=True)
class WakeTarget:
    """One way to wake a device: where a trigger for /1/``server_instance``/8 goes (an
    MSISDN for SMS, the NIDD identity for T8)."""

    channel: WakeChannel
    address: str
    server_instance: int

    def to_json(self) -> dict[str, object]:
        return {
            "channel": self.channel.value,
            "to": self.address,
            "serverInstance": self.server_instance,
        }


class WakeRefusedError(Exception):
    """No trigger can be sent now: ``status`` 409 (no such path, rate limit) or 400."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def wake_targets(
    registration: Registration,
    channels: frozenset[WakeChannel],
    server_instance: int | None = None,
) -> dict[WakeChannel, WakeTarget]:
    """The device's trigger paths over the ``channels`` the server has: SMS to its ``sms=``
    number, T8 to its NIDD identity (when it registered over NIDD)."""
    instance = _server_instance(registration) if server_instance is None else server_instance
    targets = {}
    if WakeChannel.SMS in channels and registration.sms and MSISDN.fullmatch(registration.sms):
        targets[WakeChannel.SMS] = WakeTarget(WakeChannel.SMS, registration.sms, instance)
    if WakeChannel.T8 in channels and isinstance(registration.address, NiddPeer):
        address = str(registration.address)
        targets[WakeChannel.T8] = WakeTarget(WakeChannel.T8, address, instance)
    return targets


def _server_instance(registration: Registration) -> int:
    """The lowest /1/x the device registered (its Server object instance for us, when it
    has one; 0 without any)."""
    root = registration.root_path.rstrip("/")
    found = []
    for link in registration.object_links:
        segments = link.target.removeprefix(root).strip("/").split("/")
        if len(segments) == 2 and segments[0] == "1" and segments[1].isdigit():
            found.append(int(segments[1]))
    return min(found, default=0)


class _Device:
    __slots__ = ("pending", "pending_at", "sent")

    def __init__(self) -> None:
        self.sent: deque[float] = deque()  # send times within the last hour
        self.pending: WakeTarget | None = None
        self.pending_at = 0.0


@dataclass(frozen=True, slots=True)
class Woken:
    """A device spoke while a trigger to it was pending."""

    target: WakeTarget
    after: float  # seconds since the trigger went out


class WakePlanner:
    """Policies, send history and pending triggers of the devices (module docstring)."""

    def __init__(self, settings: WakeSettings) -> None:
        self.settings = settings
        self._policies: dict[str, WakePolicy] = {}
        self._devices: dict[str, _Device] = {}

    def policy(self, endpoint: str) -> WakePolicy:
        return self._policies.get(endpoint, self.settings.default)

    def set_policy(self, endpoint: str, policy: WakePolicy | None) -> None:
        """``None`` returns the device to the default policy."""
        if policy is None:
            self._policies.pop(endpoint, None)
        else:
            self._policies[endpoint] = policy

    def sent_last_hour(self, endpoint: str, now: float) -> int:
        device = self._devices.get(endpoint)
        if device is None:
            return 0
        _prune(device.sent, now)
        return len(device.sent)

    def pending(self, endpoint: str, now: float) -> WakeTarget | None:
        device = self._devices.get(endpoint)
        if device is None or device.pending is None:
            return None
        if now - device.pending_at >= self.settings.pending_for:
            device.pending = None
        return device.pending

    def on_queued(
        self, endpoint: str, targets: Mapping[WakeChannel, WakeTarget], now: float
    ) -> WakeTarget | None:
        """The trigger to send for a request just queued for ``endpoint``: none when its
        policy waits, it has no path, or a trigger is pending; WakeRefusedError when the
        rate limit holds it back."""
        policy = self.policy(endpoint)
        if policy.mode is WakeMode.WAIT or self.pending(endpoint, now) is not None:
            return None
        target = _pick(targets, policy.channel)
        if target is None:
            return None
        self._check_rate(endpoint, policy, now)
        return target

    def choose(
        self,
        endpoint: str,
        targets: Mapping[WakeChannel, WakeTarget],
        channel: WakeChannel | None,
        now: float,
    ) -> WakeTarget:
        """The trigger an explicit wake request sends (any policy mode; the rate limit
        holds); WakeRefusedError with why not."""
        policy = self.policy(endpoint)
        target = _pick(targets, channel or policy.channel)
        if target is None:
            wanted = channel or policy.channel
            how = f"over {wanted.value}" if wanted is not None else "(no sms= number, not NIDD)"
            raise WakeRefusedError(409, f"{endpoint} has no trigger path {how}")
        self._check_rate(endpoint, policy, now)
        return target

    def sent(self, endpoint: str, target: WakeTarget, now: float) -> None:
        device = self._devices.get(endpoint)
        if device is None:
            device = self._devices[endpoint] = _Device()
        device.sent.append(now)
        device.pending, device.pending_at = target, now

    def failed(self, endpoint: str) -> WakeTarget | None:
        """The pending trigger of ``endpoint`` was not delivered: the next queued request may
        send another.  Returns it (None when none was pending)."""
        device = self._devices.get(endpoint)
        if device is None or device.pending is None:
            return None
        target, device.pending = device.pending, None
        return target

    def pending_to(self, channel: WakeChannel, address: str) -> list[str]:
        """The endpoints with a trigger pending over ``channel`` to ``address``."""
        return [
            endpoint
            for endpoint, device in self._devices.items()
            if device.pending is not None
            and device.pending.channel is channel
            and device.pending.address == address
        ]

    def heard(self, endpoint: str, now: float) -> Woken | None:
        """``endpoint`` spoke: a pending trigger worked (or was overtaken)."""
        device = self._devices.get(endpoint)
        if device is None or device.pending is None:
            return None
        target, device.pending = device.pending, None
        return Woken(target, now - device.pending_at)

    def forget(self, endpoint: str) -> None:
        """The registration ended: its history goes (its policy stays)."""
        self._devices.pop(endpoint, None)

    def _check_rate(self, endpoint: str, policy: WakePolicy, now: float) -> None:
        sent = self.sent_last_hour(endpoint, now)
        if sent >= policy.max_per_hour:
            raise WakeRefusedError(
                409, f"{endpoint} was woken {sent} times in the last hour (maxPerHour)"
            )


def _pick(
    targets: Mapping[WakeChannel, WakeTarget], channel: WakeChannel | None
) -> WakeTarget | None:
    if channel is not None:
        return targets.get(channel)
    return targets.get(WakeChannel.SMS) or targets.get(WakeChannel.T8)


def _prune(sent: deque[float], now: float) -> None:
    while sent and now - sent[0] >= HOUR:
        sent.popleft()
