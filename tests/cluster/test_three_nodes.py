"""Three nodes serving one fleet (the scenario: tests/cluster/three_nodes.py), as processes on
loopback, and as three hosts in network namespaces: Redis on a fourth, the devices and their
balancer on a fifth, all joined by veth pairs to a bridge the test makes and removes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
import redis.asyncio

from tests.cluster.netns import NamespaceError, Network
from tests.cluster.test_nodes import node_command
from tests.cluster.three_nodes import NAMES, WAIT, Node, three_nodes
from tests.e2e.conftest import eventually
from tests.integration.test_restart import free_port
from tests.redis.servers import binary

pytestmark = pytest.mark.timeout(60)


async def test_three_nodes_on_loopback(node_store: str, prefix: str) -> None:
    coap = [free_port(socket.SOCK_DGRAM) for _ in NAMES]
    http = [free_port(socket.SOCK_STREAM) for _ in NAMES]
    nodes = [
        Node(
            node_command(node_store, name, coap[i], http[i]),
            ("127.0.0.1", coap[i]),
            f"http://127.0.0.1:{http[i]}",
        )
        for i, name in enumerate(NAMES)
    ]
    await three_nodes(node_store, prefix, nodes, "127.0.0.1")


async def test_three_nodes_as_hosts_in_network_namespaces(tmp_path: Path, prefix: str) -> None:
    network = Network(("redis", *NAMES, "devices"))
    try:
        network.__enter__()
    except NamespaceError as exc:
        pytest.skip(f"network namespaces cannot be made here: {exc}")
    server: subprocess.Popen[bytes] | None = None
    try:
        address = network.address("redis")
        server = subprocess.Popen(
            network.exec(
                "redis",
                [
                    binary("redis-server"),
                    *("--bind", address, "--port", "6379", "--save", "", "--protected-mode", "no"),
                    *("--appendonly", "no", "--dir", str(tmp_path), "--logfile", "redis.log"),
                ],
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        store = f"redis://{address}:6379/0?prefix={prefix}"
        nodes = [
            Node(
                network.exec(
                    name,
                    [
                        *node_command(store, name, 5683, 8080, host=network.address(name)),
                        *("--http-host", network.address(name), "--insecure-http"),
                    ],
                ),
                (network.address(name), 5683),
                f"http://{network.address(name)}:8080",
            )
            for name in NAMES
        ]

        async def on_the_devices_host() -> None:
            client = redis.asyncio.Redis(host=address, socket_timeout=1.0)
            try:
                await eventually(lambda: server is not None and server.poll() is None, 1.0)
                for _ in range(200):  # redis-server comes up
                    try:
                        if await client.ping():
                            break
                    except (redis.RedisError, OSError):
                        pass
                    await asyncio.sleep(0.05)
            finally:
                await client.aclose()
            await three_nodes(store, prefix, nodes, network.address("devices"))

        await network.run_on("devices", on_the_devices_host)
    finally:
        if server is not None:
            server.kill()
            server.wait(WAIT)
        network.close()
