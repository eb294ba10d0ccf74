"""The Registration interface as a device sees it: Register, Update, De-register, expiry."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code
from lwm2m.codec.link import Link
from lwm2m.server import (
    Deregistered,
    Expired,
    Registered,
    ServerConfig,
    Updated,
)
from tests.protocol.test_server_harness import EPOCH, FAST, OBJECTS, World


def test_register_creates_a_registration_with_every_parameter() -> None:
    world = World()
    client = world.client(("10.0.0.7", 5000))
    world.run(3.0)
    response = client.register(
        "urn:imei:490154203237518", ("lt=300", "lwm2m=1.1", "b=U", "sms=+491711234567")
    )
    assert response.code is Code.CREATED
    prefix, registration_id = response.options.location_path
    assert prefix == "rd" and len(registration_id) == 11
    (event,) = world.of_type(Registered)
    reg = event.registration
    assert event.previous is None
    assert reg.endpoint == "urn:imei:490154203237518"
    assert reg.registration_id == registration_id
    assert (reg.lifetime, reg.lwm2m_version, reg.binding) == (300, "1.1", "U")
    assert reg.sms == "+491711234567" and not reg.queue_mode
    assert reg.address == ("10.0.0.7", 5000)
    assert reg.root_path == "/"
    assert Link("/1/0") in reg.object_links and Link("/5") in reg.object_links
    assert reg.registered_at == reg.last_seen == pytest.approx(EPOCH + 3.0, abs=0.1)
    assert world.core.registration(reg.endpoint) == reg


@pytest.mark.parametrize(
    "endpoint",
    ["urn:imei:490154203237518", "urn:imsi:262011234567890", "device-7@iot.telekom.de", "x"],
)
def test_endpoint_names_imei_imsi_and_external_ids(endpoint: str) -> None:
    world = World()
    assert world.client().register(endpoint).code is Code.CREATED
    assert world.core.registration(endpoint) is not None


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_every_supported_version_registers(version: str) -> None:
    world = World()
    response = world.client().register("ep", ("lt=60", f"lwm2m={version}"))
    assert response.code is Code.CREATED
    reg = world.core.registration("ep")
    assert reg is not None and reg.lwm2m_version == version


def test_no_version_means_1_0_and_no_lifetime_means_a_day() -> None:
    world = World()
    assert world.client().register("ep", ()).code is Code.CREATED
    reg = world.core.registration("ep")
    assert reg is not None
    assert (reg.lwm2m_version, reg.lifetime, reg.binding) == ("1.0", 86400, "U")


def test_unsupported_version_is_4_12_and_bad_version_4_00() -> None:
    world = World()
    client = world.client()
    assert client.register("ep", ("lwm2m=1.3",)).code is Code.PRECONDITION_FAILED
    assert client.register("ep", ("lwm2m=one",)).code is Code.BAD_REQUEST
    assert world.core.registration("ep") is None


def test_alternate_path_and_object_versions() -> None:
    world = World()
    payload = (
        b'</lwm2m>;rt="oma.lwm2m";ct="60 110 112 11542",'
        b"</lwm2m/1/0>,</lwm2m/3>;ver=1.2,</lwm2m/3/0>"
    )
    assert world.client().register("ep", ("lwm2m=1.1",), payload).code is Code.CREATED
    reg = world.core.registration("ep")
    assert reg is not None and reg.root_path == "/lwm2m"
    assert Link("/lwm2m/3", {"ver": "1.2"}) in reg.object_links


def test_queue_mode_from_q_and_from_a_1_0_binding() -> None:
    world = World()
    world.client(("a", 1)).register("q11", ("lwm2m=1.1", "b=U", "Q"))
    world.client(("b", 1)).register("q10", ("lwm2m=1.0", "b=UQ"))
    world.client(("c", 1)).register("plain", ("lwm2m=1.1",))
    assert [world.core.registration(ep).queue_mode for ep in ("q11", "q10", "plain")] == [  # type: ignore[union-attr]
        True,
        True,
        False,
    ]


def test_update_changes_only_what_it_carries() -> None:
    world = World()
    client = world.client()
    client.register("ep", ("lt=300", "lwm2m=1.1", "b=U", "sms=+4911"))
    before = world.core.registration("ep")
    world.run(50.0)
    assert client.update(("lt=600",)).code is Code.CHANGED
    (event,) = world.of_type(Updated)
    assert event.previous == before
    after = event.registration
    assert after.lifetime == 600 and after.sms == "+4911" and after.binding == "U"
    assert after.registration_id == before.registration_id  # type: ignore[union-attr]
    assert after.last_seen == pytest.approx(EPOCH + 50.0, abs=0.1)
    assert after.registered_at == before.registered_at  # type: ignore[union-attr]
    assert client.update((), b"</1/0>,</3/0>,</6/0>").code is Code.CHANGED
    links = world.core.registration("ep").object_links  # type: ignore[union-attr]
    assert Link("/6/0") in links and Link("/4/0") not in links
    assert client.update().code is Code.CHANGED  # an empty Update just refreshes


def test_update_binding_toggles_queue_mode_for_1_0_clients() -> None:
    world = World()
    client = world.client()
    client.register("ep", ("lwm2m=1.0", "b=U"))
    client.update(("b=UQ",))
    assert world.core.registration("ep").queue_mode  # type: ignore[union-attr]
    client.update(("b=U",))
    assert not world.core.registration("ep").queue_mode  # type: ignore[union-attr]


def test_update_from_a_new_address_moves_the_registration() -> None:
    world = World()
    old = world.client(("10.0.0.1", 1000))
    old.register("ep")
    moved = world.client(("10.0.0.1", 2000))  # the NAT gave the device a new port
    moved.location = old.location
    assert moved.update().code is Code.CHANGED
    assert world.core.registration("ep").address == ("10.0.0.1", 2000)  # type: ignore[union-attr]


def test_knows_peer_follows_the_current_address_of_live_registrations() -> None:
    world = World()
    old = world.client(("10.0.0.1", 1000))
    assert not world.core.knows_peer(("10.0.0.1", 1000))
    old.register("ep")
    assert world.core.knows_peer(("10.0.0.1", 1000))
    moved = world.client(("10.0.0.1", 2000))
    moved.location = old.location
    moved.update()
    assert world.core.knows_peer(("10.0.0.1", 2000))
    assert not world.core.knows_peer(("10.0.0.1", 1000))
    moved.deregister()
    assert not world.core.knows_peer(("10.0.0.1", 2000))


def test_update_and_deregister_of_unknown_locations_are_4_04() -> None:
    world = World()
    client = world.client()
    client.register("ep")
    good = client.location
    for location in (("rd", "nope"), (*good, "extra"), ("rd",)):
        client.location = location
        expected = Code.NOT_FOUND if len(location) > 1 else Code.METHOD_NOT_ALLOWED
        assert client.deregister().code is expected
        if len(location) > 1:
            assert client.update().code is Code.NOT_FOUND
    assert world.core.registration("ep") is not None


def test_deregister_removes_and_its_location_is_then_unknown() -> None:
    world = World()
    client = world.client()
    client.register("ep")
    assert client.deregister().code is Code.DELETED
    (event,) = world.of_type(Deregistered)
    assert event.registration.endpoint == "ep"
    assert world.core.registration("ep") is None and len(world.core) == 0
    assert client.deregister().code is Code.NOT_FOUND
    assert client.update().code is Code.NOT_FOUND


def test_expiry_after_lifetime_plus_grace() -> None:
    world = World()  # grace 5 s
    world.client().register("ep", ("lt=100",))
    world.run(104.0)
    assert world.core.registration("ep") is not None
    world.run(2.0)
    assert world.core.registration("ep") is None
    (event,) = world.of_type(Expired)
    assert event.registration.endpoint == "ep"


def test_update_postpones_expiry_and_a_shorter_lifetime_brings_it_forward() -> None:
    world = World()
    client = world.client()
    client.register("ep", ("lt=100",))
    world.run(90.0)
    client.update()
    world.run(90.0)  # t=180: would have expired at 105 without the Update
    assert world.core.registration("ep") is not None
    client.update(("lt=10",))
    world.run(16.0)
    assert world.core.registration("ep") is None
    assert len(world.of_type(Expired)) == 1


def test_re_register_replaces_the_old_registration() -> None:
    world = World()
    client = world.client()
    client.register("ep")
    old_location = client.location
    old = world.core.registration("ep")
    assert client.register("ep", ("lt=500", "lwm2m=1.1")).code is Code.CREATED
    assert client.location != old_location
    second = world.of_type(Registered)[1]
    assert second.previous == old
    assert second.registration.lifetime == 500
    assert len(world.core) == 1
    client.location = old_location
    assert client.update().code is Code.NOT_FOUND
    world.run(600.0)  # the old registration's expiry timer must not remove the new one
    assert len(world.of_type(Expired)) == 1


def test_registration_ids_are_distinct() -> None:
    world = World()
    ids = set()
    for n in range(200):
        world.client(("h", n)).register(f"ep{n}")
        ids.add(world.core.registration(f"ep{n}").registration_id)  # type: ignore[union-attr]
    assert len(ids) == 200


def test_authorize_refuses_with_4_03() -> None:
    config = ServerConfig(coap=FAST, authorize=lambda ep, _peer: ep.startswith("urn:imei:"))
    world = World(config)
    assert world.client(("a", 1)).register("rogue").code is Code.FORBIDDEN
    assert world.client(("b", 1)).register("urn:imei:1").code is Code.CREATED


def test_full_table_is_5_03_but_known_endpoints_may_re_register() -> None:
    world = World(ServerConfig(coap=FAST, max_registrations=2))
    world.client(("a", 1)).register("a")
    world.client(("b", 1)).register("b")
    assert world.client(("c", 1)).register("c").code is Code.SERVICE_UNAVAILABLE
    assert world.clients[("a", 1)].register("a").code is Code.CREATED


def test_object_lists_are_shared_between_registrations() -> None:
    world = World()
    world.client(("a", 1)).register("a", payload=OBJECTS)
    world.client(("b", 1)).register("b", payload=OBJECTS)
    a, b = world.core.registration("a"), world.core.registration("b")
    assert a is not None and b is not None and a.object_links is b.object_links
