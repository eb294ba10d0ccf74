"""The MQTT northbound against a private Mosquitto: topics and JSON of real devices' events,
no loss across a broker restart, 10,000 notifications in order, commands allowed and
refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tests.northbound.conftest import EP, Broker, eventually, register

from lwm2m.model import Path as LwPath
from lwm2m.northbound.commands import AllowList
from lwm2m.northbound.mqtt import MqttNorthbound
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool
from lwm2m.northbound.topics import escape_endpoint
from lwm2m.server import LwM2MServer
from lwm2m.server.events import NotificationReceived

TOPIC_EP = escape_endpoint(EP)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    msg_id: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A test consumer with a persistent session: it gets what was published while the broker
    was restarting, like a real consumer would."""

    def __init__(self, broker: Broker, topic: str = "lwm2m/#") -> None:
        self.broker = broker
        self.topic = topic
        self.identifier = f"test-{uuid.uuid4().hex[:8]}"
        self.received: list[Received] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.SessionExpiryInterval = 3600
        while True:
            client = aiomqtt.Client(
                "127.0.0.1",
                self.broker.port,
                identifier=self.identifier,
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=connect,
                max_inflight_messages=1000,
            )
            try:
                async with client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        props = message.properties
                        user = dict(getattr(props, "UserProperty", []) or [])
                        payload = message.payload
                        assert isinstance(payload, bytes)
                        self.received.append(
                            Received(message.topic.value, payload, user.get("msgId"))
                        )
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def on(self, topic: str) -> list[Received]:
        return [r for r in self.received if r.topic == topic]

    def unique(self) -> list[Received]:
        """What arrived, duplicates (same msgId: at-least-once delivery) removed."""
        seen: set[str | None] = set()
        kept = []
        for received in self.received:
            if received.msg_id not in seen:
                seen.add(received.msg_id)
                kept.append(received)
        return kept


@contextlib.asynccontextmanager
async def northbound(
    server: LwM2MServer, broker: Broker, spool: Spool | None = None, **options: Any
) -> AsyncIterator[MqttNorthbound]:
    relay = MqttNorthbound(
        server,
        BrokerSettings.parse(f"mqtt://127.0.0.1:{broker.port}", "mqtt"),
        spool if spool is not None else Spool(":memory:"),
        client_id=f"lwm2m-test-{uuid.uuid4().hex[:8]}",
        **options,
    )
    await relay.start()
    try:
        await eventually(lambda: relay.stats()["connected"])
        yield relay
    finally:
        await relay.stop()


async def test_device_events_reach_subscribers(server: LwM2MServer, mosquitto: Broker) -> None:
    async with Subscriber(mosquitto) as consumer, northbound(server, mosquitto):
        client, tree = await register(server)
        try:
            (registered,) = await eventually(lambda: consumer.on(f"lwm2m/{TOPIC_EP}/registered"), 5)
            body = registered.json
            assert body["type"] == "registered"
            assert body["registration"]["endpoint"] == EP
            assert body["registration"]["address"]["transport"] == "U"
            assert isinstance(body["time"], float)
            assert registered.msg_id is not None

            await server.observe(EP, "/3/0/9")
            tree.object(3).set(0, 9, 42)  # type: ignore[attr-defined]
            (note,) = await eventually(lambda: consumer.on(f"lwm2m/{TOPIC_EP}/notify/3/0/9"), 5)
            assert note.json["type"] == "notification"
            assert note.json["path"] == "/3/0/9"
            assert note.json["values"] == {"/3/0/9": 42}
        finally:
            await client.stop(timeout=2.0)
        (gone,) = await eventually(lambda: consumer.on(f"lwm2m/{TOPIC_EP}/deregistered"), 5)
        assert gone.json["registration"]["endpoint"] == EP


class FakeServer:
    """What the relay needs of a server: ``subscribe`` and ``models``; the test publishes."""

    def __init__(self, real: LwM2MServer) -> None:
        self.models = real.models
        self.subscribers: list[Any] = []

    def subscribe(self, callback: Any) -> Any:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    def notify(self, endpoint: str, value: int) -> None:
        event = NotificationReceived(
            endpoint, LwPath.parse("/3303/0/5700"), {LwPath.parse("/3303/0/5700"): value}, 112, 0
        )
        for callback in self.subscribers:
            callback(event)


def values_of(received: list[Received], endpoint: str) -> list[int]:
    topic = f"lwm2m/{escape_endpoint(endpoint)}/notify/3303/0/5700"
    return [r.json["values"]["/3303/0/5700"] for r in received if r.topic == topic]


async def test_a_broker_restart_loses_nothing(
    server: LwM2MServer, mosquitto: Broker, tmp_path: Path
) -> None:
    fake = FakeServer(server)
    spool = Spool(tmp_path / "mqtt.spool")
    async with Subscriber(mosquitto) as consumer:
        async with northbound(fake, mosquitto, spool) as relay:  # type: ignore[arg-type]
            for value in range(100):
                fake.notify("dev/1", value)
            await eventually(lambda: len(values_of(consumer.unique(), "dev/1")) == 100)
            mosquitto.stop()
            await eventually(lambda: not relay.stats()["connected"])
            for value in range(100, 300):
                fake.notify("dev/1", value)
            await asyncio.sleep(0.3)
            assert relay.stats()["spooled"] == 200  # held on disk while the broker is away
            mosquitto.start()
            await eventually(lambda: relay.stats()["spooled"] == 0, 15)
        await eventually(lambda: len(values_of(consumer.unique(), "dev/1")) >= 300, 10)
    assert values_of(consumer.unique(), "dev/1") == list(range(300))


async def test_the_spool_survives_a_server_restart(
    server: LwM2MServer, mosquitto: Broker, tmp_path: Path
) -> None:
    fake = FakeServer(server)
    mosquitto.stop()
    relay = MqttNorthbound(
        server,
        BrokerSettings.parse(f"mqtt://127.0.0.1:{mosquitto.port}", "mqtt"),
        Spool(tmp_path / "mqtt.spool"),
    )
    relay._relay._server = fake  # type: ignore[assignment]
    await relay.start()
    for value in range(50):
        fake.notify("dev-2", value)
    await asyncio.sleep(0.1)
    await relay.stop()  # the server stops with the broker away
    mosquitto.start()
    async with Subscriber(mosquitto) as consumer:
        spool = Spool(tmp_path / "mqtt.spool")
        assert len(spool) == 50
        async with northbound(fake, mosquitto, spool) as restarted:  # type: ignore[arg-type]
            await eventually(lambda: restarted.stats()["spooled"] == 0, 10)
        await eventually(lambda: len(values_of(consumer.unique(), "dev-2")) >= 50)
    assert values_of(consumer.unique(), "dev-2") == list(range(50))


async def test_ten_thousand_notifications_arrive_in_order_per_device(
    server: LwM2MServer, mosquitto: Broker, tmp_path: Path
) -> None:
    fake = FakeServer(server)
    devices = [f"sensor-{n}" for n in range(10)]
    async with Subscriber(mosquitto) as consumer:
        async with northbound(fake, mosquitto, Spool(tmp_path / "s")) as relay:  # type: ignore[arg-type]
            for value in range(1000):
                for device in devices:
                    fake.notify(device, value)
                if value % 100 == 0:
                    await asyncio.sleep(0)  # the loop turns between bursts, as in the server
            await eventually(lambda: relay.stats()["published"] == 10_000, 60)
        await eventually(lambda: len(consumer.unique()) >= 10_000, 60)
    for device in devices:
        assert values_of(consumer.unique(), device) == list(range(1000))


def command_properties(reply_to: str, correlation: bytes) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ResponseTopic = reply_to
    properties.CorrelationData = correlation
    return properties


async def ask(
    broker: Broker,
    op: str,
    body: dict[str, Any],
    *,
    v5: bool = True,
    ep: str = EP,
    timeout: float = 10,
) -> Received:
    """One command on lwm2m/{ep}/req/{op}, its answer from the response topic."""
    reply_to = f"app/{uuid.uuid4().hex[:8]}/answers"
    correlation = uuid.uuid4().bytes
    async with (
        Subscriber(broker, reply_to) as answers,
        aiomqtt.Client("127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5) as requester,
    ):
        if v5:
            properties = command_properties(reply_to, correlation)
        else:
            body = {**body, "responseTopic": reply_to, "correlationId": "c-1"}
            properties = None
        await requester.publish(
            f"lwm2m/{escape_endpoint(ep)}/req/{op}",
            json.dumps(body).encode(),
            qos=1,
            properties=properties,
        )
        (answer,) = await eventually(lambda: answers.received, timeout)
    return answer


async def test_commands_read_write_execute_a_device(server: LwM2MServer, mosquitto: Broker) -> None:
    allow = AllowList.parse([f"{EP}=read,write,execute"])
    async with northbound(server, mosquitto, allow=allow):
        client, _ = await register(server)
        try:
            answer = await ask(mosquitto, "read", {"path": "/3/0/0"})
            assert answer.json["status"] == "2.05"
            assert set(answer.json["values"]) == {"/3/0/0"}
            assert answer.json["endpoint"] == EP and answer.json["operation"] == "read"

            written = await ask(
                mosquitto, "write", {"path": "/3/0/14", "values": {"/3/0/14": "+02:00"}}
            )
            assert written.json["status"] == "2.04", written.json
            again = await ask(mosquitto, "read", {"path": "/3/0/14"}, v5=False)
            assert again.json["values"] == {"/3/0/14": "+02:00"}
            assert again.json["correlationId"] == "c-1"

            executed = await ask(mosquitto, "execute", {"path": "/3/0/12"})
            assert executed.json["status"] == "2.04", executed.json

            refused = await ask(mosquitto, "observe", {"path": "/3/0/9"})
            assert refused.json["error"] == "forbidden"
            other = await ask(mosquitto, "read", {"path": "/3/0/0"}, ep="someone-else")
            assert other.json["error"] == "forbidden"
            bad = await ask(mosquitto, "read", {"path": 3})
            assert bad.json["error"] == "bad-request"
        finally:
            await client.stop(timeout=2.0)


async def test_commands_are_off_by_default(server: LwM2MServer, mosquitto: Broker) -> None:
    async with northbound(server, mosquitto) as relay:
        client, _ = await register(server)
        try:
            with pytest.raises(AssertionError, match="not within"):
                await ask(mosquitto, "read", {"path": "/3/0/0"}, timeout=1)
            assert relay.stats()["commandsExecuted"] == 0
        finally:
            await client.stop(timeout=2.0)
