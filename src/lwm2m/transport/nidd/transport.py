"""Drive the server core over T8: one NIDD configuration and two monitoring subscriptions per
device, downlink datagrams as delivery requests, the SCEF's notifications fed back.

The core sends to :class:`~lwm2m.transport.nidd.peer.NiddPeer` peers like to any other; the
server's :class:`~lwm2m.transport.dtls.Channels` hands those datagrams to :meth:`pump`.  What
the SCEF says goes back to the core (:class:`NiddCore`) in a fresh loop step, never from
inside a pump: MO data as ``receive``, a failed delivery as ``delivery_failed`` (the requests
in flight to the device fail with the cause, at once), reachability as ``peer_reachable``
(what the server queued goes out) and loss of connectivity, or data the SCEF had to buffer,
as ``peer_unreachable`` (the server's queue holds the next requests: one buffer per request,
never the SCEF's and ours both).

A confirmable message the SCEF holds (BUFFERING...), or whose delivery request is still on its
way, is *held*: CoAP retransmissions of it are not sent again.  It stays held until the SCEF
reports delivery or failure, or until the CoAP layer would give up on it (MAX_TRANSMIT_WAIT of
the NIDD transmission parameters, which is also the ``maximumLatency`` the SCEF is given, so
the network never delivers what the server no longer waits for).  docs/nidd.md has the whole
design.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import httpx

from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.events import Peer
from lwm2m.transport.nidd.callbacks import (
    IdleStatus,
    MonitoringReport,
    Reply,
    handle_notification,
)
from lwm2m.transport.nidd.peer import Delivery, NiddPeer, classify
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.transport.nidd.t8 import NiddConfiguration, T8Client, T8Error, iso_time

logger = logging.getLogger(__name__)

MONITORING_TYPES = ("UE_REACHABILITY", "LOSS_OF_CONNECTIVITY")
RENEW_AT = 0.8
"""Renew a configuration once this share of its duration has passed."""
RETRY_AFTER = 30.0
"""Seconds before configuring a device again after the SCEF could not be reached."""
MAX_HELD = 32
"""Confirmable messages held per device; NSTART is 1, so more means exchanges that ended."""
COAP_OVERHEAD = 64
"""Bytes of CoAP header and options a block travels with (for the block-size check)."""


class NiddCore(Protocol):
    """What the transport needs of the server core."""

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...

    def delivery_failed(self, peer: Peer, reason: str, now: float) -> None: ...

    def peer_reachable(self, peer: Peer, now: float) -> None: ...

    def peer_unreachable(self, peer: Peer, now: float) -> None: ...


class _Held:
    __slots__ = ("data", "give_up", "link", "retry")

    def __init__(self, data: bytes, give_up: float) -> None:
        self.data = data
        self.give_up = give_up  # loop time the CoAP layer stops waiting for it
        self.link: str | None = None  # the SCEF's delivery resource while it buffers
        self.retry: asyncio.TimerHandle | None = None


class _Device:
    __slots__ = (
        "config",
        "granted",
        "held",
        "idle_status",
        "lock",
        "peer",
        "reachability",
        "renewal",
        "status",
        "subs",
    )

    def __init__(self, peer: NiddPeer) -> None:
        self.peer = peer
        self.config: NiddConfiguration | None = None
        self.subs: dict[str, str] = {}  # monitoring type -> subscription id
        self.held: dict[int, _Held] = {}  # by CoAP message ID
        self.lock = asyncio.Lock()  # one delivery request at a time, in order
        self.reachability: dict[str, Any] | None = None
        self.renewal: asyncio.TimerHandle | None = None
        self.status = "configuring"
        self.idle_status = True  # asked for idle status reports until the SCEF refuses them
        self.granted: IdleStatus | None = None  # the timers of the last idle status report


def _header(data: bytes) -> tuple[bool, bool, int]:
    """(confirmable, request, message ID) of a CoAP datagram."""
    if len(data) < 4:
        return False, False, -1
    return (data[0] >> 4) & 3 == 0, 1 <= data[1] <= 31, int.from_bytes(data[2:4], "big")


class NiddTransport:
    """``core`` behind the SCEF at ``settings.url``; ``flush`` sends what the core queued and
    drains its events (the server's); ``coap`` is the NIDD endpoint's transmission
    parameters.  :attr:`take` is set by the owner to the function returning the core's
    datagrams for NIDD peers."""

    def __init__(
        self,
        settings: NiddSettings,
        core: NiddCore,
        flush: Callable[[], None],
        coap: EndpointConfig,
        *,
        client: T8Client | None = None,
    ) -> None:
        self.settings = settings
        self._core = core
        self._flush = flush
        self._coap = coap
        self._client = client or T8Client(
            settings.url,
            settings.scs_as_id,
            token=settings.t8_token,
            timeout=settings.request_timeout,
        )
        self._loop = asyncio.get_running_loop()
        self._flush_pending = False
        self._devices: dict[NiddPeer, _Device] = {}
        self._transfers: dict[str, tuple[_Device, int]] = {}  # delivery link -> held message
        self._tasks: set[asyncio.Task[None]] = set()
        self.take: Callable[[], list[tuple[bytes, Peer]]] = list
        self.on_timers: Callable[[NiddPeer, IdleStatus, float], None] | None = None
        """Set by the owner: the timers an idle status report says the network granted
        (the server core's ``network_timers``, for the timer-rule audit)."""
        self.max_latency = int(coap.max_transmit_wait)

    # -- devices -----------------------------------------------------------------------------

    async def start(self, peers: Iterable[NiddPeer]) -> None:
        """Configure the given devices (in the background: the SCEF may be slow or down)."""
        for peer in peers:
            self.add(peer)

    def add(self, peer: NiddPeer) -> bool:
        """Serve ``peer`` (configure it at the SCEF); False if it is served already."""
        if peer in self._devices:
            return False
        device = self._devices[peer] = _Device(peer)
        self._spawn(self._configure(device))
        return True

    async def remove(self, peer: NiddPeer) -> bool:
        """Stop serving ``peer``: its configuration and subscriptions are deleted."""
        device = self._devices.pop(peer, None)
        if device is None:
            return False
        await self._release(device)
        return True

    async def stop(self) -> None:
        """Delete every configuration and subscription (best effort), then close."""
        for task in list(self._tasks):
            task.cancel()
        devices, self._devices = list(self._devices.values()), {}
        with contextlib.suppress(Exception):
            await asyncio.gather(*(self._release(device) for device in devices))
        await self._client.aclose()

    def devices(self) -> list[dict[str, Any]]:
        return [self.describe(peer) for peer in self._devices]

    def describe(self, peer: NiddPeer) -> dict[str, Any]:
        """A device's NIDD state for the REST API; KeyError if it is not served."""
        device = self._devices[peer]
        config = device.config
        return {
            **peer.to_json(),
            "address": str(peer),
            "status": device.status,
            "configuration": None if config is None else config.id,
            "maximumPacketSize": (
                None if config is None or config.max_packet_bytes is None
                else config.max_packet_bytes * 8
            ),
            "held": len(device.held),
            "reachability": device.reachability,
            "granted": None if device.granted is None else {
                "periodicTau": device.granted.periodic_tau,
                "activeTime": device.granted.active_time,
                "edrxCycle": device.granted.edrx_cycle,
            },
        }  # fmt: skip

    def serves(self, peer: Peer) -> bool:
        return peer in self._devices

    async def _configure(self, device: _Device) -> None:
        settings, client, peer = self.settings, self._client, device.peer
        expires = time.time() + settings.duration
        try:
            try:
                config = await client.create_configuration(
                    peer, settings.notification_url, expires, settings.pdn_establishment_option
                )
            except T8Error as exc:
                if exc.cause != "NIDD_CONFIGURATION_EXISTS":
                    raise
                await self._drop_stale(peer)  # left by a run that could not delete it
                config = await client.create_configuration(
                    peer, settings.notification_url, expires, settings.pdn_establishment_option
                )
            device.config = config
            for kind in MONITORING_TYPES:
                device.subs[kind] = await self._subscribe(device, kind, expires)
        except (T8Error, httpx.HTTPError) as exc:
            device.status = f"error: {exc}"
            logger.warning("NIDD configuration of %s failed: %s", peer, exc)
            self._schedule_renewal(device, RETRY_AFTER, self._configure)
            return
        device.status = "active"
        self._check_block_size(device, config)
        self._schedule_renewal(device, RENEW_AT * settings.duration, self._renew)

    async def _subscribe(self, device: _Device, kind: str, expires: float) -> str:
        """Subscribe; UE_REACHABILITY with idle status reports, or without them when the SCEF
        refuses those (an optional feature of TS 29.122)."""
        url, peer = self.settings.monitoring_url, device.peer
        idle = device.idle_status and kind == "UE_REACHABILITY"
        try:
            return await self._client.subscribe(peer, kind, url, expires, idle_status=idle)
        except T8Error as exc:
            if not idle or exc.status != 400:
                raise
        logger.info(
            "%s: the SCEF refuses idle status reports; the granted timers stay unknown", peer
        )
        device.idle_status = False
        return await self._client.subscribe(peer, kind, url, expires)

    async def _drop_stale(self, peer: NiddPeer) -> None:
        for config_id in await self._client.configurations_of(peer):
            await self._client.delete_configuration(config_id)

    async def _renew(self, device: _Device) -> None:
        settings, client, peer, config = self.settings, self._client, device.peer, device.config
        if config is None:
            await self._configure(device)
            return
        expires = time.time() + settings.duration
        try:
            device.config = await client.renew_configuration(config.id, expires)
            for kind, sub_id in device.subs.items():
                await client.renew_subscription(
                    sub_id,
                    peer,
                    kind,
                    settings.monitoring_url,
                    expires,
                    idle_status=device.idle_status and kind == "UE_REACHABILITY",
                )
        except T8Error as exc:  # gone at the SCEF: start over
            logger.warning("NIDD renewal of %s refused (%s): configuring again", peer, exc)
            device.config = None
            await self._release(device)
            await self._configure(device)
            return
        except httpx.HTTPError as exc:
            logger.warning("NIDD renewal of %s failed: %s", peer, exc)
            self._schedule_renewal(device, RETRY_AFTER, self._renew)
            return
        self._schedule_renewal(device, RENEW_AT * settings.duration, self._renew)

    def _schedule_renewal(
        self, device: _Device, delay: float, step: Callable[[_Device], Any]
    ) -> None:
        if self._devices.get(device.peer) is not device:
            return  # removed meanwhile
        device.renewal = self._loop.call_later(delay, lambda: self._spawn(step(device)))

    async def _release(self, device: _Device) -> None:
        if device.renewal is not None:
            device.renewal.cancel()
        for held in device.held.values():
            if held.retry is not None:
                held.retry.cancel()
        client, subs, config = self._client, device.subs, device.config
        device.subs, device.config = {}, None
        with contextlib.suppress(T8Error, httpx.HTTPError):
            for sub_id in subs.values():
                await client.unsubscribe(sub_id)
            if config is not None:
                await client.delete_configuration(config.id)

    def _check_block_size(self, device: _Device, config: NiddConfiguration) -> None:
        block = 16 << self._coap.preferred_block_szx
        if config.max_packet_bytes is not None and block + COAP_OVERHEAD > config.max_packet_bytes:
            logger.warning(
                "%s: the SCEF's maximum packet size is %d octets, too small for %d-byte blocks; "
                "larger messages to it fail (lower the NIDD preferred_block_szx)",
                device.peer,
                config.max_packet_bytes,
                block,
            )

    def _spawn(self, work: Any) -> None:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- downlink ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Send what the core queued for NIDD peers (the owner's channels call this)."""
        for data, peer in self.take():
            self._send(data, peer)

    def _send(self, data: bytes, peer: Peer) -> None:
        device = self._devices.get(peer) if isinstance(peer, NiddPeer) else None
        confirmable, _, mid = _header(data)
        config = None if device is None else device.config
        if device is None or config is None:
            self._later(self._lost, peer, data, f"{peer} has no active NIDD configuration")
            return
        if config.max_packet_bytes is not None and len(data) > config.max_packet_bytes:
            reason = f"{len(data)} octets exceed the NIDD maximum packet size of {peer}"
            self._later(self._lost, peer, data, f"{reason} ({config.max_packet_bytes})")
            return
        now = self._loop.time()
        if confirmable:
            held = device.held
            if mid in held:
                if held[mid].give_up > now:
                    return  # a CoAP retransmission of what the SCEF holds: not again
                self._forget(device, mid)
            if len(held) >= MAX_HELD:
                self._forget(device, min(held, key=lambda m: held[m].give_up))
            held[mid] = _Held(data, now + self._coap.max_transmit_wait)
        self._spawn(self._deliver(device, data, mid if confirmable else None))

    async def _deliver(self, device: _Device, data: bytes, mid: int | None) -> None:
        config = device.config
        async with device.lock:
            if config is None or self._devices.get(device.peer) is not device:
                self._outcome(device, mid, data, "FAILURE")
                return
            try:
                report = await self._client.send_data(
                    config.id,
                    device.peer,
                    data,
                    maximum_latency=self.max_latency,
                    priority=self.settings.priority,
                )
            except T8Error as exc:
                self._outcome(device, mid, data, f"FAILURE ({exc})")
                return
            except httpx.HTTPError as exc:
                self._outcome(device, mid, data, f"FAILURE (SCEF unreachable: {exc})")
                return
        self._outcome(device, mid, data, report.status, link=report.link, retry_at=report.retry_at)

    def _outcome(
        self,
        device: _Device,
        mid: int | None,
        data: bytes,
        status: str,
        *,
        link: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Apply a DeliveryStatus (from the answer or a notification) to a datagram."""
        outcome = classify(status)
        held = None if mid is None else device.held.get(mid)
        peer = device.peer
        if outcome is Delivery.DELIVERED:
            self._forget(device, mid)
            return
        now = self._loop.time()
        if outcome is Delivery.HELD:
            if held is not None and mid is not None and link is not None:
                held.link = link
                self._transfers[link] = (device, mid)
            self._core.peer_unreachable(peer, now)  # our queue holds what comes next
            self._flush()
            return
        if held is not None and retry_at is not None:
            delay = retry_at - time.time()
            if now + delay < held.give_up:  # FAILURE_TEMPORARILY_NOT_REACHABLE: retry then
                held.retry = self._loop.call_later(
                    max(0.0, delay), lambda: self._spawn(self._deliver(device, data, mid))
                )
                self._core.peer_unreachable(peer, now)
                self._flush()
                return
        self._forget(device, mid)
        self._lost(peer, data, f"NIDD delivery to {peer} failed: {status}")

    def _forget(self, device: _Device, mid: int | None) -> None:
        held = None if mid is None else device.held.pop(mid, None)
        if held is not None:
            if held.retry is not None:
                held.retry.cancel()
            if held.link is not None:
                self._transfers.pop(held.link, None)

    def _lost(self, peer: Peer, data: bytes, reason: str) -> None:
        """A datagram that will not arrive: a request fails now; a response or empty message
        is left to the device's retransmission."""
        confirmable, request, _ = _header(data)
        logger.info("%s", reason)
        if request and confirmable:
            self._core.delivery_failed(peer, reason, self._loop.time())
            self._flush()

    def _later(self, step: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon(step, *args)

    # -- notifications (NotificationSink) ----------------------------------------------------

    def handle(self, method: str, path: str, content_type: str | None, body: bytes) -> Reply:
        """Answer a callback request (path below the mount point, e.g. ``/TOKEN/nidd``)."""
        return handle_notification(
            self,
            self.settings.token,
            method=method,
            path=path,
            content_type=content_type,
            body=body,
        )

    def _ours(self, configuration: str, peer: NiddPeer) -> _Device | None:
        device = self._devices.get(peer)
        config = None if device is None else device.config
        if config is None or configuration.rstrip("/").rsplit("/", 1)[-1] != config.id:
            return None
        return device

    def on_uplink(self, configuration: str, peer: NiddPeer, data: bytes) -> bool:
        device = self._ours(configuration, peer)
        if device is None:
            return False
        self._core.receive(data, peer, self._loop.time())
        if not self._flush_pending:  # one flush for every uplink of this turn of the loop
            self._flush_pending = True
            self._loop.call_soon(self._flush_uplinks)
        return True

    def _flush_uplinks(self) -> None:
        self._flush_pending = False
        self._flush()

    def on_delivery_status(self, transfer: str, status: str, retry_at: float | None) -> bool:
        entry = self._transfers.pop(transfer, None)
        if entry is None:
            return False
        device, mid = entry
        held = device.held.get(mid)
        if held is not None:
            held.link = None
            self._outcome(device, mid, held.data, status, link=None, retry_at=retry_at)
        return True

    def on_configuration_status(self, configuration: str, peer: NiddPeer, status: str) -> bool:
        device = self._ours(configuration, peer)
        if device is None:
            # the SCEF's ACTIVE can overtake its answer to our POST: nothing to learn from it
            configuring = self._devices.get(peer)
            return status == "ACTIVE" and configuring is not None and configuring.config is None
        if status == "TERMINATED":  # the SCEF ended it (duration, operator): configure again
            logger.warning("NIDD configuration of %s terminated by the SCEF", peer)
            device.config, device.status = None, "terminated"
            if device.renewal is not None:
                device.renewal.cancel()
            self._schedule_renewal(device, 0.0, self._renew)
        return True

    def on_monitoring(self, subscription: str, reports: list[MonitoringReport]) -> bool:
        sub_id = subscription.rstrip("/").rsplit("/", 1)[-1]
        devices = [self._devices.get(report.peer) for report in reports]
        if not reports or any(d is None or sub_id not in d.subs.values() for d in devices):
            return False
        now = self._loop.time()
        for report, device in zip(reports, devices, strict=True):
            assert device is not None
            if report.idle is not None:  # went idle (PSM granted): its timers, no reachability
                device.granted = report.idle
                if self.on_timers is not None:
                    self.on_timers(report.peer, report.idle, now)
                continue
            event: dict[str, Any] = {"event": report.kind}
            event["time"] = iso_time(report.time if report.time is not None else time.time())
            if report.until is not None:
                event["until"] = iso_time(report.until)
            device.reachability = event
            if report.kind == "UE_REACHABILITY":
                self._core.peer_reachable(report.peer, now)
            elif report.kind == "LOSS_OF_CONNECTIVITY":
                self._core.peer_unreachable(report.peer, now)
        self._flush()
        return True
