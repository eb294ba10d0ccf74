"""What every broker implementation shares: server events through the spool to the broker, in
order, each removed once the broker acknowledged it, reconnecting until stopped.

A broker implementation (MQTT, NATS JetStream) gives the relay a ``connect`` function: an
async context manager per connection that yields a :class:`BrokerLink`.  The relay keeps up
to ``window`` messages in flight on it and waits for their acknowledgements in order; a
connection that fails, or an acknowledgement that does not come within ``ack_timeout``, ends
the connection, and the next one starts again at the first message not acknowledged (at least
once: a consumer may see a message twice, never out of order; ``seq`` tells it apart).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from lwm2m.northbound.commands import AllowList, Commands
from lwm2m.northbound.messages import Format, MessageFormatter
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool, SpoolEntry
from lwm2m.server import LwM2MServer, ServerEvent

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 1024
DEFAULT_ACK_TIMEOUT = 30.0
RECONNECT_DELAYS = (0.25, 30.0)
"""The first delay before reconnecting, doubled after each failure up to the second."""


class BrokerLink(Protocol):
    async def send(self, entry: SpoolEntry) -> asyncio.Future[Any]:
        """Hand ``entry`` to the broker after every message sent before it on this link; the
        future completes when the broker acknowledged it, or fails if it will not."""
        ...

    async def wait_closed(self) -> None:
        """Return (or raise) when the connection is lost."""
        ...


class Northbound(Protocol):
    """One broker the server publishes to and takes commands from (``lwm2m server --mqtt``,
    ``--nats``); MQTT and NATS JetStream implement it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def stats(self) -> dict[str, object]: ...


class BrokerNorthbound(abc.ABC):
    """A :class:`Northbound` made of a :class:`Relay` and the :class:`Commands` it answers;
    a broker implementation adds only its ``_connect`` (one connection, yielding its link)."""

    def __init__(
        self,
        server: LwM2MServer,
        settings: BrokerSettings,
        spool: Spool,
        *,
        broker: str,
        fmt: Format,
        allow: AllowList | None,
        window: int,
        ack_timeout: float,
    ) -> None:
        self.settings = settings
        self._window = window
        self._ack_timeout = ack_timeout
        self._commands = Commands(server, allow if allow is not None else AllowList())
        self._relay = Relay(
            server,
            spool,
            MessageFormatter(fmt, server.models),
            self._connect,
            name=f"{broker} {settings.where}",
            window=window,
            ack_timeout=ack_timeout,
        )

    @abc.abstractmethod
    def _connect(self) -> AbstractAsyncContextManager[BrokerLink]: ...

    async def start(self) -> None:
        self._relay.start()

    async def stop(self) -> None:
        await self._relay.stop()

    def stats(self) -> dict[str, object]:
        return {
            **self._relay.stats(),
            "commandsExecuted": self._commands.executed,
            "commandsRefused": self._commands.refused,
        }


class Relay:
    """Subscribes to the server's events, spools them and drains the spool into the broker."""

    def __init__(
        self,
        server: LwM2MServer,
        spool: Spool,
        formatter: MessageFormatter,
        connect: Callable[[], AbstractAsyncContextManager[BrokerLink]],
        *,
        name: str,
        window: int = DEFAULT_WINDOW,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    ) -> None:
        if window < 1 or ack_timeout <= 0:
            raise ValueError("the window must be at least 1 and the ack timeout positive")
        self._server = server
        self.spool = spool
        self._formatter = formatter
        self._connect = connect
        self._name = name
        self._window = window
        self._ack_timeout = ack_timeout
        self._more = asyncio.Event()  # a message was spooled
        self._sent = asyncio.Event()  # a message went out
        self._room = asyncio.Event()  # an acknowledgement freed a place in the window
        self._acked_through = 0  # highest sequence number acknowledged with all before it
        self._removed_through = 0
        self._flush_scheduled = False
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.connected = False
        self.published = 0
        """Messages the broker acknowledged since the start."""
        self.connections = 0

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"the {self._name} relay is already started")
        self._unsubscribe = self._server.subscribe(self.publish)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop publishing; what was not acknowledged stays in the spool for the next start."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._flush()
        self.spool.close()

    def stats(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "connections": self.connections,
            "published": self.published,
            "spooled": len(self.spool),
            "spooledBytes": self.spool.size,
            "dropped": self.spool.dropped,
        }

    def publish(self, event: ServerEvent) -> None:
        """The server's subscriber: spool the event's message, never wait."""
        try:
            message = self._formatter.message(event, time.time())
        except Exception:  # a broken to_json() must not stop the relay
            logger.exception("cannot serialize %s for %s", type(event).__name__, self._name)
            return
        if self.spool.append(message.topic, message.payload) is not None:
            self._schedule_flush()
            self._more.set()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Once per loop turn: forget what was acknowledged, commit what was spooled."""
        self._flush_scheduled = False
        if self._acked_through > self._removed_through:
            self.spool.remove_through(self._acked_through)
            self._removed_through = self._acked_through
        self.spool.commit()

    async def _run(self) -> None:
        first, most = RECONNECT_DELAYS
        delay = first
        while True:
            try:
                async with self._connect() as link:
                    self.connected = True
                    self.connections += 1
                    logger.info("%s connected, %d messages waiting", self._name, len(self.spool))
                    delay = first
                    await self._drain(link)
            except Exception as exc:
                logger.warning("%s: %s; reconnecting in %.2f s", self._name, exc, delay)
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, most)

    async def _drain(self, link: BrokerLink) -> None:
        """Send in order and collect acknowledgements in order until the link fails."""
        in_flight: deque[tuple[int, asyncio.Future[Any]]] = deque()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send(link, in_flight))
                group.create_task(self._collect(in_flight))
                group.create_task(_closed(link))
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        finally:
            for _, ack in in_flight:
                if ack.done() and not ack.cancelled():
                    ack.exception()  # retrieved: the message is sent again anyway
                ack.cancel()

    async def _send(
        self, link: BrokerLink, in_flight: deque[tuple[int, asyncio.Future[Any]]]
    ) -> None:
        cursor = self._acked_through
        while True:
            room = self._window - len(in_flight)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            self._more.clear()
            entries = self.spool.read(cursor, room)
            if not entries:
                await self._more.wait()
                continue
            for entry in entries:
                in_flight.append((entry.seq, await link.send(entry)))
                cursor = entry.seq
            self._sent.set()

    async def _collect(self, in_flight: deque[tuple[int, asyncio.Future[Any]]]) -> None:
        while True:
            if not in_flight:
                self._sent.clear()
                await self._sent.wait()
                continue
            seq, ack = in_flight[0]
            if not ack.done():
                try:
                    await asyncio.wait_for(asyncio.shield(ack), self._ack_timeout)
                except TimeoutError:
                    raise TimeoutError(f"no acknowledgement in {self._ack_timeout} s") from None
            ack.result()  # the broker's refusal ends the connection
            in_flight.popleft()
            self._acked_through = seq
            self.published += 1
            self._schedule_flush()
            self._room.set()


async def _closed(link: BrokerLink) -> None:
    await link.wait_closed()
    raise ConnectionError("the connection was lost")
