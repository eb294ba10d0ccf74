"""Three ``lwm2m server`` nodes (separate processes, a CoAP port each) on one Redis, behind UDP
relays that play the load balancer: devices registered through node A are read through B's
and C's REST API, every node's events reach every node's event stream once, and after
``kill -9`` of A the balancer sends A's devices to B and C, which serve them without a new
Register or Observe: one device goes to the survivor that takes it over, the other to the
survivor that does not, which must take it over when its notifications arrive."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from lwm2m.cluster.node import _preferred
from lwm2m.coap.codes import Code
from tests.cluster.test_nodes import Stream, node_command, nodes, owner
from tests.e2e.conftest import Tap, eventually
from tests.integration.test_restart import device, free_port, kill_9, observes

pytestmark = pytest.mark.timeout(60)

WAIT = 20.0
NODES = ("A", "B", "C")
OF_A = ("urn:imei:490154203237601", "urn:imei:490154203237602")
OF_B, OF_C = "urn:imei:490154203237603", "urn:imei:490154203237604"


def registers(tap: Tap) -> int:
    return sum(1 for m in tap.messages(up=True) if m.code is Code.POST)


async def registered_on(http: httpx.AsyncClient, endpoint: str) -> None:
    """The node knows ``endpoint`` (it learns other nodes' devices from the change stream)."""
    for _ in range(200):
        if (await http.get(f"/api/clients/{endpoint}")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{endpoint} never appeared on {http.base_url}")


async def test_three_nodes_share_devices_events_and_a_dead_nodes_fleet(
    redis_store_url: str, prefix: str
) -> None:
    coap = [free_port(socket.SOCK_DGRAM) for _ in NODES]
    http_ports = [free_port(socket.SOCK_STREAM) for _ in NODES]
    commands = [
        node_command(redis_store_url, name, coap[i], http_ports[i]) for i, name in enumerate(NODES)
    ]
    homes = {OF_A[0]: 0, OF_A[1]: 0, OF_B: 1, OF_C: 2}
    taps = {ep: Tap(("127.0.0.1", coap[node])) for ep, node in homes.items()}
    for tap in taps.values():
        await tap.start()
    clients = {ep: device(ep, tap, "U") for ep, tap in taps.items()}
    async with nodes(commands, http_ports) as processes:
        rest = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT)
            for port in http_ports
        ]
        streams = [Stream(port) for port in http_ports]
        try:
            await asyncio.sleep(0.5)  # the streams are open
            for client in clients.values():
                await client.start()
            await eventually(
                lambda: all(
                    owner(redis_store_url, prefix, ep) == NODES[n] for ep, n in homes.items()
                ),
                WAIT,
            )
            for http in rest:
                for ep in homes:
                    await registered_on(http, ep)
            # A's devices through B's and C's REST API: read, and observed from both.
            for http, ep in zip(rest[1:], OF_A, strict=True):
                answer = (await http.get(f"/api/clients/{ep}/3/0/0")).json()
                assert answer["status"] == "2.05" and answer["values"], answer
                observed = (await http.post(f"/api/clients/{ep}/3/0/9/observe")).json()
                assert observed["status"] == "2.05", observed
            for ep in (OF_B, OF_C):  # and B's and C's devices through A's
                answer = (await rest[0].get(f"/api/clients/{ep}/3/0/0")).json()
                assert answer.get("status") == "2.05", answer
            await eventually(
                lambda: all(s.of("notification", ep) for s in streams for ep in OF_A), WAIT
            )
            await asyncio.sleep(1.0)  # anything doubled would be here by now
            for stream in streams:
                for ep in homes:
                    assert len(stream.of("registered", ep)) == 1, (ep, stream.events)
            for ep in OF_A:
                notified = [len(s.of("notification", ep)) for s in streams]
                assert max(notified) - min(notified) <= 1, notified  # once each, give or take
            before = {ep: registers(taps[ep]) for ep in OF_A}
            assert all(len(observes(taps[ep])) == 1 for ep in OF_A)

            kill_9(processes[0])
            # The balancer's health check moves A's devices: one to the survivor that takes it
            # over (rendezvous hashing), one to the other, which must take it when it arrives.
            preferred = [_preferred(ep, ["B", "C"]) for ep in OF_A]
            moved = {OF_A[0]: preferred[0], OF_A[1]: "C" if preferred[1] == "B" else "B"}
            for ep, node in moved.items():
                taps[ep].server = ("127.0.0.1", coap[NODES.index(node)])
            await eventually(
                lambda: all(owner(redis_store_url, prefix, ep) == n for ep, n in moved.items()),
                WAIT,
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
                    assert answer["status"] == "2.05", answer
        finally:
            for stream in streams:
                await stream.close()
            for http in rest:
                await http.aclose()
            for client in clients.values():
                await client.stop(timeout=1.0)
            for tap in taps.values():
                tap.close()
