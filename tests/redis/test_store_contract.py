"""The store contract, run against every store: memory (what needs no restart), SQLite, Redis,
and a Redis Cluster of three nodes.  Round trips through a reopened store, typed and bounded
history, credentials, OSCORE contexts and their sequence numbers, bootstrap configurations,
NIDD devices, and a server core restarted on what a store kept (virtual clock)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path as FilePath
from typing import Any

import pytest
import redis

from lwm2m.bootstrap.config import parse_entry
from lwm2m.coap.codes import Code
from lwm2m.coap.options import Options
from lwm2m.model import ObjectLink, Path
from lwm2m.operations.mapping import CoapParts
from lwm2m.security.credentials import OscoreCredential, PskCredential
from lwm2m.server import Expired
from lwm2m.server.registration import HistoryEntry, MemoryStore, ObservationRecord, QueuedRecord
from lwm2m.storage import RedisStore, SqliteStore
from lwm2m.storage.redis_parts import SEQUENCE_LOOKAHEAD
from lwm2m.storage.redis_records import Keys
from lwm2m.transport.dtls import DtlsPeer
from tests.protocol.test_server_harness import EPOCH
from tests.redis.conftest import delete_prefix
from tests.redis.servers import Cluster
from tests.unit.test_storage_sqlite import (
    BATTERY,
    KEY,
    notifies_under_its_old_token,
    observed_and_queued,
    registration,
    restart,
    wakes_to_its_queued_read,
)

pytestmark = pytest.mark.timeout(60)

Store = Any  # MemoryStore | SqliteStore | RedisStore: the contract is duck-typed


class Backend:
    """Opens, flushes, reopens and closes one kind of store."""

    def __init__(self, kind: str, location: str) -> None:
        self.kind = kind
        self.location = location

    async def open(self, **options: Any) -> Store:
        if self.kind == "memory":
            return MemoryStore(**options)
        if self.kind == "sqlite":
            return SqliteStore(self.location, **options)
        return await RedisStore.open(self.location, **options)

    async def flush(self, store: Store) -> None:
        if isinstance(store, SqliteStore):
            store.flush()
        elif isinstance(store, RedisStore):
            assert await store.flush(10.0)

    async def close(self, store: Store) -> None:
        if isinstance(store, RedisStore):
            await store.aclose()
        else:
            store.close()

    async def reopen(self, store: Store, **options: Any) -> Store:
        if self.kind == "memory":
            pytest.skip("the memory store keeps nothing across a restart")
        await self.close(store)
        return await self.open(**options)


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: FilePath, redis_url: str, prefix: str
) -> AsyncIterator[Backend]:
    kind = request.param
    if kind == "redis-cluster":
        cluster: Cluster = request.getfixturevalue("cluster")
        base = cluster.url
    else:
        base = redis_url
    location = {
        "memory": "",
        "sqlite": str(tmp_path / "lwm2m.db"),
        "redis": f"{base}?prefix={prefix}",
        "redis-cluster": f"{base}?prefix={prefix}",
    }[kind]
    yield Backend(kind, location)
    if kind.startswith("redis"):
        delete_prefix(base, prefix)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    yield opened
    await backend.close(opened)


OBSERVE = CoapParts(Code.GET, Options.build(uri_path=("lwm2m", "3", "0", "9"), observe=0))
WRITE = CoapParts(Code.PUT, Options.build(uri_path=("1", "0", "1"), content_format=0), b"120")


async def test_registrations_observations_and_queues_survive_reopening(
    backend: Backend, store: Store
) -> None:
    udp, dtls = registration("a"), registration("b", DtlsPeer(("::1", 5684)))
    store.registrations.put(udp)
    store.registrations.put(dtls)
    store.registrations.put(registration("c"))
    store.registrations.delete("c")
    assert store.registrations.get("a") == udp  # answered from memory at once
    kept = ObservationRecord("a", b"\x01\x02", ("10.0.0.1", 5683), OBSERVE)
    store.observations.put(kept)
    store.observations.put(ObservationRecord("a", b"\x03", ("10.0.0.1", 5683), OBSERVE))
    store.observations.delete("a", b"\x03")
    queued = [QueuedRecord(n, "b", WRITE, EPOCH + n) for n in (7, 3, 9)]
    for record in queued:
        store.queue.put(record)
    store.queue.delete(9)
    store = await backend.reopen(store)
    try:
        assert sorted(store.registrations.all(), key=lambda r: r.endpoint) == [udp, dtls]
        assert store.registrations.by_registration_id("id-b") == dtls
        assert store.observations.all() == [kept]
        assert store.queue.all() == [queued[1], queued[0]]  # in the order they were queued
    finally:
        await backend.close(store)


async def test_history_is_typed_bounded_queried_by_prefix_and_kept(backend: Backend) -> None:
    store = await backend.open(history_limit=3)
    for n in range(5):
        store.history.add("ep", EPOCH + n, {BATTERY: n, Path.of(3, 0, 0): f"v{n}"})
    odd = {
        Path.of(3, 0, 13): True,
        Path.of(3, 0, 14): "0123",  # digits stay a string
        Path.of(3, 0, 15): b"\x00\xff",
        Path.of(3, 0, 16): ObjectLink(3, 0),
        Path.of(3, 0, 17): math.inf,
        Path.of(3, 0, 18): 2**64 - 1,
        Path.of(3, 0, 19): "\ud800 lone surrogate",
        Path.of(3, 0, 20): -(2**63) - 1,
    }
    store.history.add("ep", EPOCH + 10, odd)
    store.history.add("other", EPOCH, {BATTERY: 99})
    store.history.add("gone", EPOCH, {BATTERY: 1})
    store.history.clear("gone")
    await backend.flush(store)
    if backend.kind != "memory":
        store = await backend.reopen(store, history_limit=3)
    try:
        assert store.history.query("ep", BATTERY, 10) == [
            HistoryEntry(EPOCH + n, BATTERY, n) for n in (2, 3, 4)
        ]
        assert [e.value for e in store.history.query("ep", BATTERY, 2)] == [3, 4]
        kept = {e.path: e.value for e in store.history.query("ep", Path.of(3, 0), 20)}
        assert kept == {BATTERY: 4, Path.of(3, 0, 0): "v4", **odd}
        assert all(type(kept[path]) is type(value) for path, value in odd.items())
        assert store.history.query("ep", Path.of(3, 0, 1), 10) == []  # not /3/0/1x
        assert store.history.query("gone", Path.of(3), 10) == []
        store.history.add("ep", EPOCH + 20, {BATTERY: 5})  # the ring goes on where it was
        store.history.clear("other")
        await backend.flush(store)
        if backend.kind != "memory":
            store = await backend.reopen(store, history_limit=3)
        assert [e.value for e in store.history.query("ep", BATTERY, 10)] == [3, 4, 5]
        assert store.history.query("other", Path.of(3), 10) == []
    finally:
        await backend.close(store)


async def test_credentials_oscore_and_bootstrap_configurations_survive(
    backend: Backend, store: Store
) -> None:
    if backend.kind == "memory":
        pytest.skip("the memory store has no credentials")
    credential = PskCredential.parse(f"urn:imei:1:dev-1:{KEY}")
    store.credentials.set(credential)
    store.credentials.set(PskCredential.parse(f"gone:dev-2:{KEY}"))
    assert store.credentials.remove("gone")
    with pytest.raises(ValueError, match="already belongs"):
        store.credentials.set(PskCredential.parse(f"thief:dev-1:{KEY}"))
    secret = "5ec2e75ec2e75ec2e75ec2e75ec2e7"
    plain = OscoreCredential.parse(f"urn:imei:1:01:02:{secret}")
    entry = {"mode": "oscore", "masterSecret": KEY, "senderId": "", "recipientId": "0a"}
    salted = OscoreCredential.from_json("ep-2", {**entry, "masterSalt": "9e", "idContext": "37"})
    assert store.oscore.set(plain) and store.oscore.set(salted)
    assert store.oscore.set(OscoreCredential.parse(f"gone:01:03:{secret}"))
    assert store.oscore.remove_endpoint("gone")
    server = {"shortServerId": 1, "uri": "coaps://10.0.0.1:5684", "securityMode": "psk"}
    config = parse_entry("urn:imei:1", {"servers": [{**server, "identity": "d", "key": KEY}]})
    store.bootstrap_configs.put("urn:imei:1", config)
    store.bootstrap_configs.put("old", config)
    assert store.bootstrap_configs.delete("old")
    store = await backend.reopen(store)
    try:
        assert list(store.credentials) == [credential]
        assert store.credentials.lookup(b"dev-1") == credential
        assert sorted(store.oscore, key=lambda c: c.endpoint) == [salted, plain]
        assert store.oscore.refusal("urn:imei:1", None) is not None  # contexts, not just rows
        assert list(store.bootstrap_configs) == [("urn:imei:1", config)]
    finally:
        await backend.close(store)


async def test_nidd_devices_survive(backend: Backend, store: Store) -> None:
    store.nidd_devices.put("dev@example.com")
    store.nidd_devices.put("msisdn:4912345")
    store.nidd_devices.delete("dev@example.com")
    store = await backend.reopen(store)
    try:
        assert store.nidd_devices.all() == ["msisdn:4912345"]
    finally:
        await backend.close(store)


async def test_oscore_sequence_numbers_never_go_back_after_a_restart(backend: Backend) -> None:
    if not backend.kind.startswith("redis"):
        pytest.skip("SQLite keeps them in files (tests/unit/test_storage_sqlite.py)")
    store = await backend.open()
    store.oscore.set(OscoreCredential.parse(f"ep:01:02:{KEY}"))
    sequences = store.sequences
    sequences.reserve("ep", 64)  # what a context does before using number 0
    sequences.reserve("ep", 128)  # within the reservation: no write
    written = store.written
    sequences.reserve("ep", SEQUENCE_LOOKAHEAD)  # half of it used: the next one is written
    assert store.written == written + 1
    store = await backend.reopen(store)
    try:
        assert store.sequences.reserved["ep"] == 2 * SEQUENCE_LOOKAHEAD
        # A context made now starts past every number the last run may have used.
        assert store.sequences(OscoreCredential.parse(f"ep:01:02:{KEY}")).load() == (
            2 * SEQUENCE_LOOKAHEAD
        )
    finally:
        await backend.close(store)


async def test_stats_say_what_is_pending_and_committed(backend: Backend, store: Store) -> None:
    if backend.kind == "memory":
        pytest.skip("the memory store writes nothing")
    await backend.flush(store)
    before = store.stats()
    for n in range(10):
        store.registrations.put(registration(f"ep-{n}"))
    assert store.written - store.committed == 10 == store.stats().pending_writes
    await backend.flush(store)
    after = store.stats()
    assert after.commits > before.commits
    assert after.commit_seconds_total >= after.last_commit_seconds > 0
    assert (after.pending_writes, after.write_lag_seconds, after.failed_rows) == (0, 0.0, 0)
    if isinstance(store, RedisStore):
        assert (after.connected, after.pending_keys, after.retries) == (True, 0, 0)


async def test_one_endpoints_keys_share_a_cluster_slot(backend: Backend, store: Store) -> None:
    if backend.kind != "redis-cluster":
        pytest.skip("about Redis Cluster")
    endpoint = "urn:imei:490154203237518"
    store.registrations.put(registration(endpoint))
    store.observations.put(ObservationRecord(endpoint, b"\x01", ("10.0.0.1", 5683), OBSERVE))
    store.queue.put(QueuedRecord(1, endpoint, WRITE, EPOCH))
    store.history.add(endpoint, EPOCH, {BATTERY: 1})
    store.credentials.set(PskCredential.parse(f"{endpoint}:dev-1:{KEY}"))
    await backend.flush(store)
    port = int(backend.location.rsplit(":", 1)[1].split("?")[0])
    client = redis.RedisCluster(host="127.0.0.1", port=port)
    try:
        keys = list(client.scan_iter(match=f"{store.keys.prefix}:*"))
        mine = [key for key in keys if Keys(store.keys.prefix).parse(key) is not None]
        assert len(mine) == 5
        assert len({client.keyslot(key) for key in mine}) == 1
    finally:
        client.close()


async def test_a_restarted_core_keeps_registrations_observations_and_queues(
    backend: Backend, store: Store
) -> None:
    world, device, token, sleeper = observed_and_queued(store)
    if backend.kind != "memory":
        store = await backend.reopen(store)
    try:
        world = restart(world, store)
        assert {r.endpoint for r in store.registrations.all()} == {"ep", "q"}
        notifies_under_its_old_token(world, device, token)
        await backend.flush(store)
        assert [e.value for e in store.history.query("ep", BATTERY, 5)] == [42]
        wakes_to_its_queued_read(world, sleeper)
        world.run(300.0)
        assert {e.registration.endpoint for e in world.of_type(Expired)} == {"ep", "q"}
        await backend.flush(store)
        if backend.kind != "memory":
            store = await backend.reopen(store)
        assert store.registrations.all() == []
        assert store.observations.all() == [] and store.queue.all() == []
    finally:
        await backend.close(store)
