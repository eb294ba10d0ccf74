"""``lwm2m server --demo N``: a newcomer sees simulated devices without starting any."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_devices_register_and_leave_with_the_server() -> None:
    http, coap = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", ":memory:", "--coap-port", str(coap), "--coaps-port", "0"),
        *("--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http), "--demo", "3"),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            endpoints: list[str] = []
            deadline = time.monotonic() + 20
            while len(endpoints) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/clients") as answer:
                        endpoints = [client["endpoint"] for client in json.load(answer)]
                except OSError:
                    continue
            assert sorted(endpoints) == [f"urn:imei:35000000000000{n}" for n in range(3)]
            with urllib.request.urlopen(
                f"http://127.0.0.1:{http}/api/clients/urn:imei:350000000000001/3/0/0"
            ) as answer:
                assert json.load(answer)["values"] == {"/3/0/0": "lwm2m project"}
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        assert b"3 simulated devices registering" in process.stdout.read()


def test_demo_refuses_an_absurd_count() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lwm2m.cli.main", "server", "--db", ":memory:", "--demo", "5000"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert b"--demo takes 0 to 1000 devices" in result.stderr
