"""A campaign's state machine, sans-I/O: signals about devices in, commands out.

Each device moves through :data:`TRANSITIONS`, a table of ``(state, signal) -> (next state,
action)``; a signal the table has no row for is stale (a late notification, an answer to a
request of an earlier attempt) and changes nothing.  The engine decides nothing from
assumptions: every signal comes from what a device answered or reported, or from a deadline.

The runner (:mod:`lwm2m.firmware.campaign_runner`) carries the commands out and turns the
device's answers and notifications into signals; times are passed in.

A failure takes a device back to ``pending`` while it has retries left (its cause stays in
``error``), else to ``failed``.  Devices start in waves, at most ``concurrency`` under way; a
failure rate over the threshold pauses the campaign (devices under way go on).

A device registered over NIDD that is to pull, and whose binding offers UDP, is moved to UDP
first (``switching``); one that cannot be moved is pushed to over NIDD when it takes push.
One rule stands beside the table: a device the campaign may have moved (``home`` set) does
not finish at once; it goes through ``returning`` (moved back) and then to the state it was
finishing in (``outcome``).  A device that retries stays on UDP for its next attempt.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from lwm2m.firmware.campaign import (
    TERMINAL,
    UNDER_WAY,
    CampaignRecord,
    DeviceProgress,
    DeviceState,
    Method,
    Status,
    describe_result,
)

S = DeviceState


class Signal(StrEnum):
    START = "start"  # the engine starts the device (its turn came)
    CURRENT = "current"  # the check found /3/0/3 at the package's version
    EXCLUDED = "excluded"  # the check found a device the campaign is not for
    READY = "ready"  # the check found a device to deliver to
    SWITCH = "switch"  # ... which is on NIDD, to pull, and offers UDP: move it first
    SWITCHED = "switched"  # its Update came over UDP
    STAYED = "stayed"  # it could not be moved (refused, no Update): push over NIDD if it can
    RETURNED = "returned"  # moved back (or why not is noted in ``transport``)
    DOWNLOADED = "downloaded"  # /5/0/3 = 2 (and, at the check, /5/0/7 the package's version)
    BUSY = "busy"  # the check found /5/0/3 = 1 or 3: an earlier attempt is under way
    ACCEPTED = "accepted"  # the device took the write or the Execute (2.04)
    DOWNLOADING = "downloading"  # /5/0/3 = 1
    INSTALLING = "installing"  # /5/0/3 = 3
    REGISTERED = "registered"  # the device registered again
    VERIFIED = "verified"  # /3/0/3 read after the registration is the package's version
    FAILED = "failed"  # a failure Update Result, a refusal, no answer in time
    TIMEOUT = "timeout"  # the attempt's deadline passed
    CANCEL = "cancel"


class Action(StrEnum):
    NONE = "none"
    CHECK = "check"  # read the device's identity and /5 state
    SWITCH = "switch"  # Execute /1/x/8 with 0='U', wait for its Update over UDP
    RETURN = "return"  # move it back to ``home`` unless it is there
    DELIVER = "deliver"  # observe /5/0, write the URL (/5/0/1) or the package (/5/0/0)
    OBSERVE = "observe"  # observe /5/0 again (a new registration ended the observation)
    EXECUTE = "execute"  # Execute /5/0/2
    VERIFY = "verify"  # read /3/0/3 and /5/0/5
    FAIL = "fail"  # retry or give up; then clean up
    FINISH = "finish"  # clean up: revoke its URLs, forget its observation


OUTCOME = None
"""A row's next state meaning the device's ``outcome``: the state it was finishing in."""
UNDER_WAY_NOT_RETURNING = UNDER_WAY - {S.RETURNING}
"""Moving a device back is never cut short: it is the way out of every other state."""

TRANSITIONS: Mapping[tuple[DeviceState, Signal], tuple[DeviceState | None, Action]] = {
    (S.PENDING, Signal.START): (S.CHECKING, Action.CHECK),
    (S.CHECKING, Signal.CURRENT): (S.SUCCEEDED, Action.FINISH),
    (S.CHECKING, Signal.EXCLUDED): (S.SKIPPED, Action.FINISH),
    (S.CHECKING, Signal.READY): (S.DELIVERING, Action.DELIVER),
    (S.CHECKING, Signal.SWITCH): (S.SWITCHING, Action.SWITCH),
    (S.SWITCHING, Signal.SWITCHED): (S.DELIVERING, Action.DELIVER),
    (S.SWITCHING, Signal.STAYED): (S.DELIVERING, Action.DELIVER),
    (S.CHECKING, Signal.DOWNLOADED): (S.UPDATING, Action.EXECUTE),
    (S.CHECKING, Signal.BUSY): (S.DOWNLOADING, Action.OBSERVE),
    (S.DELIVERING, Signal.ACCEPTED): (S.DOWNLOADING, Action.NONE),
    (S.DELIVERING, Signal.DOWNLOADING): (S.DOWNLOADING, Action.NONE),
    (S.DELIVERING, Signal.DOWNLOADED): (S.UPDATING, Action.EXECUTE),
    (S.DELIVERING, Signal.REGISTERED): (S.DELIVERING, Action.OBSERVE),
    (S.DOWNLOADING, Signal.DOWNLOADED): (S.UPDATING, Action.EXECUTE),
    (S.DOWNLOADING, Signal.INSTALLING): (S.UPDATING, Action.NONE),
    (S.DOWNLOADING, Signal.REGISTERED): (S.DOWNLOADING, Action.OBSERVE),
    (S.UPDATING, Signal.REGISTERED): (S.VERIFYING, Action.VERIFY),
    (S.VERIFYING, Signal.VERIFIED): (S.SUCCEEDED, Action.FINISH),
    (S.RETURNING, Signal.RETURNED): (OUTCOME, Action.FINISH),
    **{(state, Signal.FAILED): (S.FAILED, Action.FAIL) for state in UNDER_WAY_NOT_RETURNING},
    **{(state, Signal.TIMEOUT): (S.FAILED, Action.FAIL) for state in UNDER_WAY_NOT_RETURNING},
    **{(state, Signal.CANCEL): (S.CANCELLED, Action.FINISH) for state in UNDER_WAY_NOT_RETURNING},
    (S.PENDING, Signal.CANCEL): (S.CANCELLED, Action.NONE),
}


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    endpoint: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the check read from a device (None: not there or not readable)."""

    manufacturer: object = None
    model: object = None
    version: object = None
    state: object = None
    result: object = None
    package_version: object = None
    delivery: object = None
    transport: object = None  # the registration's: U, T, S or N
    binding: object = None  # the registration's binding letters


class CampaignEngine:
    """One campaign's devices (see the module docstring); ``package_version`` and
    ``package_model`` are the package's."""

    def __init__(
        self,
        record: CampaignRecord,
        devices: Iterable[DeviceProgress],
        *,
        package_version: str,
        package_model: str,
    ) -> None:
        self.record = record
        self.spec = record.spec
        self.package_version = package_version
        self.package_model = package_model
        self.devices = {device.endpoint: device for device in devices}
        self.counts = dict.fromkeys(DeviceState, 0)
        self._pending: dict[int, deque[str]] = {}
        self._open: dict[int, int] = {}  # wave -> devices of it not finished
        self._deadlines: list[tuple[float, str, int]] = []
        self._push_instead: set[str] = set()  # devices to switch that take push if they stay
        self.dirty: set[str] = set()
        """Devices changed since the runner last stored them."""
        self.status_changed = False
        for device in self.devices.values():
            self.counts[device.state] += 1
            if device.state not in TERMINAL:
                self._open[device.wave] = self._open.get(device.wave, 0) + 1
            if device.state is S.PENDING:
                self._pending.setdefault(device.wave, deque()).append(device.endpoint)

    # -- the campaign ------------------------------------------------------------------------

    def resume_after_restart(self, now: float) -> list[Command]:
        """Devices that were under way when the server stopped are checked again (their
        attempt goes on; what they did meanwhile is read from them), then the rest start."""
        commands = []
        for device in self.devices.values():
            if device.state in UNDER_WAY:
                self._set(device, S.CHECKING, now)
                self._arm(device, now)
                commands.append(Command(Action.CHECK, device.endpoint, device.attempts))
        return commands + self.pump(now)

    def pause(self, reason: str) -> bool:
        if self.record.status is not Status.RUNNING:
            return False
        self._status(Status.PAUSED, reason)
        return True

    def resume(self, now: float) -> list[Command]:
        """Start devices again; the failure rate counts from here."""
        if self.record.status is not Status.PAUSED:
            return []
        self.record.baseline = (self._finished(), self.counts[S.FAILED])
        self._status(Status.RUNNING, None)
        return self.pump(now)

    def cancel(self, now: float) -> list[Command]:
        if self.record.status in (Status.CANCELLED, Status.COMPLETED):
            return []
        commands = []
        for device in list(self.devices.values()):
            commands += self.handle(device.endpoint, Signal.CANCEL, now, attempt=device.attempts)
        self._status(Status.CANCELLED, "cancelled")
        return commands

    def pump(self, now: float) -> list[Command]:
        """Start devices of the open wave while fewer than ``concurrency`` are under way."""
        commands: list[Command] = []
        if self.record.status is Status.RUNNING:
            room = self.spec.concurrency - self.under_way
            wave = self.current_wave
            while room > 0 and wave is not None:
                queue = self._pending.get(wave)
                if not queue:
                    break
                endpoint = queue.popleft()
                device = self.devices[endpoint]
                if device.state is not S.PENDING:
                    continue
                device.attempts += 1
                commands += self.handle(endpoint, Signal.START, now, attempt=device.attempts)
                room -= 1
        if self.record.status in (Status.RUNNING, Status.PAUSED) and not self._open:
            self._status(Status.COMPLETED, None)
        return commands

    def tick(self, now: float) -> list[Command]:
        """Attempts past their deadline fail; then :meth:`pump`."""
        commands: list[Command] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, endpoint, attempt = heapq.heappop(deadlines)
            device = self.devices[endpoint]
            if device.attempts == attempt and device.state in UNDER_WAY:
                detail = f"no progress within {self.spec.device_timeout:g} s ({device.state.value})"
                commands += self.handle(endpoint, Signal.TIMEOUT, now, attempt, detail=detail)
        return commands + self.pump(now)

    def next_deadline(self) -> float | None:
        return self._deadlines[0][0] if self._deadlines else None

    @property
    def under_way(self) -> int:
        return sum(self.counts[state] for state in UNDER_WAY)

    @property
    def current_wave(self) -> int | None:
        """The lowest wave with devices not finished (retries keep their wave open)."""
        return min(self._open) if self._open else None

    def progress(self) -> dict[str, object]:
        total = len(self.devices)
        finished = sum(self.counts[state] for state in TERMINAL)
        return {
            **self.record.to_json(),
            "devices": total,
            "finished": finished,
            "counts": {state.value: count for state, count in self.counts.items() if count},
            "wave": self.current_wave,
        }

    # -- devices -----------------------------------------------------------------------------

    def classify(self, device: DeviceProgress, snapshot: Snapshot) -> tuple[Signal, str | None]:
        """What the check found: the signal and, for a skipped device, why."""
        spec, version = self.spec, self.package_version
        if snapshot.version == version:
            return Signal.CURRENT, None
        if not spec.target.matches_device(snapshot.manufacturer, snapshot.model, snapshot.version):
            return Signal.EXCLUDED, "does not match the target filter"
        if snapshot.model != self.package_model:
            return Signal.EXCLUDED, f"model {snapshot.model!r:.40} is not the package's"
        method = _method(spec.method, snapshot.delivery)
        if method is None:
            return (
                Signal.EXCLUDED,
                f"/5/0/9 Delivery Method {snapshot.delivery} refuses {spec.method.value}",
            )
        device.method = method.value
        if snapshot.state == 2 and snapshot.package_version == version:
            return Signal.DOWNLOADED, None
        if snapshot.state in (1, 3):
            return Signal.BUSY, None
        if method is Method.PULL and snapshot.transport == "N":
            return self._pull_over_nidd(device, snapshot)
        return Signal.READY, None

    def _pull_over_nidd(
        self, device: DeviceProgress, snapshot: Snapshot
    ) -> tuple[Signal, str | None]:
        """A device on NIDD has no IP path to pull over: move it to UDP when its binding
        offers it; else push over NIDD when the campaign lets the device choose and it takes
        push; else it is skipped."""
        binding = snapshot.binding if isinstance(snapshot.binding, str) else ""
        takes_push = _method(Method.PUSH, snapshot.delivery) is not None
        auto = self.spec.method is Method.AUTO
        if "U" in binding:
            device.home = "N"
            if auto and takes_push:
                self._push_instead.add(device.endpoint)
            else:
                self._push_instead.discard(device.endpoint)
            return Signal.SWITCH, None
        why = f"stayed on N: its binding {binding!r:.10} offers no U"
        if auto and takes_push:
            device.method, device.transport = Method.PUSH.value, f"{why}; pushed over NIDD"
            return Signal.READY, None
        return Signal.EXCLUDED, f"{why} to pull over"

    def reported(self, endpoint: str, state: object, result: object, now: float) -> list[Command]:
        """A notification of /5/0/3 and /5/0/5 (either may be absent)."""
        device = self.devices.get(endpoint)
        if device is None or device.state not in UNDER_WAY:
            return []
        attempt = device.attempts
        if isinstance(result, int) and result:
            device.result = result
            self.dirty.add(endpoint)
            if result > 1:
                return self.handle(
                    endpoint, Signal.FAILED, now, attempt, detail=describe_result(result)
                )
        signal = {1: Signal.DOWNLOADING, 2: Signal.DOWNLOADED, 3: Signal.INSTALLING}.get(
            state if isinstance(state, int) else -1
        )
        return [] if signal is None else self.handle(endpoint, signal, now, attempt)

    def handle(
        self,
        endpoint: str,
        signal: Signal,
        now: float,
        attempt: int,
        *,
        detail: str | None = None,
    ) -> list[Command]:
        """Apply ``signal`` to device ``endpoint`` if it is about its current ``attempt``;
        the commands to carry out (then :meth:`pump` for devices to start)."""
        device = self.devices.get(endpoint)
        if device is None or device.attempts != attempt:
            return []
        if signal is Signal.STAYED:
            signal, detail = self._stayed(device, detail)
        row = TRANSITIONS.get((device.state, signal))
        if row is None:
            return []
        next_state, action = row
        state = device.outcome if next_state is OUTCOME else next_state
        assert state is not None
        if signal is Signal.EXCLUDED:
            device.error = detail
        if signal is Signal.START:
            self._arm(device, now)
        if signal is Signal.RETURNED:
            device.home = device.outcome = None
        if action is Action.FAIL:
            device.error = detail or signal.value
            if device.attempts <= self.spec.retries and self.record.status is not Status.CANCELLED:
                state = S.PENDING
                self._pending.setdefault(device.wave, deque()).append(endpoint)
        if state in TERMINAL and device.home is not None:  # move it back first
            device.outcome, state, action = state, S.RETURNING, Action.RETURN
        self._set(device, state, now)
        commands = [] if action is Action.NONE else [Command(action, endpoint, attempt)]
        if state is S.FAILED:
            self._check_failure_rate()
        if action in (Action.FAIL, Action.FINISH):
            commands += self.pump(now)
        return commands

    def _stayed(self, device: DeviceProgress, why: str | None) -> tuple[Signal, str | None]:
        """A device that could not be moved to UDP: pushed to over NIDD if it may be."""
        if device.endpoint not in self._push_instead:
            return Signal.FAILED, f"cannot pull: {why}"
        device.method = Method.PUSH.value
        device.transport = f"stayed on N: {why}; pushed over NIDD"
        return Signal.STAYED, None

    # -- internals ---------------------------------------------------------------------------

    def _set(self, device: DeviceProgress, state: DeviceState, now: float) -> None:
        old = device.state
        if old is state:
            return
        self.counts[old] -= 1
        self.counts[state] += 1
        if state in TERMINAL and old not in TERMINAL:
            left = self._open[device.wave] - 1
            if left:
                self._open[device.wave] = left
            else:
                del self._open[device.wave]
        device.state = state
        device.changed = now
        self.dirty.add(device.endpoint)

    def _arm(self, device: DeviceProgress, now: float) -> None:
        deadline = device.deadline = now + self.spec.device_timeout
        heapq.heappush(self._deadlines, (deadline, device.endpoint, device.attempts))

    def _finished(self) -> int:
        return self.counts[S.SUCCEEDED] + self.counts[S.FAILED]

    def _check_failure_rate(self) -> None:
        finished_before, failed_before = self.record.baseline
        finished = self._finished() - finished_before
        failed = self.counts[S.FAILED] - failed_before
        spec = self.spec
        if finished >= spec.failure_minimum and failed > spec.failure_threshold * finished:
            self.pause(
                f"{failed} of {finished} devices failed, over the threshold of "
                f"{spec.failure_threshold:.0%}"
            )

    def _status(self, status: Status, reason: str | None) -> None:
        self.record.status = status
        self.record.reason = reason
        self.status_changed = True


def _method(wanted: Method, delivery: object) -> Method | None:
    """How to deliver to a device whose /5/0/9 is ``delivery`` (0 pull, 1 push, 2 both;
    absent: a 1.0 device, which takes both)."""
    takes = {0: {Method.PULL}, 1: {Method.PUSH}}.get(
        delivery if isinstance(delivery, int) else 2, {Method.PULL, Method.PUSH}
    )
    if wanted is Method.AUTO:
        return Method.PULL if Method.PULL in takes else Method.PUSH
    return wanted if wanted in takes else None
