"""The server checks the Telekom timer rules with what it knows of a device: /10 and /11 it
read (opt-in after Register) or was answered, the network's granted timers, and the
attributes it wrote; it reports violations and, when enforcing, refuses Write-Attributes."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.model import Path, Value, values_to_node
from lwm2m.operations import NotificationAttributes, OperationUsageError, Read, WriteAttributes
from lwm2m.server import RequestCompleted, ServerConfig, TimerRuleViolated
from lwm2m.server.timer_audit import NetworkTimers
from tests.protocol.test_server_harness import FAST, Client, World

OBJECTS = b'</>;rt="oma.lwm2m";ct=112,</1/0>,</3/0>,</10/0>,</11/0>'
PSM_1H = {Path.of(10, 0, 4): 3600, Path.of(10, 0, 9): bytes([0b0000_0101])}  # eDRX 81.92 s
RATE_10_PER_6_MIN = {Path.of(11, 0, 26): 10}


def device(world: World, values: dict[Path, Value], lifetime: int = 86400) -> Client:
    """A device answering reads of /10 and /11 from ``values`` (4.04 for anything else)."""

    def handler(request: Message) -> tuple[Code, Options, bytes]:
        if request.code is Code.PUT:  # Write-Attributes
            return Code.CHANGED, Options(), b""
        path = Path.from_segments(request.options.uri_path)
        under = {p: v for p, v in values.items() if p.startswith(path)}
        if request.code is not Code.GET or not under:
            return Code.NOT_FOUND, Options(), b""
        node = values_to_node(path, under, world.models.is_multiple)
        body = world.codecs.get(112).encode(path, node, world.models)
        return Code.CONTENT, Options.build(content_format=112), body

    client = world.client(handler=handler)
    client.register("ep", (f"lt={lifetime}", "lwm2m=1.1"), OBJECTS)
    world.run(5.0)
    return client


def violations(world: World) -> list[tuple[int, str, str]]:
    return [(v.rule, v.comparison, v.scope) for v in world.of_type(TimerRuleViolated)]


def test_register_with_lifetime_beyond_t3412_is_reported() -> None:
    world = World(ServerConfig(coap=FAST, read_timer_objects=True))
    client = device(world, PSM_1H | RATE_10_PER_6_MIN)
    reads = [r.options.uri_path for r in client.requests]
    assert reads == [("10",), ("11",)]
    assert violations(world) == [(1, "T3412 > lifetime", "registration")]
    (event,) = world.of_type(TimerRuleViolated)
    assert event.to_json() == {
        "type": "timerRuleViolated",
        "endpoint": "ep",
        "rule": 1,
        "comparison": "T3412 > lifetime",
        "scope": "registration",
        "detail": "T3412 3600 s (/10/0/4 PSM Timer) is not > lifetime 86400 s (registration)",
    }
    assert world.core.timer_violations("ep") == (event,)
    # An Update to a lifetime under T3412 clears it; a Register again with the old one
    # reports it again (what was read of the device is kept across its registrations).
    client.update(("lt=3000",))
    world.run(1.0)
    assert world.core.timer_violations("ep") == ()
    client.register("ep", ("lt=7200", "lwm2m=1.1"), OBJECTS)
    world.run(5.0)
    assert len(world.of_type(TimerRuleViolated)) == 2


def test_nothing_is_read_unless_asked_and_reads_of_the_api_count() -> None:
    world = World(ServerConfig(coap=FAST))
    client = device(world, PSM_1H)
    assert client.requests == [] and violations(world) == []
    world.outcome(world.core.send("ep", Read(Path.of(10, 0)), now=world.now))
    assert violations(world) == [(1, "T3412 > lifetime", "registration")]


def test_network_granted_timers_take_precedence() -> None:
    world = World(ServerConfig(coap=FAST))
    device(world, {}, lifetime=3000)
    world.core.network_timers(("10.0.0.1", 40000), NetworkTimers(periodic_tau=1800), world.now)
    (event,) = world.of_type(TimerRuleViolated)
    assert event.detail.startswith("T3412 1800 s (periodic TAU the network granted) is not >")


@pytest.mark.parametrize(
    ("attributes", "known", "broken"),
    [
        (NotificationAttributes(pmax=4000), {}, (1, "lifetime > pmax")),
        (NotificationAttributes(pmin=100, pmax=600), PSM_1H, (2, "pmin < eDRX")),
        (NotificationAttributes(pmin=1, pmax=60), PSM_1H, (2, "eDRX < pmax")),
        (
            NotificationAttributes(pmin=10, pmax=300),
            RATE_10_PER_6_MIN,
            (3, "pmin >= rate-control spacing"),
        ),
        (
            NotificationAttributes(pmin=90, pmax=600),
            RATE_10_PER_6_MIN,
            (2, "pmax <= rate-control interval"),
        ),
    ],
)
def test_write_attributes_breaking_a_rule_is_reported_or_refused(
    attributes: NotificationAttributes, known: dict[Path, Value], broken: tuple[int, str]
) -> None:
    target = Path.of(3, 0, 9)
    op = WriteAttributes(target, attributes)
    for enforce in (False, True):
        world = World(ServerConfig(coap=FAST, read_timer_objects=True, enforce_timer_rules=enforce))
        client = device(world, known, lifetime=3000)
        assert violations(world) == []
        if not enforce:
            outcome = world.outcome(world.core.send("ep", op, now=world.now))
            assert isinstance(outcome, RequestCompleted)
            assert violations(world) == [(*broken, "/3/0/9 attributes")]
            continue
        sent = len(client.requests)
        with pytest.raises(OperationUsageError, match=f"timer rule {broken[0]} \\({broken[1]}\\)"):
            world.core.send("ep", op, now=world.now)
        world.run(5.0)
        assert len(client.requests) == sent and violations(world) == []


def test_attributes_within_the_rules_pass_when_enforced() -> None:
    world = World(ServerConfig(coap=FAST, read_timer_objects=True, enforce_timer_rules=True))
    device(world, PSM_1H | RATE_10_PER_6_MIN, lifetime=3000)
    good = WriteAttributes(Path.of(3, 0, 9), NotificationAttributes(pmin=40, pmax=300))
    assert isinstance(world.outcome(world.core.send("ep", good, now=world.now)), RequestCompleted)
    assert violations(world) == []
    # Removing pmin (back to /1/x/2, unknown here) on the object level keeps the node's own.
    clear = WriteAttributes(Path.of(3), NotificationAttributes(pmax=200))
    assert isinstance(world.outcome(world.core.send("ep", clear, now=world.now)), RequestCompleted)
    assert violations(world) == []
