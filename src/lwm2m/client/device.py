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
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping

from lwm2m.client.engine import (
    BOOTSTRAP_SSID,
    DEFAULT_CONFIG,
    ClientConfig,
    ClientEngine,
    ClientError,
    ClientEvent,
    SendCompleted,
    ServerSilent,
    Stopped,
    server_address,
)
from lwm2m.client.objects import DeviceEvent
from lwm2m.client.simulator import DeviceSimulator
from lwm2m.client.standard import security as sec
from lwm2m.client.tree import SECURITY, ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.events import Peer as AnyPeer
from lwm2m.model import Path
from lwm2m.security.credentials import Psk, Secret
from lwm2m.security.dtls import DtlsClient, DtlsConfig, DtlsEvent, EndReason, SessionEnded
from lwm2m.transport.dtls import Channels, DtlsPeer, open_channels

log = logging.getLogger(__name__)

Peer = tuple[str, int]

NBIOT_DTLS = DtlsConfig(
    handshake_timeout_min=10.0, handshake_timeout_max=60.0, handshake_lifetime=240.0
)
"""Handshake timers for NB-IoT, whose round trips take seconds (up to 10 s in coverage
enhancement): RFC 6347's 1 s initial timer would resend every flight before its answer could
arrive, spending airtime and battery; four minutes leave room for a few lost flights."""


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
    ) -> None:
        self.tree = tree
        self.endpoint_name = endpoint_name
        self._servers = dict(servers or {})
        self._local_address = local_address
        self._simulator = simulator
        self._tick_interval = tick_interval
        self._on_event = on_event
        self.engine = ClientEngine(
            tree,
            endpoint_name,
            rng=random.Random(seed),
            config=config,
            coap=coap,
            resolve=self._resolve,
        )
        self._dtls = DtlsClient(None, dtls)
        self._offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: Channels[ClientEngine] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._sends: dict[int, asyncio.Future[Code | None]] = {}
        self._stopped: asyncio.Event = asyncio.Event()
        self._wake: asyncio.Handle | None = None
        tree.subscribe(self._on_tree_event)

    def _resolve(self, short_server_id: int, uri: str) -> AnyPeer:
        secure, address = server_address(uri)
        address = self._servers.get(short_server_id, address)
        psk = self._psk(short_server_id)
        if not secure:
            if psk is not None:
                raise ClientError(f"server URI {uri!r}: security mode PSK needs coaps://")
            return address
        if psk is None:
            raise ClientError(f"server URI {uri!r}: coaps:// needs security mode 0 (PSK)")
        self._dtls.use_psk(address, psk)
        return DtlsPeer(address)

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
        self._offset = time.time() - loop.time()
        self._udp = await open_channels(
            self.engine,
            self._drain,
            self._local_address,
            dtls=self._dtls,
            clock=lambda: self.now,
            on_session=self._on_session,
        )
        self.engine.start(self.now)
        self._pump()
        if self._simulator is not None:
            self._ticker = asyncio.create_task(self._tick())

    async def stop(self, timeout: float = 10.0) -> None:
        """De-register from every server (waiting at most ``timeout``), then close."""
        if self._udp is None:
            return
        if self._ticker is not None:
            self._ticker.cancel()
        self.engine.stop(self.now)
        self._pump()
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout)
        except TimeoutError:
            log.warning("de-registration did not finish within %.0f s", timeout)
        self._close()

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

    def _pump(self) -> None:
        if self._udp is not None:
            self._udp.pump()

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
        if self._loop is not None and self._udp is not None and self._wake is None:
            self._wake = self._loop.call_soon(self._woken)

    def _woken(self) -> None:
        self._wake = None
        if self._udp is not None:
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
        for future in self._sends.values():
            future.cancel()


__all__ = ["ClientError", "LwM2MClient"]
