"""The client engine's pure rules: registration table, timings, notification conditions."""

from __future__ import annotations

import random

import pytest

from lwm2m.client.engine import ClientError, udp_peer
from lwm2m.client.observe import Timing, qualifies
from lwm2m.client.registration import (
    TRANSITIONS,
    Action,
    Registration,
    State,
    Trigger,
    backoff_delay,
    update_delay,
)
from lwm2m.model import Path
from lwm2m.operations import NotificationAttributes, Observe, ObserveComposite

P = Path.parse


def test_stop_leads_every_state_towards_stopped() -> None:
    for state in State:
        if state not in (State.STOPPED, State.DEREGISTERING):
            assert TRANSITIONS[state, Trigger.STOP][0] in (State.STOPPED, State.DEREGISTERING)


def test_registration_walk() -> None:
    reg = Registration(1, 0, ("h", 1))
    assert reg.step(Trigger.START) is Action.REGISTER
    assert reg.step(Trigger.UPDATE) is None  # the Register covers it
    assert reg.step(Trigger.SUCCESS) is Action.SCHEDULE_UPDATE
    assert reg.online
    assert reg.step(Trigger.TIMER) is Action.UPDATE
    assert reg.step(Trigger.UPDATE) is Action.QUEUE_UPDATE
    assert reg.step(Trigger.NOT_FOUND) is Action.REGISTER
    assert reg.step(Trigger.FAILURE) is Action.BACK_OFF
    assert reg.step(Trigger.TIMER) is Action.REGISTER
    assert reg.step(Trigger.STOP) is Action.CANCEL
    assert reg.state is State.STOPPED
    assert reg.step(Trigger.START) is None


@pytest.mark.parametrize(
    ("lifetime", "mtw", "expected"),
    [(86400, 93, 77760), (300, 93, 207), (60, 93, 30), (1000, 247, 753)],
)
def test_update_delay(lifetime: int, mtw: float, expected: float) -> None:
    assert update_delay(lifetime, mtw) == pytest.approx(expected)


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(3)
    for attempt in range(12):
        full = min(3600, 60 * 2**attempt)
        delays = {backoff_delay(attempt, 60, 3600, rng) for _ in range(20)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) == 20


def test_timing_takes_the_most_demanding_and_ignores_bad_pmax() -> None:
    a = NotificationAttributes(pmin=10, pmax=60)
    b = NotificationAttributes(pmin=5, pmax=30, epmax=20)
    timing = Timing.of([a, b])
    assert (timing.pmin, timing.pmax, timing.epmax) == (5, 30, 20)
    assert Timing.of([NotificationAttributes(pmin=10, pmax=5)]).pmax is None
    assert Timing.of([NotificationAttributes(pmax=0)]).pmax is None
    assert Timing.of([NotificationAttributes(con=True)]).confirmable is True


@pytest.mark.parametrize(
    ("attrs", "old", "new", "expected"),
    [
        (NotificationAttributes(), 1, 2, True),
        (NotificationAttributes(), 2, 2, False),
        (NotificationAttributes(gt=10.0), 5, 9, False),
        (NotificationAttributes(gt=10.0), 9, 11, True),
        (NotificationAttributes(gt=10.0), 11, 9, True),
        (NotificationAttributes(lt=0.0), 1, -1, True),
        (NotificationAttributes(st=2.0), 1.0, 2.5, False),
        (NotificationAttributes(st=2.0), 1.0, 3.0, True),
        (NotificationAttributes(st=2.0, gt=100.0), 1, 2, False),
    ],
)
def test_value_conditions(
    attrs: NotificationAttributes, old: float, new: float, expected: bool
) -> None:
    path = P("/3/0/9")
    result = qualifies(Observe(path), {path: attrs}, {path: old}, {path: new})
    assert result is expected


def test_value_conditions_apply_to_resource_observations_only() -> None:
    path = P("/3/0/9")
    attrs = NotificationAttributes(gt=100.0)
    composite = ObserveComposite((path,))
    assert qualifies(composite, {path: attrs}, {path: 1}, {path: 2})
    instance = P("/3/0")
    assert qualifies(Observe(instance), {instance: attrs}, {path: 1}, {path: 2})


def test_udp_peer() -> None:
    assert udp_peer(1, "coap://10.1.2.3:5684") == ("10.1.2.3", 5684)
    assert udp_peer(1, "coap://[::1]") == ("::1", 5683)
    with pytest.raises(ClientError):
        udp_peer(1, "coaps://10.1.2.3")
