"""The asyncio façade of the client: its sockets, the wall clock and the simulator's ticks.

All protocol logic is in :class:`~lwm2m.client.engine.ClientEngine`;
:class:`~lwm2m.transport.dtls.Channels` moves its datagrams (NoSec on one socket, DTLS on
another, the engine seeing DTLS servers as :class:`~lwm2m.transport.dtls.DtlsPeer`) and keeps
its timer, and this module turns the engine's events into awaitable results.  The wall clock is
read once, at :meth:`LwM2MClient.start`, to anchor the loop's monotonic clock to Unix time (what
the engine's ``now`` is).

DTLS: a ``coaps://`` account authenticates with the PSK of its Security instance (/0/x/2
mode 0, /0/x/3 identity, /0/x/5 key), read whenever the account is resolved, so keys a
bootstrap server writes are used from then on.  A handshake that fails or times out fails the
request it carried (the registration backs off: no handshake storm), and a request that goes
unanswered over DTLS closes the session, so the next one starts with a fresh handshake.

TCP and TLS: a server's connection is opened when a request first needs it and Pinged after
``tcp.ping_interval`` of silence, so a NAT keeps its mapping; an unanswered Ping closes it and
the client Updates over a new one.  Connection attempts to a server that keeps failing are
spaced by the registration back-off (``ClientConfig.retry_base``/``retry_cap``, jittered),
however many requests ask for them, and the first success resets it.

NIDD (``nidd``, a :class:`~lwm2m.client.nidd.NiddLink` already attached): every server account
is the one SCS/AS behind the network (:data:`~lwm2m.client.nidd.NIDD_SERVER`), datagrams go
through :class:`~lwm2m.transport.modem.nidd.NiddTransport`, blocks are sized to fit the
network's maximum packet size and notifications keep its APN rate control
(:mod:`lwm2m.client.ratecontrol`); the modem's reports are read again every
``tick_interval`` while the device is awake.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import cast

from lwm2m.client.carriers import CarrierPort, CarrierSet
from lwm2m.client.cellular import fitting_block_szx
from lwm2m.client.engine import (
    DEFAULT_CONFIG,
    ClientConfig,
    ClientEngine,
    ClientError,
    ClientEvent,
    CoapEndpoint,
    SendCompleted,
    ServerSilent,
    Stopped,
)
from lwm2m.client.nidd import NIDD_SERVER, NiddLink
from lwm2m.client.objects import DeviceEvent
from lwm2m.client.oscore import OscoreAccounts
from lwm2m.client.ratecontrol import RateControlledEndpoint, UplinkLimit
from lwm2m.client.registration import backoff_delay
from lwm2m.client.routing import ClientRouter, uses_tcp
from lwm2m.client.simulator import DeviceSimulator
from lwm2m.client.sms import SmsLink, SmsPort
from lwm2m.client.streams import EngineStreams, StreamLinks
from lwm2m.client.tree import OSCORE, ObjectTree
from lwm2m.client.wire import Carrier, ClientWire
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import DEFAULT, SMS, EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import MessageFormatError
from lwm2m.coap.events import Peer as AnyPeer
from lwm2m.coap.message import Message
from lwm2m.coap.stream import StreamConfig, StreamEndpoint
from lwm2m.model import Path
from lwm2m.security.dtls import DtlsClient, DtlsConfig, DtlsEvent, EndReason, SessionEnded
from lwm2m.security.oscore import SequenceStore
from lwm2m.security.oscore_endpoint import OscoreEndpoint
from lwm2m.transport.dtls import Channels, DtlsPeer, open_channels
from lwm2m.transport.modem.commands import Rai
from lwm2m.transport.modem.errors import ModemError
from lwm2m.transport.modem.nidd import NiddTransport
from lwm2m.transport.modem.sms import SmsTransport
from lwm2m.transport.modem.status import release_assistance
from lwm2m.transport.sms.binding import LWM2M_TRIGGER_PORT, SmsInbox, SmsPeer
from lwm2m.transport.tcp import StreamTransport

log = logging.getLogger(__name__)

Peer = tuple[str, int]

NBIOT_DTLS = DtlsConfig(
    handshake_timeout_min=10.0, handshake_timeout_max=60.0, handshake_lifetime=240.0
)
"""Handshake timers for NB-IoT, whose round trips take seconds (up to 10 s in coverage
enhancement): RFC 6347's 1 s initial timer would resend every flight before its answer could
arrive, spending airtime and battery; four minutes leave room for a few lost flights."""

NBIOT_TCP = StreamConfig(ping_interval=240.0, pong_timeout=30.0)
"""CoAP over TCP for cellular devices: carrier NATs drop idle TCP mappings after minutes (often
five), so a connection silent for four is Pinged; 30 s covers an NB-IoT round trip in coverage
enhancement.  A queue-mode device that would rather sleep than stay reachable sets
``ping_interval=None`` (each Ping wakes its radio)."""


class LwM2MClient:
    """A device: ``await client.start()`` registers, ``await client.stop()`` de-registers.

    It holds the transports it is given, at once: UDP (and DTLS; ``udp``, the default without
    ``nidd`` and ``sms``), NIDD (``nidd``, an attached :class:`NiddLink`) and SMS (``sms``,
    an :class:`SmsLink`), or CoAP over TCP/TLS alone (``coap+tcp://`` servers).  Each server
    account is served over one of them (:mod:`lwm2m.client.transports`); ``servers``
    overrides the UDP address of a Short Server ID (otherwise the Security object's Server
    URI, ``coap://`` with an IP address, is used).  ``on_event`` sees every
    :data:`~lwm2m.client.engine.ClientEvent`.
    """

    def __init__(
        self,
        tree: ObjectTree,
        endpoint_name: str,
        *,
        servers: Mapping[int, Peer] | None = None,
        local_address: Peer = ("0.0.0.0", 0),
        config: ClientConfig = DEFAULT_CONFIG,
        coap: EndpointConfig = DEFAULT,
        simulator: DeviceSimulator | None = None,
        tick_interval: float = 10.0,
        seed: int | None = None,
        on_event: Callable[[ClientEvent], None] | None = None,
        dtls: DtlsConfig = NBIOT_DTLS,
        oscore_sequences: Callable[[int], SequenceStore] | None = None,
        tcp: StreamConfig = NBIOT_TCP,
        nidd: NiddLink | None = None,
        sms: SmsLink | None = None,
        sms_coap: EndpointConfig = SMS,
        udp: bool | None = None,
    ) -> None:
        self.tree = tree
        self.endpoint_name = endpoint_name
        self._local_address = local_address
        self._simulator = simulator
        self._tick_interval = tick_interval
        self._on_event = on_event
        rng = random.Random(seed)
        self._nidd = nidd
        self._sms = sms
        self._dtls = DtlsClient(None, dtls)
        held = _held(tree, nidd, sms, nidd is None and sms is None if udp is None else udp)
        # OSCORE (client/oscore.py) for the accounts whose Security instance links /21/y, on
        # any device with the OSCORE object: a bootstrap server may provision a context later.
        self.oscore: OscoreAccounts | None = None
        if "T" not in held and (oscore_sequences is not None or OSCORE in tree):
            self.oscore = OscoreAccounts(tree, oscore_sequences)
        self.router = ClientRouter(
            tree,
            held,
            servers=servers or {},
            dtls=self._dtls,
            oscore=self.oscore,
            msisdn=None if sms is None else sms.number,
        )
        self._links: StreamLinks | None = None
        self._limited: RateControlledEndpoint | None = None
        endpoint: CoapEndpoint
        if "T" in held:
            stream = StreamEndpoint(tcp, rng=random.Random(rng.getrandbits(64)))
            jitter = random.Random(rng.getrandbits(64))

            def retry(failed: int) -> float:
                return backoff_delay(failed, config.retry_base, config.retry_cap, jitter)

            endpoint = self._links = StreamLinks(coap, stream, self._want, retry)
        else:
            endpoint = self._wire = ClientWire(self._carriers(held, coap, sms_coap, rng))
        self.engine = ClientEngine(
            tree,
            endpoint_name,
            rng=rng,
            config=config,
            coap=coap,
            resolve=self.router.resolve,
            endpoint=endpoint,
            router=self.router,
        )
        self._tcp: StreamTransport[EngineStreams] | None = None
        self._connecting: dict[AnyPeer, asyncio.Task[None]] = {}
        self._offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._set: CarrierSet | None = None
        self._udp: Channels[CarrierPort] | None = None
        self._nidd_transport: NiddTransport[CarrierPort] | None = None
        self._sms_transport: SmsTransport[CarrierPort] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._sends: dict[int, asyncio.Future[Code | None]] = {}
        self._stopped: asyncio.Event = asyncio.Event()
        self._wake: asyncio.Handle | None = None
        tree.subscribe(self._on_tree_event)

    def _carriers(
        self, held: str, coap: EndpointConfig, sms_coap: EndpointConfig, rng: random.Random
    ) -> list[Carrier]:
        """One endpoint per transport held: its own CoAP parameters (NIDD: blocks fitting
        the packet limit, behind the APN rate control; SMS: no retransmission)."""

        def endpoint(config: EndpointConfig) -> CoapEndpoint:
            seeded = random.Random(rng.getrandbits(64))
            if self.oscore is None:
                return Endpoint(config, seeded)
            return OscoreEndpoint(config, seeded, self.oscore)

        carriers = []
        if "U" in held:
            carriers.append(Carrier("U", _is_udp, endpoint(coap)))
        if self._nidd is not None:
            szx = fitting_block_szx(self._nidd.max_packet_size, self.endpoint_name)
            nidd_coap = replace(coap, preferred_block_szx=min(coap.preferred_block_szx, szx))
            limited = RateControlledEndpoint(endpoint(nidd_coap), self._nidd.uplink_limit)
            carriers.append(Carrier("N", _is_nidd, limited))
            self._limited = limited
        if self._sms is not None:
            carriers.append(Carrier("S", _is_sms, endpoint(sms_coap)))
        return carriers

    def _want(self, address: AnyPeer) -> None:
        """The engine has a request for a server we have no connection to: connect."""
        if self._tcp is not None and address not in self._connecting:
            task = asyncio.get_running_loop().create_task(self._connect(address))
            self._connecting[address] = task

    async def _connect(self, address: AnyPeer) -> None:
        """Connect, once the back-off of earlier failures allows; requests wait meanwhile."""
        assert self._tcp is not None and self._links is not None
        try:
            if (delay := self._links.connect_at(address) - self.now) > 0:
                await asyncio.sleep(delay)
            tls = self.router.tls.get(address)
            peer = await self._tcp.connect(cast(Peer, address), tls)
        except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
            failed = self._links.connect_failed(address, self.now)
            log.warning("cannot connect to %s (%d in a row): %s", address, failed, exc)
        else:
            self._links.connected(address, peer, self.now)
        finally:
            self._connecting.pop(address, None)
        self.engine.handle_timer(self.now)
        self._pump()

    def _lost(self, address: AnyPeer) -> None:
        """A server's connection closed under us: Update over a new one (the Update connects;
        if that fails the engine backs off and registers again)."""
        if self._tcp is None or self.engine.asleep:
            return
        for ssid, reg in self.engine.registrations.items():
            if reg.peer == address and reg.online:
                self.engine.trigger_update(self.now, ssid)
        self._pump()

    @property
    def now(self) -> float:
        """Seconds since the Unix epoch, on the loop's monotonic clock."""
        assert self._loop is not None
        return self._loop.time() + self._offset

    @property
    def local_address(self) -> Peer:
        """The NoSec socket's address."""
        assert self._udp is not None
        return self._udp.plain.local_address

    @property
    def transports(self) -> str:
        """The letters of the transports this client holds (``UN``: UDP and Non-IP)."""
        return self.router.held

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._stopped.clear()  # started again after a stop (a reboot)
        self._offset = time.time() - loop.time()
        if self._links is not None:

            def on_lost(address: AnyPeer) -> None:
                loop.call_soon(self._lost, address)  # not from inside the engine's own step

            self._links.on_lost = on_lost
            streams = EngineStreams(self.engine, self._links)
            self._tcp = StreamTransport(streams, self._drain, lambda: self.now)
            self._begin()
            return
        carriers = self._set = CarrierSet(self.engine, self._wire, self._drain, lambda: self.now)
        transports = {carrier.transport for carrier in self._wire.carriers}
        if "U" in transports:
            port = carriers.port("U", reachable=False)
            self._udp = await open_channels(
                port,
                self._drain,
                self._local_address,
                dtls=self._dtls,
                clock=lambda: self.now,
                on_session=self._on_session,
            )
            carriers.attach(port, self._udp.pump)
        if self._nidd is not None:
            self._start_nidd(self._nidd, carriers.port("N", reachable=True))
        if self._sms is not None:
            await self._start_sms(self._sms, carriers.port("S", reachable=True, kind=SmsPort))
        self._begin()

    def _begin(self) -> None:
        self.engine.start(self.now)
        self._pump()
        if self._simulator is not None:
            self._ticker = asyncio.create_task(self._tick())

    def _start_nidd(self, link: NiddLink, port: CarrierPort) -> None:
        assert self._set is not None
        self._nidd_transport = NiddTransport(
            port,
            self._drain,
            link.modem.channel,
            NIDD_SERVER,
            cid=link.cid,
            max_packet_size=link.max_packet_size,
            clock=lambda: self.now,
            rai=self._release_assistance,
        )
        self._set.attach(port, self._nidd_transport.pump)
        link.clock = lambda: self.now
        link.on_limit = self._rate_control_changed
        link.on_psm = self._psm_granted
        link.tell_psm()
        self._refresher = asyncio.create_task(self._refresh(link))

    def _psm_granted(self, t3412: int | None) -> None:
        """The network's PSM grant (``+CEREG``) bounds the registration lifetime."""
        self.engine.psm_granted(t3412, self.now)
        self._pump()

    def _release_assistance(self, datagram: bytes, more_queued: bool) -> Rai:
        """A queue-mode client's Register or Update is followed by the server's queued
        requests: RAI 0 keeps the connection for them (docs/modem.md), where "one reply
        expected" would have the network release it after the ACK."""
        if self.engine.queue_mode and is_registration(datagram):
            return Rai.NO_INFORMATION
        return release_assistance(datagram, more_queued=more_queued)

    async def _start_sms(self, link: SmsLink, port: CarrierPort) -> None:
        assert self._set is not None
        transport = self._sms_transport = SmsTransport(
            port,
            self._drain,
            link.modem.channel,
            clock=lambda: self.now,
            inbox=SmsInbox(trigger_ports=(LWM2M_TRIGGER_PORT,)),  # T8 device triggers
        )
        await transport.setup()
        self._set.attach(port, transport.pump)

    def _rate_control_changed(self, limit: UplinkLimit | None) -> None:
        if self._limited is not None and self._running:
            self._limited.set_limit(limit, self.now)
            self._pump()

    async def _refresh(self, link: NiddLink) -> None:
        """Read the modem's reports again while awake (signal, cell, grants: /4, /10)."""
        while True:
            await asyncio.sleep(self._tick_interval)
            if not self.engine.asleep:
                try:
                    await link.refresh()
                except ModemError as error:
                    log.warning("modem refresh: %s", error)

    async def stop(self, timeout: float = 10.0) -> None:
        """De-register from every server (waiting at most ``timeout``), then close."""
        if not self._running:
            return
        for task in (self._ticker, self._refresher):
            if task is not None:
                task.cancel()
        self.engine.stop(self.now)
        self._pump()
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout)
        except TimeoutError:
            log.warning("de-registration did not finish within %.0f s", timeout)
        self._close()

    async def reboot(self, apply: Callable[[], None] | None = None) -> None:
        """Restart like the device: de-register and close, ``apply`` what the restart changes
        (a new firmware's version), then open new sockets and register anew."""
        await self.stop()
        if apply is not None:
            apply()
        await self.start()

    async def send(self, paths: Iterable[Path | str]) -> list[Code | None]:
        """Send the values at ``paths``; the servers' answers (None: no answer)."""
        parsed = [p if isinstance(p, Path) else Path.parse(p) for p in paths]
        assert self._loop is not None
        send_ids = self.engine.send(parsed, self.now)
        futures = []
        for send_id in send_ids:
            future: asyncio.Future[Code | None] = self._loop.create_future()
            self._sends[send_id] = future
            futures.append(future)
        self._pump()
        return list(await asyncio.gather(*futures))

    def trigger_update(self, server_id: int | None = None) -> None:
        self.engine.trigger_update(self.now, server_id)
        self._pump()

    # -- driving -------------------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        return self._set is not None or self._tcp is not None

    def _pump(self) -> None:
        if self._set is not None:
            self._set.pump()
        if self._tcp is not None:
            self._tcp.pump()

    def _drain(self) -> None:
        while (event := self.engine.next_event()) is not None:
            self._dispatch(event)

    def _on_session(self, event: DtlsEvent) -> None:
        if isinstance(event, SessionEnded) and event.reason in (
            EndReason.FAILED,
            EndReason.TIMEOUT,
        ):
            log.warning("DTLS handshake with %s failed: %s", event.peer, event.detail)
            self.engine.unreachable(event.peer, self.now)

    def _dispatch(self, event: ClientEvent) -> None:
        log.info("%s", event)
        if isinstance(event, ServerSilent):
            if isinstance(event.peer, DtlsPeer) and self._udp is not None:
                self._udp.close_session(event.peer)
        elif isinstance(event, SendCompleted):
            future = self._sends.pop(event.send_id, None)
            if future is not None and not future.done():
                future.set_result(event.code)
        elif isinstance(event, Stopped):
            self._stopped.set()
        if self._on_event is not None:
            self._on_event(event)

    def _on_tree_event(self, event: DeviceEvent) -> None:
        """Device code changed the tree: the engine acts on it at the loop's next turn."""
        if self._loop is not None and self._running and self._wake is None:
            self._wake = self._loop.call_soon(self._woken)

    def _woken(self) -> None:
        self._wake = None
        if self._running:
            self.engine.handle_timer(self.now)
            self._pump()

    async def _tick(self) -> None:
        simulator = self._simulator
        assert simulator is not None
        while True:
            await asyncio.sleep(self._tick_interval)
            simulator.tick(self.now)
            self.engine.handle_timer(self.now)
            self._pump()

    def _close(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for adapter in (self._nidd_transport, self._sms_transport):
            if adapter is not None:
                adapter.close()
        self._nidd_transport = self._sms_transport = None
        if self._set is not None:
            self._set.close()
            self._set = None
        for task in self._connecting.values():
            task.cancel()
        for future in self._sends.values():
            future.cancel()


__all__ = ["ClientError", "LwM2MClient", "SmsLink"]


def _held(tree: ObjectTree, nidd: NiddLink | None, sms: SmsLink | None, udp: bool) -> str:
    """The transports a client holds: TCP alone, or any of UDP, Non-IP and SMS."""
    if uses_tcp(tree):
        if nidd is not None or sms is not None:
            raise ClientError("CoAP over TCP cannot be held with NIDD or SMS (one or the other)")
        return "T"
    if nidd is not None and nidd.max_packet_size <= 0:
        raise ClientError("attach the NiddLink before making its client")
    held = (
        ("U" if udp else "") + ("N" if nidd is not None else "") + ("S" if sms is not None else "")
    )
    if not held:
        raise ClientError("a client needs a transport (UDP, NIDD or SMS)")
    return held


def _is_udp(peer: AnyPeer) -> bool:
    return isinstance(peer, tuple | DtlsPeer)


def _is_nidd(peer: AnyPeer) -> bool:
    return peer == NIDD_SERVER


def _is_sms(peer: AnyPeer) -> bool:
    return isinstance(peer, SmsPeer)


def is_registration(datagram: bytes) -> bool:
    """A CON POST to ``/rd`` (Register, Update): the CoAP header and first Uri-Path read."""
    try:
        message = Message.decode(datagram)
        path = message.options.uri_path
    except MessageFormatError:
        return False
    return message.type == Type.CON and message.code == Code.POST and path[:1] == ("rd",)
