"""The timers the network grants reach both ends over NIDD: the device keeps its lifetime
below the granted periodic TAU (``+CEREG`` → ``engine.psm_granted``), and the server learns
the grant from the SCEF's idle status reports (``idleStatusInfo`` of a UE_REACHABILITY
subscription → ``core.network_timers``), so its timer-rule audit judges the real timers."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from lwm2m.client.cellular import EndpointSource, endpoint_name
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.nidd import NiddLink
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.network.core import Network
from lwm2m.network.monitoring import Monitoring
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.t8_body import T8Error
from lwm2m.network.ue import NetworkConfig
from lwm2m.operations import NotificationAttributes
from lwm2m.server import TimerRuleViolated
from lwm2m.transport.nidd.callbacks import IdleStatus, MonitoringReport, handle_notification
from lwm2m.transport.nidd.peer import NiddPeer
from tests.nidd import test_server_nidd
from tests.nidd.test_server_nidd import DEVICE_COAP, Rig, _configured, eventually

rig = test_server_nidd.rig  # the fixture: the emulated network and the server over T8

PERIODIC_TAU = 300
"""Asked for with AT+CPSMS (ten 30-second units: GPRS Timer 3 carries it exactly)."""


@pytest.mark.timeout(60)
async def test_the_lifetime_stays_below_the_granted_tau_and_the_server_learns_the_grant(
    rig: Rig,
) -> None:
    await _configured(rig)
    violations: list[TimerRuleViolated] = []
    rig.server.subscribe(
        lambda event: violations.append(event) if isinstance(event, TimerRuleViolated) else None
    )
    host, port = rig.network.at_address
    link = await NiddLink.open(f"socket://{host}:{port}")
    endpoint = endpoint_name(link.identity, EndpointSource.IMEI)
    account = ServerAccount(1, "nidd:", lifetime=600, binding="N")  # above the TAU asked for
    tree = telekom_device(
        endpoint, seed=3, now=time.time(), servers=(account,), bindings="NQ", modem=True
    )
    tree.object(10).write(0, 4, PERIODIC_TAU, replace=False)
    tree.object(10).write(0, 5, 60, replace=False)  # T3324: reachable 60 s after release
    try:
        await link.attach(tree, apn="nidd", timeout=10)
        assert link.granted_t3412 == PERIODIC_TAU
        client = LwM2MClient(
            tree, endpoint, nidd=link, coap=DEVICE_COAP, config=ClientConfig(awake_window=2.0)
        )
        await client.start()
        try:
            registration = await eventually(lambda: rig.server.registrations.get(endpoint))
            assert registration.lifetime < PERIODIC_TAU  # not the account's 600 s

            # the network releases the connection (0.5 s inactivity): the idle status report
            async with httpx.AsyncClient(base_url=rig.web.url) as http:

                async def granted() -> object:
                    device = (await http.get(f"/api/nidd/devices/{rig.peer}")).json()
                    return device["granted"]

                deadline = time.monotonic() + 10
                while (timers := await granted()) is None:
                    assert time.monotonic() < deadline, "no idle status report"
                    await asyncio.sleep(0.05)
            assert timers == {"periodicTau": PERIODIC_TAU, "activeTime": 60, "edrxCycle": 81.92}
            assert not [v for v in violations if v.comparison.startswith("T3412")]

            # rule 2 (eDRX < pmax) judged by the eDRX cycle the network granted
            attributes = NotificationAttributes(pmin=1, pmax=60)
            await rig.server.write_attributes(endpoint, "/3/0/9", attributes, timeout=20)
            (edrx,) = [v for v in rig.server.timer_violations(endpoint) if "eDRX" in v.comparison]
            assert "81.92" in edrx.detail and "network granted" in edrx.detail, edrx
        finally:
            await client.stop(timeout=20)
    finally:
        await link.close()


def test_the_emulator_refuses_idle_status_reports_for_other_monitoring_types() -> None:
    sims = generate_sims(1)
    monitoring = Monitoring(Network(Hss(sims), NetworkConfig()))
    body = {
        "externalId": sims[0].external_id,
        "notificationDestination": "http://127.0.0.1:9/cb",
        "monitoringType": "LOSS_OF_CONNECTIVITY",
        "maximumNumberOfReports": 1,
        "idleStatusIndication": True,
    }
    with pytest.raises(T8Error) as refused:
        monitoring.create("scs", body, time.time(), "http://127.0.0.1:8091")
    assert refused.value.status == 400
    body |= {"monitoringType": "UE_REACHABILITY", "reachabilityType": "DATA"}
    answer = monitoring.create("scs", body, time.time(), "http://127.0.0.1:8091")
    assert answer.status == 201 and answer.body["idleStatusIndication"] is True


class _Sink:
    def __init__(self) -> None:
        self.reports: list[MonitoringReport] = []

    def on_uplink(self, configuration: str, peer: NiddPeer, data: bytes) -> bool:
        return False

    def on_delivery_status(self, transfer: str, status: str, retry_at: float | None) -> bool:
        return False

    def on_configuration_status(self, configuration: str, peer: NiddPeer, status: str) -> bool:
        return False

    def on_monitoring(self, subscription: str, reports: list[MonitoringReport]) -> bool:
        self.reports.extend(reports)
        return True


@pytest.mark.parametrize(
    ("info", "status"),
    [
        ({"periodicAUTimer": 3600, "activeTime": 60, "edrxCycleLength": 20.48}, 204),
        ({"periodicAUTimer": "3600"}, 400),
        ({"activeTime": -1}, 400),
        ({"edrxCycleLength": True}, 400),
        ("idle", 400),
    ],
)
def test_idle_status_info_is_checked(info: object, status: int) -> None:
    sink = _Sink()
    report = {"monitoringType": "UE_REACHABILITY", "externalId": "dev@x.y", "idleStatusInfo": info}
    body = {"subscription": "http://scef/sub1", "monitoringEventReports": [report]}
    reply = handle_notification(
        sink,
        "t" * 16,
        method="POST",
        path="/" + "t" * 16 + "/monitoring",
        content_type="application/json",
        body=json.dumps(body).encode(),
    )
    assert reply.status == status, reply
    if status == 204:
        (parsed,) = sink.reports
        assert parsed.idle == IdleStatus(3600, 60, 20.48)
