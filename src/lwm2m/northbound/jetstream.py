"""The server's events to a NATS JetStream stream, and commands by NATS request/reply
(docs/northbound.md).

The topic scheme is MQTT's with ``.`` between levels: ``lwm2m.{ep}.registered``,
``lwm2m.{ep}.notify.3303.0.5700``.  The stream (``LWM2M`` unless configured, created with file
storage if missing, left as it is if it exists) holds the subjects ``lwm2m.*.*`` and
``lwm2m.*.notify.>``: every event, and none of the requests (``lwm2m.{ep}.req.{op}``, one
level deeper), which JetStream would otherwise store and answer with a PubAck.  Each publish
is acknowledged by the stream and carries ``Nats-Msg-Id`` (``{spool}-{seq}``), so a message
sent again after a lost acknowledgement is stored once within the stream's duplicate window.

Commands: a core NATS request on ``lwm2m.{ep}.req.{op}`` with the JSON body MQTT takes
(:mod:`lwm2m.northbound.commands`); the answer goes to the request's reply subject, with the
body's ``correlationId`` echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from lwm2m.northbound.commands import AllowList, Commands
from lwm2m.northbound.jsonview import dumps
from lwm2m.northbound.messages import Format, content_type
from lwm2m.northbound.relay import DEFAULT_ACK_TIMEOUT, DEFAULT_WINDOW, BrokerNorthbound
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool, SpoolEntry
from lwm2m.northbound.topics import ROOT, parse_request
from lwm2m.server import LwM2MServer

logger = logging.getLogger(__name__)

DEFAULT_STREAM = "LWM2M"
STREAM_SUBJECTS = [f"{ROOT}.*.*", f"{ROOT}.*.notify.>"]
REQUESTS = f"{ROOT}.*.req.*"
MAX_CONCURRENT_COMMANDS = 64


class NatsNorthbound(BrokerNorthbound):
    """Implements :class:`~lwm2m.northbound.relay.Northbound` over NATS JetStream."""

    def __init__(
        self,
        server: LwM2MServer,
        settings: BrokerSettings,
        spool: Spool,
        *,
        fmt: Format = Format.JSON,
        allow: AllowList | None = None,
        stream: str = DEFAULT_STREAM,
        window: int = DEFAULT_WINDOW,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    ) -> None:
        super().__init__(
            server,
            settings,
            spool,
            broker="NATS",
            fmt=fmt,
            allow=allow,
            window=window,
            ack_timeout=ack_timeout,
        )
        self.stream = stream

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[_NatsLink]:
        settings = self.settings
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_closed() -> None:
            if not closed.done():
                closed.set_result(None)

        async def on_error(exc: Exception) -> None:
            logger.debug("NATS %s: %s", settings.where, exc)

        client = await nats.connect(
            servers=[f"nats://{settings.host}:{settings.port}"],
            user=settings.username,
            password=settings.password,
            tls=ssl.create_default_context() if settings.tls else None,
            allow_reconnect=False,  # the relay reconnects and resends from the spool
            connect_timeout=5,
            closed_cb=on_closed,
            disconnected_cb=on_closed,
            error_cb=on_error,
            name="lwm2m-server",
        )
        try:
            js = client.jetstream(publish_async_max_pending=self._window)
            await self._ensure_stream(js)
            link = _NatsLink(client, js, self._commands, closed)
            if self._commands.allow:
                await client.subscribe(REQUESTS, cb=link.on_request)
            yield link
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=STREAM_SUBJECTS,
                    storage=StorageType.FILE,
                )
            )
            logger.info("NATS stream %s created for %s", self.stream, ", ".join(STREAM_SUBJECTS))


class _NatsLink:
    def __init__(
        self,
        client: NatsClient,
        js: JetStreamContext,
        commands: Commands,
        closed: asyncio.Future[None],
    ) -> None:
        self._client = client
        self._js = js
        self._commands = commands
        self._closed = closed
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_COMMANDS)

    async def send(self, entry: SpoolEntry) -> asyncio.Future[Any]:
        return await self._js.publish_async(
            entry.topic.replace("/", "."),
            entry.payload,
            headers={
                "Nats-Msg-Id": entry.msg_id,
                "Content-Type": content_type(entry.payload),
            },
        )

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def on_request(self, message: Msg) -> None:
        """nats-py calls this for each request in turn: the command runs in its own task, at
        most :data:`MAX_CONCURRENT_COMMANDS` at once."""
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._answer(message))
        task.add_done_callback(lambda _: self._slots.release())

    async def _answer(self, message: Msg) -> None:
        try:
            endpoint, operation = parse_request(tuple(message.subject.split(".")))
        except ValueError as exc:
            logger.warning("NATS request on %s ignored: %s", message.subject[:200], exc)
            return
        answer = await self._commands.run(endpoint, operation, message.data)
        if not message.reply:
            logger.warning("NATS request on %s has no reply subject", message.subject)
            return
        try:
            await message.respond(dumps(answer).encode("utf-8"))
        except Exception as exc:  # the connection went away meanwhile
            logger.warning("NATS answer to %s lost: %s", message.subject, exc)
