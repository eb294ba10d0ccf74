"""``lwm2m server --demo N``: simulated devices beside the server, so that a newcomer who
types ``make run`` sees devices in the console at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.simulated import simulated_client

IMEI_BASE = 350_000_000_000_000
"""Demo endpoints are ``urn:imei:35000000000000N``: 15 digits, a made-up TAC."""

MAX_DEVICES = 1000
"""Each demo device is a full client in this process: for fleets use ``lwm2m bench``."""


@contextlib.asynccontextmanager
async def demo_devices(count: int, server_uri: str) -> AsyncIterator[None]:
    """``count`` simulated Telekom-profile devices registered to ``server_uri`` while the block
    runs; they de-register when it ends."""
    now = time.time()
    account = ServerAccount(1, server_uri, lifetime=300, binding="U")
    clients = []
    for n in range(count):
        endpoint = f"urn:imei:{IMEI_BASE + n}"
        tree = telekom_device(endpoint, seed=n, now=now, servers=[account])
        clients.append(
            simulated_client(
                tree, endpoint, seed=n, now=now, local_address=("127.0.0.1", 0), tick_interval=5.0
            )
        )
    for client in clients:
        await client.start()
    try:
        yield
    finally:
        await asyncio.gather(*(client.stop() for client in clients), return_exceptions=True)
