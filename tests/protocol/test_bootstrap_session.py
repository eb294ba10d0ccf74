"""Bootstrap between real cores in memory on a virtual clock: the ClientEngine, the
BootstrapCore and the ServerCore (and a bare CoAP endpoint playing a misbehaving bootstrap
server), joined by a wire with 50 ms latency that can drop everything to one address."""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections.abc import Hashable
from typing import Any

from lwm2m.bootstrap import (
    BootstrapConfig,
    BootstrapCore,
    BootstrapDiscovered,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapRead,
    BootstrapRefused,
    ConfigStore,
)
from lwm2m.client import bootstrap as bs
from lwm2m.client.engine import BootstrapFailed as ClientBootstrapFailed
from lwm2m.client.engine import (
    Bootstrapped,
    ClientConfig,
    ClientEngine,
    Registered,
)
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import BootstrapAccount, ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap import Code, Message
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import RequestReceived, ResponseReceived
from lwm2m.coap.options import Options
from lwm2m.model import ObjectLink, Path
from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.events import Registered as ServerRegistered

T0 = 1_700_000_000.0
EP = "urn:imei:490154203237518"
CLIENT = ("10.0.0.2", 56830)
BS = ("10.0.0.50", 5783)
DM = ("10.0.0.101", 5683)
COAP = EndpointConfig(ack_timeout=2.0, max_retransmit=2)
FAST = ClientConfig(retry_base=10.0, retry_cap=20.0, bootstrap_after=3, bootstrap_timeout=30.0)


PSK = {
    "shortServerId": 7,
    "uri": "coaps://10.0.0.101:5684",
    "securityMode": "psk",
    "identity": "dev-1",
    "key": "00112233445566778899aabbccddeeff",
}


def entry(**extra: Any) -> BootstrapConfig:
    data = {
        "servers": [{"shortServerId": 7, "uri": "coap://10.0.0.101:5683", "lifetime": 300}],
        "delete": ["/0", "/1"],
        **extra,
    }
    return BootstrapConfig.from_json(data)


class World:
    """Every core on one wire; ``events[address]`` collects what each core reported."""

    def __init__(
        self,
        *,
        configs: ConfigStore | None = None,
        servers: list[ServerAccount] | None = None,
        hold_off: int = 0,
        config: ClientConfig = FAST,
        keys_over_nosec: bool = False,
        bootstrap_core: bool = True,
        minimal_security: bool = False,
    ) -> None:
        self.now = T0
        self.tree = telekom_device(
            EP,
            seed=1,
            now=T0,
            servers=servers or [],
            bootstrap=BootstrapAccount("coap://10.0.0.50:5783", hold_off=hold_off),
        )
        if minimal_security:
            self.tree = with_security_1_0(self.tree)
        self.client = ClientEngine(self.tree, EP, rng=random.Random(1), config=config, coap=COAP)
        self.configs = configs if configs is not None else ConfigStore({EP: entry()})
        self.cores: dict[Hashable, Any] = {CLIENT: self.client}
        if bootstrap_core:
            self.cores[BS] = BootstrapCore(
                self.configs,
                rng=random.Random(2),
                clock=lambda: self.now,
                coap=COAP,
                keys_over_nosec=keys_over_nosec,
            )
        self.dm = ServerCore(ServerConfig(coap=COAP), random.Random(3), lambda: self.now)
        self.cores[DM] = self.dm
        self.unreachable: set[Hashable] = set()
        self.events: dict[Hashable, list[object]] = {address: [] for address in self.cores}
        self.wire: list[tuple[float, Hashable, Message]] = []
        self._flight: list[tuple[float, int, bytes, Hashable, Hashable]] = []
        self._seq = 0

    def of(self, address: Hashable, kind: type) -> list[Any]:
        return [e for e in self.events[address] if isinstance(e, kind)]

    def sent_to(self, address: Hashable) -> list[Message]:
        return [m for _, to, m in self.wire if to == address]

    def _flush(self) -> None:
        busy = True
        while busy:
            busy = False
            for address, core in self.cores.items():
                for data, peer in core.datagrams_to_send():
                    busy = True
                    self.wire.append((self.now, peer, Message.decode(data)))
                    self._seq += 1
                    heapq.heappush(self._flight, (self.now + 0.05, self._seq, data, address, peer))
                while (event := core.next_event()) is not None:
                    busy = True
                    self.on_event(address, event)

    def on_event(self, address: Hashable, event: object) -> None:
        self.events[address].append(event)

    def run(self, seconds: float) -> None:
        until = self.now + seconds
        while True:
            self._flush()
            times = [t for core in self.cores.values() if (t := core.get_timer()) is not None]
            if self._flight:
                times.append(self._flight[0][0])
            when = min(times, default=None)
            if when is None or when > until:
                self.now = until
                return
            self.now = max(self.now, when)
            while self._flight and self._flight[0][0] <= self.now:
                _, _, data, source, destination = heapq.heappop(self._flight)
                if destination in self.cores and destination not in self.unreachable:
                    self.cores[destination].receive(data, source, self.now)
            for core in self.cores.values():
                timer = core.get_timer()
                if timer is not None and timer <= self.now:
                    core.handle_timer(self.now)

    def start(self) -> None:
        self.client.start(self.now)


def test_cold_start_bootstraps_then_registers_with_the_new_account() -> None:
    world = World()
    world.start()
    world.run(5)
    (request, *_) = world.sent_to(BS)
    assert request.options.uri_path == ("bs",)
    assert request.options.uri_query == (f"ep={EP}", "pct=112")
    (discovered,) = world.of(BS, BootstrapDiscovered)
    assert str(discovered.links[0]) == "</>;lwm2m=1.1"
    bootstrap_account = next(link for link in discovered.links if link.target == "/0/0")
    assert dict(bootstrap_account.attributes) == {"uri": "coap://10.0.0.50:5783"}  # no ssid
    assert world.of(BS, BootstrapFinished) == [BootstrapFinished(EP)]
    assert world.of(CLIENT, Bootstrapped) == [Bootstrapped((7,))]
    assert world.of(CLIENT, Registered)[0].short_server_id == 7
    assert world.of(DM, ServerRegistered)[0].registration.lifetime == 300
    security = world.tree.object(0)
    # The bootstrap account stays at /0/0, the new account takes the next free instance.
    assert security.list_instances() == [0, 1]
    assert security.read(1, 10) == 7 and security.read(1, 2) == 3
    assert security.read(0, 1) is True
    servers = world.tree.object(1)
    assert servers.list_instances() == [0]
    assert servers.read(0, 0) == 7
    assert T0 <= servers.read(0, 12) < T0 + 5  # Last Bootstrapped
    methods = [
        (m.code, "/".join(m.options.uri_path)) for m in world.sent_to(CLIENT) if m.code.is_request
    ]
    assert methods == [
        (Code.GET, ""),  # Bootstrap-Discover /
        (Code.DELETE, "0"),
        (Code.DELETE, "1"),
        (Code.PUT, "0"),
        (Code.PUT, "1"),
        (Code.POST, "bs"),  # Bootstrap-Finish
    ]


def with_security_1_0(tree: ObjectTree) -> ObjectTree:
    """The device with the LwM2M 1.0 Security object: resources 0-12 only, no cipher suites
    (/0/x/16) and no OSCORE link (/0/x/17)."""
    security = tree.object(0)
    model = dataclasses.replace(
        security.model, resources={r: m for r, m in security.model.resources.items() if r <= 12}
    )
    instances = {
        iid: {rid: security.read(iid, rid) for rid in security.list_resources(iid) if rid <= 12}
        for iid in security.list_instances()
    }
    return ObjectTree([SimpleObject(model, instances), *(o for o in tree if o.object_id != 0)])


def test_only_configured_security_resources_are_written() -> None:
    """A client without the optional Security resources bootstraps: nothing unconfigured
    (cipher suites) is written to it, so it has nothing to answer 4.04 to."""
    world = World(minimal_security=True)
    world.start()
    world.run(5)
    assert world.of(BS, BootstrapFailed) == []
    assert world.of(BS, BootstrapFinished) == [BootstrapFinished(EP)]
    assert world.of(CLIENT, Registered)[0].short_server_id == 7
    assert 16 not in world.tree.object(0).list_resources(1)


def test_4_04_on_an_optional_resource_is_not_supported_and_bootstrap_goes_on() -> None:
    account = {**PSK, "cipherSuites": [0xC0A8]}
    configs = ConfigStore({EP: BootstrapConfig.from_json({"servers": [account], "delete": ["/0"]})})
    world = World(configs=configs, keys_over_nosec=True, minimal_security=True)
    world.start()
    world.run(5)
    writes = [m for m in world.sent_to(CLIENT) if m.code is Code.PUT]
    answers = {m.token: m.code for m in world.sent_to(BS)}
    suites = next(m for m in writes if m.options.uri_path == ("0", "1", "16"))
    assert answers[suites.token] is Code.NOT_FOUND
    # The bootstrap went on to Finish (which this DTLS-less client then refuses for the
    # coaps:// account: not what this test is about).
    last = [m.options.uri_path for m in world.sent_to(CLIENT) if m.code.is_request][-2:]
    assert last == [("0", "1", "16"), ("bs",)]
    assert [f.operation for f in world.of(BS, BootstrapFailed)] == ["Bootstrap-Finish"]


def test_configured_cipher_suites_are_written_to_a_client_that_has_them() -> None:
    account = {**PSK, "cipherSuites": [0xC0A8, 0x00AE]}
    configs = ConfigStore({EP: BootstrapConfig.from_json({"servers": [account], "delete": ["/0"]})})
    world = World(configs=configs, keys_over_nosec=True)
    world.start()
    world.run(5)
    answers = {m.token: m.code for m in world.sent_to(BS)}
    (suites,) = [m for m in world.sent_to(CLIENT) if m.options.uri_path == ("0", "1", "16")]
    assert answers[suites.token] is Code.CHANGED  # (over DTLS: tests/e2e/test_bootstrap.py)


def test_hold_off_time_delays_the_bootstrap_request() -> None:
    world = World(hold_off=20)
    world.start()
    world.run(19)
    assert world.sent_to(BS) == []
    world.run(2)
    assert len(world.sent_to(BS)) >= 1


def test_unknown_endpoint_is_refused_and_the_client_retries_later() -> None:
    world = World(configs=ConfigStore())
    world.start()
    world.run(5)
    (refused,) = world.of(BS, BootstrapRefused)
    assert refused.code == Code.BAD_REQUEST and EP in refused.reason
    (failed,) = world.of(CLIENT, ClientBootstrapFailed)
    assert failed.code == Code.BAD_REQUEST and "no bootstrap configuration" in failed.reason
    assert failed.retry_at is not None and T0 + 5 <= failed.retry_at <= T0 + 11
    world.configs.put(EP, entry())
    world.run(20)
    assert world.of(CLIENT, Bootstrapped) == [Bootstrapped((7,))]


def test_an_inconsistent_configuration_gets_4_06_and_is_not_used() -> None:
    configs = ConfigStore(
        {EP: BootstrapConfig.from_json({"servers": [PSK], "delete": ["/0", "/1"]})}
    )
    world = World(configs=configs, keys_over_nosec=True)
    world.start()
    world.run(5)
    (failed,) = world.of(BS, BootstrapFailed)
    assert (failed.operation, failed.code) == ("Bootstrap-Finish", Code.NOT_ACCEPTABLE)
    assert "coap://" in failed.reason  # what the client cannot use
    (client_failed,) = world.of(CLIENT, ClientBootstrapFailed)
    assert client_failed.code == Code.NOT_ACCEPTABLE and client_failed.retry_at is not None
    assert world.client.bootstrap_state is bs.State.BACKING_OFF
    assert world.of(CLIENT, Registered) == []
    world.run(25)  # it asks again
    assert len(world.of(BS, BootstrapFailed)) >= 2


def test_keys_are_not_sent_over_nosec_unless_allowed() -> None:
    configs = ConfigStore({EP: BootstrapConfig.from_json({"servers": [PSK]})})
    world = World(configs=configs)
    world.start()
    world.run(5)
    (refused,) = world.of(BS, BootstrapRefused)
    assert "keys" in refused.reason
    assert not any(m.code == Code.PUT for m in world.sent_to(CLIENT))


def test_bootstrap_read_of_the_server_object() -> None:
    configs = ConfigStore({EP: entry(read=["/1"], delete=[])})
    world = World(configs=configs, servers=[ServerAccount(3, "coap://10.0.0.101:5683")])
    world.unreachable.add(DM)
    world.tree.execute(Path.parse("/1/0/9"), server_id=None)  # the Bootstrap-Request Trigger
    world.client.handle_timer(world.now)
    world.run(5)
    (read,) = world.of(BS, BootstrapRead)
    assert read.path == Path.parse("/1")
    assert read.values[Path.parse("/1/0/0")] == 3
    # Without a delete the old account stays next to the new one.
    assert sorted(world.tree.server_ids()) == [3, 7]


def test_registration_failures_fall_back_to_bootstrap() -> None:
    """ETS int-7: the DM server never answers; after 3 Register attempts the client bootstraps."""
    world = World(servers=[ServerAccount(3, "coap://10.0.0.99:5683")])
    world.start()
    world.run(200)
    registers = [m for m in world.wire if m[1] == ("10.0.0.99", 5683) and m[2].code == Code.POST]
    assert len({m[2].message_id for m in registers}) == 3
    assert world.of(CLIENT, Bootstrapped) == [Bootstrapped((7,))]
    assert world.of(DM, ServerRegistered)


def test_bootstrap_request_trigger_bootstraps_a_registered_client() -> None:
    world = World(servers=[ServerAccount(3, "coap://10.0.0.101:5683")])
    world.start()
    world.run(5)
    assert world.of(CLIENT, Registered)[0].short_server_id == 3
    world.tree.execute(Path.parse("/1/0/9"), server_id=3)
    world.run(5)
    assert world.of(CLIENT, Bootstrapped) == [Bootstrapped((7,))]
    assert world.of(CLIENT, Registered)[-1].short_server_id == 7
    assert world.tree.server_ids() == [7]


def test_no_finish_in_time_backs_off_and_asks_again() -> None:
    world = World(bootstrap_core=False)
    fake = Endpoint(COAP, random.Random(5))
    world.cores[BS] = fake
    world.events[BS] = []

    def answer(address: Hashable, event: object) -> None:
        world.events[address].append(event)
        if address == BS and isinstance(event, RequestReceived):
            fake.respond(event.exchange, Code.CHANGED, now=world.now)

    world.on_event = answer  # type: ignore[method-assign]
    world.start()
    world.run(29)
    assert world.client.bootstrap_state is bs.State.BOOTSTRAPPING
    world.run(2)
    (failed,) = world.of(CLIENT, ClientBootstrapFailed)
    assert failed.code is None and failed.retry_at is not None
    world.run(25)
    assert len([m for m in world.sent_to(BS) if m.code == Code.POST]) == 2


def test_bootstrap_interface_rules_on_the_client() -> None:
    """What a bootstrap server may not do: Bootstrap-Read outside /1 and /2 (4.01), delete
    the bootstrap account (4.00), Execute (4.05); Bootstrap-Write of /0 works."""
    world = World(bootstrap_core=False)
    fake = Endpoint(COAP, random.Random(5))
    world.cores[BS] = fake
    world.events[BS] = []
    answers: dict[int, Message] = {}

    def serve(address: Hashable, event: object) -> None:
        world.events[address].append(event)
        if address == BS and isinstance(event, RequestReceived):
            fake.respond(event.exchange, Code.CHANGED, now=world.now)
        elif address == BS and isinstance(event, ResponseReceived):
            answers[event.handle] = event.response

    world.on_event = serve  # type: ignore[method-assign]
    world.start()
    world.run(1)

    def ask(code: Code, path: str, **options: Any) -> Code:
        segments = tuple(s for s in path.split("/") if s)
        handle = fake.send_request(
            CLIENT, code, options=Options.build(uri_path=segments, **options), now=world.now
        )
        world.run(1)
        return answers[handle].code

    assert ask(Code.GET, "/3/0") == Code.UNAUTHORIZED
    assert ask(Code.GET, "/1/0/1") == Code.BAD_REQUEST
    assert ask(Code.GET, "/2") == Code.CONTENT
    assert ask(Code.DELETE, "/0/0") == Code.BAD_REQUEST  # the bootstrap account
    assert ask(Code.DELETE, "/1/0/1") == Code.BAD_REQUEST
    assert ask(Code.POST, "/1/0/8") == Code.METHOD_NOT_ALLOWED
    assert ask(Code.GET, "/3/0", accept=40) == Code.BAD_REQUEST  # Discover below an object
    assert ask(Code.GET, "/0", accept=40) == Code.CONTENT
    assert ask(Code.POST, "/bs") == Code.NOT_ACCEPTABLE  # Finish without a server account
    assert world.tree.object(0).list_instances() == [0]
    assert ObjectLink(0, 0) != ObjectLink(21, 0)
