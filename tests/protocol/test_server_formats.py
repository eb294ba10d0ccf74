"""Which content format the server reads and writes a client in when the caller names none:
what the client announced (``ct`` on its root link), else SenML CBOR, falling back to SenML
JSON and TLV on 4.06/4.15 and remembering what worked; composites never go to 1.0 clients."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import replace

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.model import ObjectInstance, Path, SingleResource
from lwm2m.operations import (
    EmptyResponse,
    ErrorResponse,
    NodeResponse,
    ObserveComposite,
    OperationUsageError,
    Read,
    ReadComposite,
    ValuesResponse,
    Write,
    WriteComposite,
)
from lwm2m.server import MemoryStore, RequestCompleted, ServerCore
from tests.protocol.test_server_harness import EPOCH, Answer, Client, World

DEVICE = ObjectInstance(0, {0: SingleResource(0, "Telekom"), 9: SingleResource(9, 87)})
CBOR, JSON, TLV = ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON, ContentFormat.TLV


def picky(
    world: World, understands: Collection[int], objects: bytes, version: str = "1.1"
) -> Client:
    """A client that reads and writes only ``understands``: 4.06 for another Accept, 4.15
    for another body (as real devices with one codec compiled in do)."""

    def handler(request: Message) -> Answer:
        body_format = request.options.content_format
        if request.payload and body_format not in understands:
            return Code.UNSUPPORTED_CONTENT_FORMAT, Options(), b""
        if request.code in (Code.PUT, Code.POST, Code.IPATCH):
            return Code.CHANGED, Options(), b""
        accept = request.options.accept
        if accept not in understands:
            return Code.NOT_ACCEPTABLE, Options(), b""
        codec = world.codecs.get(accept)
        if request.code is Code.FETCH:  # Read-Composite of /3/0/0 and /3/0/9
            values = {Path.of(3, 0, 0): "Telekom", Path.of(3, 0, 9): 87}
            body = codec.encode_values(values, world.models)
        else:
            body = codec.encode(Path.from_segments(request.options.uri_path), DEVICE, world.models)
        return Code.CONTENT, Options.build(content_format=accept), body

    client = world.client(handler=handler)
    assert client.register("ep", ("lt=300", f"lwm2m={version}"), objects).code is Code.CREATED
    return client


def read(world: World) -> NodeResponse:
    outcome = world.outcome(world.core.send("ep", Read(Path.of(3, 0)), now=world.now))
    assert isinstance(outcome, RequestCompleted), outcome
    assert isinstance(outcome.response, NodeResponse), outcome.response
    return outcome.response


def accepts(client: Client) -> list[int | None]:
    return [request.options.accept for request in client.requests]


@pytest.mark.parametrize("ct", [b"ct=110", b'ct="110"', b'ct="60 110 11542"'])
def test_a_client_announcing_senml_json_is_read_in_it(ct: bytes) -> None:
    world = World()
    client = picky(world, {JSON, 60, TLV}, b'</>;rt="oma.lwm2m";' + ct + b",</3/0>")
    assert world.core.registration("ep").content_format == JSON  # type: ignore[union-attr]
    response = read(world)
    assert response.content_format == JSON and response.node == DEVICE
    assert accepts(client) == [JSON]  # no 4.06 round first


def test_a_client_announcing_senml_json_is_written_in_it() -> None:
    world = World()
    client = picky(world, {JSON}, b'</>;rt="oma.lwm2m";ct=110,</3/0>')
    op = Write(Path.of(3, 0), DEVICE)
    outcome = world.outcome(world.core.send("ep", op, now=world.now))
    assert isinstance(outcome, RequestCompleted) and outcome.response == EmptyResponse()
    assert [r.options.content_format for r in client.requests] == [JSON]


def test_without_announcement_4_06_falls_back_and_the_format_is_remembered() -> None:
    world = World()
    client = picky(world, {TLV}, b"</3/0>")
    assert read(world).content_format == TLV
    assert accepts(client) == [CBOR, JSON, TLV]
    assert world.core.registration("ep").content_format == TLV  # type: ignore[union-attr]
    assert read(world).content_format == TLV
    assert accepts(client)[3:] == [TLV]  # straight away the second time


def test_writes_fall_back_on_4_15() -> None:
    world = World()
    client = picky(world, {JSON}, b"</3/0>")
    outcome = world.outcome(world.core.send("ep", Write(Path.of(3, 0), DEVICE), now=world.now))
    assert isinstance(outcome, RequestCompleted) and outcome.response == EmptyResponse()
    assert [r.options.content_format for r in client.requests] == [CBOR, JSON]
    assert world.core.registration("ep").content_format == JSON  # type: ignore[union-attr]


def test_composites_fall_back_between_the_senml_formats_only() -> None:
    world = World()
    client = picky(world, {TLV}, b"</3/0>")
    paths = (Path.of(3, 0, 0), Path.of(3, 0, 9))
    outcome = world.outcome(world.core.send("ep", ReadComposite(paths), now=world.now))
    assert isinstance(outcome, RequestCompleted)
    assert outcome.response == ErrorResponse(Code.UNSUPPORTED_CONTENT_FORMAT, "")
    assert [r.options.content_format for r in client.requests] == [CBOR, JSON]
    assert world.core.registration("ep").content_format is None  # nothing worked


def test_an_explicit_format_is_never_overridden() -> None:
    world = World()
    client = picky(world, {JSON}, b'</>;rt="oma.lwm2m";ct=110,</3/0>')
    outcome = world.outcome(world.core.send("ep", Read(Path.of(3, 0)), fmt=CBOR, now=world.now))
    assert isinstance(outcome, RequestCompleted)
    assert isinstance(outcome.response, ErrorResponse)
    assert outcome.response.code is Code.NOT_ACCEPTABLE
    outcome = world.outcome(world.core.send("ep", Read(Path.of(3, 0), TLV), now=world.now))
    assert isinstance(outcome.response, ErrorResponse)
    assert accepts(client) == [CBOR, TLV]
    assert world.core.registration("ep").content_format == JSON  # type: ignore[union-attr]


def restarted(world: World, store: MemoryStore) -> ServerCore:
    core = ServerCore(world.config, random.Random(3), lambda: EPOCH + world.now, store=store)
    core.restore(store.registrations.all(), (), (), world.now)
    return core


def test_a_learned_format_survives_a_restart_with_its_registration() -> None:
    world = World()
    picky(world, {TLV}, b"</3/0>")
    read(world)  # learns TLV
    assert isinstance(world.core.store, MemoryStore)
    core = restarted(world, world.core.store)
    assert core.registration("ep").content_format == TLV  # type: ignore[union-attr]


def test_a_store_without_formats_still_restores_the_announced_one() -> None:
    world = World()
    picky(world, {JSON}, b'</>;rt="oma.lwm2m";ct=110,</3/0>')
    registration = world.core.registration("ep")
    assert registration is not None and registration.content_format == JSON
    store = MemoryStore()
    store.registrations.put(replace(registration, content_format=None))
    core = restarted(world, store)
    assert core.registration("ep").content_format == JSON  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "op",
    [
        ReadComposite((Path.of(3, 0, 0),)),
        ObserveComposite((Path.of(3, 0, 0),)),
        WriteComposite({Path.of(3, 0, 0): "x"}),
    ],
)
def test_composites_to_a_1_0_client_are_refused_before_anything_is_sent(op: object) -> None:
    world = World()
    client = picky(world, {TLV}, b"</3/0>", version="1.0")
    with pytest.raises(OperationUsageError, match=r"needs LwM2M 1\.1"):
        world.core.send("ep", op, now=world.now)  # type: ignore[arg-type]
    world.run(1.0)
    assert client.requests == [] and not world.outcomes


def test_1_0_clients_keep_their_formats_and_never_fall_back() -> None:
    world = World()
    client = picky(world, {JSON}, b"</3/0>", version="1.0")
    outcome = world.outcome(world.core.send("ep", Read(Path.of(3, 0)), now=world.now))
    assert isinstance(outcome.response, ErrorResponse)
    assert accepts(client) == [TLV]


def test_values_response_formats_are_reported() -> None:
    world = World()
    picky(world, {JSON}, b'</>;rt="oma.lwm2m";ct=110,</3/0>')
    paths = (Path.of(3, 0, 0), Path.of(3, 0, 9))
    outcome = world.outcome(world.core.send("ep", ReadComposite(paths), now=world.now))
    assert isinstance(outcome, RequestCompleted)
    assert isinstance(outcome.response, ValuesResponse)
    assert outcome.response.content_format == JSON
