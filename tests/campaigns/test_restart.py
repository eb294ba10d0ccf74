"""A campaign survives ``kill -9`` of ``lwm2m server --db``: the restarted server reads it
back from the database, checks the devices that were under way (their /5 state and /3/0/3,
read from them) and finishes it; every device ends at the new version."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path as FilePath

import httpx
import pytest

from lwm2m.client.firmware.package import build_package
from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.loadtest.campaign import MODEL, firmware_device
from lwm2m.model import Path
from tests.campaigns.test_campaign import FAST
from tests.integration.test_restart import free_port, kill_9, launch

pytestmark = pytest.mark.timeout(150)

DEVICES = 40


async def test_a_campaign_goes_on_after_kill_9(tmp_path: FilePath) -> None:
    db = tmp_path / "lwm2m.db"
    http_port, coap_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", str(db), "--coap-port", str(coap_port), "--coaps-port", "0"),
        *("--tcp-port", "0", "--tls-port", "0"),  # strict: acknowledged means kept
        *("--http-port", str(http_port), "--log-level", "warning"),
    ]
    server = await launch(command, http_port)
    clients = []
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=10.0)
    try:
        data = build_package(bytes(range(256)) * 64, model=MODEL, version="2.0.0", name="fw")
        added = await api.post(f"/api/firmware?version=2.0.0&model={MODEL}", content=data)
        assert added.status_code == 201, added.text
        sha256 = added.json()["sha256"]
        for index in range(DEVICES):
            client, _ = firmware_device(
                index,
                f"coap://127.0.0.1:{coap_port}",
                limits=DeviceLimits(MODEL, min_battery=0),
                pull=PullSettings(coap=FAST, retry_base=0.2, retry_window=2.0),
                coap=FAST,
            )
            clients.append(client)
            await client.start()
        await until_json(api, "/api/clients", lambda found: len(found) == DEVICES)
        created = await api.post(
            "/api/campaigns",
            json={
                "package": sha256,
                "target": {"model": MODEL},
                "concurrency": 4,
                "deviceTimeout": 15,
                "retries": 3,
            },
        )
        assert created.status_code == 201, created.text
        path = f"/api/campaigns/{created.json()['id']}"
        await until_json(api, path, lambda c: c["counts"].get("succeeded", 0) >= 8)
        kill_9(server)
        server = await launch(command, http_port)
        done = await until_json(api, path, lambda c: c["status"] != "running", timeout=100)
        assert done["status"] == "completed", done
        failed = [(d["endpoint"], d.get("error")) for d in done["deviceList"] if d.get("error")]
        assert done["counts"] == {"succeeded": DEVICES}, failed
        for client in clients:
            assert client.tree.read(Path.of(3, 0, 3), server_id=1).value == "2.0.0"  # type: ignore[union-attr]
    finally:
        await api.aclose()
        for client in clients:
            await client.stop(timeout=0.1)
        server.terminate()
        server.wait(10)


async def until_json(
    api: httpx.AsyncClient, path: str, check: object, timeout: float = 30.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        answer = await api.get(path)
        if answer.is_success and check(answer.json()):  # type: ignore[operator]
            result: dict[str, object] = answer.json()
            return result
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.2)
