"""Bad input to the registration interface: the right 4.xx, no crash, nobody else touched."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec.base import ContentFormat
from lwm2m.server import ServerConfig
from tests.protocol.test_server_harness import FAST, World

CON_GET_RD = Message(Type.CON, Code.GET, 1, b"t", Options.build(uri_path=("rd",))).encode()


def bystander(world: World) -> None:
    client = world.client(("198.51.100.1", 1))
    assert client.register("bystander").code is Code.CREATED


def untouched(world: World) -> None:
    reg = world.core.registration("bystander")
    assert reg is not None and reg.lifetime == 300
    assert len(world.core) == 1


@pytest.mark.parametrize(
    ("query", "payload", "code"),
    [
        (("lt=300",), None, Code.BAD_REQUEST),  # no ep
        (("ep=",), None, Code.BAD_REQUEST),
        (("ep",), None, Code.BAD_REQUEST),
        (("ep=x", "lt=0"), None, Code.BAD_REQUEST),
        (("ep=x", "lt=-1"), None, Code.BAD_REQUEST),
        (("ep=x", "lt=99999999999999999999"), None, Code.BAD_REQUEST),
        (("ep=x", "lt=ten"), None, Code.BAD_REQUEST),
        (("ep=x", "lwm2m=9.9"), None, Code.PRECONDITION_FAILED),
        (("ep=x", "lwm2m=1"), None, Code.BAD_REQUEST),
        (("ep=x", "b=X"), None, Code.BAD_REQUEST),
        (("ep=x", "sms=abc"), None, Code.BAD_REQUEST),
        (("ep=x", "ep=y"), None, Code.BAD_REQUEST),
        (("ep=x", "Q=1"), None, Code.BAD_REQUEST),
        (("ep=x\x01",), None, Code.BAD_REQUEST),
        (("ep=x",), b"", Code.BAD_REQUEST),  # no object list
        (("ep=x",), b"</1/0", Code.BAD_REQUEST),
        (("ep=x",), b"<1/0>", Code.BAD_REQUEST),
        (("ep=x",), b"</abc>", Code.BAD_REQUEST),
        (("ep=x",), b"</1/0/1>", Code.BAD_REQUEST),
        (("ep=x",), b"\xff\xfe", Code.BAD_REQUEST),
        (("ep=x",), b'</a>;rt="oma.lwm2m",</b>;rt="oma.lwm2m"', Code.BAD_REQUEST),
        (
            ("ep=x",),
            b",".join(b"</%d/0>" % i for i in range(10_000)),
            Code.REQUEST_ENTITY_TOO_LARGE,
        ),
        (("ep=x",), b",".join([b"</1>"] * 5000), Code.REQUEST_ENTITY_TOO_LARGE),  # by count
    ],
)
def test_malformed_registers_get_the_right_code(
    query: tuple[str, ...], payload: bytes | None, code: Code
) -> None:
    world = World()
    bystander(world)
    client = world.client()
    body = b"</1/0>" if payload is None else payload
    response = client.ask(Code.POST, ("rd",), query, body, ContentFormat.LINK)
    assert response.code is code, response.payload
    untouched(world)


def test_huge_payloads_are_refused_whole_or_in_blocks() -> None:
    world = World(ServerConfig(coap=FAST))
    bystander(world)
    client = world.client()
    huge = b"</1/0>," * 40_000  # 280 KB: Block1 from our endpoint
    response = client.ask(Code.POST, ("rd",), ("ep=x",), huge[:-1], ContentFormat.LINK)
    assert response.code is Code.REQUEST_ENTITY_TOO_LARGE
    untouched(world)


def test_wrong_methods_and_paths() -> None:
    world = World()
    bystander(world)
    client = world.client()
    assert client.ask(Code.GET, ("rd",)).code is Code.METHOD_NOT_ALLOWED
    assert client.ask(Code.PUT, ("rd", "x")).code is Code.METHOD_NOT_ALLOWED
    assert client.ask(Code.GET, ("3", "0")).code is Code.NOT_FOUND
    assert client.ask(Code.POST, ("bs",), ("ep=x",)).code is Code.NOT_FOUND
    assert client.ask(Code.POST, ()).code is Code.NOT_FOUND
    assert client.ask(Code.GET, ("dp",)).code is Code.METHOD_NOT_ALLOWED
    untouched(world)


def test_garbage_datagrams_never_raise() -> None:
    world = World()
    bystander(world)
    rng = random.Random(5)
    for n in range(2000):
        size = rng.randrange(0, 64)
        data = bytes(rng.getrandbits(8) for _ in range(size))
        world.core.receive(data, ("203.0.113.9", n), world.now)
    world.core.receive(CON_GET_RD[:3], ("203.0.113.9", 1), world.now)
    world.run(1.0)
    untouched(world)


@given(
    query=st.lists(
        st.text(alphabet=st.sampled_from("ep=ltwm2bQsx0123456789.+@:\x00é"), max_size=20),
        max_size=8,
    ),
    payload=st.binary(max_size=200) | st.sampled_from([b"</1/0>", b'</>;rt="oma.lwm2m"']),
)
def test_fuzzed_registers_get_2_01_or_4_xx(query: list[str], payload: bytes) -> None:
    world = World()
    peer = ("192.0.2.50", 5683)
    message = Message(
        Type.NON,
        Code.POST,
        7,
        b"tok",
        Options.build(uri_path=("rd",), uri_query=tuple(query), content_format=40),
        payload,
    )
    world.core.receive(message.encode(), peer, world.now)
    (reply, destination), *_ = world.core.datagrams_to_send()
    assert destination == peer
    code = Message.decode(reply).code
    assert code is Code.CREATED or 0x80 <= code < 0xA0, code
    assert len(world.core) == (1 if code is Code.CREATED else 0)
