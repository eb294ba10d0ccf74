"""The SCEF's NIDD API (TS 29.122 clause 5.6, ``/3gpp-nidd/v1``): configurations, MT
deliveries with buffering, and the callbacks for configuration status, MO data and delivery
status. Sans-I/O: requests in as parsed JSON plus ``now``, :class:`Reply` values out, callbacks
queued in :attr:`Nidd.outbox`.
"""

from __future__ import annotations

import base64
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from lwm2m.network.core import MtOutcome, Network
from lwm2m.network.t8_body import Body, Reply, T8Error, iso_time, not_found
from lwm2m.network.ue import Reach

NIDD_ROOT = "/3gpp-nidd/v1"
PDN_OPTIONS = ("WAIT_FOR_UE", "INDICATE_ERROR")
"""SEND_TRIGGER (a device trigger when MT data finds no PDN connection) is not offered."""
MAX_CONFIGURATIONS = 20_000


@dataclass(frozen=True, slots=True)
class Callback:
    """A notification to POST to the SCS/AS."""

    url: str
    body: dict[str, Any]


def resource_link(root: str, api: str, scs: str, *parts: str) -> str:
    return "/".join([f"{root}{api}", quote(scs, safe=""), *(quote(p, safe="") for p in parts)])


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(slots=True)
class Delivery:
    id: str
    data: bytes
    max_latency: int | None
    priority: int | None
    status: str
    link: str


@dataclass(slots=True)
class NiddConfig:
    scs: str
    id: str
    identity: tuple[str, str]
    imsi: str
    destination: str
    link: str
    duration: float | None
    pdn_option: str
    mtc_provider_id: str | None
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    """Pending (buffered) deliveries by id; delivered or failed ones are gone."""


class Nidd:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.configs: dict[tuple[str, str], NiddConfig] = {}
        self._by_imsi: dict[str, NiddConfig] = {}
        """The configuration of each UE that has one (at most one: NIDD_CONFIGURATION_EXISTS)."""
        self._ends: list[tuple[float, str, str]] = []
        """A heap of (duration, scs, id); stale entries (changed or deleted) are skipped."""
        self.outbox: list[Callback] = []
        self.uplink_without_configuration = 0
        self._pending: dict[str, tuple[NiddConfig, Delivery]] = {}
        self._ids = itertools.count(1)

    @property
    def max_packet_bits(self) -> int:
        return self.network.config.max_packet_size * 8

    def _config(self, scs: str, config_id: str) -> NiddConfig:
        config = self.configs.get((scs, config_id))
        if config is None:
            raise not_found("NIDD configuration")
        return config

    def _representation(self, config: NiddConfig) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": config.link,
            config.identity[0]: config.identity[1],
            "notificationDestination": config.destination,
            "pdnEstablishmentOption": config.pdn_option,
            "maximumPacketSize": self.max_packet_bits,
            "status": "ACTIVE",
        }
        if config.duration is not None:
            body["duration"] = iso_time(config.duration)
        if config.mtc_provider_id is not None:
            body["mtcProviderId"] = config.mtc_provider_id
        if config.deliveries:
            body["niddDownlinkDataTransfers"] = [
                self._transfer(config, delivery) for delivery in config.deliveries.values()
            ]
        return body

    def _transfer(self, config: NiddConfig, delivery: Delivery) -> dict[str, Any]:
        body: dict[str, Any] = {
            config.identity[0]: config.identity[1],
            "self": delivery.link,
            "data": encode(delivery.data),
            "deliveryStatus": delivery.status,
        }
        if delivery.max_latency is not None:
            body["maximumLatency"] = delivery.max_latency
        if delivery.priority is not None:
            body["priority"] = delivery.priority
        return body

    # -- configurations -------------------------------------------------------------------
    def list_configurations(self, scs: str) -> Reply:
        return Reply(
            200, [self._representation(c) for (s, _), c in self.configs.items() if s == scs]
        )

    def create_configuration(self, scs: str, raw: object, now: float, root: str) -> Reply:
        body = Body(raw)
        identity = body.identity()
        destination = body.link("notificationDestination", required=True)
        duration = body.time("duration")
        pdn_option = body.choice("pdnEstablishmentOption", PDN_OPTIONS) or "WAIT_FOR_UE"
        mtc_provider_id = body.string("mtcProviderId")
        test = body.boolean("requestTestNotification")
        self._refuse_unsupported(body)
        body.refuse("niddDownlinkDataTransfers", "send MT data to downlink-data-deliveries")
        body.check()
        assert identity is not None and destination is not None
        if duration is not None and duration <= now:
            raise T8Error(
                400, "Bad Request", invalid=[{"param": "/duration", "reason": "lies in the past"}]
            )
        sim = self.network.sim(
            **{{"externalId": "external_id"}.get(identity[0], "msisdn"): identity[1]}
        )
        if sim is None:
            raise T8Error(
                404,
                "Not Found",
                detail=f"no subscriber with {identity[0]} {identity[1]}",
                cause="UNKNOWN_UE",
            )
        if len(self.configs) >= MAX_CONFIGURATIONS:
            raise T8Error(429, "Too Many Requests", detail="NIDD configuration limit reached")
        if sim.imsi in self._by_imsi:
            raise T8Error(
                403,
                "Forbidden",
                detail="the UE has a NIDD configuration already",
                cause="NIDD_CONFIGURATION_EXISTS",
            )
        config_id = f"nidd{next(self._ids)}"
        link = resource_link(root, NIDD_ROOT, scs, "configurations", config_id)
        config = NiddConfig(
            scs,
            config_id,
            identity,
            sim.imsi,
            destination,
            link,
            duration,
            pdn_option,
            mtc_provider_id,
        )
        self.configs[(scs, config_id)] = config
        self._by_imsi[sim.imsi] = config
        self._schedule(config)
        if test:
            self.outbox.append(Callback(destination, {"subscription": link}))
        self.outbox.append(
            Callback(
                destination,
                {"niddConfiguration": link, identity[0]: identity[1], "status": "ACTIVE"},
            )
        )
        return Reply(201, self._representation(config), {"Location": link})

    @staticmethod
    def _refuse_unsupported(body: Body) -> None:
        body.refuse("reliableDataService", "reliable data service is not supported", unless=False)
        body.refuse("rdsPorts", "reliable data service is not supported")
        body.refuse("rdsPort", "reliable data service is not supported")
        body.refuse("websockNotifConfig", "notifications go to notificationDestination only")

    def get_configuration(self, scs: str, config_id: str) -> Reply:
        return Reply(200, self._representation(self._config(scs, config_id)))

    def patch_configuration(self, scs: str, config_id: str, raw: object, now: float) -> Reply:
        config = self._config(scs, config_id)
        body = Body(raw)
        destination = body.link("notificationDestination")
        duration = body.time("duration")
        pdn_option = body.choice("pdnEstablishmentOption", PDN_OPTIONS)
        self._refuse_unsupported(body)
        body.check()
        if destination is not None:
            config.destination = destination
        if "duration" in body.raw:
            config.duration = duration
            self._schedule(config)
        if "pdnEstablishmentOption" in body.raw:
            config.pdn_option = pdn_option or "WAIT_FOR_UE"
        return Reply(200, self._representation(config))

    def delete_configuration(self, scs: str, config_id: str) -> Reply:
        self._remove(self._config(scs, config_id))
        return Reply(204)

    def _remove(self, config: NiddConfig) -> None:
        del self.configs[(config.scs, config.id)]
        del self._by_imsi[config.imsi]
        ue = self.network.ues[config.imsi]
        for delivery in config.deliveries.values():
            ue.cancel_mt(delivery.id)
            self._pending.pop(delivery.id, None)
        self.network.touch(config.imsi)

    # -- downlink data deliveries ---------------------------------------------------------
    def list_deliveries(self, scs: str, config_id: str) -> Reply:
        config = self._config(scs, config_id)
        return Reply(200, [self._transfer(config, d) for d in config.deliveries.values()])

    def _delivery(self, scs: str, config_id: str, delivery_id: str) -> tuple[NiddConfig, Delivery]:
        config = self._config(scs, config_id)
        delivery = config.deliveries.get(delivery_id)
        if delivery is None:
            raise not_found("pending downlink data delivery")
        return config, delivery

    def _read_transfer(
        self, config: NiddConfig, raw: object, *, patch: bool
    ) -> tuple[bytes | None, int | None, int | None, str]:
        body = Body(raw)
        if not patch:
            identity = body.identity()
            if identity is not None and identity != config.identity:
                body.problem(identity[0], "is not the UE of this NIDD configuration")
        data = body.data("data", required=not patch)
        max_latency = body.integer("maximumLatency")
        priority = body.integer("priority", minimum=-(2**31), maximum=2**31 - 1)
        pdn_option = body.choice("pdnEstablishmentOption", PDN_OPTIONS) or config.pdn_option
        body.refuse("reliableDataService", "reliable data service is not supported", unless=False)
        body.refuse("rdsPort", "reliable data service is not supported")
        body.check()
        if data is not None and len(data) > self.network.config.max_packet_size:
            raise T8Error(
                400,
                "Bad Request",
                cause="INVALID_PARAMETERS",
                invalid=[
                    {
                        "param": "/data",
                        "reason": f"{len(data)} octets exceed the maximum packet size "
                        f"({self.max_packet_bits} bits)",
                    }
                ],
            )
        return data, max_latency, priority, pdn_option

    def create_delivery(self, scs: str, config_id: str, raw: object, now: float) -> Reply:
        config = self._config(scs, config_id)
        data, max_latency, priority, pdn_option = self._read_transfer(config, raw, patch=False)
        assert data is not None
        ue = self.network.ues[config.imsi]
        if pdn_option == "INDICATE_ERROR" and ue.reach(now) is Reach.NO_PDN:
            return Reply(
                500,
                {
                    "problemDetail": {
                        "title": "UE not reachable",
                        "status": 500,
                        "cause": "PDN_CONNECTION_NOT_ESTABLISHED",
                        "detail": "no PDN connection, and pdnEstablishmentOption INDICATE_ERROR",
                    }
                },
            )
        delivery_id = f"mt{next(self._ids)}"
        link = f"{config.link}/downlink-data-deliveries/{delivery_id}"
        result = self.network.send_mt(
            config.imsi, delivery_id, data, now, max_latency=max_latency, priority=priority or 0
        )
        delivery = Delivery(delivery_id, data, max_latency, priority, "SUCCESS", link)
        transfer = self._transfer(config, delivery)
        del transfer["self"]
        if result.outcome is MtOutcome.DELIVERED:
            return Reply(200, transfer)
        if result.outcome is MtOutcome.NOT_REACHABLE:
            transfer["deliveryStatus"] = "FAILURE_TEMPORARILY_NOT_REACHABLE"
            if result.retry_at is not None:
                transfer["requestedRetransmissionTime"] = iso_time(result.retry_at)
            return Reply(200, transfer)
        no_pdn = result.reach is Reach.NO_PDN
        delivery.status = "BUFFERING" if no_pdn else "BUFFERING_TEMPORARILY_NOT_REACHABLE"
        config.deliveries[delivery_id] = delivery
        self._pending[delivery_id] = (config, delivery)
        return Reply(201, self._transfer(config, delivery), {"Location": link})

    def get_delivery(self, scs: str, config_id: str, delivery_id: str) -> Reply:
        config, delivery = self._delivery(scs, config_id, delivery_id)
        return Reply(200, self._transfer(config, delivery))

    def update_delivery(
        self, scs: str, config_id: str, delivery_id: str, raw: object, now: float, *, patch: bool
    ) -> Reply:
        """PUT (replace) or PATCH a pending delivery: new data and/or a new maximumLatency,
        counted from now."""
        config, delivery = self._delivery(scs, config_id, delivery_id)
        data, max_latency, priority, _ = self._read_transfer(config, raw, patch=patch)
        if patch and max_latency is None:
            max_latency = delivery.max_latency
        if patch and priority is None:
            priority = delivery.priority
        latency = self.network.config.buffer_time if max_latency is None else max_latency
        ue = self.network.ues[config.imsi]
        ue.replace_mt(delivery_id, data or delivery.data, now + latency, priority or 0)
        self.network.touch(config.imsi)
        delivery.data = data or delivery.data
        delivery.max_latency, delivery.priority = max_latency, priority
        return Reply(200, self._transfer(config, delivery))

    def delete_delivery(self, scs: str, config_id: str, delivery_id: str) -> Reply:
        config, _ = self._delivery(scs, config_id, delivery_id)
        self.network.ues[config.imsi].cancel_mt(delivery_id)
        self.network.touch(config.imsi)
        del config.deliveries[delivery_id]
        del self._pending[delivery_id]
        return Reply(204)

    # -- network events -------------------------------------------------------------------
    def uplink(self, imsi: str, data: bytes) -> None:
        """MO data: NiddUplinkDataNotification to the UE's NIDD configuration (a real SCEF
        drops data of a UE without one, and so do we, counting it)."""
        config = self._by_imsi.get(imsi)
        if config is None:
            self.uplink_without_configuration += 1
        else:
            self.outbox.append(
                Callback(
                    config.destination,
                    {
                        "niddConfiguration": config.link,
                        config.identity[0]: config.identity[1],
                        "data": encode(data),
                    },
                )
            )

    def delivery_ended(self, tag: str, status: str) -> None:
        entry = self._pending.pop(tag, None)
        if entry is None:
            return
        config, delivery = entry
        config.deliveries.pop(delivery.id, None)
        self.outbox.append(
            Callback(
                config.destination,
                {"niddDownlinkDataTransfer": delivery.link, "deliveryStatus": status},
            )
        )

    def _schedule(self, config: NiddConfig) -> None:
        if config.duration is not None:
            heapq.heappush(self._ends, (config.duration, config.scs, config.id))

    def _next_end(self) -> NiddConfig | None:
        """The configuration whose duration ends first (stale heap entries dropped)."""
        while self._ends:
            end, scs, config_id = self._ends[0]
            config = self.configs.get((scs, config_id))
            if config is not None and config.duration == end:
                return config
            heapq.heappop(self._ends)
        return None

    def next_deadline(self) -> float | None:
        config = self._next_end()
        return None if config is None else config.duration

    def advance(self, now: float) -> None:
        while (config := self._next_end()) is not None and (config.duration or now) <= now:
            heapq.heappop(self._ends)  # duration is set: _next_end checked it
            self._remove(config)
            self.outbox.append(
                Callback(
                    config.destination,
                    {
                        "niddConfiguration": config.link,
                        config.identity[0]: config.identity[1],
                        "status": "TERMINATED",
                    },
                )
            )
