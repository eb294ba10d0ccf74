"""Private brokers for the northbound tests: a Mosquitto and a NATS server with JetStream of
their own (Debian's ``mosquitto`` and ``nats-server``, installed by ``make peers``) on free
loopback ports, so stopping one never disturbs the machine's shared services; and an LwM2M
server with one simulated Telekom-profile device registered over loopback UDP."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.config import EndpointConfig
from lwm2m.server import LwM2MServer, Registered, ServerConfig

EP = "urn:imei:356938035643809"
FAST = EndpointConfig(ack_timeout=0.3, max_retransmit=2, max_latency=0.5)
T = TypeVar("T")


async def eventually(check: Callable[[], T | None], timeout: float = 5.0) -> T:
    """``check()`` once it is truthy, polled; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """One broker process; :meth:`stop` and :meth:`start` keep its port and data directory."""

    def __init__(self, command: list[str], port: int) -> None:
        self.command = command
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.command[0]} did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(10)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if found is None:
        pytest.fail(f"{name} is not installed: make peers installs it")
    return found


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {tmp_path}/\n"
        "max_queued_messages 0\n"  # no limit for the test subscribers' sessions
        "max_inflight_messages 0\n"
    )
    broker = Broker([_binary("mosquitto"), "-c", str(config)], port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Broker]:
    port = free_port()
    command = [_binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js"]
    broker = Broker([*command, "-sd", str(tmp_path / "jetstream")], port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def start_device(server: LwM2MServer, ep: str = EP) -> tuple[LwM2MClient, ObjectTree]:
    host, port = server.coap_address[:2]
    account = ServerAccount(
        short_server_id=1, uri=f"coap://{host}:{port}", lifetime=30, default_pmin=0
    )
    tree = telekom_device(ep, seed=7, now=time.time(), servers=[account])
    client = LwM2MClient(
        tree,
        ep,
        local_address=("127.0.0.1", 0),
        config=ClientConfig(retry_base=0.2, retry_cap=0.5),
        coap=FAST,
        seed=7,
    )
    await client.start()
    return client, tree


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    lwm2m = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, coap=FAST))
    await lwm2m.start()
    try:
        yield lwm2m
    finally:
        await lwm2m.stop()


async def register(server: LwM2MServer, ep: str = EP) -> tuple[LwM2MClient, ObjectTree]:
    """A simulated device registered with ``server`` (stop the client when done)."""
    registered = asyncio.Event()
    unsubscribe = server.subscribe(
        lambda event: (
            registered.set()
            if isinstance(event, Registered) and event.registration.endpoint == ep
            else None
        )
    )
    client, tree = await start_device(server, ep)
    try:
        await asyncio.wait_for(registered.wait(), 5)
    finally:
        unsubscribe()
    return client, tree


__all__ = ["EP", "Broker", "eventually", "free_port", "register"]
