"""The simulated device: deterministic, plausible, and reporting what changes."""

from __future__ import annotations

import math

import pytest

from lwm2m.client.objects import Changed, DeviceEvent
from lwm2m.client.profile import BONN, telekom_device
from lwm2m.client.simulator import DeviceSimulator
from lwm2m.client.tree import ObjectTree
from lwm2m.model import Path, SingleResource, Value, node_to_values

P = Path.parse
NOW = 1_700_000_000.0


def _device(seed: int = 5) -> tuple[ObjectTree, DeviceSimulator]:
    tree = telekom_device("urn:imei:490154203237518", seed=seed, now=NOW)
    return tree, DeviceSimulator(tree, seed=seed, now=NOW)


def _value(tree: ObjectTree, path: str) -> Value:
    node = tree.read(P(path), server_id=1)
    assert isinstance(node, SingleResource)
    return node.value


def _int(tree: ObjectTree, path: str) -> int:
    value = _value(tree, path)
    assert isinstance(value, int)
    return value


def _float(tree: ObjectTree, path: str) -> float:
    value = _value(tree, path)
    assert isinstance(value, float)
    return value


def _snapshot(tree: ObjectTree) -> dict[Path, Value]:
    values: dict[Path, Value] = {}
    for oid in (3, 4, 6, 7, 3353, 3370, 3371, 3372):
        values |= node_to_values(Path.of(oid), tree.read(Path.of(oid), server_id=1))
    return values


def _run(seed: int, ticks: list[float]) -> dict[Path, Value]:
    tree, sim = _device(seed)
    for now in ticks:
        sim.tick(now)
    return _snapshot(tree)


def test_same_seed_and_ticks_give_the_same_values() -> None:
    ticks = [NOW + 37 * i for i in range(1, 300)]
    assert _run(5, ticks) == _run(5, ticks)
    assert _run(5, ticks) != _run(6, ticks)


def test_values_stay_in_3gpp_ranges_over_a_week() -> None:
    tree, sim = _device()
    cells = set()
    for i in range(1, 7 * 24 * 4 + 1):
        sim.tick(NOW + 900 * i)
        rsrp, rsrq, snr = (_value(tree, f"/4/0/{rid}") for rid in (2, 3, 11))
        assert isinstance(rsrp, int) and -140 <= rsrp <= -44
        assert isinstance(rsrq, int) and -20 <= rsrq <= -3
        assert isinstance(snr, int) and -10 <= snr <= 30
        assert _value(tree, "/3370/0/6035") == rsrp
        neighbour = _value(tree, "/3371/1/6035")
        assert isinstance(neighbour, int) and -140 <= neighbour <= rsrp
        assert 0 <= _int(tree, "/3370/0/6037") < 1024
        assert 0 <= _int(tree, "/3370/0/6038") < 10
        assert 0 <= _int(tree, "/3370/0/6034") < 504
        assert 0 <= _int(tree, "/3372/0/2") <= 1282
        cells.add(_value(tree, "/4/0/8"))
        assert _value(tree, "/3353/0/6033") == _value(tree, "/4/0/8")
    # the serving cell changes, but rarely (about every six hours)
    assert 5 <= len(cells) <= 80


def test_location_drifts_slowly_around_the_start() -> None:
    tree, sim = _device()
    for i in range(1, 500):
        sim.tick(NOW + 600 * i)
        lat, lon = _float(tree, "/6/0/0"), _float(tree, "/6/0/1")
        north = (lat - BONN[0]) * 111_320
        east = (lon - BONN[1]) * 111_320 * math.cos(math.radians(BONN[0]))
        assert math.hypot(north, east) < 710
    assert _value(tree, "/6/0/5") == int(NOW + 600 * 499)
    assert (lat, lon) != BONN


def test_battery_drains_and_raises_the_low_battery_error() -> None:
    tree, sim = _device()
    levels = []
    for day in range(1, 200):
        sim.tick(NOW + 86400 * day)
        levels.append(_int(tree, "/3/0/9"))
    assert levels == sorted(levels, reverse=True)
    assert levels[0] == 100 and levels[-1] < 10
    assert _value(tree, "/3/0/20") == 4  # low battery
    errors = node_to_values(P("/3/0/11"), tree.read(P("/3/0/11"), server_id=1))
    assert list(errors.values()) == [1]


def test_traffic_is_counted_only_while_collecting() -> None:
    tree, sim = _device()
    sim.tick(NOW + 86400)
    assert _value(tree, "/7/0/2") == 0
    tree.execute(P("/7/0/6"), server_id=1)
    for hour in range(2, 50):
        sim.tick(NOW + 86400 + 3600 * hour)
    tx, rx = _value(tree, "/7/0/2"), _value(tree, "/7/0/3")
    assert isinstance(tx, int) and isinstance(rx, int)
    assert tx > rx > 0
    tree.execute(P("/7/0/7"), server_id=1)
    sim.tick(NOW + 86400 * 5)
    assert _value(tree, "/7/0/2") == tx


def test_ticks_report_changes_and_only_changes() -> None:
    tree, sim = _device()
    events: list[DeviceEvent] = []
    tree.subscribe(events.append)
    sim.tick(NOW + 300)
    changed = {event.path for event in events if isinstance(event, Changed)}
    assert P("/6/0/5") in changed
    assert P("/3370/0/6037") in changed
    before = _snapshot(tree)
    events.clear()
    sim.tick(NOW + 300)  # no time passed: nothing moves
    assert events == []
    assert _snapshot(tree) == before


def test_current_time_follows_the_ticks() -> None:
    tree, sim = _device()
    sim.tick(NOW + 1234)
    assert _value(tree, "/3/0/13") == int(NOW) + 1234


def test_time_cannot_go_backwards() -> None:
    _, sim = _device()
    sim.tick(NOW + 5)
    with pytest.raises(ValueError, match="backwards"):
        sim.tick(NOW + 4)
