"""``lwm2m bench --rest N``: the fleet's reads again through the REST API, from a loader
process over N keep-alive connections, reported next to the Python API's reads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)

BENCH = (sys.executable, "-m", "lwm2m.cli.main", "bench")


def test_the_rest_phase_reads_every_device_through_http() -> None:
    done = subprocess.run(
        [*BENCH, "--clients", "40", "--duration", "1", "--rest", "4", "--json"],
        capture_output=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    rest = json.loads(done.stdout)["restReads"]
    assert rest["count"] > 40 and rest["failed"] == 0
    assert 0 < rest["latencyMs"]["p50"] <= rest["latencyMs"]["p99"]
    assert rest["serverCpuUsPerOp"] > 0
