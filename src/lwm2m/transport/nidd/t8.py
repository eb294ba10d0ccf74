"""The SCS/AS side of T8 (TS 29.122): NIDD configurations, downlink data deliveries,
monitoring-event subscriptions and device-triggering transactions, over one
:class:`~lwm2m.transport.nidd.http.JsonHttp` (aiohttp's connection pool, or a given
:class:`httpx.AsyncClient`).

Failures the SCEF reports come back as :class:`T8Error` (the HTTP status and the
ProblemDetails cause); a network error is an :class:`httpx.HTTPError`.  Times are Unix seconds
here and ISO 8601 (UTC) on the wire.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from lwm2m.transport.nidd.http import JsonHttp
from lwm2m.transport.nidd.peer import NiddPeer

NIDD_API = "/3gpp-nidd/v1"
MONITORING_API = "/3gpp-monitoring-event/v1"
TRIGGERING_API = "/3gpp-device-triggering/v1"


class T8Error(Exception):
    """The SCEF refused a request (an error of the remote side, never ours to retry blindly)."""

    def __init__(self, status: int, cause: str | None, detail: str) -> None:
        super().__init__(f"T8 {status}{f' {cause}' if cause else ''}: {detail}")
        self.status = status
        self.cause = cause


@dataclass(frozen=True, slots=True)
class NiddConfiguration:
    """What the SCEF made of a configuration request."""

    id: str
    link: str
    max_packet_bytes: int | None  # maximumPacketSize, given in bits, as whole octets
    duration: float | None
    status: str | None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The answer to a downlink data delivery: its status, and while the SCEF holds the data
    the resource whose status notification will follow."""

    status: str
    link: str | None
    retry_at: float | None


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: object) -> float | None:
    """A T8 DateTime as Unix seconds; None when absent or not a date-time."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def last_segment(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


class T8Client:
    """``base_url``: the SCEF's API root (``http://host:port``); ``token``, when the SCEF
    wants one, goes out as ``Authorization: Bearer``."""

    def __init__(
        self,
        base_url: str,
        scs_as_id: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = JsonHttp(timeout, client=client)
        self._headers = headers
        self._root = base_url.rstrip("/")
        self._scs = quote(scs_as_id, safe="")

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- NIDD --------------------------------------------------------------------------------

    def _configurations(self, *parts: str) -> str:
        tail = "".join(f"/{quote(part, safe='')}" for part in parts)
        return f"{self._root}{NIDD_API}/{self._scs}/configurations{tail}"

    async def create_configuration(
        self, peer: NiddPeer, destination: str, duration: float, pdn_option: str
    ) -> NiddConfiguration:
        body = {
            **peer.to_json(),
            "notificationDestination": destination,
            "duration": iso_time(duration),
            "pdnEstablishmentOption": pdn_option,
            "reliableDataService": False,
        }
        return _configuration(await self._call("POST", self._configurations(), body))

    async def renew_configuration(self, config_id: str, duration: float) -> NiddConfiguration:
        body = {"duration": iso_time(duration)}
        return _configuration(await self._call("PATCH", self._configurations(config_id), body))

    async def configurations_of(self, peer: NiddPeer) -> list[str]:
        """The ids of this SCS/AS's configurations for ``peer`` (one a crashed run left)."""
        response = await self._http.request("GET", self._configurations(), None, self._headers)
        if not response.is_success:
            raise T8Error(response.status, None, "the configurations cannot be listed")
        listed = response.json()
        return [
            last_segment(item["self"])
            for item in (listed if isinstance(listed, list) else [])
            if isinstance(item, dict)
            and item.get(peer.kind) == peer.value
            and isinstance(item.get("self"), str)
        ]

    async def delete_configuration(self, config_id: str) -> None:
        await self._call("DELETE", self._configurations(config_id))

    async def send_data(
        self,
        config_id: str,
        peer: NiddPeer,
        data: bytes,
        *,
        maximum_latency: int | None,
        priority: int | None,
    ) -> DeliveryReport:
        body: dict[str, Any] = {**peer.to_json(), "data": base64.b64encode(data).decode("ascii")}
        if maximum_latency is not None:
            body["maximumLatency"] = maximum_latency
        if priority is not None:
            body["priority"] = priority
        url = self._configurations(config_id, "downlink-data-deliveries")
        answer = await self._call("POST", url, body)
        status = answer.get("deliveryStatus")
        if not isinstance(status, str):
            raise T8Error(502, None, "the delivery's answer has no deliveryStatus")
        link = answer.get("self")
        return DeliveryReport(
            status,
            link if isinstance(link, str) else None,
            parse_time(answer.get("requestedRetransmissionTime")),
        )

    # -- monitoring events -------------------------------------------------------------------

    def _subscriptions(self, *parts: str) -> str:
        tail = "".join(f"/{quote(part, safe='')}" for part in parts)
        return f"{self._root}{MONITORING_API}/{self._scs}/subscriptions{tail}"

    @staticmethod
    def _subscription(
        peer: NiddPeer, kind: str, destination: str, expires: float, idle_status: bool
    ) -> Any:
        body: dict[str, Any] = {
            **peer.to_json(),
            "notificationDestination": destination,
            "monitoringType": kind,
            "monitorExpireTime": iso_time(expires),
        }
        if kind == "UE_REACHABILITY":
            body["reachabilityType"] = "DATA"
            if idle_status:
                body["idleStatusIndication"] = True
        return body

    async def subscribe(
        self,
        peer: NiddPeer,
        kind: str,
        destination: str,
        expires: float,
        *,
        idle_status: bool = False,
    ) -> str:
        """A UE_REACHABILITY (for data; ``idle_status``: with idle status reports, the
        timers the UE sleeps by) or LOSS_OF_CONNECTIVITY subscription until ``expires``;
        its id."""
        body = self._subscription(peer, kind, destination, expires, idle_status)
        answer = await self._call("POST", self._subscriptions(), body)
        link = answer.get("self")
        if not isinstance(link, str):
            raise T8Error(502, None, "the subscription's answer has no self link")
        return last_segment(link)

    async def renew_subscription(
        self,
        sub_id: str,
        peer: NiddPeer,
        kind: str,
        destination: str,
        expires: float,
        *,
        idle_status: bool = False,
    ) -> None:
        body = self._subscription(peer, kind, destination, expires, idle_status)
        await self._call("PUT", self._subscriptions(sub_id), body)

    async def unsubscribe(self, sub_id: str) -> None:
        await self._call("DELETE", self._subscriptions(sub_id))

    # -- device triggering -------------------------------------------------------------------

    def _transactions(self, *parts: str) -> str:
        tail = "".join(f"/{quote(part, safe='')}" for part in parts)
        return f"{self._root}{TRIGGERING_API}/{self._scs}/transactions{tail}"

    async def trigger(
        self,
        peer: NiddPeer,
        payload: bytes,
        destination: str,
        *,
        validity: int,
        application_port: int,
        priority: str = "NO_PRIORITY",
    ) -> str:
        """A device-triggering transaction (the network delivers ``payload`` to the UE by
        SMS within ``validity`` seconds); the transaction's link."""
        body = {
            **peer.to_json(),
            "validityPeriod": validity,
            "priority": priority,
            "applicationPortId": application_port,
            "triggerPayload": base64.b64encode(payload).decode("ascii"),
            "notificationDestination": destination,
        }
        answer = await self._call("POST", self._transactions(), body)
        link = answer.get("self")
        if not isinstance(link, str):
            raise T8Error(502, None, "the triggering transaction's answer has no self link")
        return link

    # -- HTTP --------------------------------------------------------------------------------

    async def _call(self, method: str, url: str, body: object = None) -> dict[str, Any]:
        response = await self._http.request(method, url, body, self._headers)
        answer: Any = None
        if response.content:
            try:
                answer = response.json()
            except ValueError:
                answer = None
        if not response.is_success:
            problem = answer if isinstance(answer, dict) else {}
            problem = problem.get("problemDetail", problem)  # a 500 wraps it (TS 29.122)
            cause = problem.get("cause") if isinstance(problem, dict) else None
            detail = problem.get("detail") if isinstance(problem, dict) else None
            raise T8Error(
                response.status,
                cause if isinstance(cause, str) else None,
                detail if isinstance(detail, str) else response.reason,
            )
        return answer if isinstance(answer, dict) else {}


def _configuration(answer: dict[str, Any]) -> NiddConfiguration:
    link = answer.get("self")
    if not isinstance(link, str):
        raise T8Error(502, None, "the configuration's answer has no self link")
    bits = answer.get("maximumPacketSize")
    status = answer.get("status")
    return NiddConfiguration(
        last_segment(link),
        link,
        bits // 8 if isinstance(bits, int) and not isinstance(bits, bool) and bits > 0 else None,
        parse_time(answer.get("duration")),
        status if isinstance(status, str) else None,
    )
