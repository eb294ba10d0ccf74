"""The wake planner on a virtual clock: trigger paths, one trigger per sleep, the hourly rate
limit, policies from the REST API's JSON."""

from __future__ import annotations

import pytest

from lwm2m.codec.link import Link
from lwm2m.server.registration import Registration
from lwm2m.server.waking import (
    WakeChannel,
    WakeMode,
    WakePlanner,
    WakePolicy,
    WakeRefusedError,
    WakeSettings,
    WakeTarget,
    wake_targets,
)
from lwm2m.transport.nidd.peer import NiddPeer

BOTH = frozenset(WakeChannel)
SMS = WakeTarget(WakeChannel.SMS, "491701234567", 0)
T8 = WakeTarget(WakeChannel.T8, "dev@nidd.example", 0)


def registration(
    *,
    sms: str | None = None,
    address: object = ("127.0.0.1", 5683),
    links: str = "/1/0",
    root: str = "",
) -> Registration:
    return Registration(
        "ep", "id", "1.1", "UQ", 60, True, sms, address, root,
        [Link(target) for target in links.split(",")], 0.0, 0.0,
    )  # fmt: skip


def test_trigger_paths_follow_the_registration_and_the_server_s_carriers() -> None:
    nidd = NiddPeer("externalId", "dev@nidd.example")
    assert wake_targets(registration(), BOTH) == {}
    assert wake_targets(registration(sms="491701234567"), BOTH) == {WakeChannel.SMS: SMS}
    assert wake_targets(registration(sms="491701234567"), frozenset({WakeChannel.T8})) == {}
    assert wake_targets(registration(address=nidd), BOTH) == {WakeChannel.T8: T8}
    lowest = registration(sms="491701234567", links="/lw/1/3,/lw/1/2,/lw/3/0", root="/lw")
    assert wake_targets(lowest, BOTH)[WakeChannel.SMS].server_instance == 2
    assert wake_targets(lowest, BOTH, 7)[WakeChannel.SMS].server_instance == 7


def test_one_trigger_per_sleep_and_at_most_n_an_hour() -> None:
    planner = WakePlanner(WakeSettings(default=WakePolicy(max_per_hour=2), pending_for=600))
    targets = {WakeChannel.SMS: SMS, WakeChannel.T8: T8}
    assert planner.on_queued("ep", targets, 0.0) == SMS  # SMS first when both exist
    planner.sent("ep", SMS, 0.0)
    assert planner.on_queued("ep", targets, 10.0) is None  # pending: no second trigger
    woken = planner.heard("ep", 30.0)
    assert woken is not None and woken.after == 30.0 and woken.target == SMS
    assert planner.heard("ep", 31.0) is None
    planner.sent("ep", planner.choose("ep", targets, WakeChannel.T8, 40.0), 40.0)
    assert planner.pending("ep", 639.0) == T8 and planner.pending("ep", 640.0) is None
    with pytest.raises(WakeRefusedError, match="2 times in the last hour") as refused:
        planner.on_queued("ep", targets, 700.0)
    assert refused.value.status == 409
    assert planner.sent_last_hour("ep", 3599.0) == 2
    assert planner.on_queued("ep", targets, 3600.0) == SMS  # the first one left the hour
    planner.forget("ep")
    assert planner.sent_last_hour("ep", 3600.0) == 0


def test_policies() -> None:
    planner = WakePlanner(WakeSettings())
    planner.set_policy("ep", WakePolicy(WakeMode.WAIT))
    assert planner.on_queued("ep", {WakeChannel.SMS: SMS}, 0.0) is None  # waits
    assert planner.choose("ep", {WakeChannel.SMS: SMS}, None, 0.0) == SMS  # explicit wake
    with pytest.raises(WakeRefusedError, match="no trigger path over t8"):
        planner.choose("ep", {WakeChannel.SMS: SMS}, WakeChannel.T8, 0.0)
    planner.set_policy("ep", None)
    assert planner.policy("ep") == WakePolicy()
    parsed = WakePolicy.from_json({"mode": "wait", "channel": "t8", "maxPerHour": 0})
    assert parsed == WakePolicy(WakeMode.WAIT, WakeChannel.T8, 0)
    assert WakePolicy.from_json(parsed.to_json()) == parsed
    for bad in ([], {"mode": "x"}, {"channel": 5}, {"maxPerHour": True}, {"maxPerHour": 61}):
        with pytest.raises(ValueError):
            WakePolicy.from_json(bad)
    with pytest.raises(ValueError, match="unknown wake policy fields: x"):
        WakePolicy.from_json({"x": 1})
