"""A short ``lwm2m bench``: 2,000 simulated devices in another process, 3 s per timed phase,
then 3 s of reads while new devices flood the server with Registers at 10x its measured rate.

The issue's targets are for 100,000 clients (``lwm2m bench --clients 100000``, figures in
docs/benchmarks.md); at this size they are indicative only.
"""

from __future__ import annotations

from bench.common import BenchResult
from lwm2m.loadtest import TARGETS, BenchConfig, run_bench
from lwm2m.loadtest.flood import FLOOD_READ_P99, FloodReport

CLIENTS = 2000
SECONDS = 3.0
FLOOD = 10.0


def run() -> list[BenchResult]:
    report = run_bench(BenchConfig(CLIENTS, SECONDS, flood=FLOOD))
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
        *_flood_results(report.flood, fleet),
        BenchResult(
            f"{fleet}: server RSS per registered client",
            report.bytes_per_client,
            "B",
            TARGETS["bytesPerClient"],
            higher_is_better=False,
        ),
    ]


def _flood_results(flood: FloodReport | None, fleet: str) -> list[BenchResult]:
    if flood is None:
        return []
    during = f"{fleet}: during a {flood.multiple:g}x registration flood"
    return [
        BenchResult(
            f"{during}, read latency p99",
            (flood.reads.p99 or 0.0) * 1e6,
            "µs",
            FLOOD_READ_P99 * 1e6,
            higher_is_better=False,
        ),
        BenchResult(f"{during}, reads failed", flood.reads.failed, "reads"),
        BenchResult(f"{during}, Registers offered", flood.flood.offered_rate, "reg/s"),
        BenchResult(f"{during}, Registers refused 5.03", flood.flood.refused, "Registers"),
    ]
