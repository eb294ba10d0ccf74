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
from urllib.parse import urlsplit

from lwm2m.client.cellular import fitting_block_szx
from lwm2m.client.engine import (
    BOOTSTRAP_SSID,
    DEFAULT_CONFIG,
    ClientConfig,
    ClientEngine,
    ClientError,
    ClientEvent,
    CoapEndpoint,
    SendCompleted,
    ServerSilent,
    Stopped,
    server_address,
)
from lwm2m.client.nidd import NIDD_SERVER, NiddLink
from lwm2m.client.objects import DeviceEvent
from lwm2m.client.oscore import OscoreAccounts
from lwm2m.client.ratecontrol import RateControlledEndpoint, UplinkLimit
from lwm2m.client.registration import backoff_delay
from lwm2m.client.simulator import DeviceSimulator
from lwm2m.client.standard import security as sec
from lwm2m.client.streams import EngineStreams, StreamLinks
from lwm2m.client.tree import OSCORE, SECURITY, ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import Peer as AnyPeer
from lwm2m.coap.stream import StreamConfig, StreamEndpoint
from lwm2m.model import Path
from lwm2m.security.credentials import Psk, Secret
from lwm2m.security.dtls import DtlsClient, DtlsConfig, DtlsEvent, EndReason, SessionEnded
from lwm2m.security.oscore import SequenceStore
from lwm2m.security.oscore_endpoint import OscoreEndpoint
from lwm2m.transport.dtls import Channels, DtlsPeer, open_channels
from lwm2m.transport.modem.errors import ModemError
from lwm2m.transport.modem.nidd import NiddTransport
from lwm2m.transport.tcp import Psk as TlsPsk
from lwm2m.transport.tcp import StreamTransport

TCP_SCHEMES = ("coap+tcp", "coaps+tcp")

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

    ``servers`` overrides the address of a Short Server ID (otherwise the Security object's
    Server URI, ``coap://`` with an IP address, is used).  ``on_event`` sees every
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
    ) -> None:
        self.tree = tree
        self.endpoint_name = endpoint_name
        self._servers = dict(servers or {})
        self._local_address = local_address
        self._simulator = simulator
        self._tick_interval = tick_interval
        self._on_event = on_event
        rng = random.Random(seed)
        self._links: StreamLinks | None = None
        self._nidd = nidd
        if nidd is not None:
            if _uses_tcp(tree):
                raise ClientError("a NIDD client has no CoAP over TCP servers")
            if nidd.max_packet_size <= 0:
                raise ClientError("attach the NiddLink before making its client")
            szx = fitting_block_szx(nidd.max_packet_size, endpoint_name)
            coap = replace(coap, preferred_block_szx=min(coap.preferred_block_szx, szx))
        elif _uses_tcp(tree):
            stream = StreamEndpoint(tcp, rng=random.Random(rng.getrandbits(64)))
            jitter = random.Random(rng.getrandbits(64))

            def retry(failed: int) -> float:
                return backoff_delay(failed, config.retry_base, config.retry_cap, jitter)

            self._links = StreamLinks(coap, stream, self._want, retry)
        # OSCORE (client/oscore.py) for the accounts whose Security instance links /21/y, on
        # any device with the OSCORE object: a bootstrap server may provision a context later.
        self.oscore: OscoreAccounts | None = None
        endpoint: CoapEndpoint | None = self._links
        if self._links is None and (oscore_sequences is not None or OSCORE in tree):
            self.oscore = OscoreAccounts(tree, oscore_sequences)
            endpoint = OscoreEndpoint(coap, random.Random(rng.getrandbits(64)), self.oscore)
        self._limited: RateControlledEndpoint | None = None
        if nidd is not None:
            inner = endpoint or Endpoint(coap, random.Random(rng.getrandbits(64)))
            endpoint = self._limited = RateControlledEndpoint(inner, nidd.uplink_limit)
        self.engine = ClientEngine(
            tree,
            endpoint_name,
            rng=rng,
            config=config,
            coap=coap,
            resolve=self._resolve,
            endpoint=endpoint,
        )
        self._tcp: StreamTransport[EngineStreams] | None = None
        self._tls: dict[AnyPeer, TlsPsk | None] = {}
        self._connecting: dict[AnyPeer, asyncio.Task[None]] = {}
        self._dtls = DtlsClient(None, dtls)
        self._offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: Channels[ClientEngine] | None = None
        self._nidd_transport: NiddTransport[ClientEngine] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._sends: dict[int, asyncio.Future[Code | None]] = {}
        self._stopped: asyncio.Event = asyncio.Event()
        self._wake: asyncio.Handle | None = None
        tree.subscribe(self._on_tree_event)

    def _resolve(self, short_server_id: int, uri: str) -> AnyPeer:
        if self._nidd is not None:
            return self._resolve_nidd(short_server_id)
        if urlsplit(uri).scheme in TCP_SCHEMES:
            return self._resolve_tcp(short_server_id, uri)
        if self._links is not None:
            raise ClientError(f"server URI {uri!r}: a TCP client has only TCP servers")
        secure, address = server_address(uri)
        address = self._servers.get(short_server_id, address)
        psk = self._psk(short_server_id)
        if not secure:
            if psk is not None:
                raise ClientError(f"server URI {uri!r}: security mode PSK needs coaps://")
            if self.oscore is not None:
                self.oscore.use(short_server_id, address)
            return address
        if psk is None:
            raise ClientError(f"server URI {uri!r}: coaps:// needs security mode 0 (PSK)")
        self._dtls.use_psk(address, psk)
        return DtlsPeer(address)

    def _resolve_nidd(self, short_server_id: int) -> AnyPeer:
        """Over NIDD every account is the SCS/AS the network routes the APN's data to."""
        if self._psk(short_server_id) is not None:
            raise ClientError("DTLS over NIDD is not supported: use NoSec or OSCORE")
        if self.oscore is not None:
            self.oscore.use(short_server_id, NIDD_SERVER)
        return NIDD_SERVER

    def _resolve_tcp(self, short_server_id: int, uri: str) -> AnyPeer:
        """``coap+tcp://`` or (PSK) ``coaps+tcp://``: the engine sees the address, the links
        map it to the server's current connection."""
        parts = urlsplit(uri)
        if self._links is None or not parts.hostname:
            raise ClientError(f"server URI {uri!r}: not a usable CoAP over TCP URI")
        secure = parts.scheme == "coaps+tcp"
        default: Peer = (parts.hostname, parts.port or (5684 if secure else 5683))
        address = self._servers.get(short_server_id, default)
        psk = self._psk(short_server_id)
        if secure != (psk is not None):
            raise ClientError(f"server URI {uri!r}: coaps+tcp:// goes with security mode 0 (PSK)")
        self._tls[address] = (
            None if psk is None else TlsPsk(psk.identity.decode("utf-8"), psk.key.reveal())
        )
        return address

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
            peer = await self._tcp.connect(cast(Peer, address), self._tls.get(address))
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

    def _psk(self, short_server_id: int) -> Psk | None:
        """The PSK of an account's Security instance; None in NoSec mode."""
        security = self.tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            is_bootstrap = sec.BOOTSTRAP_SERVER in present and security.read(
                iid, sec.BOOTSTRAP_SERVER
            )
            ssid = (
                security.read(iid, sec.SHORT_SERVER_ID) if sec.SHORT_SERVER_ID in present else None
            )
            if (short_server_id == BOOTSTRAP_SSID) != bool(is_bootstrap) or (
                not is_bootstrap and ssid != short_server_id
            ):
                continue
            mode = security.read(iid, sec.SECURITY_MODE) if sec.SECURITY_MODE in present else None
            if mode != sec.SecurityMode.PSK:
                return None
            identity, key = (
                security.read(iid, rid) if rid in present else b""
                for rid in (sec.PUBLIC_KEY_OR_IDENTITY, sec.SECRET_KEY)
            )
            assert isinstance(identity, bytes) and isinstance(key, bytes)
            try:
                return Psk(identity, Secret(key))
            except ValueError as exc:
                raise ClientError(f"Security instance {iid}: {exc}") from None
        return None

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
        if self._nidd is not None:
            self._start_nidd(self._nidd)
            self._begin()
            return
        self._udp = await open_channels(
            self.engine,
            self._drain,
            self._local_address,
            dtls=self._dtls,
            clock=lambda: self.now,
            on_session=self._on_session,
        )
        self._begin()

    def _begin(self) -> None:
        self.engine.start(self.now)
        self._pump()
        if self._simulator is not None:
            self._ticker = asyncio.create_task(self._tick())

    def _start_nidd(self, link: NiddLink) -> None:
        self._nidd_transport = NiddTransport(
            self.engine,
            self._drain,
            link.modem.channel,
            NIDD_SERVER,
            cid=link.cid,
            max_packet_size=link.max_packet_size,
            clock=lambda: self.now,
        )
        link.clock = lambda: self.now
        link.on_limit = self._rate_control_changed
        self._refresher = asyncio.create_task(self._refresh(link))

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
        return self._udp is not None or self._tcp is not None or self._nidd_transport is not None

    def _pump(self) -> None:
        if self._udp is not None:
            self._udp.pump()
        if self._tcp is not None:
            self._tcp.pump()
        if self._nidd_transport is not None:
            self._nidd_transport.pump()

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
        if self._nidd_transport is not None:
            self._nidd_transport.close()
            self._nidd_transport = None
        for task in self._connecting.values():
            task.cancel()
        for future in self._sends.values():
            future.cancel()


__all__ = ["ClientError", "LwM2MClient"]


def _uses_tcp(tree: ObjectTree) -> bool:
    """Whether the device's servers are CoAP over TCP ones (one transport per client)."""
    security = tree.object(SECURITY)
    for iid in security.list_instances():
        if sec.SERVER_URI in security.list_resources(iid):
            uri = security.read(iid, sec.SERVER_URI)
            if isinstance(uri, str) and urlsplit(uri).scheme in TCP_SCHEMES:
                return True
    return False
