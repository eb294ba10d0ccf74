"""Registration values, the in-memory store, event JSON and configuration checks."""

from __future__ import annotations

import json

import pytest

from lwm2m.codec.link import Link
from lwm2m.model import Path, TimestampedValues
from lwm2m.server import (
    Deregistered,
    Expired,
    MemoryRegistrationStore,
    NotificationReceived,
    ObservationCancelled,
    QueueDrained,
    Registered,
    Registration,
    RegistrationStore,
    RequestQueued,
    SendReceived,
    ServerConfig,
    Updated,
)
from lwm2m.server.registration import format_address


def registration(endpoint: str = "ep", rid: str = "abc", last_seen: float = 100.0) -> Registration:
    return Registration(
        endpoint=endpoint,
        registration_id=rid,
        lwm2m_version="1.1",
        binding="U",
        lifetime=60,
        queue_mode=False,
        sms=None,
        address=("10.0.0.1", 5683),
        root_path="/",
        object_links=(Link("/", {"rt": "oma.lwm2m"}), Link("/3/0")),
        registered_at=50.0,
        last_seen=last_seen,
    )


def test_registration_json_has_exactly_the_api_keys() -> None:
    data = registration().to_json()
    assert list(data) == [
        "endpoint",
        "registrationId",
        "lwm2mVersion",
        "binding",
        "lifetime",
        "queueMode",
        "address",
        "objectLinks",
        "registeredAt",
        "lastSeen",
        "contentFormat",
    ]
    assert data["address"] == "10.0.0.1:5683"
    assert data["objectLinks"] == [
        {"target": "/", "attributes": {"rt": "oma.lwm2m"}},
        {"target": "/3/0", "attributes": {}},
    ]
    json.dumps(data)


def test_addresses_format_for_ipv4_ipv6_and_other_peers() -> None:
    assert format_address(("::1", 5683)) == "[::1]:5683"
    assert format_address("nidd:12345") == "nidd:12345"


def test_memory_store_indexes_by_endpoint_and_registration_id() -> None:
    store: RegistrationStore = MemoryRegistrationStore()
    first = registration(rid="one")
    store.put(first)
    assert store.get("ep") == first and store.by_registration_id("one") == first
    second = registration(rid="two")
    store.put(second)  # a re-Register replaces
    assert store.by_registration_id("one") is None and store.get("ep") == second
    store.put(registration("other", "three", last_seen=0.0))
    assert {r.endpoint for r in store.all()} == {"ep", "other"}
    assert [r.endpoint for r in store.expiring(before=150.0)] == ["other"]
    assert [r.endpoint for r in store.expiring(before=1000.0)] == ["other", "ep"]
    store.delete("ep")
    store.delete("ep")
    assert store.get("ep") is None and store.by_registration_id("two") is None


def test_every_event_serializes_with_a_type() -> None:
    reg = registration()
    values = {Path.of(3, 0, 9): 80, Path.of(5, 0, 0): b"\x01"}
    events = [
        Registered(reg),
        Registered(reg, reg),
        Updated(reg, reg),
        Deregistered(reg),
        Expired(reg),
        NotificationReceived("ep", Path.of(3, 0), values, 112, 7),
        NotificationReceived("ep", (Path.of(3, 0, 9),), values, 112, None),
        SendReceived("ep", (TimestampedValues(1.5, values),)),
        ObservationCancelled("ep", Path.of(3, 0), "cancelled"),
        RequestQueued("ep", "Read"),
        QueueDrained("ep", 2),
    ]
    types = [event.to_json()["type"] for event in events]
    assert types == [
        "registered",
        "registered",
        "updated",
        "deregistered",
        "expired",
        "notification",
        "notification",
        "send",
        "observationCancelled",
        "requestQueued",
        "queueDrained",
    ]
    for event in events:
        json.dumps(event.to_json(), allow_nan=False)
    notification = events[5].to_json()
    assert notification["path"] == "/3/0"
    assert notification["values"] == {"/3/0/9": 80, "/5/0/0": "AQ=="}


@pytest.mark.parametrize(
    "kwargs",
    [{"coap_port": 70000}, {"queue_size": 0}, {"queue_ttl": 0}, {"awake_window": -1}],
)
def test_config_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ServerConfig(**kwargs)  # type: ignore[arg-type]
