"""``lwm2m bench --target`` and ``--workers``: the fleet against a server this process does not
run, so only what the fleet itself can see is measured.

With ``target`` the server is already running somewhere (ours on another box, Leshan,
Wakaama); with ``workers`` the bench starts ``lwm2m server --workers N --store URL`` (the
cluster mode: N processes sharing one CoAP port with SO_REUSEPORT) and adds up the CPU time of
its processes from /proc.  One phase runs: every device registers (as in
:mod:`lwm2m.loadtest.runner`, at most ``register_window`` Registers unanswered); its time runs
until every shard has seen its last ACK, and the latency of a registration is from the device's
first Register to its ACK.  Observations, notifications and reads are issued by our server's
Python API in the in-process bench, which a server in another process does not offer; the
report names them as skipped.

The server and the fleet are not given CPUs of their own here: the workers are meant to use
every core they can get.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from typing import TextIO, cast

from lwm2m.loadtest.fleet import FD_RESERVE, Flow, raise_fd_limit
from lwm2m.loadtest.progress import Progress
from lwm2m.loadtest.runner import Load, percentile
from lwm2m.loadtest.shards import BenchError, Shards
from lwm2m.server.config import Durability
from lwm2m.server.runtime import event_loop_factory
from lwm2m.storage import RedisStore, StoreError

SKIPPED = ("observations", "notifications", "reads")
"""Phases the in-process bench drives through our server's Python API."""
EPHEMERAL_PORTS = 28_000
"""Devices that fit on one local address (Linux's default ephemeral range) for a remote target."""
WORKERS_READY = 60.0


@dataclass(frozen=True, slots=True)
class ExternalConfig:
    clients: int
    target: str | None = None  # coap://HOST:PORT of a running server
    workers: int = 0  # or run `lwm2m server --workers N --store store` here
    store: str | None = None
    durability: Durability = "strict"
    register_window: int = 64
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.clients < 1:
            raise ValueError("clients must be positive")
        if (self.target is None) == (self.workers < 1):
            raise ValueError("give the bench a --target or --workers, not both")
        if self.workers >= 1 and not (self.store or "").startswith(("redis://", "rediss://")):
            raise ValueError(
                "--workers needs --store redis://...: the workers share the fleet through Redis,"
                " and a SQLite --db or memory belongs to one process"
            )


@dataclass(frozen=True, slots=True)
class ExternalReport:
    config: ExternalConfig
    target: tuple[str, int]
    fleet_processes: int
    registrations: Load  # failed: devices given up on after 4 Registers
    retransmissions: int
    server_processes: int  # whose CPU is in registrations.server_cpu; 0: not measured
    load_average: float

    def lines(self) -> list[str]:
        load, config = self.registrations, self.config
        seconds = load.seconds or 1.0

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1e3:.2f}"

        where = (
            f"lwm2m server --workers {config.workers} --store {config.store} on "
            f"{self.target[0]}:{self.target[1]}"
            if config.workers
            else f"target {config.target}"
        )
        cpu = (
            f"{load.server_cpu_per_op * 1e6:>9.0f}{load.server_cpu / seconds:>7.0%}"
            if self.server_processes
            else f"{'-':>9}{'-':>7}"
        )
        return [
            f"{where}: {config.clients:,} clients, {self.fleet_processes} fleet processes, load"
            f" average {self.load_average:.2f}",
            f"{'':<14}{'per s':>9}{'count':>10}{'seconds':>8}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'CPU µs':>9}{'server':>7}{'fleet':>7}{'lost':>10}{'retried':>9}",
            f"{'registrations':<14}{load.per_second:>9,.0f}{load.count:>10,}{load.seconds:>8.2f}"
            f"{ms(load.p50):>8}{ms(load.p99):>8}{cpu}{load.fleet_cpu / seconds:>7.0%}"
            f"{load.failed:>10,}{self.retransmissions:>9,}",
            "phases run: registrations; skipped: "
            + ", ".join(SKIPPED)
            + " (issued through our server's Python API, which a server in other processes"
            " does not offer)",
            "CPU µs: server CPU per registration, summed over the server's processes ("
            f"{self.server_processes}); lost: devices given up on after 4"
            " Registers; retried: Registers sent again"
            if self.server_processes
            else "lost: devices given up on after 4 Registers; retried: Registers sent again",
        ]

    def to_json(self) -> dict[str, object]:
        config = self.config
        return {
            "target": f"coap://{self.target[0]}:{self.target[1]}",
            "workers": config.workers or None,
            "store": config.store,
            "clients": config.clients,
            "fleetProcesses": self.fleet_processes,
            "serverProcesses": self.server_processes,
            "loadAverage1m": round(self.load_average, 2),
            "phasesRun": ["registrations"],
            "phasesSkipped": list(SKIPPED),
            "registrations": {
                **self.registrations.to_json(),
                "retransmissions": self.retransmissions,
            },
        }


def parse_target(url: str) -> tuple[str, int]:
    """``coap://HOST[:PORT]`` as an IPv4 address and port (ValueError otherwise)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "coap" or not parts.hostname:
        raise ValueError(f"--target takes coap://HOST:PORT, not {url!r}")
    try:
        port = parts.port or 5683
        infos = socket.getaddrinfo(parts.hostname, port, socket.AF_INET, socket.SOCK_DGRAM)
    except (ValueError, OSError) as exc:
        raise ValueError(f"--target {url}: {exc}") from None
    return str(infos[0][4][0]), port


def run_external_bench(config: ExternalConfig, progress: TextIO | None = None) -> ExternalReport:
    """Register the fleet with the target or the workers; BenchError when it cannot."""
    fd_limit = raise_fd_limit()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(_ExternalBench(config, fd_limit, progress).run())


def process_tree_cpu_seconds(pid: int) -> tuple[float, int]:
    """CPU seconds (user and system) of ``pid`` and its children, and how many processes."""
    pids = [pid]
    with (
        contextlib.suppress(OSError),
        open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children,
    ):
        pids += [int(child) for child in children.read().split()]
    ticks = 0
    for each in pids:
        try:
            with open(f"/proc/{each}/stat", encoding="ascii") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:  # ended
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK"), len(pids)


class _ExternalBench:
    def __init__(self, config: ExternalConfig, fd_limit: int, progress: TextIO | None) -> None:
        self.config = config
        per_process = max(1, fd_limit - FD_RESERVE)
        self.shard_count = -(-config.clients // per_process)
        self.shards = Shards(self.shard_count, Flow(self.shard_count, 128))
        self.workers: subprocess.Popen[bytes] | None = None
        # A file, since a pipe nobody reads could fill up; closed by _stop_workers.
        self.workers_stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.registered = 0  # known once the shards have answered
        self.progress = (
            None
            if progress is None
            else Progress(progress, config.clients, lambda: self.registered, time.monotonic)
        )

    async def run(self) -> ExternalReport:
        config = self.config
        progress = self.progress
        shown = None if progress is None else asyncio.create_task(progress.run())
        interrupted = False
        try:
            if config.target is not None:
                target = parse_target(config.target)
            else:
                if progress is not None:
                    progress.begin("starting the workers")
                target = await self._start_workers()
            local_host = None if ipaddress.ip_address(target[0]).is_loopback else "0.0.0.0"
            if local_host is not None and config.clients > EPHEMERAL_PORTS:
                raise BenchError(
                    f"a target off this machine takes at most {EPHEMERAL_PORTS:,} clients (one"
                    " local port each)"
                )
            lifetime = 120 + 3 * config.clients / 1000 + 4 * config.timeout
            self.shards.start(target, config.clients, config.register_window, lifetime, local_host)
            await self.shards.collect("ready", 60 + config.clients / 2000)
            return await self._registrations(target)
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            if shown is not None:
                shown.cancel()
            await self.shards.stop()
            await self._stop_workers()
            if progress is not None:
                progress.close(interrupted)

    async def _registrations(self, target: tuple[str, int]) -> ExternalReport:
        config = self.config
        if self.progress is not None:
            self.progress.begin("registering")
        load_average = os.getloadavg()[0]
        fleet_cpu = self.shards.cpu_seconds()
        server_cpu, _ = self._server_cpu()
        start = time.perf_counter()
        self.shards.tell("register")
        answers = cast(
            list[tuple[int, int, list[float]]],
            await self.shards.collect("registered", config.timeout + config.clients / 1000),
        )
        seconds = time.perf_counter() - start
        server_cpu_after, server_processes = self._server_cpu()
        latencies = sorted(latency for answer in answers for latency in answer[2])
        self.registered = len(latencies)
        load = Load(
            self.registered,
            seconds,
            failed=sum(answer[1] for answer in answers),
            p50=percentile(latencies, 0.5) if latencies else None,
            p99=percentile(latencies, 0.99) if latencies else None,
            server_cpu=server_cpu_after - server_cpu,
            fleet_cpu=self.shards.cpu_seconds() - fleet_cpu,
        )
        return ExternalReport(
            config,
            target,
            self.shard_count,
            load,
            sum(answer[0] for answer in answers),
            server_processes,
            load_average,
        )

    def _server_cpu(self) -> tuple[float, int]:
        if self.workers is None:
            return 0.0, 0
        return process_tree_cpu_seconds(self.workers.pid)

    async def _start_workers(self) -> tuple[str, int]:
        """Start ``lwm2m server --workers N`` on a free loopback port once the store is
        checked empty; returns the CoAP address once every worker says it serves."""
        config = self.config
        assert config.store is not None
        try:
            store = await RedisStore.open(config.store, durability=config.durability)
        except StoreError as exc:
            raise BenchError(str(exc)) from None
        kept = len(store.registrations.all())
        await store.aclose()
        if kept:
            raise BenchError(
                f"{config.store} holds {kept:,} registrations already: give the bench an empty"
                " database or a ?prefix= of its own"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        command = [
            *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
            *("--coap-port", str(port), "--coaps-port", "0", "--tcp-port", "0"),
            *("--tls-port", "0", "--http-host", "127.0.0.1", "--http-port", "0"),
            *("--store", config.store, "--durability", config.durability),
            *("--workers", str(config.workers), "--node-id", f"bench-{os.getpid()}"),
        ]
        self.workers = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.workers_stderr, start_new_session=True
        )
        stdout = self.workers.stdout
        assert stdout is not None
        loop = asyncio.get_running_loop()
        serving = 0
        deadline = time.monotonic() + WORKERS_READY
        while serving < config.workers:
            try:
                line = await asyncio.wait_for(
                    loop.run_in_executor(None, stdout.readline), deadline - time.monotonic()
                )
            except TimeoutError:
                raise BenchError(
                    f"{serving} of {config.workers} workers serving after {WORKERS_READY:.0f} s:"
                    f" {self._workers_error()}"
                ) from None
            if not line:
                raise BenchError(f"lwm2m server --workers ended: {self._workers_error()}")
            serving += line.startswith(b"LwM2M server on ")
        return "127.0.0.1", port

    def _workers_error(self) -> str:
        self.workers_stderr.seek(0)
        return self.workers_stderr.read().decode(errors="replace").strip()[-500:]

    async def _stop_workers(self) -> None:
        workers = self.workers
        self.workers_stderr.close()
        if workers is None:
            return
        with contextlib.suppress(ProcessLookupError):
            workers.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, workers.wait, 20)
        except subprocess.TimeoutExpired:
            workers.kill()
            await loop.run_in_executor(None, workers.wait)
