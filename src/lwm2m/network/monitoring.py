"""The SCEF's monitoring-event API (TS 29.122 clause 5.3, ``/3gpp-monitoring-event/v1``:
UE_REACHABILITY for data and LOSS_OF_CONNECTIVITY) and device-triggering API (clause 5.7,
``/3gpp-device-triggering/v1``). Sans-I/O like :mod:`lwm2m.network.nidd`.

A device trigger is delivered as an SMS through the network's SMSC (TS 23.682 §5.2: the
``triggerPayload`` to the UE's MSISDN, TP-PID "device triggering", ``applicationPortId`` and
``appSrcPortId`` as 16-bit application ports in the user data header); its
``DeviceTriggeringDeliveryReportNotification`` says SUCCESS (the SMS reached the modem),
EXPIRED (not before ``validityPeriod`` ended) or FAILURE (the UE's SMS queue was full). The
transaction stays readable, with its ``deliveryResult``, until its validity period ends.
"""

from __future__ import annotations

import base64
import heapq
import itertools
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lwm2m.network.core import Network
from lwm2m.network.nidd import Callback, resource_link
from lwm2m.network.sims import Sim
from lwm2m.network.smsc import Smsc
from lwm2m.network.t8_body import Body, Reply, T8Error, iso_time, not_found
from lwm2m.network.ue import EnteredIdle
from lwm2m.transport.sms.udh import Ports

MONITORING_ROOT = "/3gpp-monitoring-event/v1"
TRIGGERING_ROOT = "/3gpp-device-triggering/v1"
MONITORING_TYPES = ("UE_REACHABILITY", "LOSS_OF_CONNECTIVITY")
UE_DETACHED_MME = 0
MAX_DETECTION_TIME_EXPIRED_MME = 2
"""Loss-Of-Connectivity-Reason values, which TS 29.122's ``lossOfConnectReason`` carries (its
MonitoringEventReport refers to TS 29.336 clause 8.4.58: UE_DETACHED_MME (0),
UE_DETACHED_SGSN (1), MAX_DETECTION_TIME_EXPIRED_MME (2), …_SGSN (3), UE_PURGED_MME (4),
UE_PURGED_SGSN (5)); this network's core is an MME."""
MOBILE_REACHABLE_MARGIN = 240
"""Without a maximumDetectionTime the MME's mobile reachable timer decides: T3412 + 4 min."""
MAX_RESOURCES = 50_000
"""Subscriptions (or transactions) per API: a fleet of 10,000 UEs holds two subscriptions each."""
R = TypeVar("R")
GROUP_FIELDS = (
    "addedExternalIds",
    "addedMsisdns",
    "excludedExternalIds",
    "excludedMsisdns",
    "addExtGroupId",
)


def _subscription(
    scs: str, sub_id: str, link: str, imsi: str, *, fields: dict[str, Any], now: float
) -> Subscription:
    """A subscription as a create or a replace (PUT) request's checked ``fields`` ask."""
    return Subscription(
        scs,
        sub_id,
        link,
        imsi,
        fields["identity"],
        fields["kind"],
        fields["destination"],
        fields["reports"],
        fields["expires"],
        fields["max_detection"],
        now,
        bool(fields["idle_status"]),
    )


def _sim_for(network: Network, identity: tuple[str, str]) -> Sim:
    kind, value = identity
    sim = network.sim(external_id=value) if kind == "externalId" else network.sim(msisdn=value)
    if sim is None:
        raise T8Error(
            404, "Not Found", detail=f"no subscriber with {kind} {value}", cause="UNKNOWN_UE"
        )
    return sim


@dataclass(slots=True)
class Subscription:
    scs: str
    id: str
    link: str
    imsi: str
    identity: tuple[str, str]
    kind: str
    destination: str
    reports_left: int | None
    expires: float | None
    max_detection: int | None
    watch_from: float
    """Loss of connectivity: silence is counted from here (the later of creation and the
    last report)."""
    idle_status: bool = False
    """UE_REACHABILITY with ``idleStatusIndication``: a report each time the UE, PSM
    granted, goes idle."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": self.link,
            self.identity[0]: self.identity[1],
            "notificationDestination": self.destination,
            "monitoringType": self.kind,
        }
        if self.kind == "UE_REACHABILITY":
            body["reachabilityType"] = "DATA"
        if self.idle_status:
            body["idleStatusIndication"] = True
        if self.reports_left is not None:
            body["maximumNumberOfReports"] = self.reports_left
        if self.expires is not None:
            body["monitorExpireTime"] = iso_time(self.expires)
        if self.max_detection is not None:
            body["maximumDetectionTime"] = self.max_detection
        return body


class _Api(Generic[R]):
    """Resources of one SCS/AS-facing API, keyed by (scsAsId, resource id)."""

    what = "resource"

    def __init__(self, network: Network) -> None:
        self.network = network
        self.resources: dict[tuple[str, str], R] = {}
        self.outbox: list[Callback] = []
        self._ids = itertools.count(1)

    def _get(self, scs: str, resource_id: str) -> R:
        resource = self.resources.get((scs, resource_id))
        if resource is None:
            raise not_found(self.what)
        return resource


class Monitoring(_Api[Subscription]):
    """Subscriptions found by UE (:attr:`_by_imsi`) and their deadlines (expiry, loss of
    connectivity) on a heap, so that a network event or a poll costs O(log subscriptions)."""

    what = "monitoring event subscription"

    def __init__(self, network: Network) -> None:
        super().__init__(network)
        self._by_imsi: dict[str, dict[tuple[str, str], Subscription]] = {}
        self._due: list[tuple[float, str, str]] = []
        self._armed: dict[tuple[str, str], float] = {}
        """Each subscription's deadline on the heap; an entry that differs is stale.  A loss
        of connectivity deadline only moves later with each contact: an entry that is early
        is checked when due and re-armed, one that became late is re-armed by :meth:`recheck`."""

    def _add(self, subscription: Subscription) -> None:
        key = (subscription.scs, subscription.id)
        old = self.resources.get(key)
        if old is not None:
            self._drop(old)
        self.resources[key] = subscription
        self._by_imsi.setdefault(subscription.imsi, {})[key] = subscription
        self._arm(subscription)

    def _drop(self, subscription: Subscription) -> None:
        key = (subscription.scs, subscription.id)
        del self.resources[key]
        self._armed.pop(key, None)
        of_ue = self._by_imsi[subscription.imsi]
        del of_ue[key]
        if not of_ue:
            del self._by_imsi[subscription.imsi]

    def _deadline(self, subscription: Subscription) -> float | None:
        deadlines = [] if subscription.expires is None else [subscription.expires]
        if subscription.kind == "LOSS_OF_CONNECTIVITY":
            deadlines.append(self._loss_deadline(subscription))
        return min(deadlines, default=None)

    def _arm(self, subscription: Subscription, *, if_earlier: bool = False) -> None:
        key = (subscription.scs, subscription.id)
        deadline = self._deadline(subscription)
        armed = self._armed.get(key)
        if deadline is None or deadline == armed:
            return
        if if_earlier and armed is not None and deadline > armed:
            return
        self._armed[key] = deadline
        heapq.heappush(self._due, (deadline, *key))

    def recheck(self, imsi: str) -> None:
        """The UE's state changed (a shorter periodic TAU granted, say): a loss of
        connectivity deadline that came earlier is re-armed."""
        for subscription in self._by_imsi.get(imsi, {}).values():
            if subscription.kind == "LOSS_OF_CONNECTIVITY":
                self._arm(subscription, if_earlier=True)

    def _read(self, raw: object, now: float) -> tuple[Body, dict[str, Any]]:
        body = Body(raw)
        identity = body.identity()
        fields: dict[str, Any] = {
            "identity": identity,
            "destination": body.link("notificationDestination", required=True),
            "kind": body.choice("monitoringType", MONITORING_TYPES, required=True),
            "reports": body.integer("maximumNumberOfReports", minimum=1),
            "expires": body.time("monitorExpireTime"),
            "max_detection": body.integer("maximumDetectionTime", minimum=1),
            "test": body.boolean("requestTestNotification"),
            "idle_status": body.boolean("idleStatusIndication"),
        }
        if fields["kind"] == "UE_REACHABILITY":
            body.choice("reachabilityType", ("DATA",), required=True)
        elif fields["idle_status"]:
            body.problem("idleStatusIndication", "only with UE_REACHABILITY")
        if not body.has("maximumNumberOfReports") and not body.has("monitorExpireTime"):
            body.problem("maximumNumberOfReports", "or monitorExpireTime is required")
        if fields["expires"] is not None and fields["expires"] <= now:
            body.problem("monitorExpireTime", "lies in the past")
        for name in GROUP_FIELDS:
            body.refuse(name, "group operations are not supported")
        body.refuse("immediateRep", "immediate reports are not supported", unless=False)
        body.refuse("websockNotifConfig", "notifications go to notificationDestination only")
        body.refuse("addnMonTypes", "one monitoring type per subscription")
        body.check()
        return body, fields

    def list_all(self, scs: str) -> Reply:
        return Reply(200, [s.to_json() for (o, _), s in self.resources.items() if o == scs])

    def create(self, scs: str, raw: object, now: float, root: str) -> Reply:
        _, fields = self._read(raw, now)
        imsi = _sim_for(self.network, fields["identity"]).imsi
        if len(self.resources) >= MAX_RESOURCES:
            raise T8Error(429, "Too Many Requests", detail="subscription limit reached")
        sub_id = f"sub{next(self._ids)}"
        link = resource_link(root, MONITORING_ROOT, scs, "subscriptions", sub_id)
        subscription = _subscription(scs, sub_id, link, imsi, fields=fields, now=now)
        self._add(subscription)
        if fields["test"]:
            self.outbox.append(Callback(subscription.destination, {"subscription": link}))
        return Reply(201, subscription.to_json(), {"Location": link})

    def get(self, scs: str, sub_id: str) -> Reply:
        return Reply(200, self._get(scs, sub_id).to_json())

    def replace(self, scs: str, sub_id: str, raw: object, now: float) -> Reply:
        old = self._get(scs, sub_id)
        _, fields = self._read(raw, now)
        imsi = _sim_for(self.network, fields["identity"]).imsi
        self._add(_subscription(scs, sub_id, old.link, imsi, fields=fields, now=now))
        return Reply(200, self.resources[(scs, sub_id)].to_json())

    def patch(self, scs: str, sub_id: str) -> Reply:
        self._get(scs, sub_id)
        raise T8Error(
            400,
            "Bad Request",
            detail="PATCH changes group members; groups are not supported",
            cause="INVALID_PARAMETERS",
        )

    def delete(self, scs: str, sub_id: str) -> Reply:
        self._drop(self._get(scs, sub_id))
        return Reply(204)

    # -- network events -------------------------------------------------------------------
    def _report(self, subscription: Subscription, report: dict[str, Any], now: float) -> None:
        report = {
            "monitoringType": subscription.kind,
            subscription.identity[0]: subscription.identity[1],
            "eventTime": iso_time(now),
            **report,
        }
        self.outbox.append(
            Callback(
                subscription.destination,
                {"subscription": subscription.link, "monitoringEventReports": [report]},
            )
        )
        if subscription.reports_left is not None:
            subscription.reports_left -= 1
            if subscription.reports_left == 0:
                self._drop(subscription)

    def _watching(self, imsi: str, kind: str) -> list[Subscription]:
        return [s for s in self._by_imsi.get(imsi, {}).values() if s.kind == kind]

    def reachable(self, imsi: str, until: float | None, now: float) -> None:
        for subscription in self._watching(imsi, "UE_REACHABILITY"):
            report: dict[str, Any] = {"reachabilityType": "DATA"}
            if until is not None:
                report["maxUEAvailabilityTime"] = iso_time(until)
            self._report(subscription, report, now)

    def idle(self, event: EnteredIdle, now: float) -> None:
        """The UE went idle with PSM granted: an idle status report (``idleStatusInfo``,
        TS 29.122 IdleStatusInfo) to each UE_REACHABILITY subscription that asked for it."""
        info: dict[str, Any] = {
            "activeTime": event.active_time,
            "periodicAUTimer": event.periodic_tau,
            "idleStatusTimestamp": iso_time(now),
        }
        if event.edrx_cycle is not None:
            info["edrxCycleLength"] = event.edrx_cycle
        for subscription in self._watching(event.imsi, "UE_REACHABILITY"):
            if subscription.idle_status:
                self._report(subscription, {"idleStatusInfo": info}, now)

    def detached(self, imsi: str, now: float) -> None:
        for subscription in self._watching(imsi, "LOSS_OF_CONNECTIVITY"):
            subscription.watch_from = now
            self._report(subscription, {"lossOfConnectReason": UE_DETACHED_MME}, now)

    def _silence_limit(self, subscription: Subscription) -> float:
        if subscription.max_detection is not None:
            return subscription.max_detection
        return self.network.ues[subscription.imsi].granted.t3412 + MOBILE_REACHABLE_MARGIN

    def _loss_deadline(self, subscription: Subscription) -> float:
        contact = self.network.ues[subscription.imsi].last_contact
        start = max(subscription.watch_from, contact or subscription.watch_from)
        return start + self._silence_limit(subscription)

    def _earliest(self) -> tuple[float, Subscription] | None:
        while self._due:
            deadline, scs, sub_id = self._due[0]
            subscription = self.resources.get((scs, sub_id))
            if subscription is not None and self._armed.get((scs, sub_id)) == deadline:
                return deadline, subscription
            heapq.heappop(self._due)
        return None

    def next_deadline(self) -> float | None:
        earliest = self._earliest()
        return None if earliest is None else earliest[0]

    def advance(self, now: float) -> None:
        while (earliest := self._earliest()) is not None and earliest[0] <= now:
            heapq.heappop(self._due)
            subscription = earliest[1]
            del self._armed[(subscription.scs, subscription.id)]
            if subscription.expires is not None and subscription.expires <= now:
                self._drop(subscription)
            elif subscription.kind == "LOSS_OF_CONNECTIVITY" and (
                self._loss_deadline(subscription) <= now
            ):
                subscription.watch_from = now
                reason = {"lossOfConnectReason": MAX_DETECTION_TIME_EXPIRED_MME}
                self._report(subscription, reason, now)
            if (subscription.scs, subscription.id) in self.resources:
                self._arm(subscription)  # its next deadline (a later contact moved it)


@dataclass(slots=True)
class Trigger:
    scs: str
    id: str
    link: str
    identity: tuple[str, str]
    destination: str
    fields: dict[str, Any]
    expires: float
    sim: Sim
    result: str = "TRIGGERED"

    def to_json(self) -> dict[str, Any]:
        return {
            "self": self.link,
            self.identity[0]: self.identity[1],
            "notificationDestination": self.destination,
            **self.fields,
            "deliveryResult": self.result,
        }


class Triggering(_Api[Trigger]):
    what = "device triggering transaction"

    def __init__(self, network: Network, smsc: Smsc) -> None:
        super().__init__(network)
        self.smsc = smsc
        self._by_link: dict[str, Trigger] = {}

    def _send(self, trigger: Trigger, now: float) -> None:
        """(Re)send the trigger's SMS; a refused one is reported FAILURE at once."""
        self.smsc.cancel_trigger(trigger.link)
        trigger.result = "TRIGGERED"
        fields = trigger.fields
        ports = Ports(fields["applicationPortId"], fields.get("appSrcPortId", 0))
        payload = base64.b64decode(fields["triggerPayload"])
        priority = fields["priority"] == "PRIORITY"
        if not self.smsc.submit_trigger(
            trigger.link, trigger.sim, payload, ports, (now, trigger.expires), priority=priority
        ):
            self.delivery_result(trigger.link, "FAILURE")

    def delivery_result(self, tag: str, result: str) -> None:
        """What the SMSC made of a trigger's SMS: SUCCESS, EXPIRED or FAILURE."""
        trigger = self._by_link.get(tag)
        if trigger is None:
            return
        trigger.result = result
        self.outbox.append(
            Callback(trigger.destination, {"transaction": trigger.link, "result": result})
        )

    def _read(self, raw: object, *, patch: bool) -> tuple[Body, dict[str, Any]]:
        body = Body(raw)
        fields: dict[str, Any] = {
            "validityPeriod": body.integer("validityPeriod", required=not patch),
            "priority": body.choice("priority", ("NO_PRIORITY", "PRIORITY"), required=not patch),
            "applicationPortId": body.integer(
                "applicationPortId", required=not patch, maximum=65535
            ),
            "appSrcPortId": body.integer("appSrcPortId", maximum=65535),
            "triggerPayload": body.string("triggerPayload", required=not patch),
        }
        if fields["triggerPayload"] is not None:
            body.data("triggerPayload")
        body.refuse("websockNotifConfig", "notifications go to notificationDestination only")
        return body, {key: value for key, value in fields.items() if value is not None}

    def list_all(self, scs: str) -> Reply:
        return Reply(200, [t.to_json() for (o, _), t in self.resources.items() if o == scs])

    def create(self, scs: str, raw: object, now: float, root: str) -> Reply:
        body, fields = self._read(raw, patch=False)
        identity = body.identity(groups=False)
        destination = body.link("notificationDestination", required=True)
        test = body.boolean("requestTestNotification")
        body.check()
        assert identity is not None and destination is not None
        sim = _sim_for(self.network, identity)
        if len(self.resources) >= MAX_RESOURCES:
            raise T8Error(429, "Too Many Requests", detail="transaction limit reached")
        transaction_id = f"trigger{next(self._ids)}"
        link = resource_link(root, TRIGGERING_ROOT, scs, "transactions", transaction_id)
        expires = now + fields["validityPeriod"]
        trigger = Trigger(scs, transaction_id, link, identity, destination, fields, expires, sim)
        self.resources[(scs, transaction_id)] = trigger
        self._by_link[link] = trigger
        if test:
            self.outbox.append(Callback(destination, {"subscription": link}))
        self._send(trigger, now)
        return Reply(201, trigger.to_json(), {"Location": link})

    def get(self, scs: str, transaction_id: str) -> Reply:
        return Reply(200, self._get(scs, transaction_id).to_json())

    def update(
        self, scs: str, transaction_id: str, raw: object, now: float, *, patch: bool
    ) -> Reply:
        trigger = self._get(scs, transaction_id)
        body, fields = self._read(raw, patch=patch)
        if not patch:
            identity = body.identity(groups=False)
            if identity is not None and identity != trigger.identity:
                body.problem(identity[0], "is not the UE of this transaction")
        destination = body.link("notificationDestination", required=not patch)
        body.check()
        trigger.fields = fields if not patch else {**trigger.fields, **fields}
        trigger.destination = destination or trigger.destination
        if "validityPeriod" in fields:
            trigger.expires = now + fields["validityPeriod"]
        self._send(trigger, now)  # a replacement: the new trigger's SMS instead of a pending one
        return Reply(200, trigger.to_json())

    def delete(self, scs: str, transaction_id: str) -> Reply:
        self._remove(self._get(scs, transaction_id))
        return Reply(204)

    def _remove(self, trigger: Trigger) -> None:
        self.smsc.cancel_trigger(trigger.link)
        del self.resources[(trigger.scs, trigger.id)]
        del self._by_link[trigger.link]

    def next_deadline(self) -> float | None:
        return min((t.expires for t in self.resources.values()), default=None)

    def advance(self, now: float) -> None:
        """Transactions end with their validity period (the SMSC reported EXPIRED for an
        SMS still waiting then)."""
        for trigger in [t for t in self.resources.values() if t.expires <= now]:
            self._remove(trigger)
