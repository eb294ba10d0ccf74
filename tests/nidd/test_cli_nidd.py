"""NIDD through the three commands over real sockets: ``lwm2m network`` (AT over TCP, T8 over
HTTP), ``lwm2m server --nidd`` (the T8 client and its callback routes on the HTTP port) and
``lwm2m client --nidd socket://...`` (the device behind the AT modem driver), each its own
process on loopback; the device is configured through ``PUT /api/nidd/devices/{externalId}``
and driven through the REST API."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TypeVar

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

LWM2M = (sys.executable, "-m", "lwm2m.cli.main")
BOUND = 30.0
"""Seconds the whole scenario may take."""
T = TypeVar("T")


def _free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _line(stream: IO[bytes] | None, pattern: str, deadline: float) -> re.Match[str]:
    """The first line of ``stream`` matching ``pattern`` (the commands' banners)."""
    assert stream is not None
    while time.monotonic() < deadline:
        line = stream.readline().decode()
        if not line:
            break
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"no line matching {pattern!r}")


def _until(check: Callable[[], T | None], deadline: float, what: str) -> T:
    while not (result := check()):
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.05)
    return result


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in reversed(started):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in reversed(started):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_register_read_write_execute_and_deregister_through_the_commands(
    processes: list[subprocess.Popen[bytes]],
) -> None:
    deadline = time.monotonic() + BOUND
    network = subprocess.Popen(
        [*LWM2M, "network", "--sims", "1", "--at-port", "0", "--t8-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    processes.append(network)
    banner = _line(network.stdout, r"AT over tcp (\S+):(\d+); T8: (http://[^/]+)/", deadline)
    at_host, at_port, t8_url = banner.group(1), banner.group(2), banner.group(3)
    status = httpx.get(f"{t8_url}/api/network", timeout=5).json()
    external_id = status["ues"][0]["sim"]["externalId"]
    imei = status["ues"][0]["sim"]["imei"]

    http_port = _free_port()
    web = f"http://127.0.0.1:{http_port}"
    server = subprocess.Popen(
        [*LWM2M, "server", "--host", "127.0.0.1",
         "--coap-port", str(_free_port(socket.SOCK_DGRAM)),
         "--http-port", str(http_port), "--db", ":memory:",
         "--coaps-port", "0", "--tcp-port", "0", "--tls-port", "0",
         "--nidd", t8_url, "--nidd-callback-url", f"{web}/t8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    processes.append(server)
    _line(server.stdout, r"REST API on", deadline)

    with httpx.Client(base_url=web, timeout=10) as api:
        assert api.put(f"/api/nidd/devices/{external_id}").status_code == 201
        _until(
            lambda: api.get(f"/api/nidd/devices/{external_id}").json()["status"] == "active",
            deadline,
            "the NIDD configuration at the SCEF",
        )
        client = subprocess.Popen(
            [*LWM2M, "client", "--nidd", f"socket://{at_host}:{at_port}", "--lifetime", "300"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(client)
        endpoint = f"urn:imei:{imei}"

        def registered() -> dict[str, object] | None:
            answer = api.get(f"/api/clients/{endpoint}")
            return answer.json() if answer.status_code == 200 else None

        registration = _until(registered, deadline, "the registration over NIDD")
        address = registration["address"]
        assert isinstance(address, dict) and address["transport"] == "N", address
        assert address["address"] == external_id
        assert api.get(f"/api/nidd/devices/{external_id}").json()["endpoint"] == endpoint

        read = api.get(f"/api/clients/{endpoint}/3/0", params={"format": "senml-cbor"})
        assert read.status_code == 200, read.text
        device = read.json()
        assert device["contentFormat"] == 112, device  # application/senml+cbor
        assert "lwm2m project" in read.text  # /3/0/0 manufacturer, decoded from the CBOR

        written = api.put(f"/api/clients/{endpoint}/1/0/1", json={"values": {"/1/0/1": 900}})
        assert written.status_code in (200, 204), written.text
        lifetime = api.get(f"/api/clients/{endpoint}/1/0/1").json()
        assert "900" in str(lifetime), lifetime

        executed = api.post(f"/api/clients/{endpoint}/7/0/6/execute")  # Start collecting
        assert executed.status_code in (200, 204), executed.text

        client.send_signal(signal.SIGTERM)
        assert client.wait(timeout=max(1.0, deadline - time.monotonic())) == 0
        _until(
            lambda: api.get(f"/api/clients/{endpoint}").status_code == 404,
            deadline,
            "the de-registration",
        )
    assert time.monotonic() < deadline
