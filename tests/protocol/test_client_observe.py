"""The client's observe engine: attribute semantics, inheritance, composite, cancellation."""

from __future__ import annotations

import pytest

from lwm2m.client.engine import ClientConfig
from lwm2m.client.objects import SimpleObject
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.model import Value
from tests.protocol.client_harness import CLIENT, T0, Harness, P

SENML = default_codecs(lambda: T0).get(ContentFormat.SENML_CBOR)


class Observed:
    """A server-side observation of ``path`` and the values its notifications carried."""

    def __init__(self, h: Harness, path: str, *, composite: tuple[str, ...] = ()) -> None:
        self.h = h
        if composite:
            payload = SENML.encode_paths([P(p) for p in composite])
            self.handle = h.server.request(
                Code.FETCH, payload=payload, content_format=112, accept=112, observe=0
            )
        else:
            self.handle = h.server.request(Code.GET, path, observe=0)
        h.advance(0.5)
        self.start = h.now - T0
        first = h.server.responses[self.handle]
        assert first.code is Code.CONTENT and first.options.observe is not None

    @property
    def notifications(self) -> list[tuple[float, bytes]]:
        received = self.h.server.notifications.get(self.handle, [])
        return [(r.at - T0, r.message.payload) for r in received]

    def values(self) -> list[bytes]:
        return [payload for _, payload in self.notifications]


def _set(h: Harness, path: str, value: Value) -> None:
    p = P(path)
    obj = h.tree.object(p.ids[0])
    assert isinstance(obj, SimpleObject)
    obj.set(p.ids[1], p.ids[2], value)


def _attrs(h: Harness, path: str, *query: str) -> None:
    assert h.ask(Code.PUT, path, uri_query=query).code is Code.CHANGED


@pytest.fixture
def h() -> Harness:
    harness = Harness(lifetime=86400)
    harness.start()
    return harness


def test_every_change_notifies_without_attributes(h: Harness) -> None:
    obs = Observed(h, "3/0/9")
    for level in (90, 80, 70):
        _set(h, "/3/0/9", level)
        h.advance(1)
    assert obs.values() == [b"90", b"80", b"70"]


def test_no_change_no_notification(h: Harness) -> None:
    obs = Observed(h, "3/0/9")
    _set(h, "/3/0/9", 100)  # same value as before
    h.advance(3600)
    assert obs.values() == []


def test_pmin_suppresses_and_then_sends_the_latest(h: Harness) -> None:
    _attrs(h, "3/0/9", "pmin=10")
    obs = Observed(h, "3/0/9")
    start = h.now - T0
    _set(h, "/3/0/9", 90)
    h.advance(2)
    _set(h, "/3/0/9", 85)
    h.advance(2)
    assert obs.values() == []
    h.advance(10)
    [(at, payload)] = obs.notifications
    assert payload == b"85"
    assert at - start == pytest.approx(10, abs=0.7)


def test_pmin_drops_a_change_that_went_back(h: Harness) -> None:
    _attrs(h, "3/0/9", "pmin=10")
    obs = Observed(h, "3/0/9")
    _set(h, "/3/0/9", 90)
    h.advance(1)
    _set(h, "/3/0/9", 100)
    h.advance(20)
    assert obs.values() == []


def test_pmax_forces_notifications(h: Harness) -> None:
    _attrs(h, "3/0/9", "pmax=20")
    obs = Observed(h, "3/0/9")
    h.advance(65)
    times = [at for at, _ in obs.notifications]
    assert len(times) == 3
    assert times[1] - times[0] == pytest.approx(20, abs=0.2)
    assert obs.values() == [b"100"] * 3


def test_pmax_not_above_pmin_is_ignored(h: Harness) -> None:
    _attrs(h, "3/0", "pmax=5")
    _attrs(h, "3/0/9", "pmin=10")
    obs = Observed(h, "3/0/9")
    h.advance(60)
    assert obs.values() == []


@pytest.mark.parametrize(
    ("query", "levels", "expected"),
    [
        (("gt=50",), [60, 55, 45, 40, 52], [b"45", b"52"]),
        (("lt=20",), [30, 19, 15, 25], [b"19", b"25"]),
        (("st=5",), [97, 95, 94, 100, 104], [b"95", b"100"]),
        (("gt=50", "lt=20"), [60, 10, 15, 55], [b"10", b"55"]),
    ],
)
def test_value_conditions(
    h: Harness, query: tuple[str, ...], levels: list[int], expected: list[bytes]
) -> None:
    _attrs(h, "3/0/9", *query)
    obs = Observed(h, "3/0/9")
    for level in levels:
        _set(h, "/3/0/9", level)
        h.advance(1)
    assert obs.values() == expected


def test_value_conditions_do_not_gate_pmax(h: Harness) -> None:
    _attrs(h, "3/0/9", "gt=50", "pmax=30")
    obs = Observed(h, "3/0/9")
    _set(h, "/3/0/9", 99)
    h.advance(31)
    assert obs.values() == [b"99"]


def test_epmin_limits_sampling(h: Harness) -> None:
    _attrs(h, "3/0/9", "epmin=10")
    obs = Observed(h, "3/0/9")
    start = h.now - T0
    _set(h, "/3/0/9", 90)
    h.advance(3)
    assert obs.values() == []
    h.advance(10)
    [(at, payload)] = obs.notifications
    assert payload == b"90"
    assert at - start == pytest.approx(10, abs=0.7)


def test_epmax_samples_values_that_change_silently(h: Harness) -> None:
    _attrs(h, "3/0/9", "epmax=15")
    obs = Observed(h, "3/0/9")
    device = h.tree.object(3)
    assert isinstance(device, SimpleObject)
    device._resources(0)[9] = 42  # no change notice, like a sensor read on demand
    h.advance(5)
    assert obs.values() == []
    h.advance(12)
    assert obs.values() == [b"42"]


def test_inheritance_object_instance_resource(h: Harness) -> None:
    _attrs(h, "3", "pmin=40")
    obs = Observed(h, "3/0/9")
    _set(h, "/3/0/9", 90)
    h.advance(30)
    assert obs.values() == []  # object level pmin=40 holds it back
    h.advance(15)
    assert obs.values() == [b"90"]
    _attrs(h, "3/0", "pmin=20")  # instance level beats object level
    start = h.now
    _set(h, "/3/0/9", 80)
    h.advance(45)
    [_, (at, _)] = obs.notifications
    assert at - (start - T0) < 45
    _attrs(h, "3/0/9", "pmin=0")  # resource level beats both
    _set(h, "/3/0/9", 70)
    h.advance(21)  # one full instance-level pmin since the last one
    _set(h, "/3/0/9", 60)
    h.advance(1)
    assert obs.values()[-2:] == [b"70", b"60"]


def test_server_defaults_are_the_weakest(h: Harness) -> None:
    assert h.ask(Code.PUT, "1/0/3", payload=b"25", content_format=0).code is Code.CHANGED
    obs = Observed(h, "3/0/9")
    h.advance(26)
    assert len(obs.values()) == 1
    _attrs(h, "3/0/9", "pmax=5")
    h.advance(11)
    times = [at for at, _ in obs.notifications]
    assert times[0] - obs.start == pytest.approx(25, abs=0.7)
    assert times[-1] - times[-2] == pytest.approx(5, abs=0.1)


def test_instance_observation_sees_any_resource(h: Harness) -> None:
    obs = Observed(h, "4/0")
    _set(h, "/4/0/2", -99)
    h.advance(1)
    [(_, payload)] = obs.notifications
    values = SENML.decode(payload, P("/4/0"), h.tree.models)
    assert dict(values.resources)[2].value == -99  # type: ignore[union-attr]


def test_composite_observation(h: Harness) -> None:
    obs = Observed(h, "", composite=("/3/0/9", "/4/0/2"))
    _set(h, "/4/0/2", -101)
    h.advance(1)
    _set(h, "/3/0/9", 50)
    h.advance(1)
    _set(h, "/3/0/0", "ignored")  # not observed
    h.advance(1)
    decoded = [SENML.decode_values(p, h.tree.models) for p in obs.values()]
    assert len(decoded) == 2
    assert decoded[0][P("/4/0/2")] == -101
    assert decoded[1][P("/3/0/9")] == 50


def test_cancel_with_observe_1(h: Harness) -> None:
    obs = Observed(h, "3/0/9")
    h.server.endpoint.cancel_observation(obs.handle, h.now)
    h.advance(1)
    sent = len(h.wire)
    _set(h, "/3/0/9", 10)
    h.advance(10)
    assert obs.values() == []
    assert len(h.wire) == sent


def test_cancel_with_rst(h: Harness) -> None:
    obs = Observed(h, "3/0/9")
    h.server.endpoint.cancel(obs.handle, h.now)  # forgets it: the next notification gets RST
    _set(h, "/3/0/9", 10)
    h.advance(1)
    sent = len(h.wire)
    _set(h, "/3/0/9", 20)
    h.advance(10)
    assert len(h.wire) == sent


def test_confirmable_every_so_often() -> None:
    h = Harness(config=ClientConfig(confirmable_interval=100))
    h.start()
    _attrs(h, "3/0/9", "pmax=30")
    Observed(h, "3/0/9")
    h.advance(250)
    kinds = [
        Message.decode(data).type
        for _, source, _, data in h.wire
        if source == CLIENT and Message.decode(data).options.observe is not None
    ]
    kinds = kinds[1:]  # the first is the piggybacked response
    assert kinds.count(Type.CON) == 2  # at about 100 s and 200 s
    assert kinds.count(Type.NON) >= 5


def test_con_attribute_forces_confirmable(h: Harness) -> None:
    _attrs(h, "3/0/9", "con=1")
    Observed(h, "3/0/9")
    _set(h, "/3/0/9", 1)
    h.advance(1)
    assert _last_notification(h).type is Type.CON


def test_deleted_instance_ends_the_observation(h: Harness) -> None:
    obs = Observed(h, "19/0")
    assert h.ask(Code.DELETE, "19/0").code is Code.DELETED
    h.advance(1)
    last = h.server.ended[obs.handle]
    assert last is not None and last.code is Code.NOT_FOUND


def _last_notification(h: Harness) -> Message:
    for _, source, _, data in reversed(h.wire):
        message = Message.decode(data)
        if source == CLIENT and message.options.observe is not None:
            return message
    raise AssertionError("no notification")


def test_reregistration_drops_observations(h: Harness) -> None:
    obs = Observed(h, "3/0/9")
    h.server.update_code = Code.NOT_FOUND
    h.engine.trigger_update(h.now)
    h.advance(2)
    _set(h, "/3/0/9", 1)
    h.advance(2)
    assert obs.values() == []
