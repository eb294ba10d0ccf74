"""``lwm2m client``'s OSCORE sequence numbers for a context the bootstrap server provisions:
kept in ``STATE.oscore-SSID`` with ``--state``, so a restarted device never reuses a nonce
under the same key; without ``--state`` that OSCORE is refused at Bootstrap-Finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path as FilePath

import pytest

from lwm2m.bootstrap import BootstrapConfig, BootstrapServer, BootstrapServerConfig
from lwm2m.cli.client import oscore_sequences
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import BootstrapFailed, Bootstrapped, ClientConfig, ClientEvent
from lwm2m.client.profile import BootstrapAccount, telekom_device
from lwm2m.coap import Message
from lwm2m.coap.codes import Code
from lwm2m.security.oscore import OscoreOption, SequenceStore
from lwm2m.security.oscore_endpoint import FileSequenceStore
from tests.e2e.conftest import EP, FAST, eventually

pytestmark = pytest.mark.timeout(30)

SECRET = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")


class SilentServer(asyncio.DatagramProtocol):
    """The provisioned server's address: records the Partial IVs of what arrives, answers
    nothing, so the device keeps sending new Registers."""

    def __init__(self) -> None:
        self.partial_ivs: list[int] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        oscore = Message.decode(data).options.oscore
        assert oscore is not None, "an unprotected request to an OSCORE server"
        self.partial_ivs.append(int.from_bytes(OscoreOption.decode(oscore).partial_iv or b""))


@pytest.fixture
async def network() -> AsyncIterator[tuple[BootstrapServer, SilentServer]]:
    """A bootstrap server that gives the device an OSCORE account with a silent server."""
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        SilentServer, local_addr=("127.0.0.1", 0)
    )
    bootstrap = BootstrapServer(
        BootstrapServerConfig(host="127.0.0.1", coap_port=0, coap=FAST, keys_over_nosec=True)
    )
    await bootstrap.start()
    oscore = {"masterSecret": SECRET.hex(), "senderId": "0c", "recipientId": "05"}
    uri = "coap://{}:{}".format(*transport.get_extra_info("sockname"))
    account = {"shortServerId": 1, "uri": uri, "lifetime": 30, "oscore": oscore}
    bootstrap.configs.put(EP, BootstrapConfig.from_json({"servers": [account]}))
    try:
        yield bootstrap, server
    finally:
        await bootstrap.stop()
        transport.close()


async def start_device(
    bootstrap: BootstrapServer,
    sequences: Callable[[int], SequenceStore],
    events: list[ClientEvent],
) -> LwM2MClient:
    """A device with a bootstrap account only, as ``lwm2m client --bootstrap`` builds it."""
    address = "coap://{}:{}".format(*bootstrap.coap_address)
    tree = telekom_device(
        EP, seed=7, now=time.time(), servers=[], bootstrap=BootstrapAccount(address)
    )
    client = LwM2MClient(
        tree,
        EP,
        local_address=("127.0.0.1", 0),
        config=ClientConfig(retry_base=0.2, retry_cap=0.5),
        coap=FAST,
        seed=7,
        on_event=events.append,
        oscore_sequences=sequences,
    )
    await client.start()
    return client


async def test_a_restarted_device_never_reuses_a_bootstrapped_contexts_numbers(
    network: tuple[BootstrapServer, SilentServer], tmp_path: FilePath
) -> None:
    bootstrap, server = network
    state = str(tmp_path / "device.json")
    first = await run_until_it_sends(bootstrap, server, state)
    assert FileSequenceStore(f"{state}.oscore-1").load() > max(first)
    restarted = await run_until_it_sends(bootstrap, server, state)  # the same --state
    assert min(restarted) > max(first)


async def run_until_it_sends(
    bootstrap: BootstrapServer, server: SilentServer, state: str
) -> list[int]:
    """The Partial IVs of the Registers a device bootstrapped with ``--state`` sends."""
    seen = len(server.partial_ivs)
    events: list[ClientEvent] = []
    client = await start_device(bootstrap, oscore_sequences(state), events)
    try:
        await eventually(lambda: len(server.partial_ivs) > seen or None)
    finally:
        await client.stop()
    assert any(isinstance(event, Bootstrapped) for event in events)
    return server.partial_ivs[seen:]


async def test_without_state_a_bootstrapped_oscore_context_is_refused(
    network: tuple[BootstrapServer, SilentServer],
) -> None:
    bootstrap, server = network
    events: list[ClientEvent] = []
    client = await start_device(bootstrap, oscore_sequences(None), events)
    try:
        failed = await eventually(
            lambda: next((e for e in events if isinstance(e, BootstrapFailed)), None)
        )
    finally:
        await client.stop()
    assert failed.code == Code.NOT_ACCEPTABLE
    assert "OSCORE needs --state" in failed.reason
    assert not any(isinstance(event, Bootstrapped) for event in events)
    assert not server.partial_ivs
