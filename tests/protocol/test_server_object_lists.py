"""The object list of Register and Update: bounded (ServerConfig.max_object_list_size and
max_object_links, 4.13 beyond them) and held compactly per registration."""

from __future__ import annotations

import gc
import tracemalloc

from lwm2m.coap.codes import Code
from lwm2m.codec.link import Link, parse_links
from lwm2m.server import ServerConfig
from lwm2m.server.registration import ObjectList
from tests.protocol.test_server_harness import FAST, World


def object_list(links: int, object_id: int = 3303) -> bytes:
    """``links`` links: the root link, then instances of one object."""
    items = ['</>;rt="oma.lwm2m";ct=112'] + [f"</{object_id}/{i}>" for i in range(links - 1)]
    return ",".join(items).encode()


def test_defaults_are_well_above_real_devices() -> None:
    config = ServerConfig()
    assert (config.max_object_links, config.max_object_list_size) == (1024, 16 * 1024)
    world = World()
    payload = object_list(1024)
    assert len(payload) <= 16 * 1024
    assert world.client().register("ep", payload=payload).code is Code.CREATED
    assert len(world.core.registration("ep").object_links) == 1024  # type: ignore[union-attr]


def test_too_many_links_are_4_13_on_register_and_update() -> None:
    world = World(ServerConfig(coap=FAST, max_object_links=10))
    client = world.client()
    assert client.register("ep", payload=object_list(11)).code is Code.REQUEST_ENTITY_TOO_LARGE
    assert world.core.registration("ep") is None
    assert client.register("ep", payload=object_list(10)).code is Code.CREATED
    assert client.update((), object_list(11)).code is Code.REQUEST_ENTITY_TOO_LARGE
    assert len(world.core.registration("ep").object_links) == 10  # type: ignore[union-attr]


def test_too_large_a_payload_is_4_13_before_it_is_parsed() -> None:
    world = World(ServerConfig(coap=FAST, max_object_list_size=200))
    client = world.client()
    big = b"</3/0>," + b"</3303/0>;" + b"x" * 300  # malformed too: the size decides first
    assert client.register("ep", payload=big).code is Code.REQUEST_ENTITY_TOO_LARGE
    assert client.register("ep", payload=object_list(5)).code is Code.CREATED
    assert client.update((), object_list(40)).code is Code.REQUEST_ENTITY_TOO_LARGE


def test_a_large_object_list_costs_little_memory_per_registration() -> None:
    """Distinct 1,024-link lists (the most the defaults admit): as Link objects they took
    169 KiB per registration; held as text, under 40 KiB with everything else a
    registration costs (its session, CoAP exchange state, the store's entry)."""
    world = World()
    count = 4
    payloads = [object_list(1024, 3303 + n) for n in range(count)]
    clients = [world.client(("10.0.0.9", 1000 + n)) for n in range(count)]
    world.client(("10.0.0.8", 1)).register("warm-up")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, (client, payload) in enumerate(zip(clients, payloads, strict=True)):
            assert client.register(f"ep{n}", payload=payload).code is Code.CREATED
        gc.collect()
        per_registration = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert per_registration < 40 * 1024, per_registration


def test_object_lists_read_back_as_links_and_compare_with_tuples() -> None:
    text = '</lwm2m>;rt="oma.lwm2m";ct="110 112",</lwm2m/3/0>,</lwm2m/3303>;ver=1.1'
    links = tuple(parse_links(text))
    held = ObjectList.of(links)
    assert held == links and links == held and hash(held) == hash(links)
    assert list(held) == list(links) and len(held) == 3 and held[1] == Link("/lwm2m/3/0")
    assert Link("/lwm2m/3303", {"ver": "1.1"}) in held
    assert held[1:] == links[1:]
    assert held != links[1:] and held != "not links"
