"""``lwm2m bench`` end to end: a small fleet in another process against a server in this one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)

BENCH = (sys.executable, "-m", "lwm2m.cli.main", "bench")


def test_a_small_fleet_reports_every_figure_as_json() -> None:
    done = subprocess.run(
        [*BENCH, "--clients", "50", "--duration", "2", "--json"],
        capture_output=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert (report["clients"], report["fleetProcesses"]) == (50, 1)
    assert report["registrations"]["count"] == 50
    assert report["observations"]["count"] == 50
    for phase in ("registrations", "observations", "notifications", "reads"):
        assert report[phase]["perSecond"] > 0
        assert report[phase]["serverCpuSeconds"] > 0
    assert report["reads"]["failed"] == 0
    assert 0 < report["reads"]["latencyMs"]["p50"] <= report["reads"]["latencyMs"]["p99"]
    assert set(report["memory"]) == {
        "rssBeforeBytes",
        "rssRegisteredBytes",
        "rssObservedBytes",
        "bytesPerClient",
        "bytesPerObservation",
    }
    assert set(report["meetsTargets"]) == set(report["targets"])


def test_a_bad_client_count_is_one_line_on_stderr() -> None:
    done = subprocess.run([*BENCH, "--clients", "0"], capture_output=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.decode().startswith("lwm2m bench: ")
    assert done.stdout == b""


def test_the_flood_phase_reports_reads_and_what_became_of_the_registers() -> None:
    done = subprocess.run(
        [*BENCH, "--clients", "20", "--duration", "1", "--flood", "2", "--json"],
        capture_output=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    flood = json.loads(done.stdout)["flood"]
    assert flood["multiple"] == 2
    assert flood["reads"]["count"] > 0 and flood["reads"]["failed"] == 0
    registers = flood["registers"]
    assert registers["sent"] > 0
    assert (
        registers["created"] + registers["refused"] + registers["unanswered"] == registers["sent"]
    )
    assert registers["refusedWithoutMaxAge"] == 0
    assert set(flood) >= {
        "capacityPerSecond",
        "offeredMultiple",
        "serverSocketDrops",
        "meetsTarget",
    }
