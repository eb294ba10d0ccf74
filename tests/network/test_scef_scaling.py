"""The SCEF's indexes and deadline heaps (sans-I/O): a poll looks only at what changed, and
timers still fire, including a loss-of-connectivity deadline that a new grant brought earlier."""

from __future__ import annotations

import pytest

from lwm2m.network.core import Network
from lwm2m.network.nidd import Callback
from lwm2m.network.scef import Scef
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.t8_body import T8Error, iso_time
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig

SCS = "as"
DEST = "http://127.0.0.1:9/t8/token/nidd"


def _scef(ues: int, config: NetworkConfig | None = None) -> tuple[Scef, list[str]]:
    network = Network(Hss(generate_sims(ues)), config or NetworkConfig(attach_delay=0.0))
    return Scef(network), list(network.ues)


def _configure(scef: Scef, imsi: str, now: float, duration: float | None = None) -> None:
    external_id = scef.network.ues[imsi].sim.external_id
    body: dict[str, object] = {"externalId": external_id, "notificationDestination": DEST}
    if duration is not None:
        body["duration"] = iso_time(duration)
    assert scef.nidd.create_configuration(SCS, body, now, "http://scef").status == 201


def test_uplink_reaches_only_its_configuration_and_polls_see_only_changed_ues() -> None:
    scef, imsis = _scef(50)
    now = 1_000.0
    for imsi in imsis:
        scef.network.power_on_in_process(imsi, now)
        _configure(scef, imsi, now)
    scef.poll(now)
    ue = scef.network.ues[imsis[7]]
    assert ue.active_cid is not None
    scef.network.send_mo(imsis[7], ue.active_cid, b"hi", rai=0, exception=False, now=now + 1)
    callbacks = scef.poll(now + 1)
    assert scef.network.changed == {imsis[7]}
    uplinks = [c.body for c in callbacks if "data" in c.body]
    assert uplinks == [
        {"niddConfiguration": uplinks[0]["niddConfiguration"], "externalId": ue.sim.external_id,
         "data": "aGk="}
    ]  # fmt: skip
    with pytest.raises(T8Error) as refused:  # one configuration per UE, found by the index
        scef.nidd.create_configuration(
            SCS, {"externalId": ue.sim.external_id, "notificationDestination": DEST}, now, "x"
        )
    assert refused.value.status == 403


def test_ue_timers_and_nidd_durations_fire_from_the_heaps() -> None:
    scef, imsis = _scef(3, NetworkConfig(attach_delay=0.0, inactivity=20.0))
    now = 1_000.0
    ue = scef.network.power_on_in_process(imsis[0], now)
    _configure(scef, imsis[0], now, duration=now + 50)
    scef.poll(now)
    assert ue.connected
    assert scef.next_deadline(now) == now + 20  # the RRC release, the earliest
    scef.poll(now + 20)
    assert not ue.connected
    assert scef.next_deadline(now + 20) == now + 50
    terminated = [c.body for c in scef.poll(now + 50) if c.body.get("status") == "TERMINATED"]
    assert len(terminated) == 1 and not scef.nidd.configs


def _loss_subscription(scef: Scef, imsi: str, now: float, **extra: object) -> None:
    body = {
        "externalId": scef.network.ues[imsi].sim.external_id,
        "notificationDestination": DEST,
        "monitoringType": "LOSS_OF_CONNECTIVITY",
        "maximumNumberOfReports": 5,
        **extra,
    }
    assert scef.monitoring.create(SCS, body, now, "http://scef").status == 201


def _losses(callbacks: list[Callback]) -> list[dict[str, object]]:
    return [c.body for c in callbacks if "monitoringEventReports" in c.body]


def test_a_contact_moves_the_loss_of_connectivity_deadline_later() -> None:
    scef, imsis = _scef(1)
    now = 1_000.0
    ue = scef.network.power_on_in_process(imsis[0], now)
    _loss_subscription(scef, imsis[0], now, maximumDetectionTime=100)
    scef.poll(now)
    assert scef.monitoring.next_deadline() == now + 100
    assert ue.active_cid is not None
    scef.network.send_mo(imsis[0], ue.active_cid, b"x", rai=0, exception=False, now=now + 50)
    scef.poll(now + 50)
    assert not _losses(scef.poll(now + 100))  # the early entry is checked and re-armed
    assert scef.monitoring.next_deadline() == now + 150
    assert len(_losses(scef.poll(now + 150))) == 1


def test_a_shorter_grant_brings_the_loss_of_connectivity_deadline_earlier() -> None:
    policy = GrantPolicy(t3412_min=60)
    scef, imsis = _scef(1, NetworkConfig(policy=policy, attach_delay=0.0, inactivity=5.0))
    now = 1_000.0
    ue = scef.network.power_on_in_process(imsis[0], now)
    _loss_subscription(scef, imsis[0], now)
    scef.poll(now)
    assert scef.monitoring.next_deadline() == now + ue.granted.t3412 + 240
    # PSM with a short periodic TAU (AT+CPSMS: at_line touches the UE, here by hand)
    ue.request_power_saving((60, 10), None, now + 1)
    scef.network.touch(imsis[0])
    scef.poll(now + 1)
    due = now + ue.granted.t3412 + 240
    assert ue.granted.t3412 < 3600 and scef.monitoring.next_deadline() == due
    reports = _losses(scef.poll(due))
    assert reports and reports[0]["monitoringEventReports"][0]["lossOfConnectReason"] == 2  # type: ignore[index]
