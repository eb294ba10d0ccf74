"""Redis servers for the tests: Debian's ``redis-server`` started privately (one instance, or a
three-node cluster made with ``redis-cli --cluster create``), on loopback, in a temporary
directory, stopped by the test."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

WAIT = 10.0


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:  # make test installs it (Makefile: redis)
        raise AssertionError(f"{name} not found: install Debian's redis-server and redis-tools")
    return found


def answers(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(redis.RedisError, OSError):
        return bool(redis.Redis(host=host, port=port, socket_timeout=1.0).ping())
    return False


def free_port() -> int:
    """A TCP port free on loopback, with its cluster bus port (+10000) free too."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise AssertionError("no free port pair")


class RedisServer:
    """One private ``redis-server``; ``persistent``: AOF with ``appendfsync always``, so what it
    acknowledged survives its restart."""

    def __init__(
        self, directory: Path, port: int | None = None, *, persistent: bool = True
    ) -> None:
        self.directory = directory
        self.port = port if port is not None else free_port()
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> None:
        persistence = ("--appendonly", "yes", "--appendfsync", "always")
        self.process = subprocess.Popen(
            [
                binary("redis-server"),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *(persistence if self.persistent else ("--appendonly", "no")),
                *("--dir", str(self.directory), "--logfile", "redis.log"),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT
        while not answers(self.port):
            assert self.process.poll() is None, (self.directory / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not come up"
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGKILL: what it acknowledged is in its AOF (appendfsync always), nothing else."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
            self.process = None


class Cluster:
    """Three primaries, no replicas: every slot has one owner."""

    def __init__(self, directory: Path) -> None:
        self.nodes = [RedisServer(directory / f"node-{n}", persistent=False) for n in range(3)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        subprocess.run(
            [
                binary("redis-cli"),
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + WAIT
        for node in self.nodes:
            client = redis.Redis(port=node.port, decode_responses=True)
            while client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                assert time.monotonic() < deadline, "the cluster did not become ready"
                time.sleep(0.05)
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
