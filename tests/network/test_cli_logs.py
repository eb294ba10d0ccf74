"""``lwm2m network`` logs in the project's one format (cli/logs.py): ``--log-format json`` makes
every stderr line a JSON object, uvicorn's T8 access lines included."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

NETWORK = (sys.executable, "-m", "lwm2m.cli.main", "network", "--at-port", "0", "--t8-port", "0")


def test_json_log_lines_cover_our_loggers_and_the_t8_access_log() -> None:
    network = subprocess.Popen(
        [*NETWORK, "--sims", "2", "--log-format", "json", "--log-level", "info", "--access-log"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert network.stdout is not None
    try:
        banner = network.stdout.readline().decode()
        found = re.search(r"status: (\S+)", banner)
        assert found is not None, banner
        assert httpx.get(found.group(1), timeout=10).status_code == 200
    finally:
        network.send_signal(signal.SIGTERM)
        _, err = network.communicate(timeout=30)
    assert network.returncode == 0, err.decode()
    records = [json.loads(line) for line in err.decode().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    access = [record for record in records if record["logger"] == "uvicorn.access"]
    assert len(access) == 1 and "/api/network" in access[0]["message"]
