"""The server's events to an MQTT broker, and commands from it (docs/northbound.md).

MQTT 5 through aiomqtt (asyncio over paho-mqtt's protocol implementation): QoS 1, a stable
client ID with ``clean_start`` false and a session expiry, so the broker keeps the command
subscription and the commands sent while the server was away.  Every message carries the user
property ``msgId`` (``{spool}-{seq}``, what a consumer deduplicates by: delivery is at least
once) and a Content Type.

Commands (off unless an :class:`~lwm2m.northbound.commands.AllowList` names the endpoint and
operation): a request on ``lwm2m/{ep}/req/{op}``; the answer goes to the request's MQTT 5
Response Topic with its Correlation Data, or, from an MQTT 3.1.1 client, to the body's
``"responseTopic"`` with its ``"correlationId"``; with neither, to ``lwm2m/{ep}/res/{op}``.  A
response topic inside ``lwm2m/`` must be that endpoint's ``res`` tree: a requester cannot make
the server publish what looks like a device's event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from lwm2m.northbound.commands import AllowList, CommandError, Commands, parse_body
from lwm2m.northbound.jsonview import dumps
from lwm2m.northbound.messages import Format, content_type
from lwm2m.northbound.relay import DEFAULT_ACK_TIMEOUT, BrokerNorthbound
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool, SpoolEntry
from lwm2m.northbound.topics import ROOT, parse_request, response_levels
from lwm2m.server import LwM2MServer

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "lwm2m-server"
SESSION_EXPIRY = 7 * 24 * 3600
"""Seconds the broker keeps our session (subscription, queued commands) while we are away."""
MAX_CONCURRENT_COMMANDS = 64
MQTT_WINDOW = 256
"""Messages in flight: paho and aiomqtt scan their pending publishes on every publish and
acknowledgement, so a window past the broker's Receive Maximum only costs time."""
REQUESTS = f"{ROOT}/+/req/+"


class MqttNorthbound(BrokerNorthbound):
    """Implements :class:`~lwm2m.northbound.relay.Northbound` over MQTT 5."""

    def __init__(
        self,
        server: LwM2MServer,
        settings: BrokerSettings,
        spool: Spool,
        *,
        fmt: Format = Format.JSON,
        allow: AllowList | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        window: int = MQTT_WINDOW,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    ) -> None:
        super().__init__(
            server,
            settings,
            spool,
            broker="MQTT",
            fmt=fmt,
            allow=allow,
            window=window,
            ack_timeout=ack_timeout,
        )
        self._client_id = client_id

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[_MqttLink]:
        settings = self.settings
        connect = _properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = SESSION_EXPIRY
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=connect,
            timeout=self._ack_timeout,
            keepalive=30,
            max_inflight_messages=self._window,
            tls_context=ssl.create_default_context() if settings.tls else None,
        )
        client.pending_calls_threshold = self._window  # aiomqtt warns past it: we use a window
        async with client:
            if self._commands.allow:
                await client.subscribe(REQUESTS, qos=1)
            else:  # a session kept from a run with commands on would still deliver them
                await client.unsubscribe(REQUESTS)
            link = _MqttLink(client, self._commands)
            try:
                yield link
            finally:
                await link.close()


class _MqttLink:
    """One connection: publishes spooled messages, answers commands while it lasts."""

    def __init__(self, client: aiomqtt.Client, commands: Commands) -> None:
        self._client = client
        self._commands = commands
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_COMMANDS)
        self._running: set[asyncio.Task[None]] = set()

    async def send(self, entry: SpoolEntry) -> asyncio.Future[Any]:
        # The task's first step hands the message to paho, in creation order.
        properties = _properties(PacketTypes.PUBLISH)
        properties.UserProperty = ("msgId", entry.msg_id)
        properties.ContentType = content_type(entry.payload)
        return asyncio.ensure_future(
            self._client.publish(entry.topic, entry.payload, qos=1, properties=properties)
        )

    async def wait_closed(self) -> None:
        """Reads requests until the connection ends (aiomqtt raises then)."""
        async for message in self._client.messages:
            if not self._commands.allow:
                logger.debug("MQTT command on %s ignored: commands are off", message.topic)
                continue
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._answer(message))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()

    async def _answer(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        body = message.payload if isinstance(message.payload, bytes) else b""
        request_properties = message.properties
        try:
            endpoint, operation = parse_request(tuple(topic.split("/")))
        except ValueError as exc:
            logger.warning("MQTT request on %s ignored: %s", topic[:200], exc)
            return
        reply_to, correlation_data = _reply_address(request_properties, body)
        default = "/".join(response_levels(endpoint, operation))
        answer: dict[str, object]
        if reply_to is not None and not _may_answer_on(reply_to, default):
            logger.warning("MQTT request on %s refused: response topic %s", topic, reply_to[:200])
            answer = {
                "endpoint": endpoint,
                "operation": operation,
                "error": "bad-request",
                "message": "the response topic must be outside lwm2m/ or in lwm2m/{ep}/res/",
            }
            reply_to = default
        else:
            answer = await self._commands.run(endpoint, operation, body)
        properties = _properties(PacketTypes.PUBLISH)
        properties.ContentType = "application/json"
        if correlation_data is not None:
            properties.CorrelationData = correlation_data
        try:
            await self._client.publish(
                reply_to or default, dumps(answer).encode("utf-8"), qos=1, properties=properties
            )
        except aiomqtt.MqttError as exc:
            logger.warning("MQTT answer to %s lost: %s", topic, exc)


def _reply_address(properties: Properties | None, body: bytes) -> tuple[str | None, bytes | None]:
    """The response topic and the MQTT 5 Correlation Data: the Response Topic property, else
    the body's ``responseTopic``."""
    reply_to = getattr(properties, "ResponseTopic", None)
    if reply_to is None:
        with contextlib.suppress(CommandError):
            topic = parse_body(body).get("responseTopic")
            reply_to = topic if isinstance(topic, str) else None
    return reply_to, getattr(properties, "CorrelationData", None)


def _may_answer_on(topic: str, default: str) -> bool:
    if not topic or "+" in topic or "#" in topic or "\0" in topic:
        return False
    inside = topic == ROOT or topic.startswith(ROOT + "/")
    return not inside or topic == default or topic.startswith(default.rpartition("/")[0] + "/")


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]
