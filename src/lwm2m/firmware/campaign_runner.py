"""Campaigns on a running server: the asyncio side of
:class:`~lwm2m.firmware.campaign_engine.CampaignEngine` (docs/firmware.md, "Campaigns").

:class:`CampaignRunner` carries the engines' commands out through the server's Python API
and :class:`~lwm2m.firmware.delivery.FirmwareDelivery` (reads, Observe of /5/0, the URL or
package write, Execute /5/0/2) and turns what devices say into signals: answers, notifications
of /5/0/3 and /5/0/5, and ``Registered`` events (the device back after its reboot).  Requests to
a sleeping queue-mode device wait in the server's queue as any request does, and the server's
waking policy may trigger the device (``ServerConfig.wake``); every request's timeout is what is
left of the device's attempt.  A device on NIDD that is to pull is moved to UDP for it and back
afterwards (:meth:`LwM2MServer.switch_transport`, an Update each way: the same registration).

Every change of a device or a campaign goes to the :class:`~lwm2m.firmware.campaign.CampaignStore`;
:meth:`CampaignRunner.start` takes the campaigns up again after a restart.  Listeners
(:meth:`CampaignRunner.listen`) learn which campaign changed, for live progress; subscribers
(:meth:`CampaignRunner.subscribe`) get each change as a typed event (the server's event stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from lwm2m.firmware.campaign import (
    TERMINAL,
    CampaignInputError,
    CampaignRecord,
    CampaignSpec,
    CampaignStore,
    DeviceProgress,
    Method,
    Status,
    describe_result,
)
from lwm2m.firmware.campaign_engine import Action, CampaignEngine, Command, Signal, Snapshot
from lwm2m.firmware.campaign_events import (
    CampaignDeviceChanged,
    CampaignEvent,
    CampaignStatusChanged,
)
from lwm2m.firmware.delivery import FirmwareDelivery
from lwm2m.model import Path, Value, node_to_values
from lwm2m.operations import ErrorResponse, NodeResponse, OperationUsageError, ValuesResponse
from lwm2m.server.errors import ServerError
from lwm2m.server.events import NotificationReceived, Registered, ServerEvent
from lwm2m.server.switching import transport_of

logger = logging.getLogger(__name__)

FIRMWARE = "/5/0"
UPDATE = "/5/0/2"
STATE, RESULT = Path.of(5, 0, 3), Path.of(5, 0, 5)
CHECKED = (
    Path.of(3, 0, 0),
    Path.of(3, 0, 1),
    Path.of(3, 0, 3),
    STATE,
    RESULT,
    Path.of(5, 0, 7),
    Path.of(5, 0, 9),
)
VERIFIED = (Path.of(3, 0, 3), RESULT)
TICK = 1.0
"""Seconds between deadline checks."""
RETURN_TIMEOUT = 330.0
"""Seconds to wait for a device's Update back on its transport (the attempt may be over by
then; NIDD's MAX_TRANSMIT_WAIT is 315 s)."""


class CampaignNotFoundError(LookupError):
    """No campaign has that id (HTTP 404)."""


class CampaignConflictError(Exception):
    """The request does not fit the campaign's or a device's state (HTTP 409)."""


Listener = Callable[[str], None]
Subscriber = Callable[[CampaignEvent], None]


class CampaignRunner:
    """The campaigns of the server ``delivery`` is attached to, kept in ``store``."""

    def __init__(
        self,
        delivery: FirmwareDelivery,
        store: CampaignStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._delivery = delivery
        self._store = store
        self._clock = clock
        self._engines: dict[str, CampaignEngine] = {}
        self._by_endpoint: dict[str, CampaignEngine] = {}  # devices of unfinished campaigns
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Listener] = []
        self._subscribers: list[Subscriber] = []
        self._ticker: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        delivery.repository.on_delete.append(self._package_deleted)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Take up the stored campaigns (those under way check their devices again) and
        follow the server's events; call it once the server is started."""
        self._unsubscribe = self._delivery.server.subscribe(self._on_event)
        now = self._clock()
        for record in self._store.campaigns():
            engine = self._engine(record, self._store.devices(record.id))
            if engine is None:
                continue
            if record.status in (Status.RUNNING, Status.PAUSED):
                self._run(engine, engine.resume_after_restart(now))
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = [*self._tasks, *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ticker = None

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(campaign_id)`` after each change; returns the unsubscriber."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with each :data:`CampaignEvent` (a campaign's start and status
        changes, every change of a device's progress); returns the unsubscriber."""
        self._subscribers.append(subscriber)
        return lambda: (
            self._subscribers.remove(subscriber) if subscriber in self._subscribers else None
        )

    # -- the API -----------------------------------------------------------------------------

    def create(self, spec: CampaignSpec) -> CampaignEngine:
        """Start a campaign.  UnknownPackageError; CampaignInputError for a scheme the server
        does not serve or a target with no device; CampaignConflictError when a device is
        in another unfinished campaign."""
        self._delivery.repository.package(spec.sha256)
        if spec.method is not Method.PUSH:
            try:
                self._delivery.url("", spec.sha256, spec.scheme, ttl=1, uses=1)
            except ValueError as exc:
                raise CampaignInputError(str(exc)) from None
            self._delivery.grants.revoke(endpoint="")
        endpoints = self._targets(spec)
        if not endpoints:
            raise CampaignInputError("the target names no device")
        busy = [ep for ep in endpoints if ep in self._by_endpoint]
        if busy:
            other = self._by_endpoint[busy[0]].record.id
            raise CampaignConflictError(
                f"{len(busy)} devices are in unfinished campaigns ({busy[0]} in {other})"
            )
        now = self._clock()
        record = CampaignRecord(f"c{secrets.token_hex(6)}", spec, now)
        devices = [
            DeviceProgress(ep, wave, changed=now)
            for ep, wave in zip(endpoints, _waves(spec, len(endpoints)), strict=True)
        ]
        self._store.put_campaign(record)
        self._store.put_devices(record.id, devices)
        engine = self._engine(record, devices)
        assert engine is not None
        logger.info("campaign %s: %s to %d devices", record.id, spec.sha256[:12], len(devices))
        self._emit(CampaignStatusChanged.of(record, engine.counts))
        self._run(engine, engine.pump(now))
        return engine

    def campaigns(self) -> list[CampaignEngine]:
        return sorted(self._engines.values(), key=lambda engine: engine.record.created)

    def campaign(self, campaign_id: str) -> CampaignEngine:
        engine = self._engines.get(campaign_id)
        if engine is None:
            raise CampaignNotFoundError(f"no campaign {campaign_id!r:.40}")
        return engine

    def pause(self, campaign_id: str) -> CampaignEngine:
        engine = self.campaign(campaign_id)
        if not engine.pause("paused by request"):
            raise CampaignConflictError(f"campaign {campaign_id} is {engine.record.status.value}")
        self._run(engine, [])
        return engine

    def resume(self, campaign_id: str) -> CampaignEngine:
        engine = self.campaign(campaign_id)
        if engine.record.status is not Status.PAUSED:
            raise CampaignConflictError(f"campaign {campaign_id} is {engine.record.status.value}")
        self._run(engine, engine.resume(self._clock()))
        return engine

    def cancel(self, campaign_id: str) -> CampaignEngine:
        engine = self.campaign(campaign_id)
        if engine.record.status in (Status.CANCELLED, Status.COMPLETED):
            raise CampaignConflictError(f"campaign {campaign_id} is {engine.record.status.value}")
        self._run(engine, engine.cancel(self._clock()))
        return engine

    # -- wiring ------------------------------------------------------------------------------

    def _engine(
        self, record: CampaignRecord, devices: list[DeviceProgress]
    ) -> CampaignEngine | None:
        package = self._delivery.repository.get(record.spec.sha256)
        if package is None:
            if record.status in (Status.RUNNING, Status.PAUSED):
                record.status, record.reason = Status.CANCELLED, "the package was deleted"
                self._store.put_campaign(record)
            engine = CampaignEngine(record, devices, package_version="", package_model="")
        else:
            engine = CampaignEngine(
                record, devices, package_version=package.version, package_model=package.model
            )
        self._engines[record.id] = engine
        if record.status in (Status.RUNNING, Status.PAUSED):
            for device in devices:
                if device.state not in TERMINAL:
                    self._by_endpoint[device.endpoint] = engine
        return engine

    def _targets(self, spec: CampaignSpec) -> list[str]:
        target = spec.target
        if not target.is_filter:
            return list(target.endpoints)
        letters = set(target.binding or "")
        return sorted(
            registration.endpoint
            for registration in self._delivery.server.registrations.all()
            if letters <= set(registration.binding)
        )

    def _package_deleted(self, sha256: str) -> None:
        for engine in list(self._engines.values()):
            if engine.spec.sha256 == sha256 and engine.record.status in (
                Status.RUNNING,
                Status.PAUSED,
            ):
                self._run(engine, engine.cancel(self._clock()))
                engine.record.reason = "the package was deleted"

    def _on_event(self, event: ServerEvent) -> None:
        if isinstance(event, NotificationReceived):
            engine = self._by_endpoint.get(event.endpoint)
            values = event.values
            if engine is not None and (STATE in values or RESULT in values):
                commands = engine.reported(
                    event.endpoint, values.get(STATE), values.get(RESULT), self._clock()
                )
                self._run(engine, commands)
        elif isinstance(event, Registered):
            endpoint = event.registration.endpoint
            engine = self._by_endpoint.get(endpoint)
            if engine is not None:
                device = engine.devices[endpoint]
                commands = engine.handle(
                    endpoint, Signal.REGISTERED, self._clock(), device.attempts
                )
                self._run(engine, commands)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = self._clock()
            for engine in list(self._engines.values()):
                if engine.record.status in (Status.RUNNING, Status.PAUSED):
                    self._run(engine, engine.tick(now))

    # -- carrying commands out ---------------------------------------------------------------

    def _run(self, engine: CampaignEngine, commands: Iterable[Command]) -> None:
        """Start each command, store what changed, tell the listeners."""
        loop = asyncio.get_running_loop()
        for command in commands:
            if command.action in (Action.FAIL, Action.FINISH):
                self._clean_up(engine, command.endpoint)
            else:
                task = loop.create_task(self._carry_out(engine, command))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        self._save(engine)

    def _save(self, engine: CampaignEngine) -> None:
        record = engine.record
        if engine.dirty:
            changed = [engine.devices[ep] for ep in engine.dirty]
            engine.dirty.clear()
            self._store.put_devices(record.id, changed)
            for device in changed:
                self._emit(CampaignDeviceChanged.of(record.id, device))
        if engine.status_changed:
            engine.status_changed = False
            self._store.put_campaign(record)
            self._emit(CampaignStatusChanged.of(record, engine.counts))
            if record.status in (Status.CANCELLED, Status.COMPLETED):
                logger.info("campaign %s %s", record.id, record.status.value)
            elif record.reason:
                logger.warning("campaign %s %s: %s", record.id, record.status.value, record.reason)
        for listener in list(self._listeners):
            try:
                listener(record.id)
            except Exception:
                logger.exception(
                    "campaign listener %s failed", getattr(listener, "__qualname__", listener)
                )

    def _emit(self, event: CampaignEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("campaign subscriber %r failed", subscriber)

    def _clean_up(self, engine: CampaignEngine, endpoint: str) -> None:
        """An attempt is over: its URLs stop working; the device's observation of /5/0 is
        forgotten (passively: its next notification is answered with RST)."""
        self._delivery.grants.revoke(endpoint=endpoint)
        if engine.devices[endpoint].state in TERMINAL:
            if self._by_endpoint.get(endpoint) is engine:
                del self._by_endpoint[endpoint]
            task = asyncio.get_running_loop().create_task(self._forget_observation(endpoint))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forget_observation(self, endpoint: str) -> None:
        with contextlib.suppress(ServerError, ValueError):
            await self._delivery.server.cancel_observation(endpoint, FIRMWARE, active=False)

    async def _carry_out(self, engine: CampaignEngine, command: Command) -> None:
        endpoint, attempt, action = command.endpoint, command.attempt, command.action
        try:
            signal, detail = await self._request(engine, command)
        except ServerError as exc:
            signal, detail = Signal.FAILED, f"{action.value}: {type(exc).__name__}: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail the device, not stall the campaign
            logger.exception("campaign %s: %s of %s", engine.record.id, action.value, endpoint)
            signal, detail = Signal.FAILED, f"{action.value}: internal error {exc!r:.200}"
        if signal is not None:
            now = self._clock()
            self._run(engine, engine.handle(endpoint, signal, now, attempt, detail=detail))

    async def _request(
        self, engine: CampaignEngine, command: Command
    ) -> tuple[Signal | None, str | None]:
        server, endpoint = self._delivery.server, command.endpoint
        device = engine.devices[endpoint]
        timeout = self._time_left(engine, device)
        match command.action:
            case Action.CHECK:
                if server.registrations.get(endpoint) is None:
                    # Rebooting into new firmware, or not back yet after a server restart: a
                    # device that registers within the attempt's time is checked, not failed.
                    try:
                        await server.wait_registered(endpoint, timeout=timeout)
                    except TimeoutError:
                        return Signal.FAILED, f"check: not registered within {timeout:.0f} s"
                values = await self._read(endpoint, CHECKED, timeout)
                registration = server.registrations.get(endpoint)
                snapshot = Snapshot(*(values.get(path) for path in CHECKED))
                if registration is not None:
                    snapshot = replace(
                        snapshot,
                        transport=transport_of(registration.address),
                        binding=registration.binding,
                    )
                return engine.classify(device, snapshot)
            case Action.SWITCH:
                try:
                    await server.switch_transport(endpoint, "U", timeout=timeout)
                except (ServerError, OperationUsageError) as exc:
                    return Signal.STAYED, f"the switch to U failed ({exc})"
                device.transport = "N → U"
                return Signal.SWITCHED, None
            case Action.RETURN:
                await self._return(device)
                return Signal.RETURNED, None
            case Action.OBSERVE:
                answer = await server.observe(endpoint, FIRMWARE, timeout=timeout)
                if isinstance(answer, ErrorResponse):
                    return Signal.FAILED, _describe("Observe /5/0", answer)
                return None, None
            case Action.DELIVER:
                answer = await server.observe(endpoint, FIRMWARE, timeout=timeout)
                if isinstance(answer, ErrorResponse):
                    return Signal.FAILED, _describe("Observe /5/0", answer)
                if device.method == Method.PUSH.value:
                    what, answer = (
                        "the package write (/5/0/0)",
                        await self._delivery.push(
                            endpoint, engine.spec.sha256, timeout=self._time_left(engine, device)
                        ),
                    )
                else:
                    what = "the URL write (/5/0/1)"
                    _, answer = await self._delivery.offer(
                        endpoint,
                        engine.spec.sha256,
                        engine.spec.scheme,
                        ttl=engine.spec.device_timeout,
                        timeout=self._time_left(engine, device),
                    )
                if isinstance(answer, ErrorResponse):
                    return Signal.FAILED, _describe(what, answer)
                return Signal.ACCEPTED, None
            case Action.EXECUTE:
                answer = await server.execute(endpoint, UPDATE, timeout=timeout)
                if isinstance(answer, ErrorResponse):
                    return Signal.FAILED, _describe("Execute /5/0/2", answer)
                return Signal.ACCEPTED, None
            case Action.VERIFY:
                values = await self._read(endpoint, VERIFIED, timeout)
                version, result = values.get(VERIFIED[0]), values.get(RESULT)
                if version == engine.package_version:
                    device.result = result if isinstance(result, int) else device.result
                    return Signal.VERIFIED, None
                because = describe_result(result) if isinstance(result, int) else "no result"
                return (
                    Signal.FAILED,
                    f"still at version {version!r:.40} after its reboot: {because}",
                )
        return None, None

    async def _return(self, device: DeviceProgress) -> None:
        """Move the device back to ``device.home`` unless it is there (a device that rebooted
        registers on its preferred transport); the step, or why it failed, in ``transport``."""
        home, endpoint = device.home, device.endpoint
        assert home is not None
        registration = self._delivery.server.registrations.get(endpoint)
        if registration is not None and transport_of(registration.address) != home:
            try:
                await self._delivery.server.switch_transport(endpoint, home, timeout=RETURN_TIMEOUT)
            except (ServerError, OperationUsageError) as exc:
                device.transport = f"{device.transport}; the switch back to {home} failed: {exc}"
                return
        elif registration is None:
            device.transport = f"{device.transport}; not registered: not switched back to {home}"
            return
        if device.transport is not None and device.transport.endswith("→ U"):
            device.transport += f" → {home}"

    def _time_left(self, engine: CampaignEngine, device: DeviceProgress) -> float:
        """What is left of the device's attempt (at least a second)."""
        deadline = device.deadline
        return 1.0 if deadline is None else max(1.0, deadline - self._clock())

    async def _read(
        self, endpoint: str, paths: tuple[Path, ...], timeout: float
    ) -> Mapping[Path, Value]:
        """The values at ``paths``: one Read-Composite, or (a device that refuses it, an
        LwM2M 1.0 one) a Read of each object instance."""
        server = self._delivery.server
        answer = await server.read_composite(endpoint, paths, timeout=timeout)
        if isinstance(answer, ValuesResponse):
            return answer.values
        values: dict[Path, Value] = {}
        for instance in sorted({Path.of(*path.ids[:2]) for path in paths}, key=str):
            read = await server.read(endpoint, instance, timeout=timeout)
            if isinstance(read, NodeResponse):
                values.update(node_to_values(instance, read.node))
        return values


def _describe(what: str, answer: ErrorResponse) -> str:
    reason = f": {answer.message}" if answer.message else ""
    return f"the device refused {what} with {answer.code.dotted}{reason}"


def _waves(spec: CampaignSpec, count: int) -> list[int]:
    """The wave of each of ``count`` devices: ``spec.waves`` sizes, then the rest."""
    waves: list[int] = []
    for wave, size in enumerate(spec.waves):
        waves += [wave] * size
    return (waves + [len(spec.waves)] * count)[:count]
