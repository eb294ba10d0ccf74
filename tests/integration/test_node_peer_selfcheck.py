"""The lwm2m-node-lib harness works: its client registers to its server, which reads /3/0/0.

Both peers are lwm2m-node-lib (LwM2M 1.0, npm, installed by `make peers`); this proves the
wrappers in tests/peers/node and tests/peers/node_peer.py before tests pair them with our stack.
"""

from __future__ import annotations

import time

import pytest

from tests.peers.node_peer import start_node_client, start_node_server

pytestmark = [pytest.mark.peer, pytest.mark.timeout(20)]


async def test_node_client_registers_to_node_server_which_reads_it() -> None:
    started = time.monotonic()
    async with start_node_server(ack_timeout=0.5, max_retransmit=2) as server:
        assert server.port > 0
        async with start_node_client(
            port=server.port, endpoint="selfcheck", lifetime=30, ack_timeout=0.5
        ) as client:
            registered = await client.wait_for("registered")
            assert registered["location"].startswith("/rd/")

            registration = await server.wait_for("registration", endpoint="selfcheck")
            assert registration["location"] == registered["location"]
            assert registration["lifetime"] == 30
            assert registration["version"] == "1.0"
            assert registration["address"] == "127.0.0.1"
            assert {"/3/0", "/3303/0", "/1234/0"} <= set(registration["objects"])

            assert await server.read("selfcheck", "/3/0/0") == "node-peer"
            assert (await client.wait_for("read", path="/3/0/0"))["value"] == "node-peer"

            await server.write("selfcheck", "/1234/0/1", "written")
            assert (await client.wait_for("write", path="/1234/0/1"))["value"] == "written"
            assert await client.get("/1234/0/1") == "written"

            await server.execute("selfcheck", "/3/0/4", "0='x'")
            assert (await client.wait_for("execute", path="/3/0/4"))["args"] == "0='x'"

            assert await server.observe("selfcheck", "/3303/0/5700") == "21.5"
            await client.set("/3303/0/5700", "22.25")
            notify = await server.wait_for("notify", path="/3303/0/5700")
            assert notify["value"] == "22.25"

            await client.update()
            update = await server.wait_for("update", endpoint="selfcheck")
            assert update["location"] == registered["location"]
            # The update came from a new socket: the server must follow it for later requests.
            assert await server.read("selfcheck", "/3303/0/5701") == "Cel"

            await client.deregister()
            await server.wait_for("unregistration", endpoint="selfcheck")
            assert await server.devices() == []

            assert not client.uncaught_errors()
            assert not server.uncaught_errors()
    assert client.returncode is not None
    assert server.returncode is not None
    assert time.monotonic() - started < 20
