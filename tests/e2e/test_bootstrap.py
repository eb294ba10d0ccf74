"""ETS int-0 to int-9: bootstrap between our BootstrapServer, LwM2MServer and LwM2MClient over
real loopback UDP.

What does not apply, and why:

- int-2 (bootstrap with certificates): out of scope.  The Telekom profile asks for PSK and NoSec
  only; what we test is that a certificate mode is refused up front, with a message.
- int-3 (bootstrap from a smartcard): a simulated device has no UICC.  Its stand-in, factory
  bootstrap from a file (``lwm2m client --factory``), is what the test checks: the accounts
  from the file are used without asking any bootstrap server.
- int-1 (full bootstrap with PSK) runs as the ETS describes it: the client bootstraps over DTLS
  with its bootstrap PSK, receives a PSK account for the DM server and registers over DTLS with
  it.  Besides: keys are refused over NoSec, and over DTLS a device bootstraps only as the
  endpoint its identity is bound to, while an endpoint with a PSK may not bootstrap over NoSec.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, TypeVar

import pytest

from lwm2m.bootstrap import (
    BootstrapConfig,
    BootstrapEvent,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapRead,
    BootstrapRefused,
    BootstrapServer,
    BootstrapServerConfig,
    BootstrapStarted,
    ConfigError,
)
from lwm2m.cli.main import main
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import Bootstrapped, ClientConfig, ClientEvent
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.profile import BootstrapAccount, ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.config import EndpointConfig
from lwm2m.model import Path
from lwm2m.operations import EmptyResponse
from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, Secret
from lwm2m.security.dtls import DtlsConfig
from lwm2m.server import LwM2MServer, Registered, ServerConfig, ServerEvent
from lwm2m.transport.dtls import DtlsPeer
from tests.e2e.conftest import EP, FAST, WAIT, eventually, start_server

pytestmark = pytest.mark.timeout(30)
T = TypeVar("T")
KEY = "00112233445566778899aabbccddeeff"
DM_KEY = bytes.fromhex(KEY)
BS_KEY = b"bootstrap-key-01"


@dataclass
class Setup:
    server: LwM2MServer
    bootstrap: BootstrapServer
    server_events: list[ServerEvent] = field(default_factory=list)
    bootstrap_events: list[BootstrapEvent] = field(default_factory=list)
    client_events: list[ClientEvent] = field(default_factory=list)
    clients: list[LwM2MClient] = field(default_factory=list)

    @property
    def server_uri(self) -> str:
        return "coap://{}:{}".format(*self.server.coap_address)

    @property
    def bootstrap_uri(self) -> str:
        return "coap://{}:{}".format(*self.bootstrap.coap_address)

    def account(self, ssid: int = 1, **extra: Any) -> dict[str, Any]:
        return {"shortServerId": ssid, "uri": self.server_uri, "lifetime": 30, **extra}

    def configure(self, **entry: Any) -> None:
        entry.setdefault("servers", [self.account()])
        self.bootstrap.configs.put(EP, BootstrapConfig.from_json(entry))

    def device(
        self,
        servers: list[ServerAccount] | None = None,
        *,
        bootstrap: bool = True,
        coap: EndpointConfig = FAST,
    ) -> tuple[LwM2MClient, ObjectTree]:
        tree = telekom_device(
            EP,
            seed=7,
            now=time.time(),
            servers=servers or [],
            bootstrap=BootstrapAccount(self.bootstrap_uri) if bootstrap else None,
        )
        client = LwM2MClient(
            tree,
            EP,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(retry_base=0.2, retry_cap=0.5, bootstrap_after=2),
            coap=coap,
            seed=7,
            on_event=self.client_events.append,
        )
        self.clients.append(client)
        return client, tree

    def seen(self, events: list[Any], kind: type[T]) -> list[T]:
        return [e for e in events if isinstance(e, kind)]

    async def wait(
        self, events: list[Any], kind: type[T], count: int = 1, timeout: float = WAIT
    ) -> T:
        await eventually(lambda: len(self.seen(events, kind)) >= count or None, timeout)
        return self.seen(events, kind)[count - 1]


async def start_bootstrap(keys_over_nosec: bool = False) -> BootstrapServer:
    config = BootstrapServerConfig(
        host="127.0.0.1", coap_port=0, coap=FAST, keys_over_nosec=keys_over_nosec
    )
    bootstrap = BootstrapServer(config)
    await bootstrap.start()
    return bootstrap


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    world = Setup(await start_server(), await start_bootstrap())
    world.server.subscribe(world.server_events.append)
    world.bootstrap.subscribe(world.bootstrap_events.append)
    try:
        yield world
    finally:
        for client in world.clients:
            await client.stop(timeout=2.0)
        await world.bootstrap.stop()
        await world.server.stop()


def servers_of(tree: ObjectTree) -> list[int]:
    return tree.server_ids()


async def test_int_0_client_initiated_bootstrap(setup: Setup) -> None:
    setup.configure(delete=["/0", "/1"])
    client, tree = setup.device()
    await client.start()
    started = await setup.wait(setup.bootstrap_events, BootstrapStarted)
    assert started.endpoint == EP
    assert await setup.wait(setup.bootstrap_events, BootstrapFinished) == BootstrapFinished(EP)
    assert await setup.wait(setup.client_events, Bootstrapped) == Bootstrapped((1,))
    registered = await setup.wait(setup.server_events, Registered)
    assert (registered.registration.endpoint, registered.registration.lifetime) == (EP, 30)
    await setup.wait(setup.client_events, ClientRegistered)
    security = tree.object(0)
    accounts = {
        security.read(i, 10) for i in security.list_instances() if 10 in security.list_resources(i)
    }
    assert accounts == {1}
    assert setup.bootstrap.sessions == 0


@dataclass
class Secured:
    """A DM server and a bootstrap server, each with a DTLS port and the device's PSK."""

    server: LwM2MServer
    bootstrap: BootstrapServer
    server_events: list[ServerEvent] = field(default_factory=list)
    bootstrap_events: list[BootstrapEvent] = field(default_factory=list)
    client_events: list[ClientEvent] = field(default_factory=list)

    def device(self, uri: str, identity: bytes | None = b"bs-1") -> tuple[LwM2MClient, ObjectTree]:
        """A device with only a bootstrap account (NoSec without ``identity``)."""
        account = BootstrapAccount(uri, identity, BS_KEY if identity else b"")
        tree = telekom_device(EP, seed=7, now=time.time(), servers=[], bootstrap=account)
        client = LwM2MClient(
            tree,
            EP,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(retry_base=0.2, retry_cap=0.5),
            coap=FAST,
            seed=7,
            on_event=self.client_events.append,
            dtls=DtlsConfig(handshake_timeout_min=0.2, handshake_timeout_max=1.0),
        )
        return client, tree


@pytest.fixture
async def secured() -> AsyncIterator[Secured]:
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, coaps_port=0, coap=FAST),
        credentials=MemoryPskStore((PskCredential(EP, Psk(b"dm-1", Secret(DM_KEY))),)),
    )
    bootstrap = BootstrapServer(
        BootstrapServerConfig(host="127.0.0.1", coap_port=0, coaps_port=0, coap=FAST),
        credentials=MemoryPskStore(
            (
                PskCredential(EP, Psk(b"bs-1", Secret(BS_KEY))),
                PskCredential("urn:dev:other", Psk(b"bs-2", Secret(BS_KEY))),
            )
        ),
    )
    await server.start()
    await bootstrap.start()
    uri = "coaps://{}:{}".format(*server.coaps_address)
    account = {"shortServerId": 1, "uri": uri, "lifetime": 30, "securityMode": "psk"}
    bootstrap.configs.put(
        EP,
        BootstrapConfig.from_json(
            {
                "servers": [
                    {
                        **account,
                        "identity": "dm-1",
                        "key": DM_KEY.hex(),
                        "cipherSuites": [0xC0A8, 0x00AE],
                    }
                ],
                "delete": ["/0"],
            }
        ),
    )
    world = Secured(server, bootstrap)
    server.subscribe(world.server_events.append)
    bootstrap.subscribe(world.bootstrap_events.append)
    try:
        yield world
    finally:
        await bootstrap.stop()
        await server.stop()


async def wait_for(events: list[Any], kind: type[T]) -> T:
    await eventually(lambda: any(isinstance(e, kind) for e in events) or None)
    return next(e for e in events if isinstance(e, kind))


async def test_int_1_full_bootstrap_and_registration_over_dtls(secured: Secured) -> None:
    client, tree = secured.device("coaps://{}:{}".format(*secured.bootstrap.coaps_address))
    await client.start()
    try:
        assert await wait_for(secured.bootstrap_events, BootstrapFinished) == BootstrapFinished(EP)
        assert await wait_for(secured.client_events, Bootstrapped) == Bootstrapped((1,))
        registered = await wait_for(secured.server_events, Registered)
        assert isinstance(registered.registration.address, DtlsPeer)
        await wait_for(secured.client_events, ClientRegistered)
        security = tree.object(0)
        (iid,) = [i for i in security.list_instances() if security.read(i, 1) is False]
        assert security.read(iid, 2) == 0  # PSK
        assert security.read(iid, 3) == b"dm-1"
        assert security.read(iid, 5) == DM_KEY
        assert security.read(iid, 16) == {0: 0xC0A8, 1: 0x00AE}  # CCM_8 first
        assert secured.server.dtls_sessions == 1
    finally:
        await client.stop(timeout=2.0)


@pytest.mark.parametrize("channel", ["nosec", "another identity"])
async def test_int_1_bootstrap_refuses_what_the_psk_binding_forbids(
    secured: Secured, channel: str
) -> None:
    if channel == "nosec":  # EP has a bootstrap PSK: NoSec would bypass it
        uri, identity = "coap://{}:{}".format(*secured.bootstrap.coap_address), None
    else:  # bs-2 is bound to another endpoint
        uri, identity = "coaps://{}:{}".format(*secured.bootstrap.coaps_address), b"bs-2"
    client, _ = secured.device(uri, identity)
    await client.start()
    try:
        refused = await wait_for(secured.bootstrap_events, BootstrapRefused)
        assert (refused.endpoint, refused.code.dotted) == (EP, "4.03")
        assert secured.server_events == []
    finally:
        await client.stop(timeout=2.0)


async def test_int_1_keys_are_refused_over_nosec(setup: Setup) -> None:
    psk = {"securityMode": "psk", "identity": "dev-1", "key": KEY}
    setup.configure(servers=[setup.account(uri="coaps://127.0.0.1:5684", **psk)])
    client, tree = setup.device()
    await client.start()
    refused = await setup.wait(setup.bootstrap_events, BootstrapRefused)
    assert refused.code.dotted == "4.00" and "NoSec" in refused.reason
    assert servers_of(tree) == []


def test_int_2_certificate_mode_is_not_offered() -> None:
    entry = {"servers": [{"shortServerId": 1, "uri": "coaps://h", "securityMode": "certificate"}]}
    with pytest.raises(ConfigError, match="'nosec' or 'psk'"):
        BootstrapConfig.from_json(entry)


async def test_int_3_factory_bootstrap_from_a_file(setup: Setup, tmp_path: FilePath) -> None:
    """The smartcard's stand-in: accounts from a file, no Bootstrap-Request at all."""
    factory = tmp_path / "factory.json"
    factory.write_text(json.dumps({"servers": [setup.account(lifetime=45)]}))
    state = tmp_path / "state.json"
    argv = ["client", "--endpoint", EP, "--factory", str(factory), "--state", str(state)]
    argv += ["--bootstrap", setup.bootstrap_uri, "--send", "/3/0/0"]
    assert await asyncio.to_thread(main, argv) == 0
    registered = await setup.wait(setup.server_events, Registered)
    assert registered.registration.lifetime == 45
    assert setup.bootstrap_events == []
    saved = json.loads(state.read_text())
    assert saved["servers"][0]["uri"] == setup.server_uri
    assert saved["bootstrap"] == {"uri": setup.bootstrap_uri}
    assert state.stat().st_mode & 0o077 == 0  # it may hold keys


async def test_int_4_bootstrap_delete_removes_the_extra_server(setup: Setup) -> None:
    setup.configure(delete=["/0", "/1"])
    extra = ServerAccount(2, "coap://127.0.0.1:9", lifetime=30)
    client, tree = setup.device([ServerAccount(1, setup.server_uri, lifetime=30), extra])
    await client.start()
    await setup.wait(setup.server_events, Registered)
    assert servers_of(tree) == [1, 2]
    assert await setup.server.execute(EP, "/1/0/9") == EmptyResponse()
    await setup.wait(setup.bootstrap_events, BootstrapFinished)
    assert servers_of(tree) == [1]
    security = tree.object(0)
    ssids = sorted(
        security.read(i, 10) for i in security.list_instances() if security.read(i, 1) is False
    )
    assert ssids == [1]


async def test_int_5_server_initiated_bootstrap(setup: Setup) -> None:
    setup.configure(delete=["/0", "/1"], servers=[setup.account(lifetime=40)])
    client, _ = setup.device([ServerAccount(1, setup.server_uri, lifetime=30)])
    await client.start()
    await setup.wait(setup.server_events, Registered)
    assert setup.bootstrap_events == []
    assert await setup.server.execute(EP, "/1/0/9") == EmptyResponse()
    await setup.wait(setup.bootstrap_events, BootstrapFinished)
    again = await setup.wait(setup.server_events, Registered, 2)
    assert again.registration.lifetime == 40


async def test_int_6_bootstrap_only_without_a_server_account(setup: Setup) -> None:
    setup.configure()
    client, _ = setup.device([ServerAccount(1, setup.server_uri, lifetime=30)])
    await client.start()
    await setup.wait(setup.server_events, Registered)
    await asyncio.sleep(0.3)
    assert setup.bootstrap_events == []
    await client.stop(timeout=2.0)
    setup.clients.remove(client)
    bare, _ = setup.device()
    await bare.start()
    await setup.wait(setup.bootstrap_events, BootstrapFinished)


async def test_int_7_fall_back_to_bootstrap_when_the_server_is_unreachable(setup: Setup) -> None:
    setup.configure(delete=["/0", "/1"])
    # Nothing listens on the discard port: two Register attempts time out (0.3 s each), then
    # the client bootstraps.
    quick = EndpointConfig(ack_timeout=0.1, max_retransmit=1, max_latency=0.1)
    client, tree = setup.device([ServerAccount(1, "coap://127.0.0.1:9", lifetime=30)], coap=quick)
    await client.start()
    await setup.wait(setup.bootstrap_events, BootstrapFinished, timeout=15)
    registered = await setup.wait(setup.server_events, Registered)
    assert registered.registration.endpoint == EP
    assert servers_of(tree) == [1]


async def test_int_8_bootstrap_read(setup: Setup) -> None:
    setup.configure(read=["/1", "/2"])
    client, _ = setup.device([ServerAccount(1, setup.server_uri, lifetime=30)])
    await client.start()
    await setup.wait(setup.server_events, Registered)
    await setup.server.execute(EP, "/1/0/9")
    await setup.wait(setup.bootstrap_events, BootstrapFinished)
    reads = setup.seen(setup.bootstrap_events, BootstrapRead)
    assert [str(read.path) for read in reads] == ["/1", "/2"]
    assert reads[0].values[Path.parse("/1/0/0")] == 1
    assert reads[0].values[Path.parse("/1/0/1")] == 30


async def test_int_9_configuration_stays_consistent(setup: Setup) -> None:
    """Bootstrapping twice rewrites the same instances (no duplicate accounts), and a
    configuration the client cannot use is refused with 4.06 and changes nothing it uses."""
    setup.configure()  # no deletes: the account must be found and rewritten
    client, tree = setup.device([ServerAccount(1, setup.server_uri, lifetime=30)])
    await client.start()
    await setup.wait(setup.server_events, Registered)
    layout = (tree.object(0).list_instances(), tree.object(1).list_instances())
    for count in (1, 2):
        await setup.server.execute(EP, "/1/0/9")
        await setup.wait(setup.bootstrap_events, BootstrapFinished, count)
        await setup.wait(setup.server_events, Registered, count + 1)
        assert (tree.object(0).list_instances(), tree.object(1).list_instances()) == layout
    setup.configure(servers=[setup.account(uri="coap+tcp://127.0.0.1:5683")])
    await setup.server.execute(EP, "/1/0/9")
    failed = await setup.wait(setup.bootstrap_events, BootstrapFailed)
    assert failed.operation == "Bootstrap-Finish" and failed.code is not None
    assert failed.code.dotted == "4.06"
    assert len(setup.seen(setup.server_events, Registered)) == 3  # not with that account
    setup.configure()  # fixed: the client's next try, after its back-off, succeeds
    await setup.wait(setup.bootstrap_events, BootstrapFinished, 3)
    await setup.wait(setup.server_events, Registered, 4)
    assert (tree.object(0).list_instances(), tree.object(1).list_instances()) == layout
