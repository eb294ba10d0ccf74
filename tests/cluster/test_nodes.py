"""Several ``lwm2m server`` nodes on one Redis serve one fleet: a device registered through one
node is read through another's REST API, events of every node reach every node's event
stream once, and after ``kill -9`` of the node that served a device, a survivor on the same
port (SO_REUSEPORT, as ``--workers`` runs them) takes it over: its notifications go on under
the old token, with no new Register."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
import redis

from lwm2m.coap.codes import Code
from lwm2m.storage.redis_records import OWNER, Keys
from tests.e2e.conftest import Tap, eventually
from tests.integration.test_restart import device, free_port, kill_9, launch, observes

pytestmark = pytest.mark.timeout(90)

WAIT = 15.0
DEVICE = "urn:imei:490154203237599"


def node_command(
    store: str,
    node: str,
    coap_port: int,
    http_port: int,
    *,
    reuse_port: bool = False,
    host: str = "127.0.0.1",
) -> list[str]:
    return [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", host),
        *("--store", store, "--node-id", node, "--coap-port", str(coap_port)),
        *("--coaps-port", "0", "--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http_port), "--log-level", "warning"),
        *(("--reuse-port",) if reuse_port else ()),
    ]


def owner(url: str, prefix: str, endpoint: str) -> str | None:
    plain = url.split("?", maxsplit=1)[0]
    client: redis.Redis | redis.RedisCluster
    if plain.startswith("redis+cluster://"):
        client = redis.RedisCluster.from_url(plain.replace("redis+cluster://", "redis://", 1))
    else:
        client = redis.Redis.from_url(plain)
    try:
        value = client.get(Keys(prefix).of(endpoint, OWNER))
        return None if value is None else value.decode()
    finally:
        client.close()


class Stream:
    """One node's ``/api/events``, collected in the background."""

    def __init__(self, base_url: str) -> None:
        self.events: list[dict[str, object]] = []
        self._client = httpx.AsyncClient(base_url=base_url, timeout=None)
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async with self._client.stream("GET", "/api/events") as events:
            async for line in events.aiter_lines():
                if line.startswith("data: "):
                    self.events.append(json.loads(line.removeprefix("data: ")))

    def of(self, kind: str, endpoint: str) -> list[dict[str, object]]:
        return [
            e
            for e in self.events
            if e["type"] == kind
            and (e.get("endpoint") or e.get("registration", {}).get("endpoint")) == endpoint  # type: ignore[union-attr]
        ]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task
        await self._client.aclose()


@contextlib.asynccontextmanager
async def nodes(
    commands: list[list[str]], http_ports: list[int]
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    processes = []
    try:
        for command, port in zip(commands, http_ports, strict=True):
            processes.append(await launch(command, port))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(10)


async def test_a_device_of_node_a_is_read_through_node_b_and_events_reach_both_once(
    node_store: str, prefix: str
) -> None:
    coap = [free_port(socket.SOCK_DGRAM) for _ in range(2)]
    http = [free_port(socket.SOCK_STREAM) for _ in range(2)]
    commands = [node_command(node_store, f"n{i}", coap[i], http[i]) for i in range(2)]
    async with nodes(commands, http):
        streams = [Stream(f"http://127.0.0.1:{port}") for port in http]
        tap = Tap(("127.0.0.1", coap[0]))
        await tap.start()
        client = device(DEVICE, tap, "U")
        b = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http[1]}", timeout=WAIT)
        try:
            await asyncio.sleep(0.5)  # the streams are open
            await client.start()
            await eventually(lambda: owner(node_store, prefix, DEVICE) == "n0", WAIT)
            for _ in range(100):  # B learns the registration from the change stream
                if (await b.get(f"/api/clients/{DEVICE}")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            answer = (await b.get(f"/api/clients/{DEVICE}/3/0/0")).json()
            assert answer["status"] == "2.05", answer
            assert answer["values"], answer  # the manufacturer, read by A for B
            observed = (await b.post(f"/api/clients/{DEVICE}/3/0/9/observe")).json()
            assert observed["status"] == "2.05", observed
            await eventually(lambda: all(s.of("notification", DEVICE) for s in streams), WAIT)
            await asyncio.sleep(1.0)  # anything doubled would be here by now
            for stream in streams:
                assert len(stream.of("registered", DEVICE)) == 1, stream.events
            notified = [len(s.of("notification", DEVICE)) for s in streams]
            assert abs(notified[0] - notified[1]) <= 1, (
                notified
            )  # each once, give or take one in flight
        finally:
            await b.aclose()
            for stream in streams:
                await stream.close()
            await client.stop()


async def test_kill_9_of_the_serving_node_hands_its_devices_to_a_survivor(
    node_store: str, prefix: str
) -> None:
    coap_port = free_port(socket.SOCK_DGRAM)
    http = [free_port(socket.SOCK_STREAM) for _ in range(2)]
    commands = [
        node_command(node_store, f"w{i}", coap_port, http[i], reuse_port=True) for i in range(2)
    ]
    async with nodes(commands, http) as processes:
        tap = Tap(("127.0.0.1", coap_port))
        await tap.start()
        client = device(DEVICE, tap, "U")
        streams: list[Stream] = []
        try:
            await client.start()
            serving = await eventually(lambda: owner(node_store, prefix, DEVICE), WAIT)
            index = int(serving.removeprefix("w"))
            survivor = 1 - index
            other = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http[survivor]}", timeout=WAIT)
            for _ in range(100):  # the survivor learns the registration from the change stream
                if (await other.get(f"/api/clients/{DEVICE}")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            observed = (await other.post(f"/api/clients/{DEVICE}/3/0/9/observe")).json()
            assert observed["status"] == "2.05", observed
            assert len(observes(tap)) == 1
            registers = [m for m in tap.messages(up=True) if m.code is Code.POST]
            streams.append(Stream(f"http://127.0.0.1:{http[survivor]}"))
            await asyncio.sleep(0.5)

            kill_9(processes[index])
            await eventually(lambda: owner(node_store, prefix, DEVICE) == f"w{survivor}", WAIT)
            since = len(streams[0].of("notification", DEVICE))
            await eventually(lambda: len(streams[0].of("notification", DEVICE)) > since, WAIT)
            assert [m for m in tap.messages(up=True) if m.code is Code.POST] == registers
            assert observes(tap)[1:] == []  # no new Observe: the old token goes on
            answer = (await other.get(f"/api/clients/{DEVICE}/3/0/0")).json()
            assert answer["status"] == "2.05", answer
            await other.aclose()
        finally:
            for stream in streams:
                await stream.close()
            await client.stop()
