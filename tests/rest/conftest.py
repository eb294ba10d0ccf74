"""A real ``lwm2m server`` process with three simulated devices (``--demo 3``), an API token,
a database (history, firmware beside it) and a bootstrap server: every route the CLI mounts."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

TOKEN = "rest-test-token"
DEVICES = [f"urn:imei:35000000000000{n}" for n in range(3)]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Served:
    url: str
    token: str
    endpoints: list[str]

    def get(self, path: str) -> object:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("rest")
    token_file, bootstrap = folder / "token", folder / "bootstrap.json"
    token_file.write_text(TOKEN)
    bootstrap.write_text(
        json.dumps({"*": {"servers": [{"shortServerId": 1, "uri": "coap://127.0.0.1:5683"}]}})
    )
    http = free_port(socket.SOCK_STREAM)
    udp = [free_port(socket.SOCK_DGRAM) for _ in range(2)]
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", str(folder / "lwm2m.db"), "--durability", "relaxed"),
        *("--coap-port", str(udp[0]), "--coaps-port", "0", "--tcp-port", "0", "--tls-port", "0"),
        *("--http-port", str(http), "--demo", str(len(DEVICES)), "--auth-file", str(token_file)),
        *("--bootstrap-config", str(bootstrap), "--bootstrap-port", str(udp[1])),
        *("--bootstrap-coaps-port", "0", "--log-level", "warning"),
    ]
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{http}", TOKEN, DEVICES)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (folder / "server.log").read_text()
            try:
                listed = served.get("/api/clients")
            except OSError:
                listed = []
            if isinstance(listed, list) and len(listed) == len(DEVICES):
                break
            assert time.monotonic() < deadline, "the demo devices did not register"
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        output = (folder / "server.log").read_text(errors="replace")
        assert "Traceback" not in output, output
