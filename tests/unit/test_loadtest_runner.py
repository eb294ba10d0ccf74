"""The bench's report: its JSON shape, percentiles, targets, the configuration it refuses, and
the CPUs it gives the server and the fleet."""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from lwm2m.loadtest import TARGETS, BenchConfig, BenchReport, Load
from lwm2m.loadtest.fleet import Flow
from lwm2m.loadtest.runner import percentile, rss_bytes
from lwm2m.loadtest.shards import Shards


def report(clients: int = 1000) -> BenchReport:
    return BenchReport(
        config=BenchConfig(clients, duration=2),
        fleet_processes=1,
        fd_limit=20_000,
        registrations=Load(clients, 0.05, server_cpu=0.04, fleet_cpu=0.02),
        retransmissions=3,
        observations=Load(clients, 0.2, p50=0.01, p99=0.02),
        notifications=Load(50_000, 2.0, failed=7),
        reads=Load(18_000, 2.0, p50=0.02, p99=0.03),
        rss_before=30_000_000,
        rss_registered=32_000_000,
        rss_observed=34_000_000,
        load_average=0.5,
    )


def test_report_json_has_every_figure() -> None:
    data = json.loads(json.dumps(report().to_json()))
    assert (data["clients"], data["loadAverage1m"]) == (1000, 0.5)
    assert data["registrations"] == {
        "count": 1000,
        "seconds": 0.05,
        "perSecond": 20_000.0,
        "failed": 0,
        "serverCpuSeconds": 0.04,
        "serverCpuUsPerOp": 40.0,
        "fleetCpuSeconds": 0.02,
        "retransmissions": 3,
    }
    assert data["reads"]["latencyMs"] == {"p50": 20.0, "p99": 30.0}
    assert "latencyMs" not in data["notifications"]
    assert data["notifications"]["failed"] == 7
    assert data["memory"]["bytesPerClient"] == 2000
    assert data["memory"]["bytesPerObservation"] == 2000
    assert data["targets"] == TARGETS
    assert data["meetsTargets"] == {
        "registrations": True,
        "notifications": True,
        "reads": False,
        "bytesPerClient": True,
    }


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_a_phase_without_time_or_operations_has_zero_rates() -> None:
    assert Load(0, 0.0).per_second == 0.0
    assert Load(0, 1.0, server_cpu=1.0).server_cpu_per_op == 0.0


@pytest.mark.parametrize(("clients", "duration", "concurrency"), [(0, 1, 1), (5, 0, 1), (5, 1, 0)])
def test_nonsense_configurations_are_refused(
    clients: int, duration: float, concurrency: int
) -> None:
    with pytest.raises(ValueError):
        BenchConfig(clients, duration, concurrency)


def test_flow_counts_notifications_in_flight_over_every_shard() -> None:
    flow = Flow(2, window=64)
    flow.sent[0], flow.sent[1] = 10, 5
    flow.received.value, flow.lost.value = 8, 2
    assert flow.in_flight() == 5


def test_rss_is_read_from_proc() -> None:
    assert 1_000_000 < rss_bytes() < 100 * 2**30


def test_the_fleet_and_the_server_get_cpus_of_their_own() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    shards = Shards(1, Flow(1, window=64))
    fleet = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,), daemon=True)
    fleet.start()
    shards.processes.append(fleet)
    try:
        assert fleet.pid is not None
        shards.separate_cpus(cpus)
        half = len(cpus) // 2 if len(cpus) > 1 else 1  # one CPU: nothing to separate
        assert os.sched_getaffinity(0) == set(cpus[:half])
        assert os.sched_getaffinity(fleet.pid) == set(cpus[half:] or cpus)
    finally:
        os.sched_setaffinity(0, cpus)
        fleet.terminate()
        fleet.join(5)
