"""The campaign engine's transport steps, sans-I/O: which NIDD devices are moved to UDP, what a
device that cannot be moved gets instead (push over NIDD, or the reason it fails or is
skipped), and that a moved device is moved back before it finishes, whatever the outcome,
while a device that retries stays on UDP."""

from __future__ import annotations

from lwm2m.firmware.campaign import (
    CampaignRecord,
    CampaignSpec,
    DeviceProgress,
    DeviceState,
    Method,
    Target,
)
from lwm2m.firmware.campaign_engine import Action, CampaignEngine, Command, Signal, Snapshot

EP = "urn:imei:1"
SHA = "ab" * 32


def _engine(method: Method = Method.AUTO, retries: int = 0) -> CampaignEngine:
    spec = CampaignSpec(SHA, Target(endpoints=(EP,)), method=method, retries=retries)
    return CampaignEngine(
        CampaignRecord("c1", spec, 0.0),
        [DeviceProgress(EP, 0)],
        package_version="2.0.0",
        package_model="M",
    )


def _checked(engine: CampaignEngine, *, binding: str, delivery: int = 2) -> list[Command]:
    """Start the device and hand the engine what its check read: on NIDD."""
    assert [c.action for c in engine.pump(0.0)] == [Action.CHECK]
    device = engine.devices[EP]
    snapshot = Snapshot(
        model="M", version="1.0.0", state=0, delivery=delivery, transport="N", binding=binding
    )
    signal, detail = engine.classify(device, snapshot)
    return engine.handle(EP, signal, 1.0, device.attempts, detail=detail)


def _state(engine: CampaignEngine) -> DeviceState:
    return engine.devices[EP].state


def _actions(commands: list[Command]) -> list[Action]:
    return [command.action for command in commands]


def test_a_device_that_refuses_u_is_pushed_to_over_nidd() -> None:
    engine = _engine()
    assert _actions(_checked(engine, binding="UN")) == [Action.SWITCH]
    device = engine.devices[EP]
    assert _state(engine) is DeviceState.SWITCHING and device.home == "N"
    why = "the switch to U failed (urn:imei:1 refused U: 4.00 no)"
    assert _actions(engine.handle(EP, Signal.STAYED, 2.0, 1, detail=why)) == [Action.DELIVER]
    assert _state(engine) is DeviceState.DELIVERING and device.method == "push"
    assert device.transport == f"stayed on N: {why}; pushed over NIDD"


def test_an_explicit_pull_that_cannot_switch_fails_and_is_moved_back_first() -> None:
    engine = _engine(Method.PULL)
    _checked(engine, binding="UN")
    commands = engine.handle(EP, Signal.STAYED, 2.0, 1, detail="no Update over U")
    assert _actions(commands) == [Action.RETURN]
    device = engine.devices[EP]
    assert _state(engine) is DeviceState.RETURNING
    assert device.error == "cannot pull: no Update over U"
    assert engine.handle(EP, Signal.TIMEOUT, 3.0, 1) == []  # moving back is not cut short
    assert engine.handle(EP, Signal.CANCEL, 3.0, 1) == []
    assert _actions(engine.handle(EP, Signal.RETURNED, 4.0, 1)) == [Action.FINISH]
    assert _state(engine) is DeviceState.FAILED and device.home is None
    assert engine.progress()["status"] == "completed"


def test_a_binding_without_u_is_pushed_to_or_skipped_for_an_explicit_pull() -> None:
    engine = _engine()
    assert _actions(_checked(engine, binding="N")) == [Action.DELIVER]
    device = engine.devices[EP]
    assert device.method == "push" and device.home is None
    assert device.transport == "stayed on N: its binding 'N' offers no U; pushed over NIDD"
    engine = _engine(Method.PULL)
    assert _actions(_checked(engine, binding="NQ")) == [Action.FINISH]
    assert _state(engine) is DeviceState.SKIPPED
    assert "offers no U to pull over" in (engine.devices[EP].error or "")
    engine = _engine()
    _checked(engine, binding="N", delivery=0)  # takes pull only: nothing to fall back to
    assert _state(engine) is DeviceState.SKIPPED


def test_a_retry_stays_on_u_and_the_last_outcome_is_moved_back() -> None:
    engine = _engine(retries=1)
    _checked(engine, binding="UN")
    engine.handle(EP, Signal.SWITCHED, 2.0, 1)
    engine.handle(EP, Signal.ACCEPTED, 3.0, 1)
    device = engine.devices[EP]
    assert _state(engine) is DeviceState.DOWNLOADING
    commands = engine.reported(EP, 0, 4, 4.0)  # Update Result 4: retried, still on U
    assert _state(engine) is DeviceState.CHECKING and device.attempts == 2
    assert _actions(commands) == [Action.FAIL, Action.CHECK]
    snapshot = Snapshot(model="M", version="2.0.0", transport="U", binding="UN")
    signal, _ = engine.classify(device, snapshot)  # updated meanwhile
    assert _actions(engine.handle(EP, signal, 5.0, 2)) == [Action.RETURN]
    assert _state(engine) is DeviceState.RETURNING and device.outcome is DeviceState.SUCCEEDED
    assert _actions(engine.handle(EP, Signal.RETURNED, 6.0, 2)) == [Action.FINISH]
    assert _state(engine) is DeviceState.SUCCEEDED
