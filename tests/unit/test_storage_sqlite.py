"""The SQLite store: round trips, migrations, bounded history, write-behind and crashes, and a
server core restarted on what a store kept (virtual clock, hand-made clients)."""

from __future__ import annotations

import logging
import math
import os
import random
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path as FilePath

import pytest

from lwm2m.bootstrap.config import parse_entry
from lwm2m.coap.codes import Code
from lwm2m.coap.options import Options
from lwm2m.codec.link import Link
from lwm2m.model import ObjectLink, Path
from lwm2m.operations import Observe, Read
from lwm2m.operations.mapping import CoapParts
from lwm2m.security.credentials import OscoreCredential, PskCredential
from lwm2m.server import (
    Expired,
    NotificationReceived,
    QueueDrained,
    RequestCompleted,
    ServerConfig,
    ServerCore,
)
from lwm2m.server.registration import (
    HistoryEntry,
    MemoryStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
    ServerStore,
)
from lwm2m.storage import SCHEMA_VERSION, SqliteStore, StoreError, migrate
from lwm2m.storage.schema import MIGRATIONS
from lwm2m.transport.dtls import DtlsPeer
from tests.protocol.test_server_harness import EPOCH, FAST, Client, World
from tests.protocol.test_server_reporting import SENML, battery, observed

BATTERY = Path.of(3, 0, 9)
KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture
def db(tmp_path: FilePath) -> str:
    return str(tmp_path / "var" / "lwm2m.db")


@pytest.fixture
def store(db: str) -> Iterator[SqliteStore]:
    opened = SqliteStore(db)
    yield opened
    opened.close()


def reopen(store: SqliteStore) -> SqliteStore:
    store.close()
    return SqliteStore(store.path)


def registration(endpoint: str = "ep", address: object = ("10.0.0.1", 5683)) -> Registration:
    return Registration(
        endpoint=endpoint,
        registration_id=f"id-{endpoint}",
        lwm2m_version="1.1",
        binding="UQ",
        lifetime=300,
        queue_mode=True,
        sms=None,
        address=address,
        root_path="/lwm2m",
        object_links=(Link("/lwm2m", {"rt": "oma.lwm2m", "ct": "110 112"}), Link("/lwm2m/3/0")),
        registered_at=EPOCH,
        last_seen=EPOCH + 5.5,
    )


# -- round trips ------------------------------------------------------------------------------


def test_registrations_survive_reopening(store: SqliteStore) -> None:
    udp, dtls = registration("a"), registration("b", DtlsPeer(("::1", 5684)))
    store.registrations.put(udp)
    store.registrations.put(dtls)
    store.registrations.put(registration("c"))
    store.registrations.delete("c")
    assert store.registrations.get("a") == udp  # answered from memory at once
    store = reopen(store)
    try:
        assert sorted(store.registrations.all(), key=lambda r: r.endpoint) == [udp, dtls]
        assert store.registrations.by_registration_id("id-b") == dtls
        loaded = store.registrations.all()
        assert loaded[0].object_links is loaded[1].object_links  # one tuple per object list
    finally:
        store.close()


def test_observations_and_queued_requests_survive_reopening(store: SqliteStore) -> None:
    observe = CoapParts(Code.GET, Options.build(uri_path=("lwm2m", "3", "0", "9"), observe=0))
    write = CoapParts(Code.PUT, Options.build(uri_path=("1", "0", "1"), content_format=0), b"120")
    kept = ObservationRecord("ep", b"\x01\x02", ("10.0.0.1", 5683), observe)
    store.observations.put(kept)
    store.observations.put(ObservationRecord("ep", b"\x03", ("10.0.0.1", 5683), observe))
    store.observations.delete("ep", b"\x03")
    queued = [QueuedRecord(n, "ep", write, EPOCH + n) for n in (7, 3, 9)]
    for record in queued:
        store.queue.put(record)
    store.queue.delete(9)
    store = reopen(store)
    try:
        assert store.observations.all() == [kept]
        assert store.queue.all() == [queued[1], queued[0]]  # in the order they were queued
    finally:
        store.close()


def test_history_is_typed_bounded_and_queried_by_prefix(db: str) -> None:
    store = SqliteStore(db, history_limit=3)
    try:
        for n in range(5):
            store.history.add("ep", EPOCH + n, {BATTERY: n, Path.of(3, 0, 0): f"v{n}"})
        odd = {
            Path.of(3, 0, 13): True,
            Path.of(3, 0, 14): "0123",  # digits stay a string
            Path.of(3, 0, 15): b"\x00\xff",
            Path.of(3, 0, 16): ObjectLink(3, 0),
            Path.of(3, 0, 17): math.inf,
            Path.of(3, 0, 18): 2.5,
        }
        store.history.add("ep", EPOCH + 10, odd)
        store.history.add("ep", EPOCH + 11, {Path.of(3, 0, 19): math.nan})
        store.history.add("other", EPOCH, {BATTERY: 99})
        store.flush()
        assert store.history.query("ep", BATTERY, 10) == [
            HistoryEntry(EPOCH + n, BATTERY, n) for n in (2, 3, 4)
        ]
        assert [e.value for e in store.history.query("ep", BATTERY, 2)] == [3, 4]
        assert {e.path: e.value for e in store.history.query("ep", Path.of(3, 0), 9)} == {
            BATTERY: 4,
            Path.of(3, 0, 0): "v4",
            **odd,
            Path.of(3, 0, 19): pytest.approx(math.nan, nan_ok=True),
        }
        assert len(store.history.query("ep", Path.of(3), 100)) == 3 + 3 + 7
        assert store.history.query("ep", Path.of(3, 0, 1), 10) == []  # not /3/0/1x
        rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM history").fetchone()[0]
        assert rows == 3 + 3 + 7 + 1
        store.history.clear("ep")
        store.flush()
        assert store.history.query("ep", Path.of(3), 100) == []
        assert len(store.history.query("other", Path.of(3), 100)) == 1
    finally:
        store.close()


def test_every_value_the_model_holds_is_kept_exactly(store: SqliteStore) -> None:
    """Past SQLite's signed 64-bit INTEGER, and strings that are not valid Unicode."""
    values = {
        Path.of(3, 0, 1): 2**64 - 1,  # the largest unsigned integer
        Path.of(3, 0, 2): 2**63,
        Path.of(3, 0, 3): -(2**63) - 1,
        Path.of(3, 0, 4): 2**63 - 1,
        Path.of(3, 0, 5): "\ud800 lone surrogate",
        Path.of(3, 0, 6): "grüße ✓",
        Path.of(3, 0, 7): -math.inf,
        Path.of(3, 0, 8): b"",
    }
    store.history.add("ep", EPOCH, values)
    store.flush()
    kept = {e.path: e.value for e in store.history.query("ep", Path.of(3), 100)}
    assert kept == values
    assert all(type(kept[path]) is type(value) for path, value in values.items())
    assert store.stats().failed_rows == 0


def test_a_row_the_database_refuses_is_left_out_and_the_rest_committed(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """One device's poison row costs the other devices of its batch nothing."""
    store.flush()
    store.registrations.put(registration("before"))
    store.registrations.put(registration("bad\udc80"))  # no UTF-8 for the endpoint name
    store.registrations.put(registration("after"))
    store.history.add("after", EPOCH, {BATTERY: 50})
    store.flush()
    assert {r[0] for r in sqlite3.connect(store.path).execute("SELECT * FROM registrations")} == {
        "before",
        "after",
    }
    assert [e.value for e in store.history.query("after", BATTERY, 10)] == [50]
    stats = store.stats()
    assert stats.failed_rows == 1 and stats.pending_writes == 0
    assert store.committed == store.written == 4
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "registrations row of endpoint bad\udc80" in record.getMessage()
    assert "UnicodeEncodeError" in record.getMessage()


def test_stats_count_commits_and_their_time(store: SqliteStore) -> None:
    before = store.stats()
    for n in range(10):
        store.registrations.put(registration(f"ep-{n}"))
    store.flush()
    after = store.stats()
    assert after.commits > before.commits
    assert after.commit_seconds_total >= after.last_commit_seconds > 0
    assert (after.pending_writes, after.write_lag_seconds) == (0, 0.0)


def test_credentials_survive_with_their_keys_never_logged(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    credential = PskCredential.parse(f"urn:imei:1:dev-1:{KEY}")
    store.credentials.set(credential)
    store.credentials.set(PskCredential.parse(f"gone:dev-2:{KEY}"))
    assert store.credentials.remove("gone")
    with pytest.raises(ValueError, match="already belongs"):
        store.credentials.set(PskCredential.parse(f"thief:dev-1:{KEY}"))
    store = reopen(store)
    try:
        assert list(store.credentials) == [credential]
        assert store.credentials.lookup(b"dev-1") == credential
        assert store.credentials.get("urn:imei:1") == credential
    finally:
        store.close()
    assert KEY not in caplog.text and KEY not in repr(credential)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def on_disk(store: SqliteStore, secret: bytes) -> list[str]:
    """The files of ``store`` (database, WAL) that hold ``secret``'s bytes."""
    files = [store.path, f"{store.path}-wal"]
    return [
        name for name in files if os.path.exists(name) and secret in FilePath(name).read_bytes()
    ]


def test_a_rotated_or_removed_key_leaves_no_bytes_in_the_database_or_its_wal(
    store: SqliteStore,
) -> None:
    old, new = os.urandom(16), os.urandom(16)
    store.credentials.set(PskCredential.parse(f"ep:dev-1:{old.hex()}"))
    store.flush()
    assert on_disk(store, old)  # it is kept: in the WAL until a checkpoint
    store.credentials.set(PskCredential.parse(f"ep:dev-1:{new.hex()}"))
    store.flush()
    assert on_disk(store, old) == []
    assert on_disk(store, new)
    assert store.credentials.remove("ep")
    store.flush()
    assert on_disk(store, new) == []
    store = reopen(store)
    store.close()
    assert on_disk(store, new) == [] and on_disk(store, old) == []


def test_oscore_credentials_survive_with_their_secrets_never_logged(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "5ec2e75ec2e75ec2e75ec2e75ec2e7"
    plain = OscoreCredential.parse(f"urn:imei:1:01:02:{secret}")
    entry = {"mode": "oscore", "masterSecret": KEY, "senderId": "", "recipientId": "0a"}
    salted = OscoreCredential.from_json("ep-2", {**entry, "masterSalt": "9e", "idContext": "37"})
    assert store.oscore.set(plain) and store.oscore.set(salted)
    assert store.oscore.set(OscoreCredential.parse(f"gone:01:03:{secret}"))
    assert store.oscore.remove_endpoint("gone")
    with pytest.raises(ValueError, match="already belongs"):  # the refused change is not kept
        store.oscore.set(OscoreCredential.parse(f"ep-2:01:02:{secret}"))
    store = reopen(store)
    try:
        assert sorted(store.oscore, key=lambda c: c.endpoint) == [salted, plain]
        assert store.oscore.refusal("urn:imei:1", None) is not None  # contexts, not just rows
        assert len(store.oscore.registry) == 2
    finally:
        store.close()
    assert secret not in caplog.text and KEY not in caplog.text


def test_bootstrap_configurations_survive_with_their_keys(store: SqliteStore) -> None:
    entry = {
        "servers": [
            {
                "shortServerId": 1,
                "uri": "coaps://10.0.0.1:5684",
                "securityMode": "psk",
                "identity": "dev-1",
                "key": KEY,
                "oscore": {"masterSecret": "secret", "senderId": "01", "recipientId": "02"},
            }
        ],
        "read": ["/1"],
        "accessControl": [{"objectId": 3, "instanceId": 0, "owner": 1, "acl": {"1": 7}}],
    }
    config = parse_entry("urn:imei:1", entry)
    store.bootstrap_configs.put("urn:imei:1", config)
    store.bootstrap_configs.put("old", config)
    assert store.bootstrap_configs.delete("old")
    store = reopen(store)
    try:
        assert list(store.bootstrap_configs) == [("urn:imei:1", config)]
    finally:
        store.close()


# -- schema -----------------------------------------------------------------------------------


def test_a_new_database_gets_the_current_schema_version(store: SqliteStore) -> None:
    version = sqlite3.connect(store.path).execute("SELECT version FROM schema_version")
    assert version.fetchone() == (SCHEMA_VERSION,)
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_migrations_apply_in_order_each_in_a_transaction(tmp_path: FilePath) -> None:
    connection = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    steps = ("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1)",)
    assert migrate(connection, steps) == 0
    steps += ("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x'",)
    assert migrate(connection, steps) == 1
    assert connection.execute("SELECT a, b FROM t").fetchall() == [(1, "x")]
    broken = (*steps, "CREATE TABLE u (a); INSERT INTO nowhere VALUES (1)")
    with pytest.raises(sqlite3.OperationalError):
        migrate(connection, broken)
    assert connection.execute("SELECT version FROM schema_version").fetchone() == (2,)
    assert connection.execute("SELECT name FROM sqlite_master WHERE name = 'u'").fetchone() is None
    with pytest.raises(StoreError, match="schema version 2"):
        migrate(connection, steps[:1])


def test_a_database_of_the_previous_version_is_migrated_and_keeps_its_data(
    db: str,
) -> None:
    os.makedirs(os.path.dirname(db))
    connection = sqlite3.connect(db, isolation_level=None)
    migrate(connection, MIGRATIONS[:-1])
    connection.execute("INSERT INTO psk_credentials VALUES ('ep', x'6964', x'00')")
    connection.close()
    store = SqliteStore(db)
    try:
        assert [c.endpoint for c in store.credentials] == ["ep"]
        assert store.oscore.set(OscoreCredential.parse(f"ep-2:01:02:{KEY}"))
        store = reopen(store)
        assert [c.endpoint for c in store.oscore] == ["ep-2"]
    finally:
        store.close()
    version = sqlite3.connect(db).execute("SELECT version FROM schema_version").fetchone()
    assert version == (SCHEMA_VERSION,) == (len(MIGRATIONS),)


def test_one_server_per_database(store: SqliteStore) -> None:
    with pytest.raises(StoreError, match="in use"):
        SqliteStore(store.path)
    store.close()
    SqliteStore(store.path).close()


# -- write-behind and crashes -------------------------------------------------------------------


def test_writes_are_behind_and_committed_within_the_interval(db: str) -> None:
    store = SqliteStore(db, flush_interval=0.05)
    try:
        reader = sqlite3.connect(db)
        store.registrations.put(registration("a"))
        deadline = time.monotonic() + 5.0
        while reader.execute("SELECT COUNT(*) FROM registrations").fetchone() != (1,):
            assert time.monotonic() < deadline, "not committed by the writer thread"
            time.sleep(0.01)
    finally:
        store.close()


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from tests.unit.test_storage_sqlite import registration
    from lwm2m.storage import SqliteStore
    store = SqliteStore(sys.argv[1], flush_interval=60.0, durability="relaxed")
    for n in range(200):
        store.registrations.put(registration(f"kept-{n}"))
    store.flush()
    for n in range(200):
        store.registrations.put(registration(f"lost-{n}"))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_kill_9_loses_only_what_was_not_flushed(db: str) -> None:
    """The trailing writes were never committed (the interval is a minute): they are lost
    whole, and everything flushed before is there, in a database that checks clean."""
    result = subprocess.run(
        [sys.executable, "-c", CRASH, db],
        capture_output=True,
        timeout=30,
        check=False,
        cwd=FilePath(__file__).parents[2],
    )
    assert result.returncode == -9, result.stderr.decode()
    store = SqliteStore(db)
    try:
        endpoints = {r.endpoint for r in store.registrations.all()}
        assert endpoints == {f"kept-{n}" for n in range(200)}
        check = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()
        assert check == ("ok",)
    finally:
        store.close()


def test_close_commits_everything_queued(db: str) -> None:
    store = SqliteStore(db, flush_interval=60.0)
    for n in range(100):
        store.registrations.put(registration(f"ep-{n}"))
    store.close()
    store = SqliteStore(db)
    try:
        assert len(store.registrations.all()) == 100
    finally:
        store.close()


# -- the server core on a store, restarted -------------------------------------------------------


CONFIG = ServerConfig(coap=FAST, awake_window=10.0, expiry_grace=5.0)


def with_core(world: World, store: ServerStore) -> World:
    world.core = ServerCore(world.config, random.Random(2), lambda: EPOCH + world.now, store=store)
    return world


def restart(world: World, store: ServerStore, down: float = 30.0) -> World:
    """A new server core on ``store``, ``down`` seconds later, with the same clients."""
    new = with_core(World(world.config), store)
    new.now = world.now + down
    new.core.restore(
        store.registrations.all(), store.observations.all(), store.queue.all(), new.now
    )
    for peer, client in world.clients.items():
        client.world = new
        new.clients[peer] = client
    return new


def observed_and_queued(store: ServerStore) -> tuple[World, Client, bytes, Client]:
    """A core on ``store`` with ``ep`` observed (the device, the token) and a Read queued for
    the sleeping queue-mode ``q`` (the sleeper)."""
    world = with_core(World(CONFIG), store)
    device = observed(world)
    first = world.outcome(world.core.send("ep", Observe(BATTERY), now=world.now))
    assert isinstance(first, RequestCompleted)
    token = device.requests[0].token
    sleeper = world.client(("10.0.0.2", 40000), handler=device.handler)
    sleeper.register("q", ("lt=300", "lwm2m=1.1", "Q"))
    world.run(20.0)  # past the awake window: requests for it wait
    sleeper.listening = False
    world.core.send("q", Read(Path.of(3, 0, 9)), now=world.now)
    world.flush()
    return world, device, token, sleeper


def notifies_under_its_old_token(world: World, device: Client, token: bytes) -> None:
    """The restarted core takes the device's notification: no new Observe."""
    device.notify(battery(world, 42), SENML)
    (notification,) = world.of_type(NotificationReceived)
    assert (notification.endpoint, notification.values) == ("ep", {BATTERY: 42})
    assert [r.token for r in device.requests] == [token]


def wakes_to_its_queued_read(world: World, sleeper: Client) -> None:
    """The sleeper wakes up with an Update: the queued Read goes out to it."""
    sleeper.listening = True
    sleeper.update()
    world.run(5.0)
    assert [r.options.uri_path for r in sleeper.requests] == [("3", "0", "9")]
    assert [e.count for e in world.of_type(QueueDrained)] == [1]


@pytest.mark.parametrize("persistent", [False, True], ids=["memory", "sqlite"])
def test_a_restarted_core_keeps_registrations_observations_and_queues(
    db: str, persistent: bool
) -> None:
    store: ServerStore = SqliteStore(db) if persistent else MemoryStore()
    world, device, token, sleeper = observed_and_queued(store)
    if isinstance(store, SqliteStore):
        store = reopen(store)
    try:
        world = restart(world, store)
        assert {r.endpoint for r in store.registrations.all()} == {"ep", "q"}
        notifies_under_its_old_token(world, device, token)
        if isinstance(store, SqliteStore):
            store.flush()
        assert [e.value for e in store.history.query("ep", BATTERY, 5)] == [42]
        wakes_to_its_queued_read(world, sleeper)
        # An active cancel repeats the stored request with Observe=1 and the same token.
        world.outcome(world.core.cancel_observation("ep", BATTERY, active=True, now=world.now))
        assert (device.requests[-1].options.observe, device.requests[-1].token) == (1, token)
        # Lifetimes still count from the last Register/Update, across the restart.
        world.run(300.0)
        assert {e.registration.endpoint for e in world.of_type(Expired)} == {"ep", "q"}
        assert store.registrations.all() == []
        if isinstance(store, SqliteStore):
            store.flush()
            assert store.observations.all() == [] and store.queue.all() == []
    finally:
        store.close()


def test_notifications_and_sends_go_to_the_history(store: SqliteStore) -> None:
    world = with_core(World(CONFIG), store)
    device = observed(world)
    world.outcome(world.core.send("ep", Observe(BATTERY), now=world.now))
    for level in (70, 71):
        device.notify(battery(world, level), SENML)
    sent = world.codecs.get(SENML).encode_values({BATTERY: 72}, world.models)
    assert device.ask(Code.POST, ("dp",), (), sent, SENML).code is Code.CHANGED
    store.flush()
    history = store.history.query("ep", BATTERY, 10)
    assert [e.value for e in history] == [70, 71, 72]
    assert EPOCH < history[0].time < history[1].time < history[2].time <= EPOCH + world.now


def test_what_ended_while_the_server_was_down_is_dropped(store: SqliteStore) -> None:
    world = with_core(World(CONFIG), store)
    observed(world)
    world.outcome(world.core.send("ep", Observe(BATTERY), now=world.now))
    store.queue.put(QueuedRecord(99, "nobody", CoapParts(Code.GET, Options()), EPOCH + 1e6))
    store = reopen(store)
    try:
        world = restart(world, store, down=400.0)  # lifetime 300 and grace 5 are over
        assert [e.registration.endpoint for e in world.of_type(Expired)] == ["ep"]
        store.flush()
        assert store.registrations.all() == [] and store.observations.all() == []
        assert store.queue.all() == []
    finally:
        store.close()
