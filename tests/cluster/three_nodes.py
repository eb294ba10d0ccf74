"""Three ``lwm2m server`` nodes (separate processes, a CoAP port each) on one Redis, behind UDP
relays that play the load balancer: devices registered through node A are read through B's
and C's REST API, every node's events reach every node's event stream once, and after
``kill -9`` of A the balancer sends A's devices to B and C, which serve them without a new
Register or Observe: one device goes to the survivor that takes it over (rendezvous hashing),
the other to the survivor that does not, which must take it over when its notifications
arrive.  Run on loopback and across network namespaces (tests/cluster/test_three_nodes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx

from lwm2m.cluster.node import _preferred
from lwm2m.coap.codes import Code
from tests.cluster.test_nodes import Stream, owner
from tests.e2e.conftest import Tap, eventually
from tests.integration.test_restart import device, kill_9, observes

WAIT = 20.0
NAMES = ("A", "B", "C")
OF_A = ("urn:imei:490154203237601", "urn:imei:490154203237602")
OF_B, OF_C = "urn:imei:490154203237603", "urn:imei:490154203237604"
HOMES = {OF_A[0]: 0, OF_A[1]: 0, OF_B: 1, OF_C: 2}


@dataclass(frozen=True, slots=True)
class Node:
    command: Sequence[str]
    coap: tuple[str, int]
    url: str  # its REST API


async def start(command: Sequence[str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT
    async with httpx.AsyncClient(timeout=1.0) as http:
        while True:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/api/clients")).is_success:
                    return process
            assert time.monotonic() < deadline, f"the node at {url} did not come up"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(nodes: Sequence[Node]) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for node in nodes:
            processes.append(await start(node.command, node.url))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def registers(tap: Tap) -> int:
    return sum(1 for m in tap.messages(up=True) if m.code is Code.POST)


async def known_to(http: httpx.AsyncClient, endpoint: str) -> None:
    """The node knows ``endpoint`` (it learns other nodes' devices from the change stream)."""
    for _ in range(200):
        if (await http.get(f"/api/clients/{endpoint}")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{endpoint} never appeared on {http.base_url}")


async def three_nodes(store_url: str, prefix: str, nodes: Sequence[Node], host: str) -> None:
    """The scenario; ``host``: the devices' balancer's address towards the nodes."""
    taps = {ep: Tap(nodes[home].coap, host=host) for ep, home in HOMES.items()}
    for tap in taps.values():
        await tap.start()
    clients = {ep: device(ep, tap, "U") for ep, tap in taps.items()}
    rest = [httpx.AsyncClient(base_url=node.url, timeout=WAIT) for node in nodes]
    streams: list[Stream] = []
    try:
        async with running(nodes) as processes:
            streams = [Stream(node.url) for node in nodes]
            await asyncio.sleep(0.5)  # the streams are open
            for client in clients.values():
                await client.start()
            await eventually(
                lambda: all(
                    owner(store_url, prefix, ep) == NAMES[home] for ep, home in HOMES.items()
                ),
                WAIT,
            )
            for http in rest:
                for ep in HOMES:
                    await known_to(http, ep)
            # A's devices through B's and C's REST API: read, and observed one from each.
            for http, ep in zip(rest[1:], OF_A, strict=True):
                answer = (await http.get(f"/api/clients/{ep}/3/0/0")).json()
                assert answer.get("status") == "2.05" and answer["values"], answer
                observed = (await http.post(f"/api/clients/{ep}/3/0/9/observe")).json()
                assert observed.get("status") == "2.05", observed
            for ep in (OF_B, OF_C):  # and B's and C's devices through A's
                answer = (await rest[0].get(f"/api/clients/{ep}/3/0/0")).json()
                assert answer.get("status") == "2.05", answer
            await eventually(
                lambda: all(s.of("notification", ep) for s in streams for ep in OF_A), WAIT
            )
            await asyncio.sleep(1.0)  # anything doubled would be here by now
            for stream in streams:
                for ep in HOMES:
                    assert len(stream.of("registered", ep)) == 1, (ep, stream.events)
            for ep in OF_A:
                notified = [len(s.of("notification", ep)) for s in streams]
                assert max(notified) - min(notified) <= 1, notified  # once each, give or take
            before = {ep: registers(taps[ep]) for ep in OF_A}
            assert all(len(observes(taps[ep])) == 1 for ep in OF_A)

            kill_9(processes[0])
            # The balancer's health check moves A's devices to the survivors.
            other = {"B": "C", "C": "B"}
            moved = {
                OF_A[0]: _preferred(OF_A[0], ["B", "C"]),
                OF_A[1]: other[_preferred(OF_A[1], ["B", "C"])],
            }
            for ep, name in moved.items():
                taps[ep].server = nodes[NAMES.index(name)].coap
            await eventually(
                lambda: all(owner(store_url, prefix, ep) == n for ep, n in moved.items()), WAIT
            )
            counts = {ep: [len(s.of("notification", ep)) for s in streams[1:]] for ep in OF_A}
            await eventually(  # notifications go on, on both survivors' streams
                lambda: all(
                    len(s.of("notification", ep)) > counts[ep][i]
                    for ep in OF_A
                    for i, s in enumerate(streams[1:])
                ),
                WAIT,
            )
            for ep in OF_A:
                assert registers(taps[ep]) == before[ep]  # no new Register
                assert observes(taps[ep])[1:] == []  # no new Observe: the old token goes on
                for http in rest[1:]:
                    answer = (await http.get(f"/api/clients/{ep}/3/0/0")).json()
                    assert answer.get("status") == "2.05", answer
    finally:
        for stream in streams:
            await stream.close()
        for http in rest:
            await http.aclose()
        for client in clients.values():
            await client.stop(timeout=1.0)
        for tap in taps.values():
            tap.close()
