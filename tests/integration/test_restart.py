"""Restart survival: ``kill -9`` the server under traffic, start it again on the same SQLite
file, and registrations, observations (same token, no new Observe) and queued requests are
still there.  Devices are real simulated Telekom-profile clients behind UDP relays that record
every datagram, so what crosses the wire is checked, not what the server says about it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path as FilePath

import httpx
import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientEvent, RegistrationFailed, Updated
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.oscore import add_oscore_account
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.codes import Code
from lwm2m.coap.message import Message
from lwm2m.security.oscore_endpoint import FileSequenceStore
from tests.e2e.conftest import Tap, eventually

pytestmark = pytest.mark.timeout(60)

OBSERVED = "urn:imei:490154203237511"
SLEEPER = "urn:imei:490154203237522"
WAIT = 10.0

LAUNCHER = """
import asyncio, sys
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.storage import SqliteStore
from lwm2m.web.serving import WebServer

async def main(db, coap_port, http_port):
    # The CLI's wiring, with a short awake window so a queue-mode device sleeps at once.
    config = ServerConfig(host="127.0.0.1", coap_port=coap_port, awake_window=0.5)
    server = LwM2MServer(config, store=SqliteStore(db))
    await server.start()
    await WebServer(server, host="127.0.0.1", port=http_port, log_level="warning").start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def launch(command: Sequence[str], http_port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT
    async with httpx.AsyncClient(timeout=1.0) as http:
        while True:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"http://127.0.0.1:{http_port}/api/clients")).is_success:
                    return process
            assert time.monotonic() < deadline, "the server did not come up"
            await asyncio.sleep(0.05)


def kill_9(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=WAIT) == -signal.SIGKILL


def stored(db: FilePath, table: str) -> int:
    """Rows the server's writer has committed (WAL lets us read beside it)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        count: int = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return count


def device(endpoint: str, tap: Tap, binding: str) -> LwM2MClient:
    account = ServerAccount(
        short_server_id=1,
        uri=f"coap://{tap.address[0]}:{tap.address[1]}",
        lifetime=300,
        default_pmin=0,
        default_pmax=1,  # a notification a second: traffic while the server dies
        binding=binding,
    )
    tree = telekom_device(endpoint, seed=5, now=time.time(), servers=[account])
    config = ClientConfig(awake_window=0.5)
    return LwM2MClient(tree, endpoint, local_address=("127.0.0.1", 0), config=config, seed=5)


def observes(tap: Tap, since: int = 0) -> list[Message]:
    return [
        m
        for m in tap.messages(up=False, since=since)
        if m.code is Code.GET and m.options.observe == 0
    ]


async def notification_events(http: httpx.AsyncClient, endpoint: str) -> AsyncIterator[object]:
    async with http.stream("GET", "/api/events", timeout=None) as events:
        async for line in events.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "notification" and event["endpoint"] == endpoint:
                    yield event


async def traffic(http: httpx.AsyncClient) -> None:
    """REST reads in a loop, whether the server is up or not."""
    while True:
        with contextlib.suppress(httpx.TransportError):
            await http.get("/api/clients")
        await asyncio.sleep(0.01)


async def test_kill_9_under_traffic_keeps_registrations_observations_and_queues(
    tmp_path: FilePath,
) -> None:
    db = tmp_path / "lwm2m.db"
    coap_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    command = [sys.executable, "-c", LAUNCHER, str(db), str(coap_port), str(http_port)]
    await kill_9_under_traffic(command, coap_port, http_port, lambda table: stored(db, table))


async def kill_9_under_traffic(
    command: Sequence[str], coap_port: int, http_port: int, stored: Callable[[str], int]
) -> None:
    """Start the server ``command`` runs (its store empty), register an observed device and a
    sleeping one with a Write queued for it, ``kill -9`` the server under REST traffic, start
    it again: the devices are registered, notifications arrive under the old token and the
    Write reaches the sleeper when it wakes.  ``stored(table)`` counts the store's
    ``registrations``, ``observations`` or ``queue`` records."""
    taps = [Tap(("127.0.0.1", coap_port)), Tap(("127.0.0.1", coap_port))]
    for tap in taps:
        await tap.start()
    observed, sleeper = device(OBSERVED, taps[0], "U"), device(SLEEPER, taps[1], "UQ")
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=WAIT)
    background: asyncio.Task[None] | None = None
    server = await launch(command, http_port)
    try:
        await observed.start()
        await sleeper.start()
        await eventually(lambda: stored("registrations") == 2, WAIT)
        answer = (await http.post(f"/api/clients/{OBSERVED}/3/0/9/observe")).json()
        assert answer["status"] == "2.05", answer
        (observe,) = observes(taps[0])
        await eventually(lambda: stored("observations") == 1, WAIT)

        # The sleeper is asleep for the server too (awake window 0.5 s): a Write waits for it.
        await eventually(lambda: sleeper.engine.asleep, WAIT)
        await asyncio.sleep(0.6)
        write = asyncio.create_task(
            http.put(
                f"/api/clients/{SLEEPER}/3/0/14",
                json={"values": {"/3/0/14": "+05:00"}},
                params={"timeout": "60"},
            )
        )
        await eventually(lambda: stored("queue") == 1, WAIT)
        assert [m for m in taps[1].messages(up=False) if m.code is Code.PUT] == []

        background = asyncio.create_task(traffic(http))
        up_before = len(taps[0].messages(up=True))
        await eventually(lambda: len(taps[0].messages(up=True)) >= up_before + 2, WAIT)
        kill_9(server)
        with pytest.raises(httpx.TransportError):
            await write  # its HTTP caller died with the server; the request did not
        since = [len(tap.log) for tap in taps]

        server = await launch(command, http_port)
        clients = (await http.get("/api/clients")).json()
        assert {c["endpoint"] for c in clients} == {OBSERVED, SLEEPER}

        # Notifications under the old token are taken: no Observe is sent again.
        async with asyncio.timeout(WAIT):
            event = await anext(notification_events(http, OBSERVED))
        assert event["path"] == "/3/0/9"  # type: ignore[index]
        assert observes(taps[0], since[0]) == []
        notified = [m for m in taps[0].messages(up=True, since=since[0]) if m.code.is_response]
        assert notified and {m.token for m in notified} == {observe.token}
        assert not [m for m in taps[0].messages(up=False, since=since[0]) if m.type.name == "RST"]

        # The sleeper wakes (an Update) and the Write queued before the crash reaches it.
        sleeper.trigger_update()
        request, response = await eventually(
            lambda: next(
                (
                    (q, r)
                    for q, r in taps[1].exchanges(since[1])
                    if q.code is Code.PUT and r is not None
                ),
                None,
            ),
            WAIT,
        )
        assert request.options.uri_path == ("3", "0", "14")
        assert response.code is Code.CHANGED
        await eventually(lambda: stored("queue") == 0, WAIT)
    finally:
        if background is not None:
            background.cancel()
        await http.aclose()
        for client in (observed, sleeper):
            await client.stop(timeout=1.0)
        for tap in taps:
            tap.close()
        if server.poll() is None:
            server.kill()
        server.wait(timeout=WAIT)


async def test_the_server_command_keeps_registrations_in_its_db(tmp_path: FilePath) -> None:
    """``lwm2m server --db FILE``: the same, through the command a user runs."""
    db = tmp_path / "var" / "lwm2m.db"
    coap_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", str(db), "--coap-port", str(coap_port), "--coaps-port", "0"),
        *("--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http_port), "--log-level", "warning"),
    ]
    server = await launch(command, http_port)
    tap = Tap(("127.0.0.1", coap_port))
    await tap.start()
    client = device(OBSERVED, tap, "U")
    try:
        await client.start()
        await eventually(lambda: db.exists() and stored(db, "registrations") == 1, WAIT)
        kill_9(server)
        server = await launch(command, http_port)
        async with httpx.AsyncClient(timeout=WAIT) as http:
            clients = (await http.get(f"http://127.0.0.1:{http_port}/api/clients")).json()
        assert [c["endpoint"] for c in clients] == [OBSERVED]
        # A second server on the same file is refused, in one line.
        other = subprocess.run(
            [*command[:-4], "--http-port", "0"], capture_output=True, timeout=30, check=False
        )
        assert other.returncode == 1
        assert other.stderr.decode().strip().endswith("is in use by another server")
    finally:
        await client.stop(timeout=1.0)
        tap.close()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=WAIT)


async def test_an_oscore_context_added_over_rest_survives_a_restart(tmp_path: FilePath) -> None:
    """``PUT /api/security/{ep}`` with an OSCORE context, ``kill -9``, start again on the same
    file: the device, still running, is managed under OSCORE and its Update is accepted."""
    db = tmp_path / "var" / "lwm2m.db"
    coap_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", str(db), "--coap-port", str(coap_port), "--coaps-port", "0"),
        *("--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http_port), "--log-level", "warning"),
    ]
    secret = "00112233445566778899aabbccddeeff"
    context = {"mode": "oscore", "masterSecret": secret, "senderId": "05", "recipientId": "0c"}
    account = ServerAccount(1, f"coap://127.0.0.1:{coap_port}", lifetime=300, binding="U")
    tree = telekom_device(OBSERVED, seed=5, now=time.time(), servers=[account])
    add_oscore_account(tree, 1, b"\x0c", b"\x05", bytes.fromhex(secret))
    events: list[ClientEvent] = []
    client = LwM2MClient(
        tree,
        OBSERVED,
        local_address=("127.0.0.1", 0),
        seed=5,
        on_event=events.append,
        oscore_sequences=lambda ssid: FileSequenceStore(tmp_path / f"client-{ssid}"),
    )
    server = await launch(command, http_port)
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=WAIT) as http:
            put = await http.put(f"/api/security/{OBSERVED}", json=context)
            assert put.status_code == 201
            await client.start()
            await eventually(
                lambda: any(isinstance(e, ClientRegistered) for e in events) or None, WAIT
            )
            assert (await http.get(f"/api/clients/{OBSERVED}/3/0/0")).status_code == 200
            await eventually(lambda: stored(db, "oscore_credentials") == 1 or None, WAIT)
        kill_9(server)
        with contextlib.closing(sqlite3.connect(db)) as connection:
            row = connection.execute("SELECT master_secret FROM oscore_credentials").fetchone()
        assert row == (bytes.fromhex(secret),)
        server = await launch(command, http_port)
        async with httpx.AsyncClient(base_url=base, timeout=WAIT) as http:
            listed = (await http.get("/api/security")).json()
            assert [(c["endpoint"], c["mode"]) for c in listed] == [(OBSERVED, "oscore")]
            assert secret not in json.dumps(listed)
            read = await http.get(f"/api/clients/{OBSERVED}/3/0/0")
            assert read.status_code == 200, read.text
            mark = len(events)
            client.trigger_update()  # the server lost its replay window: Echo, then accepted
            await eventually(lambda: any(isinstance(e, Updated) for e in events[mark:]), WAIT)
            assert not [e for e in events[mark:] if isinstance(e, RegistrationFailed)]
    finally:
        await client.stop(timeout=1.0)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=WAIT)
