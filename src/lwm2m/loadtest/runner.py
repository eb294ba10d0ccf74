"""The fleet benchmark: an :class:`~lwm2m.server.LwM2MServer` here, its devices elsewhere.

The server runs on uvloop in this process; the devices run in fleet shard processes
(:mod:`lwm2m.loadtest.fleet`), as many as the descriptor limit needs (one socket per device).
Phases, one after the other, each bounded in count and time:

1. Register every device (the shards keep at most ``register_window`` Registers unanswered);
   the time runs from the command until the server has reported the last new registration.
2. Observe ``/3/0/9`` on every device, ``concurrency`` requests at a time.
3. For ``duration`` seconds the devices push NON notifications; flow control keeps at most
   ``notify_window`` of them between the shards' ``send`` and the server's event (beyond that
   they would only overflow the server's socket buffer), and writes off the ones lost.
4. For ``duration`` seconds the server reads ``/3/0/9``, ``concurrency`` reads at a time.
5. With ``rest_connections`` (N > 0) and a REST API factory: the same Reads through the HTTP
   API from a loader process with N keep-alive connections (:mod:`lwm2m.loadtest.rest`).
6. With ``flood`` (N > 0): a separate process (:mod:`lwm2m.loadtest.flood`) sends Registers
   of new devices at N times the registration rate of phase 1; after ``FLOOD_RAMP`` seconds
   the server reads ``/3/0/9`` of the registered fleet, ``flood_concurrency`` reads at a time,
   for ``duration`` seconds.  Reported: those reads, and what became of the flood's Registers.

Memory is this process's VmRSS before and after phase 1 (and after phase 2): the server's
cost per registration and per observation, including its CoAP deduplication cache.

With ``db`` the server keeps its state in that SQLite file, with ``store`` in that Redis (an
empty one: a prefix of its own), at ``durability`` (strict: every answer waits for its
commit); the report then has the store's commits, their mean latency and the largest write
lag seen (sampled every 50 ms).

The server and the fleet get CPUs of their own (the first half and the rest): left to the
scheduler, the two ends of a loopback ping-pong share the CPU of whichever woke the other, and
the bench measured the server with the fleet on its core (their CPU shares added up to 100 %
of one core in every phase, on two).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import TextIO

from lwm2m.loadtest.device import BATTERY
from lwm2m.loadtest.fleet import FD_RESERVE, Flow, raise_fd_limit
from lwm2m.loadtest.flood import FloodError, FloodReport, FloodSpec, flood_phase
from lwm2m.loadtest.progress import Progress
from lwm2m.loadtest.rest import RestApiFactory, RestLoadError, rest_phase
from lwm2m.loadtest.shards import BenchError, Shards
from lwm2m.operations import ErrorResponse, Response
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.config import Durability
from lwm2m.server.errors import ServerError
from lwm2m.server.events import NotificationReceived, Registered, ServerEvent
from lwm2m.server.runtime import event_loop_factory, tune_garbage_collector
from lwm2m.storage import RedisStore, SqliteStore, StoreError

TARGETS = {
    "registrations": 10_000.0,
    "notifications": 20_000.0,
    "reads": 10_000.0,
    "bytesPerClient": 4096.0,
}
"""Issue 3 §4, for one server process with 100,000 registered clients (4 KB read as 4 KiB)."""


@dataclass(frozen=True, slots=True)
class BenchConfig:
    clients: int
    duration: float = 5.0
    concurrency: int = 256
    register_window: int = 64
    notify_window: int = 128
    timeout: float = 10.0  # per request, and the margin of every phase
    db: str | None = None  # a SQLite file for the server's store; None: in memory
    store: str | None = None  # or a Redis URL (redis://HOST:PORT/DB?prefix=...)
    durability: Durability = "strict"
    flood: float = 0.0  # Registers at this multiple of the registration rate; 0: no flood
    flood_concurrency: int = 32  # reads in flight during the flood
    flood_sources: int = 256  # source addresses of the flood
    rest_connections: int = 0  # HTTP keep-alive connections of the REST phase; 0: no phase

    def __post_init__(self) -> None:
        if self.clients < 1 or self.duration <= 0 or self.concurrency < 1:
            raise ValueError("clients and concurrency must be positive, duration > 0")
        if self.flood < 0 or self.flood_concurrency < 1 or not 1 <= self.flood_sources <= 62_500:
            raise ValueError("flood must be >= 0, flood_concurrency and flood_sources positive")
        if self.db is not None and self.store is not None:
            raise ValueError("give the bench a SQLite --db or a Redis --store, not both")


@dataclass(frozen=True, slots=True)
class Load:
    """One phase of requests: how many succeeded in how long, and their latencies (s)."""

    count: int
    seconds: float
    failed: int = 0
    p50: float | None = None
    p99: float | None = None
    server_cpu: float = 0.0  # CPU seconds of the server's process in the phase
    fleet_cpu: float = 0.0  # and of the fleet's processes

    @property
    def server_cpu_per_op(self) -> float:
        """Server CPU seconds per operation: the figure that does not depend on the fleet."""
        return self.server_cpu / self.count if self.count else 0.0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        result: dict[str, object] = {
            "count": self.count,
            "seconds": round(self.seconds, 4),
            "perSecond": round(self.per_second, 1),
            "failed": self.failed,
            "serverCpuSeconds": round(self.server_cpu, 3),
            "serverCpuUsPerOp": round(self.server_cpu_per_op * 1e6, 1),
            "fleetCpuSeconds": round(self.fleet_cpu, 3),
        }
        if self.p50 is not None and self.p99 is not None:
            result["latencyMs"] = {"p50": round(self.p50 * 1e3, 3), "p99": round(self.p99 * 1e3, 3)}
        return result


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """How the SQLite store kept up over the whole bench."""

    commits: int
    commit_seconds: float  # in total
    max_write_lag: float  # the largest write lag sampled, seconds
    failed_rows: int

    @property
    def mean_commit(self) -> float:
        return self.commit_seconds / self.commits if self.commits else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "commits": self.commits,
            "meanCommitMs": round(self.mean_commit * 1e3, 3),
            "maxWriteLagMs": round(self.max_write_lag * 1e3, 3),
            "failedRows": self.failed_rows,
        }


@dataclass(frozen=True, slots=True)
class BenchReport:
    config: BenchConfig
    fleet_processes: int
    fd_limit: int
    registrations: Load
    retransmissions: int  # Registers the fleet sent again
    observations: Load
    notifications: Load  # failed: sent by the fleet but never received
    reads: Load
    rss_before: int
    rss_registered: int
    rss_observed: int
    load_average: float  # the machine's, over the minute before the bench started
    store: StoreFigures | None = None  # with a SQLite store
    flood: FloodReport | None = None
    rest_reads: Load | None = None  # the reads phase through the REST API

    @property
    def bytes_per_client(self) -> float:
        return (self.rss_registered - self.rss_before) / self.config.clients

    @property
    def bytes_per_observation(self) -> float:
        return (self.rss_observed - self.rss_registered) / self.config.clients

    def meets_targets(self) -> dict[str, bool]:
        return {
            "registrations": self.registrations.per_second >= TARGETS["registrations"],
            "notifications": self.notifications.per_second >= TARGETS["notifications"],
            "reads": self.reads.per_second >= TARGETS["reads"],
            "bytesPerClient": self.bytes_per_client <= TARGETS["bytesPerClient"],
        }

    def to_json(self) -> dict[str, object]:
        store = {} if self.store is None else {"store": self.store.to_json()}
        return {
            **store,
            "clients": self.config.clients,
            "durationSeconds": self.config.duration,
            "concurrency": self.config.concurrency,
            "fleetProcesses": self.fleet_processes,
            "fdLimit": self.fd_limit,
            "loadAverage1m": round(self.load_average, 2),
            "registrations": {
                **self.registrations.to_json(),
                "retransmissions": self.retransmissions,
            },
            "observations": self.observations.to_json(),
            "notifications": self.notifications.to_json(),
            "reads": self.reads.to_json(),
            "memory": {
                "rssBeforeBytes": self.rss_before,
                "rssRegisteredBytes": self.rss_registered,
                "rssObservedBytes": self.rss_observed,
                "bytesPerClient": round(self.bytes_per_client),
                "bytesPerObservation": round(self.bytes_per_observation),
            },
            "targets": TARGETS,
            "meetsTargets": self.meets_targets(),
            **({} if self.flood is None else {"flood": self.flood.to_json()}),
            **({} if self.rest_reads is None else {"restReads": self.rest_reads.to_json()}),
        }


def run_bench(
    config: BenchConfig, rest_api: RestApiFactory | None = None, progress: TextIO | None = None
) -> BenchReport:
    """Run the whole bench on a fresh uvloop event loop; raises BenchError when it cannot, and
    KeyboardInterrupt after a clean stop on SIGINT.  ``rest_api`` serves the server's REST API
    for the REST phase; ``progress`` (stderr) is told how the bench goes."""
    fd_limit = raise_fd_limit()  # the shards inherit it
    tune_garbage_collector()  # as `lwm2m server` does
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(_Bench(config, fd_limit, rest_api, progress).run())


def rss_bytes() -> int:
    """This process's resident set size (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS in /proc/self/status")


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


class _Bench:
    def __init__(
        self,
        config: BenchConfig,
        fd_limit: int,
        rest_api: RestApiFactory | None = None,
        progress: TextIO | None = None,
    ) -> None:
        self.config = config
        self.rest_api = rest_api
        self.fd_limit = fd_limit
        per_process = max(1, fd_limit - FD_RESERVE)
        self.shard_count = -(-config.clients // per_process)
        self.flow = Flow(self.shard_count, config.notify_window)
        self.shards = Shards(self.shard_count, self.flow)
        self.registered = 0
        self.retransmissions = 0
        self.max_write_lag = 0.0
        self.all_registered = asyncio.Event()
        self.completed = 0  # requests the server finished in the phases of _load
        self.progress = (
            None
            if progress is None
            else Progress(progress, config.clients, lambda: self.registered, time.monotonic)
        )

    async def run(self) -> BenchReport:
        config = self.config
        store = await self._open_store()
        server_config = ServerConfig(host="127.0.0.1", coap_port=0, durability=config.durability)
        server = LwM2MServer(server_config, store=store)
        await server.start()
        server.subscribe(self._count)
        cpus = os.sched_getaffinity(0)
        sampler = None if store is None else asyncio.create_task(self._sample_lag(store))
        progress = self.progress
        shown = None if progress is None else asyncio.create_task(progress.run())
        interrupted = False
        try:
            self.shards.start(
                server.coap_address, config.clients, config.register_window, self._lifetime()
            )
            self.shards.separate_cpus(sorted(cpus))
            await self.shards.collect("ready", 60 + config.clients / 2000)
            report = await self._phases(server)
            if store is None:
                return report
            stats = store.stats()
            figures = StoreFigures(
                stats.commits, stats.commit_seconds_total, self.max_write_lag, stats.failed_rows
            )
            return replace(report, store=figures)
        except asyncio.CancelledError:  # SIGINT: asyncio.Runner cancels us, then raises
            interrupted = True
            raise
        finally:
            for task in (sampler, shown):
                if task is not None:
                    task.cancel()
            os.sched_setaffinity(0, cpus)
            await self.shards.stop()
            await server.stop()
            if isinstance(store, RedisStore):
                await store.aclose()
            elif store is not None:
                store.close()
            if progress is not None:
                progress.close(interrupted)

    async def _open_store(self) -> SqliteStore | RedisStore | None:
        config = self.config
        if config.db is not None:
            return SqliteStore(config.db, durability=config.durability)
        if config.store is None:
            return None
        try:
            store = await RedisStore.open(config.store, durability=config.durability)
        except StoreError as exc:
            raise BenchError(str(exc)) from None
        if kept := len(store.registrations.all()):
            await store.aclose()
            raise BenchError(
                f"{config.store} holds {kept:,} registrations already: give the bench an empty"
                " database or a ?prefix= of its own"
            )
        return store

    async def _sample_lag(self, store: SqliteStore | RedisStore) -> None:
        while True:
            self.max_write_lag = max(self.max_write_lag, store.stats().write_lag_seconds)
            await asyncio.sleep(0.05)

    async def _phases(self, server: LwM2MServer) -> BenchReport:
        config = self.config
        load_average = os.getloadavg()[0]
        timeout = config.timeout
        rss_before = rss_bytes()
        registrations = await self._measured(
            self._registrations(), "registering", lambda: self.registered
        )
        rss_registered = rss_bytes()
        endpoints = [registration.endpoint for registration in server.registrations.all()]
        observations = await self._measured(
            self._load(
                lambda ep: server.observe(ep, BATTERY, timeout=timeout),
                iter(endpoints),
                time.perf_counter() + self._phase_limit(),
                config.concurrency,
            ),
            "observing",
            lambda: self.completed,
        )
        rss_observed = rss_bytes()
        notifications = await self._measured(
            self._notifications(), "notifying", lambda: self.flow.received.value
        )
        reads = await self._measured(
            self._load(
                lambda ep: server.read(ep, BATTERY, timeout=timeout),
                itertools.cycle(endpoints),
                time.perf_counter() + config.duration,
                config.concurrency,
            ),
            "reading",
            lambda: self.completed,
        )
        rest_reads = None
        if config.rest_connections > 0 and self.rest_api is not None:
            rest_reads = await self._measured(
                self._rest_reads(server, endpoints), "reading through REST"
            )
        flood = None
        if config.flood > 0:
            if self.progress is not None:
                self.progress.begin("starting the flood")
            spec = FloodSpec(
                server.coap_address,
                config.flood * registrations.per_second,
                config.flood_sources,
                self._lifetime(),
            )
            try:
                flood = await flood_phase(
                    spec,
                    registrations.per_second,
                    self.shards.pin,
                    lambda: self._measured(
                        self._load(
                            lambda ep: server.read(ep, BATTERY, timeout=timeout),
                            itertools.cycle(endpoints),
                            time.perf_counter() + config.duration,
                            config.flood_concurrency,
                        ),
                        "reading during the flood",
                        lambda: self.completed,
                    ),
                )
            except FloodError as exc:
                raise BenchError(str(exc)) from None
        return BenchReport(
            config,
            self.shard_count,
            self.fd_limit,
            registrations,
            self.retransmissions,
            observations,
            notifications,
            reads,
            rss_before,
            rss_registered,
            rss_observed,
            load_average,
            flood=flood,
            rest_reads=rest_reads,
        )

    async def _rest_reads(self, server: LwM2MServer, endpoints: list[str]) -> Load:
        assert self.rest_api is not None
        try:
            count, seconds, failed, latencies = await rest_phase(
                self.rest_api(server),
                endpoints,
                duration=self.config.duration,
                connections=self.config.rest_connections,
                pin=self.shards.pin,
            )
        except RestLoadError as exc:
            raise BenchError(str(exc)) from None
        if not latencies:
            return Load(0, seconds, failed)
        return Load(count, seconds, failed, percentile(latencies, 0.5), percentile(latencies, 0.99))

    def _phase_limit(self) -> float:
        """Seconds a phase that goes over every client may take at most."""
        return self.config.timeout + self.config.clients / 1000

    async def _measured(
        self, phase: Awaitable[Load], name: str | None = None, done: Callable[[], int] | None = None
    ) -> Load:
        """``phase``'s result with the CPU time this process and the shards spent in it; the
        progress shows ``name`` and the count of ``done`` meanwhile."""
        if self.progress is not None and name is not None:
            self.progress.begin(name, done)
        server, fleet = time.process_time(), self.shards.cpu_seconds()
        load = await phase
        return replace(
            load,
            server_cpu=time.process_time() - server,
            fleet_cpu=self.shards.cpu_seconds() - fleet,
        )

    async def _registrations(self) -> Load:
        config, limit = self.config, self._phase_limit()
        start = time.perf_counter()
        self.shards.tell("register")
        try:
            await asyncio.wait_for(self.all_registered.wait(), limit)
        except TimeoutError:
            raise BenchError(
                f"{self.registered:,} of {config.clients:,} clients registered in {limit:.0f} s"
            ) from None
        seconds = time.perf_counter() - start
        answers = await self.shards.collect("registered", config.timeout)
        self.retransmissions = sum(answer[0] for answer in answers)
        return Load(config.clients, seconds)

    def _count(self, event: ServerEvent) -> None:
        if isinstance(event, NotificationReceived):
            self.flow.received.value += 1
        elif isinstance(event, Registered) and event.previous is None:
            self.registered += 1
            if self.registered == self.config.clients:
                self.all_registered.set()

    async def _load(
        self,
        issue: Callable[[str], Awaitable[Response]],
        endpoints: Iterator[str],
        until: float,
        concurrency: int,
    ) -> Load:
        """Requests to ``endpoints`` in turn, ``concurrency`` at a time, until they run out or
        ``until`` (perf_counter) has passed."""
        latencies: list[float] = []
        failed = 0

        async def worker() -> None:
            nonlocal failed
            for endpoint in endpoints:
                start = time.perf_counter()
                if start >= until:
                    return
                try:
                    response = await issue(endpoint)
                except ServerError:
                    failed += 1
                    continue
                finally:
                    self.completed += 1
                if isinstance(response, ErrorResponse):
                    failed += 1
                else:
                    latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
        if not latencies:
            return Load(0, seconds, failed)
        latencies.sort()
        return Load(
            len(latencies), seconds, failed, percentile(latencies, 0.5), percentile(latencies, 0.99)
        )

    async def _notifications(self) -> Load:
        flow = self.flow
        received = flow.received
        first = received.value
        start = time.perf_counter()
        self.shards.tell("notify")
        deadline = start + self.config.duration
        seen = first
        while (now := time.perf_counter()) < deadline:
            await asyncio.sleep(min(0.2, deadline - now))
            if received.value == seen and flow.in_flight() > 0:  # a stall: the rest was lost
                flow.lost.value += flow.in_flight()
            seen = received.value
        count = received.value - first
        seconds = time.perf_counter() - start
        self.shards.tell("quiet")
        sent = sum(answer[0] for answer in await self.shards.collect("notified", 10))
        await asyncio.sleep(0.2)  # the last ones in flight
        return Load(count, seconds, failed=max(0, sent - (received.value - first)))

    def _lifetime(self) -> float:
        """An upper bound on the whole bench: a shard left behind ends itself after it."""
        config = self.config
        return 120 + 3 * config.clients / 1000 + 4 * (config.duration + config.timeout)
