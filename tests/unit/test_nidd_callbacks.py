"""The T8 notification handler: each notification kind reaches the sink, and bad input gets
a 4xx with nothing passed on."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lwm2m.transport.nidd.callbacks import MonitoringReport, Reply, handle_notification
from lwm2m.transport.nidd.peer import Delivery, NiddPeer, classify

TOKEN = "0123456789abcdef-token"
CONFIG = "http://scef/3gpp-nidd/v1/lwm2m/configurations/nidd1"
DEVICE = NiddPeer("externalId", "dev1@nidd.example.com")


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.known = True

    def on_uplink(self, configuration: str, peer: NiddPeer, data: bytes) -> bool:
        self.calls.append(("uplink", (configuration, peer, data)))
        return self.known

    def on_delivery_status(self, transfer: str, status: str, retry_at: float | None) -> bool:
        self.calls.append(("status", (transfer, status, retry_at)))
        return self.known

    def on_configuration_status(self, configuration: str, peer: NiddPeer, status: str) -> bool:
        self.calls.append(("configuration", (configuration, peer, status)))
        return self.known

    def on_monitoring(self, subscription: str, reports: list[MonitoringReport]) -> bool:
        self.calls.append(("monitoring", (subscription, reports)))
        return self.known


def post(sink: Sink, body: object, route: str = "nidd", **options: Any) -> Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return handle_notification(
        sink,
        TOKEN,
        method=options.get("method", "POST"),
        path=options.get("path", f"/{TOKEN}/{route}"),
        content_type=options.get("content_type", "application/json"),
        body=raw,
    )


def test_uplink_data_reaches_the_sink() -> None:
    sink = Sink()
    body = {"niddConfiguration": CONFIG, "externalId": DEVICE.value, "data": "SGVsbG8="}
    assert post(sink, body).status == 204
    assert sink.calls == [("uplink", (CONFIG, DEVICE, b"Hello"))]


def test_delivery_status_and_its_retransmission_time() -> None:
    sink = Sink()
    transfer = CONFIG + "/downlink-data-deliveries/mt3"
    body = {
        "niddDownlinkDataTransfer": transfer,
        "deliveryStatus": "FAILURE_TEMPORARILY_NOT_REACHABLE",
        "requestedRetransmissionTime": "2030-01-01T00:00:10Z",
    }
    assert post(sink, body).status == 204
    assert sink.calls == [("status", (transfer, "FAILURE_TEMPORARILY_NOT_REACHABLE", 1893456010.0))]


def test_configuration_status_by_msisdn() -> None:
    sink = Sink()
    body = {"niddConfiguration": CONFIG, "msisdn": "491701234567", "status": "TERMINATED"}
    assert post(sink, body).status == 204
    peer = NiddPeer("msisdn", "491701234567")
    assert sink.calls == [("configuration", (CONFIG, peer, "TERMINATED"))]


def test_monitoring_reports() -> None:
    sink = Sink()
    body = {
        "subscription": "http://scef/3gpp-monitoring-event/v1/lwm2m/subscriptions/sub1",
        "monitoringEventReports": [
            {
                "monitoringType": "UE_REACHABILITY",
                "externalId": DEVICE.value,
                "eventTime": "2030-01-01T00:00:00Z",
                "reachabilityType": "DATA",
                "maxUEAvailabilityTime": "2030-01-01T00:00:20Z",
            }
        ],
    }
    assert post(sink, body, "monitoring").status == 204
    [(kind, (_, reports))] = sink.calls
    assert kind == "monitoring"
    assert reports == [MonitoringReport("UE_REACHABILITY", DEVICE, 1893456000.0, 1893456020.0)]


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"path": "/wrong-token-0123456789/nidd"}, 404),
        ({"path": f"/{TOKEN}/other"}, 404),
        ({"path": f"/{TOKEN}/nidd/extra"}, 404),
        ({"method": "GET"}, 405),
        ({"content_type": "text/plain"}, 415),
    ],
)
def test_routes_token_method_and_media_type(options: dict[str, str], status: int) -> None:
    sink = Sink()
    body = {"niddConfiguration": CONFIG, "externalId": DEVICE.value, "data": "AA=="}
    assert post(sink, body, **options).status == status
    assert sink.calls == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        ({"niddConfiguration": CONFIG, "externalId": DEVICE.value}, 400),
        ({"niddConfiguration": CONFIG, "data": "AA=="}, 400),
        ({"niddConfiguration": CONFIG, "externalId": "no-at-sign", "data": "AA=="}, 400),
        ({"niddConfiguration": CONFIG, "externalId": DEVICE.value, "data": "**"}, 400),
        ({"niddConfiguration": CONFIG, "externalId": DEVICE.value, "data": 7}, 400),
        (
            {
                "niddConfiguration": CONFIG,
                "externalId": DEVICE.value,
                "data": base64.b64encode(bytes(1359)).decode(),
            },
            413,
        ),
        (b"x" * 20_000, 413),
        ({"niddDownlinkDataTransfer": CONFIG + "/x"}, 400),
        (
            {
                "niddDownlinkDataTransfer": CONFIG + "/x",
                "deliveryStatus": "SUCCESS",
                "requestedRetransmissionTime": "tomorrow",
            },
            400,
        ),
    ],
)
def test_bad_notifications_are_refused_and_change_nothing(body: object, status: int) -> None:
    sink = Sink()
    reply = post(sink, body)
    assert reply.status == status
    assert reply.body is not None and reply.body["status"] == status
    assert sink.calls == []


def test_monitoring_report_that_is_not_a_list_is_refused() -> None:
    sink = Sink()
    body = {"subscription": "http://scef/s/sub1", "monitoringEventReports": {"a": 1}}
    assert post(sink, body, "monitoring").status == 400
    assert sink.calls == []


def test_a_notification_for_something_not_ours_is_404() -> None:
    sink = Sink()
    sink.known = False
    body = {"niddConfiguration": CONFIG, "externalId": DEVICE.value, "data": "AA=="}
    assert post(sink, body).status == 404


def test_every_delivery_status_is_classified() -> None:
    assert classify("SUCCESS_NEXT_HOP_ACKNOWLEDGED") is Delivery.DELIVERED
    assert classify("BUFFERING_TEMPORARILY_NOT_REACHABLE") is Delivery.HELD
    assert classify("TRIGGERED") is Delivery.HELD
    assert classify("FAILURE_RDS_DISABLED") is Delivery.FAILED
    assert classify("A_FUTURE_VALUE") is Delivery.HELD  # CoAP's own timeout decides


def test_nidd_peers_never_equal_udp_addresses() -> None:
    assert DEVICE != ("dev1@nidd.example.com", 0)
    assert NiddPeer.parse(str(DEVICE)) == DEVICE
    assert NiddPeer.parse("msisdn:491701234567") == NiddPeer("msisdn", "491701234567")
    with pytest.raises(ValueError):
        NiddPeer.parse("msisdn:+49")
