"""A short ``lwm2m bench``: 2,000 simulated devices in another process, 3 s per timed phase.

The issue's targets are for 100,000 clients (``lwm2m bench --clients 100000``, figures in
docs/benchmarks.md); at this size they are indicative only.
"""

from __future__ import annotations

from bench.common import BenchResult
from lwm2m.loadtest import TARGETS, BenchConfig, run_bench

CLIENTS = 2000
SECONDS = 3.0


def run() -> list[BenchResult]:
    report = run_bench(BenchConfig(CLIENTS, SECONDS))
    fleet = f"fleet of {CLIENTS:,}"
    reads = report.reads
    return [
        BenchResult(
            f"{fleet}: registrations",
            report.registrations.per_second,
            "reg/s",
            TARGETS["registrations"],
        ),
        BenchResult(
            f"{fleet}: notifications received",
            report.notifications.per_second,
            "msg/s",
            TARGETS["notifications"],
        ),
        BenchResult(f"{fleet}: server reads", reads.per_second, "req/s", TARGETS["reads"]),
        BenchResult(f"{fleet}: read latency p99", (reads.p99 or 0.0) * 1e6, "µs"),
        BenchResult(
            f"{fleet}: server RSS per registered client",
            report.bytes_per_client,
            "B",
            TARGETS["bytesPerClient"],
            higher_is_better=False,
        ),
    ]
