"""``lwm2m bench`` end to end: a small fleet in another process against a server in this one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

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


def test_ctrl_c_stops_the_fleet_and_the_server_and_exits_130_without_a_traceback() -> None:
    bench = subprocess.Popen(
        [*BENCH, "--clients", "100", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert bench.stderr is not None
    try:
        first = bench.stderr.readline().decode()  # a progress line: the fleet is running
        assert first.startswith("bench: "), first
        os.killpg(bench.pid, signal.SIGINT)  # what Ctrl-C does: every process of the group
        out, err = bench.communicate(timeout=40)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
    assert bench.returncode == 130
    assert out == b""
    lines = err.decode().splitlines()
    assert "Traceback" not in err.decode()
    assert lines[-1].startswith("lwm2m bench: interrupted while "), lines
    for _ in range(100):  # the fleet processes ended with the bench (bounded wait)
        try:
            os.killpg(bench.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("processes of the bench outlived it")


def test_target_registers_the_fleet_with_a_running_server_and_names_the_skipped_phases() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
            *("--coap-port", str(port), "--coaps-port", "0", "--tcp-port", "0"),
            *("--tls-port", "0", "--http-host", "127.0.0.1", "--http-port", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith(b"LwM2M server on ")
        done = subprocess.run(
            [*BENCH, "--clients", "30", "--target", f"coap://127.0.0.1:{port}", "--json"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(10)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["target"] == f"coap://127.0.0.1:{port}"
    assert (report["phasesRun"], report["phasesSkipped"]) == (
        ["registrations"],
        ["observations", "notifications", "reads"],
    )
    registrations = report["registrations"]
    assert (registrations["count"], registrations["failed"]) == (30, 0)
    assert 0 < registrations["latencyMs"]["p50"] <= registrations["latencyMs"]["p99"]
    assert report["serverProcesses"] == 0  # another process's CPU is not ours to measure


@pytest.mark.parametrize("store", [[], ["--db", "bench.sqlite"]])
def test_workers_are_refused_without_a_redis_store(store: list[str]) -> None:
    done = subprocess.run(
        [*BENCH, "--clients", "10", "--workers", "2", *store],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.decode().startswith("lwm2m bench: --workers needs --store redis://")
    assert done.stdout == b""
