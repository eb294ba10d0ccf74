"""One JSON shape for a device's address over every transport, in REST answers and events."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from lwm2m.server.events import Registered
from lwm2m.transport.dtls import DtlsPeer
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.tcp import StreamPeer
from lwm2m.web import EventHub, create_app
from lwm2m.web.jsonview import describe_peer, dumps, event_json
from tests.unit.test_server_registration_store import registration
from tests.unit.test_web_api import FakeRegistrations, FakeServer

PEERS = [
    (
        NiddPeer("externalId", "dev-1@nidd.example"),
        {"transport": "N", "secure": False, "address": "dev-1@nidd.example"},
    ),
    (("10.0.0.1", 5683), {"transport": "U", "secure": False, "address": "10.0.0.1:5683"}),
    (
        ("2001:db8::1", 5683, 0, 0),
        {"transport": "U", "secure": False, "address": "[2001:db8::1]:5683"},
    ),
    (DtlsPeer(("10.0.0.1", 5684)), {"transport": "U", "secure": True, "address": "10.0.0.1:5684"}),
    (
        StreamPeer(7, ("10.0.0.1", 40000)),
        {"transport": "T", "secure": False, "address": "10.0.0.1:40000"},
    ),
    (
        StreamPeer(8, ("10.0.0.1", 40001), "dev-1"),
        {"transport": "T", "secure": True, "address": "10.0.0.1:40001"},
    ),
]


@pytest.mark.parametrize(("peer", "shown"), PEERS)
def test_every_transport_has_one_address_shape(peer: object, shown: dict[str, object]) -> None:
    assert describe_peer(peer) == shown


@pytest.mark.parametrize(("peer", "shown"), PEERS)
async def test_rest_and_events_show_the_address_shape(
    peer: object, shown: dict[str, object]
) -> None:
    reg = dataclasses.replace(registration("urn:dev:1"), address=peer)
    fake = FakeServer()
    fake.registrations = FakeRegistrations({"urn:dev:1": reg})  # type: ignore[dict-item]
    transport = httpx.ASGITransport(app=create_app(fake))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        assert (await http.get("/api/clients")).json()[0]["address"] == shown
        assert (await http.get("/api/clients/urn:dev:1")).json()["address"] == shown
    data = json.loads(dumps(event_json(Registered(reg, previous=reg))))
    assert data["registration"]["address"] == shown == data["previous"]["address"]
    hub = EventHub(fake, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(Registered(reg))
    assert f'"address":{dumps(shown)}' in await anext(stream)
    hub.close()
