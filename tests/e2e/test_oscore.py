"""OSCORE end to end: our LwM2MClient (OSCORE object /21 linked from /0/x/17) registers with
our LwM2MServer (contexts from its OSCORE credentials) over loopback UDP, through the Tap,
which shows that nothing but the OSCORE option and ciphertext crosses."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import httpx
import pytest

from lwm2m.bootstrap import BootstrapConfig, BootstrapServer, BootstrapServerConfig
from lwm2m.cli.main import main
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientEvent, RegistrationFailed
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.oscore import add_oscore_account
from lwm2m.client.profile import BootstrapAccount, ServerAccount, telekom_device
from lwm2m.coap.codes import Code
from lwm2m.model import Path, node_to_values
from lwm2m.operations import EmptyResponse, NodeResponse
from lwm2m.security.credentials import OscoreCredential, Secret
from lwm2m.security.oscore import OscoreOption
from lwm2m.security.oscore_endpoint import FileSequenceStore, OscoreServerContexts
from lwm2m.server import LwM2MServer, NotificationReceived, Registered, ServerConfig, ServerEvent
from lwm2m.web.app import create_app
from tests.e2e.conftest import EP, FAST, WAIT, Tap, eventually

pytestmark = pytest.mark.timeout(30)

OTHER = "urn:imei:490154203237518"
SECRET = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
CLIENT_ID, SERVER_ID = b"\x0c", b"\x05"  # the device's Sender ID, the server's


@dataclass
class World:
    server: LwM2MServer
    tap: Tap
    state: FilePath
    server_events: list[ServerEvent] = field(default_factory=list)
    clients: list[LwM2MClient] = field(default_factory=list)

    def client(
        self,
        endpoint: str = EP,
        secret: bytes | None = SECRET,
        *,
        through_tap: bool = True,
        seed: int = 7,
    ) -> tuple[LwM2MClient, list[ClientEvent]]:
        """A device with an OSCORE account (NoSec if ``secret`` is None)."""
        address = self.tap.address if through_tap else self.server.coap_address
        account = ServerAccount(
            1,
            "coap://{}:{}".format(*address),
            lifetime=30,
            binding="U",
            default_pmin=0,
            default_pmax=0,
        )
        tree = telekom_device(endpoint, seed=7, now=time.time(), servers=[account])
        if secret is not None:
            add_oscore_account(tree, 1, CLIENT_ID, SERVER_ID, secret)
        events: list[ClientEvent] = []
        client = LwM2MClient(
            tree,
            endpoint,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(retry_base=0.2, retry_cap=0.5),
            coap=FAST,
            seed=seed,
            on_event=events.append,
            oscore_sequences=lambda ssid: FileSequenceStore(self.state / f"{endpoint}-{ssid}"),
        )
        self.clients.append(client)
        return client, events

    def registered(self, endpoint: str = EP) -> list[Registered]:
        return [
            e
            for e in self.server_events
            if isinstance(e, Registered) and e.registration.endpoint == endpoint
        ]


async def wait(events: list[Any], kind: type[Any], count: int = 1) -> Any:
    await eventually(lambda: len([e for e in events if isinstance(e, kind)]) >= count or None)
    return [e for e in events if isinstance(e, kind)][count - 1]


@pytest.fixture
async def world(tmp_path: FilePath) -> AsyncIterator[World]:
    contexts = OscoreServerContexts(
        [
            OscoreCredential(EP, Secret(SECRET), SERVER_ID, CLIENT_ID),
            OscoreCredential(OTHER, Secret(b"another secret"), b"\x06", b"\x0d"),
        ]
    )
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, coap=FAST, expiry_grace=0.5),
        oscore=contexts,
    )
    await server.start()
    tap = Tap(server.coap_address)
    await tap.start()
    setup = World(server, tap, tmp_path)
    server.subscribe(setup.server_events.append)
    try:
        yield setup
    finally:
        for client in setup.clients:
            await client.stop(timeout=1.0)
        tap.close()
        await server.stop()


def assert_all_protected(world: World, since: int = 0) -> None:
    crossed = [c for c in world.tap.log[since:] if c.message is not None]
    assert crossed
    for c in crossed:
        message = c.message
        assert message is not None
        if message.code is Code.EMPTY:
            continue
        assert message.options.oscore is not None, message
        assert not message.options.uri_path and not message.options.uri_query
        assert message.options.content_format is None
        assert message.code in (Code.POST, Code.FETCH, Code.CHANGED, Code.CONTENT), message
        assert EP.encode() not in c.data and b"Telekom" not in c.data


def partial_ivs(world: World) -> list[bytes]:
    """The Partial IVs the device sent (requests and notifications)."""
    fields = [
        OscoreOption.decode(c.message.options.oscore)
        for c in world.tap.log
        if c.up and c.message is not None and c.message.options.oscore
    ]
    return [f.partial_iv for f in fields if f.partial_iv is not None]


async def test_register_read_write_observe_over_oscore(world: World) -> None:
    client, events = world.client()
    await client.start()
    await wait(events, ClientRegistered)
    (registered,) = world.registered()
    assert registered.registration.address == world.tap.client_address
    read = await world.server.read(EP, "/3/0/0")
    assert isinstance(read, NodeResponse)
    assert node_to_values(Path.of(3, 0, 0), read.node)[Path.of(3, 0, 0)] == client.tree.object(
        3
    ).read(0, 0)
    assert await world.server.write(EP, "/1/0/3", {"/1/0/3": 42}) == EmptyResponse()
    assert client.tree.object(1).read(0, 3) == 42
    observed = await world.server.observe(EP, "/3/0/9")
    assert isinstance(observed, NodeResponse) and observed.observe is not None
    client.tree.object(3).set(0, 9, 17)  # type: ignore[attr-defined]
    note = await wait(world.server_events, NotificationReceived)
    assert dict(note.values) == {Path.of(3, 0, 9): 17}
    assert_all_protected(world)
    assert len(set(partial_ivs(world))) == len(partial_ivs(world))  # no nonce twice


async def test_wrong_master_secret_is_refused_and_nothing_else_is_disturbed(
    world: World,
) -> None:
    good, good_events = world.client()
    await good.start()
    await wait(good_events, ClientRegistered)
    bad, bad_events = world.client(OTHER, b"not the secret!!", through_tap=False)
    await bad.start()
    failed = await wait(bad_events, RegistrationFailed)
    assert failed.code is Code.UNAUTHORIZED
    assert [r.endpoint for r in world.server.registrations.all()] == [EP]
    read = await world.server.read(EP, "/3/0/9")  # the good device still answers
    assert isinstance(read, NodeResponse)


async def test_endpoint_mismatch_is_forbidden(world: World) -> None:
    """EP's context may not register OTHER (4.03), and NoSec may not register EP."""
    client, events = world.client(OTHER)  # OTHER's name, EP's keys
    await client.start()
    failed = await wait(events, RegistrationFailed)
    assert failed.code is Code.FORBIDDEN
    nosec, nosec_events = world.client(EP, None, through_tap=False)
    await nosec.start()
    failed = await wait(nosec_events, RegistrationFailed)
    assert failed.code is Code.FORBIDDEN
    assert not world.registered(OTHER) and not world.registered(EP)


async def test_restart_never_reuses_a_nonce_and_echo_recovers(world: World) -> None:
    first, events = world.client()
    await first.start()
    await wait(events, ClientRegistered)
    assert isinstance(await world.server.read(EP, "/3/0/9"), NodeResponse)
    await first.stop(timeout=2.0)
    world.clients.remove(first)
    before = partial_ivs(world)
    # A new process: context from /21, numbers from the file (and other message IDs: the
    # server would answer the old ones from its deduplication cache).
    again, events = world.client(seed=8)
    await again.start()
    await wait(events, ClientRegistered)
    assert not [e for e in events if isinstance(e, RegistrationFailed)]
    mark = len(world.tap.log)
    read = await world.server.read(EP, "/3/0/9")
    assert isinstance(read, NodeResponse)
    # The device lost its replay window: it asked for Echo, the server sent the read again.
    assert len(world.tap.exchanges(mark)) == 2
    after = partial_ivs(world)[len(before) :]
    assert min(int.from_bytes(p, "big") for p in after) >= 64  # past the saved reservation
    assert not set(before) & set(after)
    assert_all_protected(world)


async def test_timings_stay_small(world: World) -> None:
    started = time.monotonic()
    client, events = world.client()
    await client.start()
    await wait(events, ClientRegistered)
    for _ in range(20):
        assert isinstance(await world.server.read(EP, "/3/0/9"), NodeResponse)
    assert time.monotonic() - started < WAIT


async def test_rest_api_adds_an_oscore_context_that_a_device_then_uses(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "00112233445566778899aabbccddeeff"
    body = {"mode": "oscore", "masterSecret": secret, "senderId": "07", "recipientId": "0e"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(world.server)), base_url="http://localhost"
    ) as http:
        with caplog.at_level(logging.DEBUG):
            created = await http.put("/api/security/urn:dev:5", json=body)
            assert created.status_code == 201
            assert created.json() == {
                "endpoint": "urn:dev:5",
                "mode": "oscore",
                "senderId": "07",
                "recipientId": "0e",
                "hasKey": True,
            }
            listed = (await http.get("/api/security")).json()
            assert {entry["endpoint"] for entry in listed} == {EP, OTHER, "urn:dev:5"}
            taken = await http.put("/api/security/urn:dev:6", json={**body, "senderId": "08"})
            assert taken.status_code == 409  # recipient ID 0e is urn:dev:5's
            bad = await http.put("/api/security/urn:dev:6", json={**body, "masterSecret": "zz"})
            assert bad.status_code == 400
        assert secret not in caplog.text and secret not in str(listed)
        tree = telekom_device(
            "urn:dev:5",
            seed=7,
            now=time.time(),
            servers=[
                ServerAccount(1, "coap://{}:{}".format(*world.server.coap_address), binding="U")
            ],
        )
        add_oscore_account(tree, 1, b"\x0e", b"\x07", bytes.fromhex(secret))
        events: list[ClientEvent] = []
        client = LwM2MClient(
            tree,
            "urn:dev:5",
            local_address=("127.0.0.1", 0),
            coap=FAST,
            on_event=events.append,
            oscore_sequences=lambda ssid: FileSequenceStore(world.state / "d5"),
        )
        world.clients.append(client)
        await client.start()
        await wait(events, ClientRegistered)
        assert (await http.delete("/api/security/urn:dev:5")).status_code == 204
        assert (await http.get("/api/security/urn:dev:5")).status_code == 404
        answer = await world.server.read("urn:dev:5", "/3/0/9", timeout=1.0)
        # Without a context the server speaks NoSec, which the device refuses (4.01).
        assert getattr(answer, "code", None) is Code.UNAUTHORIZED


# -- command line ------------------------------------------------------------------------------


async def test_cli_client_sends_over_oscore_twice_with_its_state(world: World) -> None:
    state = world.state / "state.json"
    uri = "coap://{}:{}".format(*world.tap.address)
    argv = ["client", "--endpoint", EP, "--server", uri, "--lifetime", "30", "--state"]
    argv += [str(state), "--oscore", f"0c:05:{SECRET.hex()}", "--send", "/3/0/0"]
    assert await asyncio.to_thread(main, argv) == 0
    first = partial_ivs(world)
    # The same saved seed again: only the simulated values repeat, never message IDs, tokens
    # or nonces (a reused ID would be answered from the server's deduplication cache).
    assert await asyncio.to_thread(main, argv) == 0
    again = partial_ivs(world)[len(first) :]
    assert len(world.registered()) == 2 and first and again
    assert min(int.from_bytes(p, "big") for p in again) >= 64 and not set(first) & set(again)
    assert_all_protected(world)


def test_cli_oscore_arguments_are_checked(
    tmp_path: FilePath, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ["server", "--db", ":memory:", "--oscore", f"{EP}:05:0c:{SECRET.hex()}"]
    assert main(server) == 1
    server[2] = str(tmp_path / "x.db")
    assert main([*server[:-1], f"{EP}:05:0c:{SECRET.hex()}zz"]) == 1
    client = ["client", "--endpoint", EP, "--server", "coap://127.0.0.1:9"]
    assert main([*client, "--oscore", f"0c:05:{SECRET.hex()}"]) == 1
    client += ["--state", str(tmp_path / "s")]
    assert main([*client, "--oscore", "0c:05:zz5ecret"]) == 1
    assert main([*client, "--oscore", f"0c:{SECRET.hex()}"]) == 1
    errors = capsys.readouterr().err
    assert "--oscore needs a --db file" in errors and "--oscore needs --state" in errors
    # The server names the option's occurrence, the client its one option: the same words.
    assert "server: --oscore number 1: key is not hexadecimal" in errors
    assert "client: --oscore: key is not hexadecimal" in errors
    assert "client: --oscore: expected SENDERID:RECIPIENTID:MASTERSECRET" in errors
    assert SECRET.hex() not in errors and "zz5ecret" not in errors


async def test_oscore_provisioned_by_the_bootstrap_server_is_used(world: World) -> None:
    """A device without any /21 instance bootstraps; the bootstrap server writes an OSCORE
    instance linked from /0/x/17; the device registers over OSCORE with it."""
    bootstrap = BootstrapServer(
        BootstrapServerConfig(host="127.0.0.1", coap_port=0, coap=FAST, keys_over_nosec=True)
    )
    await bootstrap.start()
    try:
        oscore = {
            "masterSecret": SECRET.hex(),
            "senderId": CLIENT_ID.hex(),
            "recipientId": SERVER_ID.hex(),
        }
        uri = "coap://{}:{}".format(*world.tap.address)
        account = {"shortServerId": 1, "uri": uri, "lifetime": 30, "oscore": oscore}
        bootstrap.configs.put(EP, BootstrapConfig.from_json({"servers": [account]}))
        tree = telekom_device(
            EP,
            seed=7,
            now=time.time(),
            servers=[],
            bootstrap=BootstrapAccount("coap://{}:{}".format(*bootstrap.coap_address)),
        )
        assert not tree.object(21).list_instances()
        events: list[ClientEvent] = []
        client = LwM2MClient(
            tree,
            EP,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(retry_base=0.2, retry_cap=0.5),
            coap=FAST,
            seed=7,
            on_event=events.append,
        )
        world.clients.append(client)
        await client.start()
        await wait(events, ClientRegistered)
        assert tree.object(21).list_instances()
        assert [r.registration.endpoint for r in world.registered()] == [EP]
        assert not [e for e in events if isinstance(e, RegistrationFailed)]
        assert_all_protected(world)
    finally:
        await bootstrap.stop()
