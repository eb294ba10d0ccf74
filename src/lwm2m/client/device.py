"""The asyncio façade of the client: a UDP socket, the wall clock and the simulator's ticks.

All protocol logic is in :class:`~lwm2m.client.engine.ClientEngine`; :mod:`lwm2m.transport.udp`
moves its datagrams and keeps its timer, and this module turns the engine's events into
awaitable results.  The wall clock is read once, at :meth:`LwM2MClient.start`, to anchor the
loop's monotonic clock to Unix time (what the engine's ``now`` is).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping

from lwm2m.client.engine import (
    DEFAULT_CONFIG,
    ClientConfig,
    ClientEngine,
    ClientError,
    ClientEvent,
    SendCompleted,
    Stopped,
    udp_peer,
)
from lwm2m.client.objects import DeviceEvent
from lwm2m.client.simulator import DeviceSimulator
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.model import Path
from lwm2m.transport.udp import UdpTransport, open_udp

log = logging.getLogger(__name__)

Peer = tuple[str, int]


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
        self._offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: UdpTransport[ClientEngine] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._sends: dict[int, asyncio.Future[Code | None]] = {}
        self._stopped: asyncio.Event = asyncio.Event()
        self._wake: asyncio.Handle | None = None
        tree.subscribe(self._on_tree_event)

    def _resolve(self, short_server_id: int, uri: str) -> Peer:
        return self._servers.get(short_server_id) or udp_peer(short_server_id, uri)

    @property
    def now(self) -> float:
        """Seconds since the Unix epoch, on the loop's monotonic clock."""
        assert self._loop is not None
        return self._loop.time() + self._offset

    @property
    def local_address(self) -> Peer:
        assert self._udp is not None
        return self._udp.local_address

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._offset = time.time() - loop.time()
        self._udp = await open_udp(self.engine, self._drain, self._local_address, lambda: self.now)
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

    def _dispatch(self, event: ClientEvent) -> None:
        log.info("%s", event)
        if isinstance(event, SendCompleted):
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
