"""A Redis outage, on real sockets: a private ``redis-server`` (AOF, ``appendfsync always``) is
killed while devices register and send; relaxed, they are answered from memory all along;
strict, answers wait; either way everything is in Redis once it is back.  And a Redis that
comes back empty (no persistence) gets the whole state written again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path as FilePath

import pytest
import redis

from lwm2m.coap.codes import Code
from lwm2m.model import Path
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.config import Durability
from lwm2m.storage import RedisStore
from tests.e2e.conftest import eventually
from tests.integration.test_durability import HELD, Device
from tests.redis.servers import RedisServer
from tests.unit.test_storage_sqlite import registration

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
BATTERY = Path.of(3, 0, 9)


@pytest.fixture
def redis_server(tmp_path: FilePath) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def serve(url: str, durability: Durability) -> tuple[LwM2MServer, RedisStore]:
    store = await RedisStore.open(url, durability=durability)
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, durability=durability), store=store
    )
    await server.start()
    return server, store


@pytest.fixture
async def devices() -> AsyncIterator[list[Device]]:
    made: list[Device] = []
    yield made
    for device in made:
        device.close()


async def test_relaxed_devices_are_served_through_an_outage_and_nothing_is_lost(
    redis_server: RedisServer, devices: list[Device]
) -> None:
    server, store = await serve(redis_server.url, "relaxed")
    try:
        before = Device("before", server.coap_address)
        devices.append(before)
        await before.register()
        assert await store.flush(WAIT)
        redis_server.stop()
        during = Device("during", server.coap_address)
        devices.append(during)
        await during.register()  # answered from memory
        for level in (41, 42):
            during.send([{"n": "/3/0/9", "v": level}])
            assert (await during.answer()).code is Code.CHANGED
        assert [e.value for e in server.history("during", BATTERY)] == [41, 42]
        stats = await eventually(lambda: (s := store.stats()).retries >= 2 and s, WAIT)
        assert not stats.connected and stats.pending_writes > 0
        assert stats.pending_keys >= 2  # a registration and a history, collapsed per key
        redis_server.start()
        assert await store.flush(WAIT)
        stats = store.stats()
        assert stats.connected and stats.pending_writes == 0 and stats.failed_rows == 0
    finally:
        await server.stop()
        await store.aclose()
    restarted = await RedisStore.open(redis_server.url)
    try:
        assert {r.endpoint for r in restarted.registrations.all()} == {"before", "during"}
        assert [e.value for e in restarted.history.query("during", BATTERY, 10)] == [41, 42]
    finally:
        await restarted.aclose()


async def test_strict_answers_wait_for_redis_to_return(
    redis_server: RedisServer, devices: list[Device]
) -> None:
    server, store = await serve(redis_server.url, "strict")
    try:
        redis_server.stop()
        device = Device("waiting", server.coap_address)
        devices.append(device)
        register = asyncio.ensure_future(device.register())
        await asyncio.sleep(HELD * 3)
        assert not register.done(), "answered before Redis acknowledged the registration"
        assert server.registrations.get("waiting") is not None  # served from memory
        redis_server.start()
        await asyncio.wait_for(register, WAIT)  # the 2.01, once Redis took the write
        assert store.committed == store.written
    finally:
        await server.stop()
        await store.aclose()
    restarted = await RedisStore.open(redis_server.url)
    try:
        assert [r.endpoint for r in restarted.registrations.all()] == ["waiting"]
    finally:
        await restarted.aclose()


async def test_a_redis_that_comes_back_empty_gets_everything_again(tmp_path: FilePath) -> None:
    redis_server = RedisServer(tmp_path / "redis", persistent=False)
    redis_server.start()
    try:
        store = await RedisStore.open(redis_server.url)
        try:
            store.registrations.put(registration("kept"))
            store.history.add("kept", 1.0, {BATTERY: 7})
            assert await store.flush(WAIT)
            redis_server.stop()
            redis_server.start()  # nothing on disk: it comes back empty
            store.registrations.put(registration("new"))
            assert await store.flush(WAIT)
            # Noticed within a second (marker gone): all of it is written again.
            await eventually(lambda: keys_in(redis_server) >= 5, WAIT)
            assert await store.flush(WAIT)
        finally:
            await store.aclose()
        restarted = await RedisStore.open(redis_server.url)
        try:
            assert {r.endpoint for r in restarted.registrations.all()} == {"kept", "new"}
            assert [e.value for e in restarted.history.query("kept", BATTERY, 5)] == [7]
        finally:
            await restarted.aclose()
    finally:
        redis_server.stop()


def keys_in(server: RedisServer) -> int:
    client = redis.Redis(port=server.port)
    try:
        return int(client.dbsize())
    finally:
        client.close()
