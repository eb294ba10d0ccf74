"""``lwm2m server`` as a process: it serves the API and stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

# :memory: keeps these runs off var/lwm2m.db (and off a `make run` using it).
SERVER = (
    sys.executable,
    "-m",
    "lwm2m.cli.main",
    "server",
    "--host",
    "127.0.0.1",
    "--db",
    ":memory:",
    # DTLS, TCP and TLS off (0) and free ports for the rest, so that runs in parallel (and a
    # `make run`) never clash.
    *("--coaps-port", "0", "--tcp-port", "0", "--tls-port", "0"),
)


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_server_command_serves_the_api_and_stops_on_a_signal(signum: signal.Signals) -> None:
    port = free_tcp_port()
    coap = str(free_udp_port())
    command = [*SERVER, "--coap-port", coap, "--http-port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline().decode() for _ in range(3))
        assert f"LwM2M server on coap://127.0.0.1:{coap} (0 PSKs)" in banner
        assert f"console on http://127.0.0.1:{port}/" in banner
        assert f"http://127.0.0.1:{port}/api/clients" in banner
        response = httpx.get(f"http://127.0.0.1:{port}/api/clients", timeout=5)
        assert (response.status_code, response.json()) == (200, [])
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert "Traceback" not in stderr, stderr


def test_a_port_in_use_is_one_line_and_status_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVER, "--coap-port", str(free_udp_port()), "--http-port", str(port)],
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1].startswith(f"lwm2m server: cannot listen on tcp 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--coaps-port", "-1"),
        ("--tcp-port", "65536"),
        ("--tls-port", "x"),
        ("--coap-port", "0"),
        ("--http-port", "-5"),
    ],
)
def test_a_bad_port_is_refused_by_the_parser(option: str, value: str) -> None:
    result = subprocess.run([*SERVER, option, value], capture_output=True, timeout=30, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 2
    assert f"argument {option}: {value!r} is not a port number" in stderr
    assert "Traceback" not in stderr
