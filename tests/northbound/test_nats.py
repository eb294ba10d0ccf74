"""The NATS JetStream northbound against a private nats-server: the stream's contents read
back with a consumer, no loss across a server restart, 10,000 notifications in order,
commands by request/reply allowed and refused."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from tests.northbound.conftest import EP, Broker, eventually, register
from tests.northbound.test_mqtt import FakeServer

from lwm2m.northbound.commands import AllowList
from lwm2m.northbound.jetstream import NatsNorthbound
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool
from lwm2m.northbound.topics import escape_endpoint
from lwm2m.server import LwM2MServer

SUBJECT_EP = escape_endpoint(EP)


@contextlib.asynccontextmanager
async def northbound(
    server: LwM2MServer, broker: Broker, spool: Spool | None = None, **options: Any
) -> AsyncIterator[NatsNorthbound]:
    relay = NatsNorthbound(
        server,
        BrokerSettings.parse(f"nats://127.0.0.1:{broker.port}", "nats"),
        spool if spool is not None else Spool(":memory:"),
        **options,
    )
    await relay.start()
    try:
        await eventually(lambda: relay.stats()["connected"])
        yield relay
    finally:
        await relay.stop()


@contextlib.asynccontextmanager
async def connected(broker: Broker) -> AsyncIterator[NatsClient]:
    client = await nats.connect(f"nats://127.0.0.1:{broker.port}")
    try:
        yield client
    finally:
        await client.close()


async def stream_contents(broker: Broker, count: int) -> list[Msg]:
    """The first ``count`` messages of the LWM2M stream, through a pull consumer."""
    async with connected(broker) as client:
        consumer = await client.jetstream().pull_subscribe(
            "lwm2m.>", stream="LWM2M", config=ConsumerConfig(ack_policy=AckPolicy.NONE)
        )
        messages: list[Msg] = []
        while len(messages) < count:
            messages += await consumer.fetch(min(count - len(messages), 1000), timeout=5)
        return messages


def values_of(messages: list[Msg], endpoint: str) -> list[int]:
    subject = f"lwm2m.{escape_endpoint(endpoint)}.notify.3303.0.5700"
    return [json.loads(m.data)["values"]["/3303/0/5700"] for m in messages if m.subject == subject]


async def test_device_events_are_stored_in_the_stream(
    server: LwM2MServer, nats_server: Broker
) -> None:
    async with northbound(server, nats_server) as relay:
        client, tree = await register(server)
        try:
            await server.observe(EP, "/3/0/9")
            tree.object(3).set(0, 9, 42)  # type: ignore[attr-defined]
            await eventually(lambda: relay.stats()["published"] == 2)
        finally:
            await client.stop(timeout=2.0)
        await eventually(lambda: relay.stats()["published"] == 4)
    registered, notified, cancelled, deregistered = await stream_contents(nats_server, 4)
    assert cancelled.subject == f"lwm2m.{SUBJECT_EP}.observationCancelled"
    assert registered.subject == f"lwm2m.{SUBJECT_EP}.registered"
    assert json.loads(registered.data)["registration"]["endpoint"] == EP
    assert registered.headers is not None and registered.headers["Nats-Msg-Id"]
    assert notified.subject == f"lwm2m.{SUBJECT_EP}.notify.3.0.9"
    assert json.loads(notified.data)["values"] == {"/3/0/9": 42}
    assert deregistered.subject == f"lwm2m.{SUBJECT_EP}.deregistered"


async def test_a_broker_restart_loses_nothing_and_stores_nothing_twice(
    server: LwM2MServer, nats_server: Broker, tmp_path: Path
) -> None:
    fake = FakeServer(server)
    async with northbound(fake, nats_server, Spool(tmp_path / "nats.spool")) as relay:  # type: ignore[arg-type]
        for value in range(100):
            fake.notify("dev.1", value)
        await eventually(lambda: relay.stats()["published"] == 100)
        nats_server.stop()
        await eventually(lambda: not relay.stats()["connected"])
        for value in range(100, 300):
            fake.notify("dev.1", value)
        nats_server.start()
        await eventually(lambda: relay.stats()["spooled"] == 0, 15)
    messages = await stream_contents(nats_server, 300)
    assert values_of(messages, "dev.1") == list(range(300))
    async with connected(nats_server) as client:
        info = await client.jetstream().stream_info("LWM2M")
    assert info.state.messages == 300


async def test_ten_thousand_notifications_in_order_per_device(
    server: LwM2MServer, nats_server: Broker, tmp_path: Path
) -> None:
    fake = FakeServer(server)
    devices = [f"sensor-{n}" for n in range(10)]
    async with northbound(fake, nats_server, Spool(tmp_path / "s")) as relay:  # type: ignore[arg-type]
        for value in range(1000):
            for device in devices:
                fake.notify(device, value)
        await eventually(lambda: relay.stats()["published"] == 10_000, 60)
    messages = await stream_contents(nats_server, 10_000)
    for device in devices:
        assert values_of(messages, device) == list(range(1000))


async def ask(broker: Broker, op: str, body: dict[str, Any], ep: str = EP) -> Any:
    async with connected(broker) as client:
        answer = await client.request(
            f"lwm2m.{escape_endpoint(ep)}.req.{op}", json.dumps(body).encode(), timeout=10
        )
    return json.loads(answer.data)


async def test_commands_by_request_reply(server: LwM2MServer, nats_server: Broker) -> None:
    allow = AllowList.parse([f"{EP}=read,write,execute"])
    async with northbound(server, nats_server, allow=allow):
        client, _ = await register(server)
        try:
            correlation = uuid.uuid4().hex
            read = await ask(nats_server, "read", {"path": "/3/0/0", "correlationId": correlation})
            assert read["status"] == "2.05" and set(read["values"]) == {"/3/0/0"}
            assert read["correlationId"] == correlation
            values = {"/3/0/14": "-05:00"}
            written = await ask(nats_server, "write", {"path": "/3/0/14", "values": values})
            assert written["status"] == "2.04"
            assert (await ask(nats_server, "read", {"path": "/3/0/14"}))["values"] == values
            executed = await ask(nats_server, "execute", {"path": "/3/0/12"})
            assert executed["status"] == "2.04"
            refused = await ask(nats_server, "observe", {"path": "/3/0/9"})
            assert refused["error"] == "forbidden"
        finally:
            await client.stop(timeout=2.0)


async def test_commands_are_off_by_default(server: LwM2MServer, nats_server: Broker) -> None:
    async with northbound(server, nats_server):
        with pytest.raises(nats.errors.NoRespondersError):
            await ask(nats_server, "read", {"path": "/3/0/0"})
