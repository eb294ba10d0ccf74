"""The client serving hand-made device-management requests: formats, checks, errors."""

from __future__ import annotations

import random

import pytest

from lwm2m.client.objects import SimpleObject
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.model import Path, SingleResource, node_to_values
from tests.protocol.client_harness import T0, Harness, P

CODECS = default_codecs(lambda: T0)


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.start()
    return harness


def _values(h: Harness, path: str, payload: bytes, cf: int) -> dict[Path, object]:
    node = CODECS.get(cf).decode(payload, P(path), h.tree.models)
    return dict(node_to_values(P(path), node))


def test_read_single_resource_defaults_to_text(h: Harness) -> None:
    response = h.ask(Code.GET, "3/0/0")
    assert response.code is Code.CONTENT
    assert response.options.content_format == ContentFormat.TEXT
    assert response.payload == b"lwm2m project"


@pytest.mark.parametrize(
    "cf", [ContentFormat.TLV, ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, 11543, 11544]
)
def test_read_instance_in_the_accepted_format(h: Harness, cf: int) -> None:
    response = h.ask(Code.GET, "3/0", accept=cf)
    assert response.code is Code.CONTENT
    assert response.options.content_format == cf
    assert _values(h, "/3/0", response.payload, cf)[P("/3/0/0")] == "lwm2m project"


def test_read_instance_defaults_to_senml_cbor_for_1_1(h: Harness) -> None:
    response = h.ask(Code.GET, "3/0")
    assert response.options.content_format == ContentFormat.SENML_CBOR


def test_read_instance_defaults_to_tlv_for_1_0() -> None:
    from lwm2m.client.engine import ClientConfig

    h = Harness(config=ClientConfig(lwm2m_version="1.0"))
    h.start()
    register = h.server.of("rd")[0].message
    assert "lwm2m=1.0" in register.options.uri_query
    assert b"oma.lwm2m" not in register.payload
    response = h.ask(Code.GET, "3/0")
    assert response.options.content_format == ContentFormat.TLV


def test_unsupported_accept_is_4_06(h: Harness) -> None:
    assert h.ask(Code.GET, "3/0", accept=1234).code is Code.NOT_ACCEPTABLE
    # text cannot carry an instance
    assert h.ask(Code.GET, "3/0", accept=ContentFormat.TEXT).code is Code.NOT_ACCEPTABLE


def test_write_read_only_resource_is_4_05(h: Harness) -> None:
    response = h.ask(Code.PUT, "3/0/0", payload=b"x", content_format=ContentFormat.TEXT)
    assert response.code is Code.METHOD_NOT_ALLOWED


def test_security_object_is_4_01(h: Harness) -> None:
    assert h.ask(Code.GET, "0/0").code is Code.UNAUTHORIZED
    assert h.ask(Code.GET, "0").code is Code.UNAUTHORIZED


@pytest.mark.parametrize("path", ["42", "3/7", "3/0/4242", "3/0/6/9"])
def test_absent_is_4_04(h: Harness, path: str) -> None:
    assert h.ask(Code.GET, path).code is Code.NOT_FOUND


def test_write_then_read(h: Harness) -> None:
    response = h.ask(Code.PUT, "1/0/1", payload=b"600", content_format=ContentFormat.TEXT)
    assert response.code is Code.CHANGED
    assert h.ask(Code.GET, "1/0/1").payload == b"600"


def test_execute_and_create_delete(h: Harness) -> None:
    assert h.ask(Code.POST, "3/0/4").code is Code.CHANGED  # Reboot: passed up as a request
    payload = CODECS.get(ContentFormat.SENML_CBOR).encode_values(
        {P("/19/1/3"): "made by the server"}, h.tree.models
    )
    created = h.ask(Code.POST, "19", payload=payload, content_format=ContentFormat.SENML_CBOR)
    assert created.code is Code.CREATED
    assert h.ask(Code.GET, "19/1/3").payload == b"made by the server"
    assert h.ask(Code.DELETE, "19/1").code is Code.DELETED
    assert h.ask(Code.GET, "19/1").code is Code.NOT_FOUND


def test_composite_read_and_write(h: Harness) -> None:
    senml = CODECS.get(ContentFormat.SENML_CBOR)
    response = h.ask(
        Code.FETCH,
        payload=senml.encode_paths([P("/3/0/0"), P("/1/0/1"), P("/77/0/0")]),
        content_format=ContentFormat.SENML_CBOR,
    )
    assert response.code is Code.CONTENT
    assert response.options.content_format == ContentFormat.SENML_CBOR
    values = senml.decode_values(response.payload, h.tree.models)
    assert values == {P("/3/0/0"): "lwm2m project", P("/1/0/1"): 300}
    write = senml.encode_values({P("/1/0/1"): 900, P("/1/0/3"): 1200}, h.tree.models)
    assert h.ask(Code.IPATCH, payload=write, content_format=112).code is Code.CHANGED
    assert h.ask(Code.GET, "1/0/3").payload == b"1200"


def test_discover_shows_attributes(h: Harness) -> None:
    assert h.ask(Code.PUT, "3/0/9", uri_query=("pmin=10", "gt=50")).code is Code.CHANGED
    assert h.ask(Code.PUT, "3/0", uri_query=("pmax=60",)).code is Code.CHANGED
    response = h.ask(Code.GET, "3/0", accept=ContentFormat.LINK)
    assert response.code is Code.CONTENT
    text = response.payload.decode()
    assert "</3/0>;pmax=60" in text
    assert "</3/0/9>;pmin=10;gt=50.0" in text
    assert "</3/0/6>;dim=1" in text
    # removing an attribute
    assert h.ask(Code.PUT, "3/0/9", uri_query=("gt",)).code is Code.CHANGED
    text = h.ask(Code.GET, "3/0/9", accept=ContentFormat.LINK).payload.decode()
    assert text == "</3/0/9>;pmin=10"


def test_write_attributes_errors(h: Harness) -> None:
    assert h.ask(Code.PUT, "3/0/0", uri_query=("gt=5",)).code is Code.BAD_REQUEST
    assert h.ask(Code.PUT, "3/0/9", uri_query=("pmin=9", "pmax=2")).code is Code.BAD_REQUEST
    assert h.ask(Code.PUT, "3/9", uri_query=("pmin=9",)).code is Code.NOT_FOUND
    assert h.ask(Code.PUT, "3/0", uri_query=("bogus=1",)).code is Code.BAD_REQUEST


def test_registration_requests_to_the_client_are_refused(h: Harness) -> None:
    assert h.ask(Code.POST, "rd", uri_query=("ep=x",), payload=b"</1>").code.is_error
    assert h.ask(Code.POST, "dp").code.is_error


def test_unknown_peer_is_4_01(h: Harness) -> None:
    request = Message(Type.CON, Code.GET, 0x1234, b"tk", Options.build(uri_path=("3", "0", "0")))
    h.engine.receive(request.encode(), ("192.0.2.1", 5683), h.now)
    [(data, peer)] = h.engine.datagrams_to_send()
    response = Message.decode(data)
    assert peer == ("192.0.2.1", 5683)
    assert (response.type, response.code, response.token) == (Type.ACK, Code.UNAUTHORIZED, b"tk")


def test_bad_requests_never_crash(h: Harness) -> None:
    rng = random.Random(7)
    paths = ["", "3", "3/0", "3/0/0", "1/0/8", "0", "x/y", "3/0/0/0/0", "65536"]
    codes = [Code.GET, Code.PUT, Code.POST, Code.DELETE, Code.FETCH, Code.IPATCH]
    formats = [None, 0, 42, 60, 110, 112, 11542, 11543, 11544, 40, 9999]
    for _ in range(300):
        payload = rng.randbytes(rng.randrange(0, 40))
        h.server.request(
            rng.choice(codes),
            rng.choice(paths),
            payload=payload,
            content_format=rng.choice(formats),
            accept=rng.choice(formats),
        )
        h.run(h.now + 0.2)
    # garbage datagrams straight at the engine
    for _ in range(200):
        h.engine.receive(rng.randbytes(rng.randrange(0, 30)), h.server.address, h.now)
    h.run(h.now + 10)
    assert h.ask(Code.GET, "3/0/0").payload == b"lwm2m project"


def test_device_code_bug_is_5_00() -> None:
    h = Harness()
    obj = h.tree.object(19)
    assert isinstance(obj, SimpleObject)

    def broken(instance_id: int) -> str:
        raise RuntimeError("boom")

    obj._readers[3] = broken  # device code with a bug
    h.start()
    assert h.ask(Code.GET, "19/0/3").code is Code.INTERNAL_SERVER_ERROR
    assert isinstance(h.tree.read(P("/3/0/0"), server_id=1), SingleResource)
