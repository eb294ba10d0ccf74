"""Hand-written T8 cases: every DeliveryStatus this SCEF reaches and every notification it
sends, each response and callback validated with openapi-core against the 3GPP files."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from lwm2m.network.t8_app import create_t8_app
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig
from tests.network.hosts import MemoryHost
from tests.network.openapi import HOST, check_callback, check_exchange, check_test_notification

NIDD = "/3gpp-nidd/v1/as1/configurations"
MONITORING = "/3gpp-monitoring-event/v1/as1/subscriptions"
TRIGGERING = "/3gpp-device-triggering/v1/as1/transactions"
DESTINATION = "http://as.test/notify"
TOKEN = "secret"


class T8:
    """The app in memory, a UE driven by AT lines, and the checks on every exchange."""

    def __init__(self, host: MemoryHost, client: httpx.AsyncClient) -> None:
        self.host, self.client = host, client
        self.sim = next(iter(host.network.hss))
        self.modem = host.network.connect_modem()

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = await self.client.request(method, path, json=body)
        check_exchange(response)
        return response

    def at(self, *lines: str) -> str:
        text = "".join(
            self.host.network.at_line(self.modem, line, self.host.time) for line in lines
        )
        self.host.pump()
        return text + self.host.network.take_urcs(self.modem)

    def notifications(self, api: str) -> list[dict[str, Any]]:
        """The notifications sent since the last call, each checked against its schema."""
        bodies = [callback.body for callback in self.host.callbacks]
        self.host.callbacks.clear()
        for body in bodies:
            if set(body) == {"subscription"}:
                check_test_notification(body)
            else:
                check_callback(api, _schema_of(body), body)
        return bodies

    async def configure(self, **extra: Any) -> str:
        body = {"externalId": self.sim.external_id, "notificationDestination": DESTINATION}
        response = await self.call("POST", NIDD, body | extra)
        assert response.status_code == 201
        assert response.headers["location"] == response.json()["self"]
        return str(response.headers["location"]).removeprefix(HOST)

    async def send(self, config: str, data: bytes, **extra: Any) -> httpx.Response:
        body = {"externalId": self.sim.external_id, "data": base64.b64encode(data).decode()}
        return await self.call("POST", f"{config}/downlink-data-deliveries", body | extra)

    def attach(self, psm: str | None = None) -> None:
        self.at("ATE0", "AT+CRTDCP=1")
        if psm:
            self.at(psm)
        self.at("AT+CFUN=1")
        self.host.advance(self.host.network.config.attach_delay)


def _schema_of(body: dict[str, Any]) -> str:
    for key, schema in (
        ("status", "NiddConfigurationStatusNotification"),
        ("data", "NiddUplinkDataNotification"),
        ("deliveryStatus", "NiddDownlinkDataDeliveryStatusNotification"),
        ("monitoringEventReports", "MonitoringNotification"),
        ("result", "DeviceTriggeringDeliveryReportNotification"),
    ):
        if key in body:
            return schema
    raise AssertionError(f"unknown notification {body}")


def _config() -> NetworkConfig:
    return NetworkConfig(policy=GrantPolicy(t3324_min=0), inactivity=10, buffer_limit=3)


@pytest.fixture
async def t8() -> AsyncIterator[T8]:
    host = MemoryHost(config=_config())
    transport = httpx.ASGITransport(app=create_t8_app(host, token=TOKEN))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url=HOST, headers=headers) as client:
        yield T8(host, client)


async def test_configuration_active_and_uplink_notification(t8: T8) -> None:
    config = await t8.configure(requestTestNotification=True)
    test, status = t8.notifications("nidd")
    assert test == {"subscription": f"{HOST}{config}"}
    assert status == {
        "niddConfiguration": f"{HOST}{config}",
        "externalId": t8.sim.external_id,
        "status": "ACTIVE",
    }
    t8.attach()
    assert "OK" in t8.at('AT+CSODCP=0,3,"C0FFEE",1')
    (uplink,) = t8.notifications("nidd")
    assert uplink == {
        "niddConfiguration": f"{HOST}{config}",
        "externalId": t8.sim.external_id,
        "data": "wP/u",
    }
    body = (await t8.call("GET", config)).json()
    assert body["maximumPacketSize"] == 1358 * 8 and body["status"] == "ACTIVE"


async def test_success_when_the_ue_is_connected(t8: T8) -> None:
    config = await t8.configure()
    t8.attach()
    response = await t8.send(config, b"\x01\x02")
    assert response.status_code == 200
    assert response.json()["deliveryStatus"] == "SUCCESS"
    assert '+CRTDCP: 0,2,"0102"' in t8.at("AT")


async def test_buffering_without_pdn_connection_then_success(t8: T8) -> None:
    config = await t8.configure()
    t8.notifications("nidd")
    response = await t8.send(config, b"\x05")
    assert response.status_code == 201
    assert response.json()["deliveryStatus"] == "BUFFERING"
    location = response.headers["location"].removeprefix(HOST)
    assert (await t8.call("GET", location)).json()["deliveryStatus"] == "BUFFERING"
    assert len((await t8.call("GET", f"{config}/downlink-data-deliveries")).json()) == 1
    t8.attach()
    (report,) = t8.notifications("nidd")
    assert report == {"niddDownlinkDataTransfer": f"{HOST}{location}", "deliveryStatus": "SUCCESS"}
    assert (await t8.call("GET", location)).status_code == 404


async def test_buffering_in_psm_until_the_periodic_tau(t8: T8) -> None:
    config = await t8.configure()
    t8.attach(psm='AT+CPSMS=1,,,"10100001","00000000"')  # TAU 1 min, active time 0
    assert "OK" in t8.at('AT+CSODCP=0,1,"00",1')  # RAI: release now, so PSM at once
    t8.notifications("nidd")
    response = await t8.send(config, b"\x07")
    assert response.status_code == 201
    assert response.json()["deliveryStatus"] == "BUFFERING_TEMPORARILY_NOT_REACHABLE"
    t8.host.advance(59)
    assert t8.notifications("nidd") == []
    t8.host.advance(1)
    (report,) = t8.notifications("nidd")
    assert report["deliveryStatus"] == "SUCCESS"
    assert '+CRTDCP: 0,1,"07"' in t8.at("AT")


async def test_failure_temporarily_not_reachable_with_retransmission_time(t8: T8) -> None:
    config = await t8.configure()
    t8.attach(psm='AT+CPSMS=1,,,"00100001","00000000"')  # TAU 1 hour
    t8.at('AT+CSODCP=0,1,"00",1')
    response = await t8.send(config, b"\x07", maximumLatency=60)
    assert response.status_code == 200
    body = response.json()
    assert body["deliveryStatus"] == "FAILURE_TEMPORARILY_NOT_REACHABLE"
    assert body["requestedRetransmissionTime"]  # the next TAU, an hour away


async def test_failure_timeout_when_buffered_data_expires(t8: T8) -> None:
    config = await t8.configure()
    t8.notifications("nidd")
    response = await t8.send(config, b"\x09", maximumLatency=30)
    location = response.headers["location"].removeprefix(HOST)
    t8.host.advance(31)
    (report,) = t8.notifications("nidd")
    assert report == {
        "niddDownlinkDataTransfer": f"{HOST}{location}",
        "deliveryStatus": "FAILURE_TIMEOUT",
    }


async def test_indicate_error_answers_500_with_the_failure_body(t8: T8) -> None:
    config = await t8.configure(pdnEstablishmentOption="INDICATE_ERROR")
    response = await t8.send(config, b"\x01")
    assert response.status_code == 500
    assert response.json()["problemDetail"]["cause"] == "PDN_CONNECTION_NOT_ESTABLISHED"


async def test_full_buffer_is_not_reachable(t8: T8) -> None:
    config = await t8.configure()
    assert (await t8.send(config, b"\x01")).status_code == 201
    assert (await t8.send(config, b"\x02")).status_code == 201
    assert (await t8.send(config, b"\x03")).status_code == 201
    fourth = await t8.send(config, b"\x04")
    assert fourth.json()["deliveryStatus"] == "FAILURE_TEMPORARILY_NOT_REACHABLE"


async def test_pending_delivery_replaced_and_cancelled(t8: T8) -> None:
    config = await t8.configure()
    location = (await t8.send(config, b"\x01")).headers["location"].removeprefix(HOST)
    body = {"externalId": t8.sim.external_id, "data": "qrs="}
    assert (await t8.call("PUT", location, body)).json()["data"] == "qrs="
    assert (await t8.call("DELETE", location)).status_code == 204
    t8.attach()
    assert "+CRTDCP" not in t8.at("AT")


async def test_configuration_terminated_after_its_duration(t8: T8) -> None:
    await t8.configure(duration="2023-11-14T22:15:00Z")  # MemoryHost starts at 22:13:20
    t8.notifications("nidd")
    t8.host.advance(100)
    (report,) = t8.notifications("nidd")
    assert report["status"] == "TERMINATED"


async def test_problem_details(t8: T8) -> None:
    response = await t8.call("POST", NIDD, {"externalId": "no-at-sign", "msisdn": 5})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    params = {p["param"] for p in response.json()["invalidParams"]}
    assert params == {"/externalId", "/msisdn", "/notificationDestination"}
    config = await t8.configure()
    too_big = await t8.send(config, bytes(1359))
    assert too_big.json()["invalidParams"][0]["param"] == "/data"
    assert (await t8.call("GET", f"{NIDD}/unknown")).status_code == 404
    unknown_ue = {"externalId": "nobody@example.com", "notificationDestination": DESTINATION}
    assert (await t8.call("POST", NIDD, unknown_ue)).status_code == 404
    unauthorized = await t8.client.get(NIDD, headers={"Authorization": "Bearer wrong"})
    check_exchange(unauthorized)
    assert unauthorized.status_code == 401


async def test_ue_reachability_and_loss_of_connectivity(t8: T8) -> None:
    base = {"externalId": t8.sim.external_id, "notificationDestination": DESTINATION}
    reach = await t8.call(
        "POST",
        MONITORING,
        base
        | {
            "monitoringType": "UE_REACHABILITY",
            "reachabilityType": "DATA",
            "maximumNumberOfReports": 1,
        },
    )
    loss = await t8.call(
        "POST",
        MONITORING,
        base
        | {
            "monitoringType": "LOSS_OF_CONNECTIVITY",
            "maximumDetectionTime": 120,
            "maximumNumberOfReports": 5,
        },
    )
    assert reach.status_code == loss.status_code == 201
    t8.attach(psm='AT+CPSMS=1,,,"10100001","00000000"')
    (report,) = t8.notifications("monitoring")
    assert report["subscription"] == reach.json()["self"]
    event = report["monitoringEventReports"][0]
    assert event["monitoringType"] == "UE_REACHABILITY" and event["reachabilityType"] == "DATA"
    location = reach.headers["location"].removeprefix(HOST)
    assert (await t8.call("GET", location)).status_code == 404  # one report, then gone
    t8.at("AT+CFUN=0")
    (report,) = t8.notifications("monitoring")
    assert report["monitoringEventReports"][0]["lossOfConnectReason"] == 0  # detached
    t8.host.advance(121)
    (report,) = t8.notifications("monitoring")
    assert report["monitoringEventReports"][0]["lossOfConnectReason"] == 2  # silent too long


async def test_device_trigger_accepted_and_reported_expired(t8: T8) -> None:
    body = {
        "externalId": t8.sim.external_id,
        "notificationDestination": DESTINATION,
        "validityPeriod": 60,
        "priority": "NO_PRIORITY",
        "applicationPortId": 2,
        "triggerPayload": "AQI=",
    }
    response = await t8.call("POST", TRIGGERING, body)
    assert response.status_code == 201
    t8.host.advance(61)
    (report,) = t8.notifications("triggering")
    assert report == {"transaction": response.json()["self"], "result": "EXPIRED"}


async def test_buffered_data_leaves_by_priority(t8: T8) -> None:
    config = await t8.configure()
    await t8.send(config, b"\x03", priority=3)
    await t8.send(config, b"\x01", priority=1)
    second = await t8.send(config, b"\x02", priority=9)
    location = second.headers["location"].removeprefix(HOST)
    assert (await t8.call("PATCH", location, {"priority": 2})).json()["priority"] == 2
    t8.attach()
    urcs = [line for line in t8.at("AT").split("\r\n") if line.startswith("+CRTDCP")]
    assert urcs == ['+CRTDCP: 0,1,"01"', '+CRTDCP: 0,1,"02"', '+CRTDCP: 0,1,"03"']
