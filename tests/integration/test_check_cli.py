"""``lwm2m check`` against a real server (CoAP and REST on loopback) and real simulated
devices, as a process where the exit status is the point: our Telekom-profile device passes;
one built without objects 4 and 11 fails, naming each missing item; the in-process collector
sees what the REST one sees."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from lwm2m.cli.main import main
from lwm2m.client.device import LwM2MClient
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.compliance import RestSource, ServerSource, collect
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.web.serving import WebServer

pytestmark = pytest.mark.timeout(60)

CHECK = (sys.executable, "-m", "lwm2m.cli.main", "check")
GOOD = "urn:imei:490154203237518"
BARE = "urn:imei:490154203237526"
MISSING = [
    "/4 Connectivity Monitoring: missing mandatory (object not registered)",
    *(
        f"/4/*/{rid} {name}: missing mandatory"
        for rid, name in (
            (0, "Network Bearer"),
            (1, "Available Network Bearer"),
            (2, "Radio Signal Strength"),
            (3, "Link Quality"),
            (4, "IP Addresses"),
            (7, "APN"),
            (8, "CellID"),
            (9, "SMNC"),
            (10, "SMCC"),
            (11, "SignalSNR"),
            (12, "LAC"),
        )
    ),
    "/11 APN connection profile: missing mandatory (object not registered)",
    *(
        f"/11/*/{rid} {name}: missing mandatory"
        for rid, name in (
            (0, "Profile Name"),
            (1, "APN"),
            (4, "Authentication Type"),
            (10, "Connection establishment result (1)"),
            (11, "Connection establishment reject cause (1)"),
        )
    ),
]
"""From the seed: objects 4 and 11 and every resource Telekom marks Mandatory in them."""


@dataclass
class Setup:
    server: LwM2MServer
    url: str


async def eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    """A server with its REST API, our device and one without objects 4 and 11, registered."""
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await server.start()
    web = WebServer(server, host="127.0.0.1", port=0)
    await web.start()
    account = ServerAccount(1, f"coap://127.0.0.1:{server.coap_address[1]}")
    clients = []
    for endpoint, without in ((GOOD, ()), (BARE, (4, 11))):
        tree = telekom_device(endpoint, seed=5, now=time.time(), servers=[account])
        if without:
            tree = ObjectTree(obj for obj in tree if obj.object_id not in without)
        client = LwM2MClient(tree, endpoint, local_address=("127.0.0.1", 0))
        await client.start()
        clients.append(client)
    try:
        await eventually(lambda: all(server.registrations.get(ep) for ep in (GOOD, BARE)))
        yield Setup(server, web.url)
    finally:
        for client in clients:
            await client.stop(timeout=2)
        await web.stop()
        await server.stop()


async def run_check(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *CHECK, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_our_device_passes(setup: Setup) -> None:
    status, stdout, stderr = await run_check(GOOD, "--server", setup.url, "--json")
    assert (status, stderr) == (0, "")
    report = json.loads(stdout)
    assert report["passed"] is True
    assert report["failures"] == []
    assert report["endpoint"] == GOOD
    verdicts = {obj["objectId"]: obj["verdict"] for obj in report["objects"]}
    assert {oid for oid, v in verdicts.items() if v == "pass"} == {
        1, 2, 3, 4, 5, 6, 7, 10, 11, 13, 15, 19, 3353, 3370, 3371, 3372
    }  # fmt: skip
    assert (verdicts[0], verdicts[21]) == ("not verifiable", "not verifiable")
    assert report["deviceValues"] == []
    timers = {(t["scope"], t["text"]): t["outcome"] for t in report["timers"]}
    assert timers[("/1/0", "T3412 > lifetime")] == "pass"
    assert timers[("/1/0", "lifetime > pmax")] == "pass"
    assert timers[("/1/0", "pmin < eDRX")] == "pass"
    assert timers[("/1/0", "eDRX < pmax")] == "pass"
    assert timers[("/1/0", "pmax <= rate-control interval")] == "unknown"  # no rate control


async def test_a_device_without_objects_4_and_11_fails_item_by_item(setup: Setup) -> None:
    status, stdout, stderr = await run_check(BARE, "--server", setup.url, "--json")
    assert (status, stderr) == (1, "")
    report = json.loads(stdout)
    assert report["passed"] is False
    assert report["failures"] == MISSING


async def test_the_text_report_flags_each_missing_item(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(main, ["check", BARE, "--server", setup.url])
    text, stderr = capsys.readouterr()
    assert (status, stderr) == (1, "")
    assert f"{BARE}: FAILED" in text.splitlines()[0]
    assert f"{len(MISSING)} mandatory items not met:" in text
    for line in MISSING:
        assert f"  {line}\n" in text
    flagged = [line.split()[1] for line in text.splitlines() if line.startswith("!")]
    assert flagged == [line.split()[0] for line in MISSING]


async def test_both_sources_collect_the_same(setup: Setup) -> None:
    in_process = await collect(ServerSource(setup.server), GOOD)
    over_rest = await collect(RestSource(setup.url), GOOD)
    assert in_process.object_links == over_rest.object_links
    assert in_process.links == over_rest.links
    assert in_process.values.keys() == over_rest.values.keys()
    assert in_process.unavailable == over_rest.unavailable == {}
    assert (in_process.lifetime, in_process.binding) == (over_rest.lifetime, over_rest.binding)


async def test_an_unknown_endpoint_is_status_2(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(main, ["check", "urn:imei:0", "--server", setup.url])
    assert (status, *capsys.readouterr()) == (
        2,
        "",
        "lwm2m check: no registration for endpoint 'urn:imei:0'\n",
    )


def test_no_server_is_status_2_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["check", GOOD, "--server", f"http://127.0.0.1:{port}"]) == 2
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"lwm2m check: cannot reach http://127.0.0.1:{port}: ")
