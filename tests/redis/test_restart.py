"""Restart survival on Redis: ``kill -9`` a server whose store is Redis under traffic, start it
again on the same Redis, and registrations, observations (same token, no new Observe) and
queued requests are there; ``lwm2m server --store redis://`` does the same from the command
line, and a second server on the same Redis sees the fleet."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys

import httpx
import pytest
import redis

from lwm2m.loadtest.device import Fleet, endpoint_name
from lwm2m.loadtest.fleet import raise_fd_limit
from lwm2m.storage import RedisStore
from lwm2m.storage.redis_records import Keys
from tests.e2e.conftest import Tap, eventually
from tests.integration.test_durability import (
    DEVICES,
    KILL_AFTER,
    SERVER,
    register_until_killed,
)
from tests.integration.test_restart import (
    OBSERVED,
    device,
    free_port,
    kill_9,
    kill_9_under_traffic,
    launch,
)

pytestmark = pytest.mark.timeout(90)

WAIT = 10.0

LAUNCHER = """
import asyncio, sys
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.storage import RedisStore
from lwm2m.web.serving import WebServer

async def main(url, coap_port, http_port):
    # The CLI's wiring, with a short awake window so a queue-mode device sleeps at once.
    store = await RedisStore.open(url)
    config = ServerConfig(host="127.0.0.1", coap_port=coap_port, awake_window=0.5)
    server = LwM2MServer(config, store=store)
    await server.start()
    await WebServer(server, host="127.0.0.1", port=http_port, log_level="warning").start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def stored(url: str, prefix: str, kind: bytes) -> int:
    """Records of ``kind`` in Redis (a hash counts its fields)."""
    client = redis.Redis.from_url(url.split("?", maxsplit=1)[0])
    keys = Keys(prefix)
    try:
        count = 0
        for key in client.scan_iter(match=keys.pattern()):
            parsed = keys.parse(key)
            if parsed is not None and parsed[0] == kind:
                count += client.hlen(key) if kind in (b"obs", b"queue") else 1
        return count
    finally:
        client.close()


async def test_kill_9_under_traffic_keeps_registrations_observations_and_queues(
    redis_store_url: str, prefix: str
) -> None:
    coap_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    command = [sys.executable, "-c", LAUNCHER, redis_store_url, str(coap_port), str(http_port)]
    kinds = {"registrations": b"reg", "observations": b"obs", "queue": b"queue"}
    await kill_9_under_traffic(
        command, coap_port, http_port, lambda table: stored(redis_store_url, prefix, kinds[table])
    )


def server_command(store: str, coap_port: int, http_port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--store", store, "--coap-port", str(coap_port), "--coaps-port", "0"),
        *("--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http_port), "--log-level", "warning"),
    ]


async def test_the_server_command_keeps_its_fleet_in_redis_for_a_restart_and_a_second_server(
    redis_store_url: str, prefix: str
) -> None:
    coap_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    command = server_command(redis_store_url, coap_port, http_port)
    server = await launch(command, http_port)
    tap = Tap(("127.0.0.1", coap_port))
    await tap.start()
    client = device(OBSERVED, tap, "U")
    second: subprocess.Popen[bytes] | None = None
    try:
        await client.start()
        await eventually(lambda: stored(redis_store_url, prefix, b"reg") == 1, WAIT)
        kill_9(server)
        server = await launch(command, http_port)
        async with httpx.AsyncClient(timeout=WAIT) as http:
            clients = (await http.get(f"http://127.0.0.1:{http_port}/api/clients")).json()
            assert [c["endpoint"] for c in clients] == [OBSERVED]
            other_port = free_port(socket.SOCK_STREAM)
            other = server_command(redis_store_url, free_port(socket.SOCK_DGRAM), other_port)
            second = await launch(other, other_port)
            seen = (await http.get(f"http://127.0.0.1:{other_port}/api/clients")).json()
            assert [c["endpoint"] for c in seen] == [OBSERVED]
    finally:
        await client.stop(timeout=1.0)
        tap.close()
        for process in (server, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
            if process is not None:
                process.wait(timeout=WAIT)


async def test_kill_9_during_full_rate_registration_loses_no_acknowledged_one(
    redis_store_url: str,
) -> None:
    """As tests/integration/test_durability.py does for SQLite: ``lwm2m server --store
    redis://`` (strict) against a fleet registering as fast as it is answered, SIGKILL after
    4,000 acknowledgements; every acknowledged Register is in what a restarted server loads."""
    http_port = free_port(socket.SOCK_STREAM)
    raise_fd_limit()
    server = await launch(server_command(redis_store_url, SERVER[1], http_port), http_port)
    fleet = Fleet(0, DEVICES)
    try:
        sent = await asyncio.to_thread(register_until_killed, fleet, server)
        acknowledged = {endpoint_name(i) for i in range(DEVICES) if fleet.is_registered(i)}
        assert len(acknowledged) >= KILL_AFTER
        assert sent > len(acknowledged)  # the kill came while Registers were in flight
        restarted = await RedisStore.open(redis_store_url)
        try:
            kept = {registration.endpoint for registration in restarted.registrations.all()}
        finally:
            await restarted.aclose()
        assert acknowledged - kept == set(), f"{len(acknowledged - kept)} acknowledged lost"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=WAIT)
