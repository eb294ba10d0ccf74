"""Device Management requests from the server core: wire format, formats, typed answers."""

from __future__ import annotations

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.model import ObjectInstance, Path, SingleResource
from lwm2m.operations import (
    Create,
    CreatedResponse,
    Delete,
    Discover,
    EmptyResponse,
    ErrorResponse,
    Execute,
    ExecuteArgument,
    LinksResponse,
    NodeResponse,
    NotificationAttributes,
    OperationUsageError,
    Read,
    ReadComposite,
    ValuesResponse,
    Write,
    WriteAttributes,
    WriteComposite,
)
from lwm2m.server import (
    RequestAborted,
    RequestCompleted,
    RequestFailedError,
    RequestTimeoutError,
    UnknownEndpointError,
)
from tests.protocol.test_server_harness import Answer, Client, World

DEVICE = ObjectInstance(0, {0: SingleResource(0, "Telekom"), 9: SingleResource(9, 87)})


def device(world: World, version: str = "1.1", payload: bytes | None = None) -> Client:
    """A client serving /3/0 in whatever format it is asked for (SenML CBOR by default)."""

    def handler(request: Message) -> Answer:
        cf = request.options.accept
        segments = request.options.uri_path
        path = Path.from_segments(segments[1:] if segments[:1] == ("lwm2m",) else segments)
        if cf is None:
            cf = ContentFormat.TEXT if path == Path.of(3, 0, 0) else ContentFormat.SENML_CBOR
        node = DEVICE if path.is_instance else DEVICE.resources[path.ids[-1]]
        body = world.codecs.get(cf).encode(path, node, world.models)
        return Code.CONTENT, Options.build(content_format=cf), body

    client = world.client(handler=handler)
    query = ("lt=300", f"lwm2m={version}")
    assert (
        client.register("ep", query, *(() if payload is None else (payload,))).code is Code.CREATED
    )
    return client


def completed(world: World, request_id: int) -> object:
    outcome = world.outcome(request_id)
    assert isinstance(outcome, RequestCompleted), outcome
    return outcome.response


def test_read_asks_for_senml_cbor_from_a_1_1_client() -> None:
    world = World()
    client = device(world)
    response = completed(world, world.core.send("ep", Read(Path.of(3, 0)), now=world.now))
    assert isinstance(response, NodeResponse)
    assert response.node == DEVICE and response.content_format == ContentFormat.SENML_CBOR
    (request,) = client.requests
    assert request.code is Code.GET and request.options.uri_path == ("3", "0")
    assert request.options.accept == ContentFormat.SENML_CBOR


def test_a_1_0_client_gets_tlv_for_structures_and_no_accept_for_single_values() -> None:
    world = World()
    client = device(world, "1.0")
    first = completed(world, world.core.send("ep", Read(Path.of(3, 0)), now=world.now))
    second = completed(world, world.core.send("ep", Read(Path.of(3, 0, 0)), now=world.now))
    assert [r.options.accept for r in client.requests] == [ContentFormat.TLV, None]
    assert isinstance(first, NodeResponse) and first.node == DEVICE
    assert isinstance(second, NodeResponse)
    assert second.node == SingleResource(0, "Telekom") and second.content_format == 0


def test_the_callers_format_wins() -> None:
    world = World()
    client = device(world, "1.0")
    fmt = ContentFormat.SENML_JSON
    response = completed(world, world.core.send("ep", Read(Path.of(3, 0)), fmt=fmt, now=world.now))
    assert client.requests[0].options.accept == fmt
    assert isinstance(response, NodeResponse) and response.content_format == fmt


def test_requests_go_under_the_alternate_path() -> None:
    world = World()
    client = device(world, payload=b'</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>')
    completed(world, world.core.send("ep", Read(Path.of(3, 0, 9)), now=world.now))
    assert client.requests[0].options.uri_path == ("lwm2m", "3", "0", "9")


def recorder(world: World, answer: Answer) -> Client:
    client = world.client(handler=lambda _: answer)
    client.register("ep", ("lwm2m=1.1",))
    return client


@pytest.mark.parametrize(
    ("op", "answer", "method", "expected"),
    [
        (
            Write(Path.of(3, 0, 14), SingleResource(14, "+02:00")),
            (Code.CHANGED, Options(), b""),
            Code.PUT,
            EmptyResponse(),
        ),
        (
            Write(Path.of(3, 0), ObjectInstance(0, {14: SingleResource(14, "+02")}), partial=True),
            (Code.CHANGED, Options(), b""),
            Code.POST,
            EmptyResponse(),
        ),
        (
            Execute(Path.of(3, 0, 4), (ExecuteArgument(0, "x"), ExecuteArgument(1))),
            (Code.CHANGED, Options(), b""),
            Code.POST,
            EmptyResponse(),
        ),
        (
            Create(1, (ObjectInstance(2, {1: SingleResource(1, 300)}),)),
            (Code.CREATED, Options(), b""),
            Code.POST,
            CreatedResponse(None),
        ),
        (Delete(Path.of(1, 2)), (Code.DELETED, Options(), b""), Code.DELETE, EmptyResponse()),
        (
            WriteAttributes(Path.of(3, 0, 9), NotificationAttributes(pmin=10, pmax=60)),
            (Code.CHANGED, Options(), b""),
            Code.PUT,
            EmptyResponse(),
        ),
        (
            Delete(Path.of(3, 0)),
            (Code.METHOD_NOT_ALLOWED, Options(), b"no"),
            Code.DELETE,
            ErrorResponse(Code.METHOD_NOT_ALLOWED, "no"),
        ),
    ],
)
def test_operations_map_to_coap_and_back(
    op: object, answer: Answer, method: Code, expected: object
) -> None:
    world = World()
    client = recorder(world, answer)
    response = completed(world, world.core.send("ep", op, now=world.now))  # type: ignore[arg-type]
    assert response == expected
    assert client.requests[0].code is method


def test_write_bodies_use_senml_cbor_for_1_1_and_text_tlv_opaque_for_1_0() -> None:
    formats = []
    for version in ("1.1", "1.0"):
        world = World()
        client = world.client(
            handler=lambda r: (
                Code.CREATED if r.options.uri_path == ("1",) else Code.CHANGED,
                Options(),
                b"",
            )
        )
        client.register("ep", (f"lwm2m={version}",))
        for op in (
            Write(Path.of(3, 0, 14), SingleResource(14, "+02:00")),
            Write(Path.of(5, 0, 0), SingleResource(0, b"\x00\x01")),
            Write(Path.of(3, 0), ObjectInstance(0, {14: SingleResource(14, "+02")})),
            Create(1, (ObjectInstance(2, {1: SingleResource(1, 300)}),)),
        ):
            completed(world, world.core.send("ep", op, now=world.now))  # type: ignore[arg-type]
        formats.append([r.options.content_format for r in client.requests])
    assert formats == [[112, 112, 112, 112], [0, 42, 11542, 11542]]


def test_discover_and_composites() -> None:
    world = World()
    links = b"</3/0>,</3/0/0>,</3/0/9>;pmax=60"
    values = {Path.of(3, 0, 0): "Telekom", Path.of(3, 0, 9): 87}
    senml = world.codecs.get(ContentFormat.SENML_CBOR).encode_values(values, world.models)

    def handler(request: Message) -> Answer:
        if request.options.accept == ContentFormat.LINK:
            return Code.CONTENT, Options.build(content_format=40), links
        if request.code is Code.FETCH:
            return Code.CONTENT, Options.build(content_format=112), senml
        return Code.CHANGED, Options(), b""

    client = world.client(handler=handler)
    client.register("ep")
    discovered = completed(world, world.core.send("ep", Discover(Path.of(3), 2), now=world.now))
    assert isinstance(discovered, LinksResponse) and len(discovered.links) == 3
    read = completed(
        world, world.core.send("ep", ReadComposite((Path.of(3, 0, 0), Path.of(3, 0, 9))), now=0)
    )
    assert isinstance(read, ValuesResponse) and read.values == values
    written = completed(world, world.core.send("ep", WriteComposite(values), now=world.now))
    assert written == EmptyResponse()
    discover, fetch, ipatch = client.requests
    assert discover.options.uri_query == ("depth=2",)
    assert fetch.code is Code.FETCH and fetch.options.uri_path == ()
    assert fetch.options.accept == fetch.options.content_format == 112
    assert ipatch.code is Code.IPATCH and ipatch.options.content_format == 112


def test_local_mistakes_raise_before_anything_is_sent() -> None:
    world = World()
    client = recorder(world, (Code.CHANGED, Options(), b""))
    with pytest.raises(UnknownEndpointError):
        world.core.send("nobody", Read(Path.of(3, 0)), now=world.now)
    with pytest.raises(OperationUsageError):
        world.core.send("ep", Execute(Path.of(3, 0)), now=world.now)  # not a resource
    with pytest.raises(OperationUsageError):
        op = Write(Path.of(3, 0, 14), SingleResource(14, "+02"))
        world.core.send("ep", op, fmt=9999, now=world.now)  # no such codec
    world.flush()
    assert client.requests == [] and world.outcomes == {}


def test_silence_is_a_timeout_and_rst_a_failure() -> None:
    world = World()
    client = recorder(world, (Code.CHANGED, Options(), b""))
    client.listening = False
    outcome = world.outcome(world.core.send("ep", Read(Path.of(3, 0)), now=world.now))
    assert isinstance(outcome, RequestAborted)
    assert isinstance(outcome.error, RequestTimeoutError)
    request_id = world.core.send("ep", Read(Path.of(3, 0)), now=world.now)
    world.flush()
    data = world._flight[-1][1]
    rst = Message(Type.RST, Code.EMPTY, Message.decode(data).message_id, b"").encode()
    world.core.receive(rst, client.peer, world.now)
    outcome = world.outcome(request_id)
    assert isinstance(outcome, RequestAborted)
    assert type(outcome.error) is RequestFailedError


def test_an_undecodable_response_fails_the_request() -> None:
    world = World()
    recorder(world, (Code.CONTENT, Options.build(content_format=112), b"\xff\x00garbage"))
    outcome = world.outcome(world.core.send("ep", Read(Path.of(3, 0)), now=world.now))
    assert isinstance(outcome, RequestAborted)
    assert isinstance(outcome.error, RequestFailedError)


def test_cancel_stops_waiting_without_an_outcome() -> None:
    world = World()
    client = recorder(world, (Code.CHANGED, Options(), b""))
    client.listening = False
    request_id = world.core.send("ep", Read(Path.of(3, 0)), now=world.now)
    world.core.cancel(request_id, world.now)
    world.run(300.0)
    assert request_id not in world.outcomes


def test_requests_follow_the_client_to_its_new_address() -> None:
    world = World()
    old = recorder(world, (Code.DELETED, Options(), b""))
    moved = world.client(("10.9.9.9", 7), handler=lambda _: (Code.DELETED, Options(), b""))
    moved.location = old.location
    moved.update()
    completed(world, world.core.send("ep", Delete(Path.of(1, 2)), now=world.now))
    assert len(moved.requests) == 1 and old.requests == []
