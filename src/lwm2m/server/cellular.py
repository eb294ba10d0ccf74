"""The server's carriers that are not sockets, and waking sleeping devices through them.

- NIDD (binding N): a :class:`~lwm2m.transport.nidd.transport.NiddTransport` behind the core,
  its devices configured at a T8 SCEF (docs/nidd.md).
- SMS (binding S): an :class:`~lwm2m.transport.sms.smpp.SmppTransport` bound to an SMSC; a
  device that registers by SMS is an :class:`~lwm2m.transport.sms.binding.SmsPeer` and every
  request to it goes by SMS; a failed delivery report fails the requests in flight to it.
- Waking (docs/sms.md, "Waking"): when a request for a sleeping queue-mode device is queued,
  the :class:`~lwm2m.server.waking.WakePlanner` may send one trigger, a NON Execute of
  /1/x/8: by SMS to its ``sms=`` number, or as a T8 device-triggering transaction to its NIDD
  identity; :meth:`Cellular.wake` sends one on request.  Events: ``wakeTriggered``,
  ``wakeFailed``, ``woken`` (with ``requestQueued`` and ``queueDrained`` from the core).

Both transports join the façade's :class:`~lwm2m.transport.dtls.Channels` as carriers and
report back to the core in a fresh loop step, never from inside a pump.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from lwm2m.coap.events import Peer
from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.errors import UnknownEndpointError
from lwm2m.server.events import (
    Deregistered,
    DeviceWoken,
    Expired,
    QueueDrained,
    Registered,
    RequestQueued,
    ServerEvent,
    Updated,
    WakeFailed,
    WakeTriggered,
)
from lwm2m.server.registration import NiddDeviceStore, Registration
from lwm2m.server.timer_audit import NetworkTimers
from lwm2m.server.waking import (
    WakeChannel,
    WakePlanner,
    WakePolicy,
    WakeRefusedError,
    WakeTarget,
    wake_targets,
)
from lwm2m.transport.dtls import Channels
from lwm2m.transport.nidd import t8
from lwm2m.transport.nidd.callbacks import MAX_BODY, IdleStatus, Reply
from lwm2m.transport.nidd.peer import Delivery, NiddPeer
from lwm2m.transport.nidd.transport import NiddTransport
from lwm2m.transport.sms.binding import SmsPeer, Trigger, trigger_datagram
from lwm2m.transport.sms.smpp import DeliveryReport, SmppTransport
from lwm2m.transport.udp import DatagramCore

logger = logging.getLogger(__name__)

TRIGGERING_ROUTE = "triggering"
"""The T8 notification route of device-triggering delivery reports (``/t8/{token}/...``)."""
UNDELIVERED = frozenset({"FAILURE", "EXPIRED", "REPLACED", "TERMINATE"})
"""DeliveryResult values (TS 29.122 device triggering) that mean the trigger did not arrive."""
MAX_TRANSACTIONS = 1024
"""T8 triggering transactions remembered for their delivery reports; the oldest go first."""

Publish = Callable[[ServerEvent], None]


def is_nidd(peer: Peer) -> bool:
    return isinstance(peer, NiddPeer)


def is_sms(peer: Peer) -> bool:
    return isinstance(peer, SmsPeer)


class Cellular:
    """NIDD, SMS and waking for the façade: ``flush`` sends what the core queued and drains
    its events, ``publish`` hands an event to the façade's subscribers."""

    def __init__(
        self,
        config: ServerConfig,
        core: ServerCore,
        flush: Callable[[], None],
        publish: Publish,
        *,
        nidd_devices: NiddDeviceStore,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._core = core
        self._flush = flush
        self._publish = publish
        self._rng = rng
        self.nidd_devices = nidd_devices
        self.planner = WakePlanner(config.wake)
        self.nidd: NiddTransport | None = None
        self.sms: SmppTransport | None = None
        self._t8: t8.T8Client | None = None
        self._transactions: OrderedDict[str, str] = OrderedDict()  # T8 trigger -> endpoint
        self._tasks: set[asyncio.Task[None]] = set()
        self._now: Callable[[], float] = time.monotonic  # the channels' clock once open

    def _network_timers(self, peer: Peer, idle: IdleStatus, now: float) -> None:
        """The SCEF's idle status report: the timer rules are checked against the grant."""
        timers = NetworkTimers(idle.periodic_tau, idle.active_time, idle.edrx_cycle)
        self._core.network_timers(peer, timers, now)
        self._flush()

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self, net: Channels[DatagramCore]) -> None:
        """Join the configured carriers to ``net``; stored NIDD devices are configured at
        the SCEF and the SMSC is bound in the background."""
        config, core = self._config, self._core
        self._now = net.now
        if config.nidd is not None:
            nidd = NiddTransport(config.nidd, core, self._flush, config.nidd_coap)
            nidd.take = net.add_carrier(is_nidd, nidd.pump)
            nidd.on_timers = self._network_timers
            self.nidd = nidd
            for address in self.nidd_devices.all():
                try:
                    nidd.add(NiddPeer.parse(address))
                except ValueError:
                    logger.warning("stored NIDD device %s is not an address: dropped", address)
                    self.nidd_devices.delete(address)
            settings = config.nidd
            self._t8 = t8.T8Client(
                settings.url,
                settings.scs_as_id,
                token=settings.t8_token,
                timeout=settings.request_timeout,
            )
        if config.sms is not None:
            sms = SmppTransport(
                config.sms, core, self._flush, rng=self._rng, on_report=self._on_sms_report
            )
            sms.take = net.add_carrier(is_sms, sms.pump)
            sms.start()
            self.sms = sms

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        nidd, self.nidd = self.nidd, None
        sms, self.sms = self.sms, None
        client, self._t8 = self._t8, None
        if nidd is not None:
            await nidd.stop()
        if sms is not None:
            await sms.stop()
        if client is not None:
            await client.aclose()

    # -- what the core reports ---------------------------------------------------------------

    def on_event(self, event: ServerEvent) -> None:
        """Trigger for a queued request, note a device that spoke, forget one that left."""
        if isinstance(event, RequestQueued):
            self._on_queued(event.endpoint)
        elif isinstance(event, Registered | Updated):
            self._heard(event.registration.endpoint)
        elif isinstance(event, QueueDrained):
            self._heard(event.endpoint)
        elif isinstance(event, Deregistered | Expired):
            self.planner.forget(event.registration.endpoint)

    def _heard(self, endpoint: str) -> None:
        woken = self.planner.heard(endpoint, self._now())
        if woken is not None:
            self._publish(DeviceWoken(endpoint, woken.target.channel.value, woken.after))

    def _on_queued(self, endpoint: str) -> None:
        registration = self._core.registration(endpoint)
        if registration is None:
            return
        now = self._now()
        try:
            target = self.planner.on_queued(endpoint, self._targets(registration), now)
        except WakeRefusedError as refusal:
            self._publish(WakeFailed(endpoint, None, str(refusal)))
            return
        if target is None:
            return
        self.planner.sent(endpoint, target, now)  # now: a second queued request sees it pending
        if target.channel is WakeChannel.SMS:
            self._send_sms(endpoint, target, "queued")
        else:
            self._spawn(self._send_t8_quietly(endpoint, target))

    # -- waking ------------------------------------------------------------------------------

    def channels(self) -> frozenset[WakeChannel]:
        """The trigger channels this server has."""
        found = set()
        if self.sms is not None:
            found.add(WakeChannel.SMS)
        if self._t8 is not None:
            found.add(WakeChannel.T8)
        return frozenset(found)

    def _targets(self, registration: Registration) -> dict[WakeChannel, WakeTarget]:
        instance = self.planner.policy(registration.endpoint).server_instance
        return wake_targets(registration, self.channels(), instance)

    def _registration(self, endpoint: str) -> Registration:
        registration = self._core.registration(endpoint)
        if registration is None:
            raise UnknownEndpointError(f"no registration for endpoint {endpoint!r:.80}")
        return registration

    def wake_state(self, endpoint: str) -> dict[str, Any]:
        """The device's wake policy, its trigger paths, triggers sent in the last hour and the
        one pending; UnknownEndpointError when it is not registered."""
        registration = self._registration(endpoint)
        planner, now = self.planner, self._now()
        pending = planner.pending(endpoint, now)
        return {
            **planner.policy(endpoint).to_json(),
            "paths": [target.to_json() for target in self._targets(registration).values()],
            "sentLastHour": planner.sent_last_hour(endpoint, now),
            "pending": None if pending is None else pending.to_json(),
        }

    def set_wake_policy(self, endpoint: str, policy: WakePolicy | None) -> None:
        self._registration(endpoint)
        self.planner.set_policy(endpoint, policy)

    async def wake(self, endpoint: str, channel: WakeChannel | None) -> dict[str, Any]:
        """Send one trigger now (any policy mode, within its rate limit): what was sent.
        UnknownEndpointError; WakeRefusedError 409 (no such path, rate limit), 503 (the SMS
        queue is full) or 502 (the SCEF refused it)."""
        registration = self._registration(endpoint)
        now = self._now()
        target = self.planner.choose(endpoint, self._targets(registration), channel, now)
        self.planner.sent(endpoint, target, now)
        if target.channel is WakeChannel.SMS:
            datagram = self._send_sms(endpoint, target, "requested")
            if datagram is None:
                raise WakeRefusedError(503, "the SMS queue is full")
            return {**target.to_json(), "payload": datagram.hex()}
        datagram, link = await self._send_t8(endpoint, target, "requested")
        return {**target.to_json(), "payload": datagram.hex(), "transaction": link}

    def _trigger(self, target: WakeTarget) -> bytes:
        message_id = self._rng.randrange(1 << 16)
        return trigger_datagram(Trigger.REGISTRATION_UPDATE, target.server_instance, message_id)

    def _send_sms(self, endpoint: str, target: WakeTarget, reason: str) -> bytes | None:
        """Queue an SMS trigger; None when the SMS queue refused it (reported as failed)."""
        assert self.sms is not None
        datagram = self._trigger(target)
        if not self.sms.send(datagram, SmsPeer(target.address)):
            return None
        self._publish(WakeTriggered(endpoint, target.channel.value, target.address, reason))
        return datagram

    async def _send_t8(self, endpoint: str, target: WakeTarget, reason: str) -> tuple[bytes, str]:
        """Create a T8 device-triggering transaction; WakeRefusedError 502 when the SCEF
        refuses it or cannot be reached."""
        assert self._t8 is not None and self._config.nidd is not None
        settings, nidd = self._config.wake, self._config.nidd
        datagram = self._trigger(target)
        destination = f"{nidd.callback_url.rstrip('/')}/{nidd.token}/{TRIGGERING_ROUTE}"
        try:
            link = await self._t8.trigger(
                NiddPeer.parse(target.address),
                datagram,
                destination,
                validity=settings.t8_validity,
                application_port=settings.t8_application_port,
            )
        except (t8.T8Error, httpx.HTTPError) as exc:
            self.planner.failed(endpoint)
            self._publish(WakeFailed(endpoint, target.channel.value, str(exc)))
            raise WakeRefusedError(502, f"the SCEF did not take the trigger: {exc}") from None
        self._transactions[link] = endpoint
        while len(self._transactions) > MAX_TRANSACTIONS:
            self._transactions.popitem(last=False)
        self._publish(WakeTriggered(endpoint, target.channel.value, target.address, reason))
        return datagram, link

    async def _send_t8_quietly(self, endpoint: str, target: WakeTarget) -> None:
        with contextlib.suppress(WakeRefusedError):  # published as wakeFailed
            await self._send_t8(endpoint, target, "queued")

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what the carriers report ------------------------------------------------------------

    def _on_sms_report(self, report: DeliveryReport) -> None:
        if report.outcome is Delivery.FAILED:  # from inside a pump, maybe: act in a fresh step
            asyncio.get_running_loop().call_soon(self._sms_failed, report)

    def _sms_failed(self, report: DeliveryReport) -> None:
        """An SMS was not delivered: a pending trigger to that number failed, and the
        requests in flight to a device registered by SMS from it fail now."""
        logger.info("SMS to %s failed: %s", report.peer, report.reason)
        for endpoint in self.planner.pending_to(WakeChannel.SMS, report.peer.msisdn):
            self.planner.failed(endpoint)
            self._publish(WakeFailed(endpoint, WakeChannel.SMS.value, report.reason))
        self._core.delivery_failed(report.peer, f"SMS not delivered: {report.reason}", self._now())
        self._flush()

    def notification(self, method: str, path: str, content_type: str | None, body: bytes) -> Reply:
        """A T8 notification below the callback mount: device-triggering delivery reports
        here, the rest to the NIDD transport."""
        if path.rstrip("/").rsplit("/", 1)[-1] != TRIGGERING_ROUTE:
            if self.nidd is None:
                return _problem(404, "no NIDD")
            return self.nidd.handle(method, path, content_type, body)
        nidd = self._config.nidd
        segments = path.strip("/").split("/")
        if (
            nidd is None
            or len(segments) != 2
            or not hmac.compare_digest(segments[0].encode(), nidd.token.encode())
        ):
            return _problem(404, "no such notification route")
        if method != "POST":
            return _problem(405, "notifications are POSTed")
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            return _problem(415, "send application/json")
        if len(body) > MAX_BODY:
            return _problem(413, f"notifications up to {MAX_BODY} bytes")
        try:
            report = json.loads(body)
        except ValueError:
            return _problem(400, "not JSON")
        link = report.get("transaction") if isinstance(report, dict) else None
        result = report.get("result") if isinstance(report, dict) else None
        if not isinstance(link, str) or not isinstance(result, str):
            return _problem(400, "a delivery report has a transaction and a result")
        endpoint = self._transactions.pop(link, None)
        if endpoint is None:
            return _problem(404, "no such triggering transaction of ours")
        logger.info("T8 trigger to %s: %s", endpoint, result)
        if result in UNDELIVERED and self.planner.failed(endpoint) is not None:
            self._publish(WakeFailed(endpoint, WakeChannel.T8.value, f"trigger {result}"))
        return Reply(204)


def _problem(status: int, detail: str) -> Reply:
    return Reply(status, {"status": status, "detail": detail})


class CellularApi:
    """The façade's NIDD, SMS and waking methods (:class:`~lwm2m.server.server.LwM2MServer`
    inherits them), over its :class:`Cellular`."""

    _cellular: Cellular

    # -- NIDD --------------------------------------------------------------------------------

    @property
    def nidd(self) -> NiddTransport:
        """The NIDD transport; RuntimeError when the server is not started with NIDD."""
        if self._cellular.nidd is None:
            raise RuntimeError("the server has no NIDD (ServerConfig.nidd)")
        return self._cellular.nidd

    def add_nidd_device(self, peer: NiddPeer) -> bool:
        """Reach ``peer`` over NIDD from now on (kept in the store); True if it is new.  Its
        configuration at the SCEF is made in the background (see :meth:`nidd_devices`)."""
        transport = self.nidd
        self._cellular.nidd_devices.put(str(peer))
        return transport.add(peer)

    async def remove_nidd_device(self, peer: NiddPeer) -> bool:
        """Stop reaching ``peer`` over NIDD (its configuration at the SCEF is deleted)."""
        self._cellular.nidd_devices.delete(str(peer))
        return await self.nidd.remove(peer)

    def nidd_devices(self) -> list[dict[str, object]]:
        """Each NIDD device's state: configuration, packet size, last reachability event."""
        return self.nidd.devices()

    def nidd_notification(
        self, method: str, path: str, content_type: str | None, body: bytes
    ) -> Reply:
        """Answer a T8 notification (path below the callback mount: ``/TOKEN/nidd``,
        ``/TOKEN/monitoring``, ``/TOKEN/triggering``)."""
        return self._cellular.notification(method, path, content_type, body)

    # -- SMS and waking (docs/sms.md) --------------------------------------------------------

    @property
    def sms(self) -> SmppTransport:
        """The SMPP transport; RuntimeError when the server is not started with SMS."""
        if self._cellular.sms is None:
            raise RuntimeError("the server has no SMS (ServerConfig.sms)")
        return self._cellular.sms

    async def wake(self, ep: str, channel: WakeChannel | None = None) -> dict[str, object]:
        """Send ``ep`` one trigger now (SMS or T8; ``channel`` None: its policy's); what was
        sent.  WakeRefusedError (with an HTTP ``status``) says why none could be."""
        return await self._cellular.wake(ep, channel)

    def wake_state(self, ep: str) -> dict[str, object]:
        """``ep``'s wake policy, trigger paths, triggers of the last hour, pending trigger."""
        return self._cellular.wake_state(ep)

    def set_wake_policy(self, ep: str, policy: WakePolicy | None) -> None:
        """How ``ep`` is woken from now on (None: the default, ``config.wake.default``)."""
        self._cellular.set_wake_policy(ep, policy)
