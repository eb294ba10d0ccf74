"""The client's registration engine against hand-made servers, on a virtual clock."""

from __future__ import annotations

import pytest

from lwm2m.client.engine import (
    ClientConfig,
    Deregistered,
    Registered,
    RegistrationFailed,
    Stopped,
    Updated,
)
from lwm2m.client.registration import State
from lwm2m.coap.codes import Code
from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.operations import ObjectLinks
from tests.protocol.client_harness import EP, T0, Harness, P

MTW = 93.0  # MAX_TRANSMIT_WAIT with the RFC 7252 defaults


def _updates(h: Harness, ssid: int = 1) -> list[float]:
    return [r.at - T0 for r in h.servers[ssid].of("rd/5a3f", Code.POST)]


def test_register_carries_the_parameters_and_object_list() -> None:
    h = Harness(lifetime=300)
    h.start()
    [register] = h.server.of("rd")
    query = register.message.options.uri_query
    assert query == (f"ep={EP}", "lt=300", "lwm2m=1.1", "b=U")
    assert register.message.options.content_format == ContentFormat.LINK
    links = ObjectLinks.from_payload(register.message.payload)
    assert links.root == "/"
    assert links.content_formats == (ContentFormat.SENML_CBOR,)
    assert b"ct=112" in register.message.payload  # one value: strict servers refuse a list
    ids = {entry.id: entry for entry in links.objects}
    assert 0 not in ids and 21 not in ids  # Security and OSCORE are never listed
    assert ids[1].version == "1.1" and ids[1].instances == (0,)
    assert ids[3].instances == (0,)
    assert register.message.payload.startswith(b'</>;rt="oma.lwm2m"')
    assert h.events == [Registered(1, ("rd", "5a3f"))]
    assert h.engine.registrations[1].state is State.REGISTERED


@pytest.mark.parametrize(
    ("version", "content_format", "announced"),
    [
        ("1.1", ContentFormat.SENML_JSON, b";ct=110"),
        ("1.1", ContentFormat.TLV, b";ct=11542"),
        ("1.0", None, None),
        ("1.0", ContentFormat.LWM2M_JSON, b";ct=11543"),
    ],
)
def test_register_announces_the_one_configured_format(
    version: str, content_format: int | None, announced: bytes | None
) -> None:
    h = Harness(config=ClientConfig(lwm2m_version=version, content_format=content_format))
    h.start()
    payload = h.server.of("rd")[0].message.payload
    root = payload.split(b",")[0]
    if announced is None:
        assert b"ct=" not in payload
    else:
        assert root.endswith(announced)


@pytest.mark.parametrize(
    ("version", "content_format"),
    [
        ("1.1", ContentFormat.LWM2M_CBOR),  # LwM2M 1.2
        ("1.1", ContentFormat.TEXT),  # not a format for whole objects
        ("1.0", ContentFormat.SENML_CBOR),  # LwM2M 1.1
        ("1.2", None),
    ],
)
def test_a_format_the_version_cannot_announce_is_refused(
    version: str, content_format: int | None
) -> None:
    with pytest.raises(ValueError, match=r"content format|LwM2M version"):
        ClientConfig(lwm2m_version=version, content_format=content_format)


def test_queue_mode_is_the_q_parameter_in_1_1() -> None:
    h = Harness(binding="UQ")
    h.start()
    assert h.server.of("rd")[0].message.options.uri_query[-2:] == ("b=U", "Q")


@pytest.mark.parametrize(
    ("lifetime", "first_update"),
    [(300, 300 - MTW), (3600, 3600 - 360), (100, 50), (86400, 86400 - 8640)],
)
def test_update_before_the_lifetime_runs_out(lifetime: int, first_update: float) -> None:
    h = Harness(lifetime=lifetime)
    h.start()
    registered_at = h.server.of("rd")[0].at - T0 - 0.05
    h.advance(2 * first_update + 1)
    updates = _updates(h)
    assert len(updates) == 2
    assert updates[0] == pytest.approx(registered_at + 0.05 + first_update + 0.1, abs=0.2)
    assert updates[1] - updates[0] == pytest.approx(first_update + 0.1, abs=0.2)
    assert all(r.message.payload == b"" for r in h.server.of("rd/5a3f"))
    assert h.of_type(Updated) == [Updated(1), Updated(1)]


def test_update_when_lifetime_binding_or_objects_change() -> None:
    h = Harness(lifetime=300)
    h.start()
    assert h.ask(Code.PUT, "1/0/1", payload=b"600", content_format=0).code is Code.CHANGED
    [update] = h.server.of("rd/5a3f")
    assert update.message.options.uri_query == ("lt=600",)
    assert update.message.payload == b""
    assert h.ask(Code.PUT, "1/0/7", payload=b"UT", content_format=0).code is Code.CHANGED
    assert h.server.of("rd/5a3f")[-1].message.options.uri_query == ("b=UT",)
    senml = default_codecs(lambda: T0).get(ContentFormat.SENML_CBOR)
    payload = senml.encode_values({P("/19/1/3"): "x"}, h.tree.models)
    assert h.ask(Code.POST, "19", payload=payload, content_format=112).code is Code.CREATED
    objects_update = h.server.of("rd/5a3f")[-1].message
    assert objects_update.options.uri_query == ()
    assert b"</19/1>" in objects_update.payload
    # the next periodic Update uses the new lifetime
    last = h.server.of("rd/5a3f")[-1].at
    h.advance(600)
    assert h.server.of("rd/5a3f")[-1].at - last == pytest.approx(600 - MTW + 0.1, abs=0.2)


def test_entering_queue_mode_registers_again() -> None:
    h = Harness(lifetime=300)
    h.start()
    assert h.ask(Code.PUT, "1/0/7", payload=b"UQ", content_format=0).code is Code.CHANGED
    registers = h.server.of("rd")
    assert len(registers) == 2
    assert registers[1].message.options.uri_query[-2:] == ("b=U", "Q")
    assert not h.server.of("rd/5a3f")


def test_reregister_when_the_server_forgot_us() -> None:
    h = Harness(lifetime=300)
    h.start()
    h.server.update_code = Code.NOT_FOUND
    h.server.location = ("rd", "b0b0")
    h.advance(300)
    registers = h.server.of("rd")
    assert len(registers) == 2
    assert registers[1].at > h.server.of("rd/5a3f")[0].at
    assert registers[1].message.options.uri_query[1] == "lt=300"  # a full Register
    assert h.of_type(Registered)[-1] == Registered(1, ("rd", "b0b0"))
    h.server.update_code = Code.CHANGED
    h.advance(300)
    assert h.server.of("rd/b0b0")  # Updates go to the new location


def test_back_off_with_jitter_while_unreachable() -> None:
    config = ClientConfig(retry_base=60, retry_cap=480)
    h = Harness(config=config)
    h.server.reachable = False
    h.start()
    h.advance(3000)
    failures = [(t, e) for t, e in h.timeline if isinstance(e, RegistrationFailed)]
    assert len(failures) >= 5
    for n, (at, event) in enumerate(failures):
        assert event.code is None
        full = min(480, 60 * 2**n)
        assert full / 2 <= event.retry_at - at <= full
    delays = [e.retry_at - t for t, e in failures]
    assert len(set(delays)) == len(delays)  # jittered
    # the server comes back: the next attempt registers and the back-off starts over
    h.server.reachable = True
    h.advance(600)
    assert h.of_type(Registered)
    assert h.engine.registrations[1].attempts == 0


def test_register_refused_backs_off() -> None:
    h = Harness()
    h.server.register_code = Code.FORBIDDEN
    h.start()
    [failure] = h.of_type(RegistrationFailed)
    assert isinstance(failure, RegistrationFailed)
    assert failure.code is Code.FORBIDDEN
    assert h.engine.registrations[1].state is State.BACKING_OFF


def test_two_servers_each_with_its_own_state_machine() -> None:
    h = Harness(ssids=(1, 2), lifetime=300)
    h.servers[2].reachable = False
    h.start()
    assert h.engine.registrations[1].state is State.REGISTERED
    h.advance(400)
    assert len(_updates(h, 1)) == 1
    assert not h.engine.registrations[2].online
    h.servers[2].reachable = True
    h.advance(200)
    assert h.engine.registrations[2].state is State.REGISTERED
    # each server reaches its own Server instance's trigger, and is refused the other's
    before = len(_updates(h, 1)), len(_updates(h, 2))
    assert h.ask(Code.POST, "1/1/8", ssid=2).code is Code.CHANGED
    assert h.ask(Code.POST, "1/1/8", ssid=1).code is Code.UNAUTHORIZED
    assert (len(_updates(h, 1)), len(_updates(h, 2))) == (before[0], before[1] + 1)


@pytest.mark.parametrize("args", [b"", b"0='U'"])
def test_registration_update_trigger(args: bytes) -> None:
    h = Harness(lifetime=3600)
    h.start()
    response = h.ask(Code.POST, "1/0/8", payload=args)
    assert response.code is Code.CHANGED
    [update] = h.server.of("rd/5a3f")
    assert update.at - T0 < 10
    # the trigger restarts the lifetime clock
    h.advance(3600)
    assert len(_updates(h)) == 2


def test_update_trigger_with_unknown_transport_is_4_00() -> None:
    h = Harness()
    h.start()
    assert h.ask(Code.POST, "1/0/8", payload=b"0='X'").code is Code.BAD_REQUEST
    assert not h.server.of("rd/5a3f")


def test_api_trigger_update_while_one_is_in_flight_sends_another() -> None:
    h = Harness()
    h.start()
    h.engine.trigger_update(h.now)
    h.engine.trigger_update(h.now)
    h.advance(5)
    assert len(_updates(h)) == 2


def test_disable_deregisters_for_the_disable_timeout() -> None:
    h = Harness(lifetime=3600)
    h.start()
    assert h.ask(Code.PUT, "1/0/5", payload=b"30", content_format=0).code is Code.CHANGED
    assert h.ask(Code.POST, "1/0/4").code is Code.CHANGED
    [deregister] = h.server.of("rd/5a3f", Code.DELETE)
    assert h.engine.registrations[1].state is State.DISABLED
    assert Deregistered(1) in h.events
    # a request while disabled is not served
    handle = h.server.request(Code.GET, "3/0/0")
    h.advance(1)
    assert h.server.responses[handle].code is Code.UNAUTHORIZED
    h.advance(35)
    registers = h.server.of("rd")
    assert len(registers) == 2
    assert registers[1].at - deregister.at == pytest.approx(30, abs=0.5)


def test_stop_deregisters_everywhere() -> None:
    h = Harness(ssids=(1, 2))
    h.servers[2].reachable = False
    h.start()
    h.engine.stop(h.now)
    h.advance(1)
    assert h.servers[1].of("rd/5a3f", Code.DELETE)
    assert Deregistered(1) in h.events
    assert Stopped() in h.events  # the unreachable server was never registered
    assert all(r.state is State.STOPPED for r in h.engine.registrations.values())
    h.advance(100_000)
    assert len(h.servers[1].of("rd")) == 1  # no more traffic


def test_stop_waits_for_an_unanswered_deregister() -> None:
    h = Harness()
    h.start()
    h.server.reachable = False
    h.engine.stop(h.now)
    h.advance(50)
    assert Stopped() not in h.events
    h.advance(100)
    assert h.events[-1] == Stopped()
