"""The SCEF's notifications to the SCS/AS, checked and parsed; framework-agnostic.

:func:`handle_notification` takes what any HTTP server hands over (method, path below the
mount point, body bytes) and returns a :class:`Reply`; what a notification says goes to a
:class:`NotificationSink`.  Routes: ``/{token}/nidd`` (every NIDD notification: uplink data,
downlink delivery status, configuration status: TS 29.122 sends them all to the
configuration's one notificationDestination) and ``/{token}/monitoring``.

Authentication is the shared token in the URL path: the SCS/AS chose the
notificationDestination, so the token reaches only the SCEF, and an SCEF needs no
configuration to send it (many cannot add an Authorization header to callbacks).  A wrong
token gets 404, like any unknown path.  Bad input (not JSON, a body that matches no
notification, an unknown configuration or subscription, a device that is not ours, data
larger than any packet the network carries) gets a 4xx ProblemDetails and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from typing import Any, Protocol

from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.nidd.t8 import parse_time

MAX_BODY = 16 * 1024
"""Largest notification body: base64 of the largest NIDD packet (1358 octets) is 1,812
characters; a monitoring notification with a few reports is well under 4 KiB."""
MAX_PACKET = 1358
"""Largest Non-IP packet any network carries (TS 24.008, the NIDD MTU)."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class IdleStatus:
    """A UE_REACHABILITY report's ``idleStatusInfo``: the timers the network granted the UE
    it went idle with (seconds; None: not reported)."""

    periodic_tau: int | None  # periodicAUTimer, the extended T3412
    active_time: int | None  # activeTime, T3324
    edrx_cycle: float | None  # edrxCycleLength


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    """One monitoring event report: ``kind`` is the monitoringType."""

    kind: str
    peer: NiddPeer
    time: float | None  # eventTime, Unix seconds
    until: float | None  # maxUEAvailabilityTime (UE_REACHABILITY)
    idle: IdleStatus | None = None  # idleStatusInfo: the UE went idle, not reachable


class NotificationSink(Protocol):
    """Each returns False when the notification names nothing of ours (answered 404)."""

    def on_uplink(self, configuration: str, peer: NiddPeer, data: bytes) -> bool: ...

    def on_delivery_status(self, transfer: str, status: str, retry_at: float | None) -> bool: ...

    def on_configuration_status(self, configuration: str, peer: NiddPeer, status: str) -> bool: ...

    def on_monitoring(self, subscription: str, reports: list[MonitoringReport]) -> bool: ...


class _NotificationError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _problem(status: int, detail: str) -> Reply:
    titles = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    titles |= {413: "Content Too Large", 415: "Unsupported Media Type"}
    return Reply(status, {"title": titles.get(status, "Error"), "status": status, "detail": detail})


def handle_notification(
    sink: NotificationSink,
    token: str,
    *,
    method: str,
    path: str,
    content_type: str | None,
    body: bytes,
) -> Reply:
    """Answer one callback request (see the module docstring); 204 when it was taken."""
    segments = path.strip("/").split("/")
    if len(segments) != 2 or not hmac.compare_digest(segments[0].encode(), token.encode()):
        return _problem(404, "no such notification route")
    kind = segments[1]
    if kind not in ("nidd", "monitoring"):
        return _problem(404, "no such notification route")
    if method != "POST":
        return _problem(405, "notifications are POSTed")
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        return _problem(415, "send application/json")
    if len(body) > MAX_BODY:
        return _problem(413, f"notifications up to {MAX_BODY} bytes")
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise _NotificationError(400, "the body is not a JSON object")
        taken = _nidd(sink, document) if kind == "nidd" else _monitoring(sink, document)
    except (ValueError, _NotificationError) as exc:  # json.JSONDecodeError is a ValueError
        status = exc.status if isinstance(exc, _NotificationError) else 400
        return _problem(status, str(exc) if isinstance(exc, _NotificationError) else "not JSON")
    if not taken:
        return _problem(404, "no such configuration, transfer or subscription of ours")
    return Reply(204)


def _nidd(sink: NotificationSink, body: dict[str, Any]) -> bool:
    if "niddDownlinkDataTransfer" in body:
        status = _string(body, "deliveryStatus")
        retry = body.get("requestedRetransmissionTime")
        retry_at = None if retry is None else _time(retry, "requestedRetransmissionTime")
        return sink.on_delivery_status(_string(body, "niddDownlinkDataTransfer"), status, retry_at)
    configuration = _string(body, "niddConfiguration")
    peer = _peer(body)
    if "data" in body:
        return sink.on_uplink(configuration, peer, _data(body))
    if "status" in body:
        return sink.on_configuration_status(configuration, peer, _string(body, "status"))
    raise _NotificationError(400, "not a NIDD notification (no data, status or transfer)")


def _monitoring(sink: NotificationSink, body: dict[str, Any]) -> bool:
    subscription = _string(body, "subscription")
    raw = body.get("monitoringEventReports", [])
    if not isinstance(raw, list) or len(raw) > 64:
        raise _NotificationError(400, "monitoringEventReports: a list of at most 64 reports")
    reports = []
    for report in raw:
        if not isinstance(report, dict):
            raise _NotificationError(400, "a monitoring event report is not an object")
        until = report.get("maxUEAvailabilityTime")
        event_time = report.get("eventTime")
        reports.append(
            MonitoringReport(
                _string(report, "monitoringType"),
                _peer(report),
                None if event_time is None else _time(event_time, "eventTime"),
                None if until is None else _time(until, "maxUEAvailabilityTime"),
                _idle_status(report.get("idleStatusInfo")),
            )
        )
    return sink.on_monitoring(subscription, reports)


def _idle_status(info: object) -> IdleStatus | None:
    if info is None:
        return None
    if not isinstance(info, dict):
        raise _NotificationError(400, "idleStatusInfo: an object is required")
    tau, active, edrx = (info.get(n) for n in ("periodicAUTimer", "activeTime", "edrxCycleLength"))
    for name, value in (("periodicAUTimer", tau), ("activeTime", active)):
        if value is not None and (type(value) is not int or value < 0):
            raise _NotificationError(400, f"idleStatusInfo.{name}: seconds (an integer >= 0)")
    if edrx is not None and (type(edrx) not in (int, float) or not 0 <= edrx < 1e7):
        raise _NotificationError(400, "idleStatusInfo.edrxCycleLength: seconds (a number >= 0)")
    return IdleStatus(tau, active, None if edrx is None else float(edrx))


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise _NotificationError(400, f"{name}: a string is required")
    return value


def _time(value: object, name: str) -> float:
    moment = parse_time(value)
    if moment is None:
        raise _NotificationError(400, f"{name}: not a date-time")
    return moment


def _peer(body: dict[str, Any]) -> NiddPeer:
    try:
        if "externalId" in body:
            return NiddPeer("externalId", _string(body, "externalId"))
        if "msisdn" in body:
            return NiddPeer("msisdn", _string(body, "msisdn"))
    except ValueError as exc:
        raise _NotificationError(400, str(exc)) from None
    raise _NotificationError(400, "externalId or msisdn is required")


def _data(body: dict[str, Any]) -> bytes:
    text = body.get("data")
    if not isinstance(text, str):
        raise _NotificationError(400, "data: a base64 string is required")
    if len(text) > 4 * (MAX_PACKET + 2) // 3:
        raise _NotificationError(413, f"data: a NIDD packet holds at most {MAX_PACKET} octets")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _NotificationError(400, "data: not base64") from None
    if len(data) > MAX_PACKET:
        raise _NotificationError(413, f"data: a NIDD packet holds at most {MAX_PACKET} octets")
    return data
