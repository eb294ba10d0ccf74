"""The server's Python API conveniences without a device: waiting for a registration, async
event subscribers (tasks, failures logged, never raised into the server), compatibility of the
plain callback form."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.events import QueueDrained, ServerEvent
from lwm2m.server.subscribers import Subscribers

EVENT = QueueDrained("urn:dev:a", 1)


async def test_wait_registered_gives_up_after_its_timeout() -> None:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await server.start()
    try:
        with pytest.raises(TimeoutError):
            await server.wait_registered("urn:dev:nobody", timeout=0.05)
    finally:
        await server.stop()


async def test_plain_and_async_subscribers_each_get_every_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscribers = Subscribers()
    plain: list[ServerEvent] = []
    awaited: list[ServerEvent] = []

    async def slow(event: ServerEvent) -> None:
        await asyncio.sleep(0)
        awaited.append(event)

    def broken(event: ServerEvent) -> None:
        raise RuntimeError("plain boom")

    async def broken_async(event: ServerEvent) -> None:
        raise RuntimeError("async boom")

    for callback in (broken, broken_async, slow, plain.append):
        subscribers.add(callback)
    with caplog.at_level(logging.ERROR, logger="lwm2m.server.subscribers"):
        subscribers.publish(EVENT)  # neither failure escapes
        assert plain == [EVENT] and awaited == []  # async ones run later, as tasks
        for _ in range(3):
            await asyncio.sleep(0)
    assert awaited == [EVENT]
    messages = [(record.getMessage(), str(record.exc_info[1])) for record in caplog.records]
    assert messages == [
        (f"event subscriber {broken.__qualname__} failed", "plain boom"),
        (f"event subscriber {broken_async.__qualname__} failed", "async boom"),
    ]


async def test_unsubscribing_stops_the_calls() -> None:
    subscribers = Subscribers()
    seen: list[ServerEvent] = []
    unsubscribe = subscribers.add(seen.append)
    unsubscribe()
    unsubscribe()  # twice is harmless
    subscribers.publish(EVENT)
    assert seen == []
