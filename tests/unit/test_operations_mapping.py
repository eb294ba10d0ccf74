"""Every operation through CoAP and back, and the codes bad requests get."""

from __future__ import annotations

import time

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec.base import CodecRegistry, ContentFormat
from lwm2m.codec.link import parse_links
from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.codec.tlv import TlvCodec
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    ObjectInstance,
    ObjectModel,
    Operations,
    Path,
    ResourceInstance,
    ResourceModel,
    ResourceType,
    SingleResource,
    TimestampedValues,
)
from lwm2m.operations import (
    UNSET,
    BootstrapFinish,
    BootstrapRequest,
    CoapParts,
    Create,
    CreatedResponse,
    Delete,
    Deregister,
    Discover,
    EmptyResponse,
    ErrorResponse,
    Execute,
    ExecuteArgument,
    LinksResponse,
    NodeResponse,
    NotificationAttributes,
    ObjectEntry,
    ObjectLinks,
    Observe,
    ObserveComposite,
    Operation,
    OperationError,
    OperationUsageError,
    Read,
    ReadComposite,
    Register,
    RegisteredResponse,
    Response,
    Send,
    Update,
    ValuesResponse,
    Write,
    WriteAttributes,
    WriteComposite,
    decode_request,
    decode_response,
    encode_error,
    encode_request,
    encode_response,
    success_code,
)

T, R, RW, E = ResourceType, Operations.R, Operations.RW, Operations.E


def _obj(oid: int, *resources: tuple[int, Operations, ResourceType, bool]) -> ObjectModel:
    models = {
        rid: ResourceModel(rid, f"r{rid}", ops, multi, False, rt)
        for rid, ops, rt, multi in resources
    }
    return ObjectModel(oid, f"o{oid}", True, False, models, "1.1", "1.1")


MODELS = ModelRegistry(
    [
        _obj(1, (0, R, T.INTEGER, False), (1, RW, T.UNSIGNED_INTEGER, False)),
        _obj(
            3,
            (0, R, T.STRING, False),
            (4, E, T.NONE, False),
            (7, R, T.INTEGER, True),
            (9, R, T.INTEGER, False),
            (13, RW, T.TIME, False),
            (14, RW, T.STRING, False),
        ),
        _obj(3303, (5700, R, T.FLOAT, False), (5701, R, T.STRING, False)),
    ]
)
CODECS = CodecRegistry([SenmlJsonCodec(time.time), SenmlCborCodec(time.time), TlvCodec()])
P = Path.parse

DEVICE = ObjectInstance(
    0,
    {
        0: SingleResource(0, "Open Mobile Alliance"),
        7: MultipleResource(7, {0: 3800, 1: 5000}),
        14: SingleResource(14, "+02:00"),
    },
)
OBJECTS = ObjectLinks(
    (ObjectEntry(1, instances=(0,)), ObjectEntry(3, "1.1", (0,)), ObjectEntry(5)),
    content_formats=(110, 112),
)

REQUESTS: list[Operation] = [
    Register(
        "urn:imei:490154203237518",
        OBJECTS,
        lifetime=3600,
        binding="U",
        queue_mode=True,
        sms="+491701234567",
        extra=("apn=iot.example",),
    ),
    Register("device@realm.example", ObjectLinks((ObjectEntry(3, instances=(0,)),), "/lwm2m")),
    Register("urn:imsi:262011234567890", OBJECTS, lifetime=1, lwm2m_version="1.0"),
    Update(("rd", "a1b2"), lifetime=600),
    Update(("rd", "a1b2")),
    Update(("rd", "a1b2"), binding="UQ", sms="4912345", objects=OBJECTS),
    Deregister(("rd", "a1b2")),
    BootstrapRequest("urn:uuid:2d3c8f62-2c4f-4f3b-9d64-3c1ff1f2f9aa", preferred_format=112),
    BootstrapRequest("ep1"),
    BootstrapFinish(),
    Send(
        (
            TimestampedValues(1_700_000_000.0, {P("/3303/0/5700"): 21.5}),
            TimestampedValues(1_700_000_060.0, {P("/3303/0/5700"): 22.0}),
        )
    ),
    Read(P("/3/0"), accept=110),
    Read(P("/3/0/0")),
    Read(P("/3")),
    Discover(P("/3")),
    Discover(P("/3/0"), depth=2),
    Write(P("/3/0/14"), SingleResource(14, "+01:00")),
    Write(P("/3/0"), DEVICE),
    Write(P("/3/0"), ObjectInstance(0, {14: SingleResource(14, "Z")}), partial=True),
    Write(P("/3/0/7/1"), ResourceInstance(1, 4200)),
    Write(P("/3/0/7"), MultipleResource(7, {0: 3800, 1: 5000}), partial=True),
    WriteAttributes(P("/3303/0/5700"), NotificationAttributes(pmin=10, pmax=60, gt=30.5)),
    WriteAttributes(P("/3303/0"), NotificationAttributes(pmin=UNSET, epmax=5)),
    Execute(P("/3/0/4")),
    Execute(P("/3/0/4"), (ExecuteArgument(0, "abc"), ExecuteArgument(1))),
    Create(3303, (ObjectInstance(5, {5700: SingleResource(5700, 1.5)}),)),
    Create(
        3303,
        (
            ObjectInstance(5, {5701: SingleResource(5701, "Cel")}),
            ObjectInstance(6, {5701: SingleResource(5701, "K")}),
        ),
    ),
    Delete(P("/3303/5")),
    ReadComposite((P("/3/0/0"), P("/3303/0")), accept=112),
    ReadComposite((P("/3/0/14"),)),
    WriteComposite({P("/3/0/14"): "+02:00", P("/1/0/1"): 300}),
    Observe(P("/3303/0/5700"), accept=112),
    Observe(P("/3303/0/5700"), cancel=True),
    ObserveComposite((P("/3303/0/5700"), P("/3/0/9")), accept=110),
    ObserveComposite((P("/3303/0/5700"),), cancel=True),
]


def _id(op: object) -> str:
    return type(op).__name__


@pytest.mark.parametrize("op", REQUESTS, ids=_id)
def test_request_round_trip(op: Operation) -> None:
    parts = encode_request(op, CODECS, MODELS)
    assert decode_request(parts, CODECS, MODELS) == op


@pytest.mark.parametrize("op", REQUESTS, ids=_id)
def test_request_round_trip_under_alternate_path(op: Operation) -> None:
    parts = encode_request(op, CODECS, MODELS, root=("lwm2m",), fmt=ContentFormat.SENML_JSON)
    assert decode_request(parts, CODECS, MODELS, root=("lwm2m",)) == op


@pytest.mark.parametrize(
    "op",
    [
        Write(P("/3/0"), DEVICE),
        Write(P("/3/0/7/1"), ResourceInstance(1, 4200)),
        Create(3303, (ObjectInstance(5, {5700: SingleResource(5700, 1.5)}),)),
    ],
    ids=_id,
)
def test_tlv_bodies(op: Operation) -> None:
    parts = encode_request(op, CODECS, MODELS, fmt=ContentFormat.TLV)
    assert parts.options.content_format == ContentFormat.TLV
    assert decode_request(parts, CODECS, MODELS) == op


def test_decodes_a_received_message() -> None:
    parts = encode_request(Read(P("/3/0/0"), accept=110), CODECS, MODELS)
    message = Message(Type.CON, parts.code, 7, b"\x01", parts.options, parts.payload)
    assert decode_request(message, CODECS, MODELS) == Read(P("/3/0/0"), accept=110)


@pytest.mark.parametrize(
    ("op", "method", "path", "query"),
    [
        (Read(P("/3/0/0")), Code.GET, ("3", "0", "0"), ()),
        (Discover(P("/3")), Code.GET, ("3",), ()),
        (Write(P("/3/0/14"), SingleResource(14, "x")), Code.PUT, ("3", "0", "14"), ()),
        (Write(P("/3/0"), DEVICE, partial=True), Code.POST, ("3", "0"), ()),
        (
            WriteAttributes(P("/3/0/9"), NotificationAttributes(pmin=10, pmax=60)),
            Code.PUT,
            ("3", "0", "9"),
            ("pmin=10", "pmax=60"),
        ),
        (Execute(P("/3/0/4")), Code.POST, ("3", "0", "4"), ()),
        (Delete(P("/3303/1")), Code.DELETE, ("3303", "1"), ()),
        (ReadComposite((P("/3/0/0"),)), Code.FETCH, (), ()),
        (WriteComposite({P("/3/0/14"): "x"}), Code.IPATCH, (), ()),
        (Observe(P("/3/0/9")), Code.GET, ("3", "0", "9"), ()),
        (Deregister(("rd", "x")), Code.DELETE, ("rd", "x"), ()),
        (BootstrapFinish(), Code.POST, ("bs",), ()),
        (BootstrapRequest("e", 110), Code.POST, ("bs",), ("ep=e", "pct=110")),
    ],
    ids=_id,
)
def test_coap_shape(
    op: Operation, method: Code, path: tuple[str, ...], query: tuple[str, ...]
) -> None:
    parts = encode_request(op, CODECS, MODELS)
    assert (parts.code, parts.options.uri_path, parts.options.uri_query) == (method, path, query)


def test_observe_and_discover_options() -> None:
    assert encode_request(Observe(P("/3/0/9")), CODECS, MODELS).options.observe == 0
    cancel = encode_request(Observe(P("/3/0/9"), cancel=True), CODECS, MODELS)
    assert cancel.options.observe == 1
    discover = encode_request(Discover(P("/3")), CODECS, MODELS)
    assert discover.options.accept == ContentFormat.LINK
    assert not discover.payload


def test_write_attributes_has_no_payload_or_format() -> None:
    op = WriteAttributes(P("/3/0/9"), NotificationAttributes(pmin=10))
    parts = encode_request(op, CODECS, MODELS)
    assert parts.payload == b""
    assert parts.options.content_format is None


# -- Responses ------------------------------------------------------------------------

LINKS = tuple(parse_links("</3/0>;pmin=10,</3/0/7>;dim=2,</3/0/14>"))

RESPONSES: list[tuple[Operation, Response]] = [
    (REQUESTS[0], RegisteredResponse(("rd", "5a3f"))),
    (Update(("rd", "5a3f")), EmptyResponse()),
    (Deregister(("rd", "5a3f")), EmptyResponse()),
    (BootstrapRequest("ep"), EmptyResponse()),
    (Read(P("/3/0"), accept=112), NodeResponse(DEVICE, 112)),
    (Read(P("/3/0/7/1"), accept=110), NodeResponse(ResourceInstance(1, 5000), 110)),
    (Observe(P("/3303/0/5700")), NodeResponse(SingleResource(5700, 21.5), 110, observe=12)),
    (ReadComposite((P("/3/0/14"),)), ValuesResponse({P("/3/0/14"): "Z"}, 112)),
    (
        ObserveComposite((P("/3/0/14"),), accept=110),
        ValuesResponse({P("/3/0/14"): "Z"}, 110, observe=3),
    ),
    (Discover(P("/3/0")), LinksResponse(LINKS)),
    (Create(3303, ()), CreatedResponse()),
    (Create(3303, ()), CreatedResponse(P("/3303/7"))),
    (Delete(P("/3303/7")), EmptyResponse()),
    (Execute(P("/3/0/4")), EmptyResponse()),
    (Write(P("/3/0/14"), SingleResource(14, "x")), EmptyResponse()),
    (Read(P("/3/0/5")), ErrorResponse(Code.NOT_FOUND, "no such resource")),
    (Register("e", OBJECTS), ErrorResponse(Code.PRECONDITION_FAILED)),
]


@pytest.mark.parametrize(("op", "response"), RESPONSES, ids=lambda x: type(x).__name__)
def test_response_round_trip(op: Operation, response: Response) -> None:
    parts = encode_response(op, response, CODECS, MODELS, fmt=ContentFormat.SENML_JSON)
    if not isinstance(response, ErrorResponse):
        assert parts.code == success_code(op)
    assert decode_response(op, parts, CODECS, MODELS) == response


def test_response_format_follows_accept_then_choice() -> None:
    read = Read(P("/3/0/14"), accept=ContentFormat.TLV)
    parts = encode_response(read, NodeResponse(SingleResource(14, "x")), CODECS, MODELS)
    assert parts.options.content_format == ContentFormat.TLV
    unasked = Read(P("/3/0/14"))
    parts = encode_response(unasked, NodeResponse(SingleResource(14, "x"), 110), CODECS, MODELS)
    assert parts.options.content_format == 110


def test_unsupported_accept_is_4_06() -> None:
    read = Read(P("/3/0/14"), accept=ContentFormat.TEXT)  # no text codec here
    with pytest.raises(OperationError) as info:
        encode_response(read, NodeResponse(SingleResource(14, "x")), CODECS, MODELS)
    assert info.value.code == Code.NOT_ACCEPTABLE


def test_format_that_cannot_carry_the_answer_is_4_06() -> None:
    read = ReadComposite((P("/3/0/14"),), accept=ContentFormat.TLV)
    with pytest.raises(OperationError) as info:
        encode_response(read, ValuesResponse({P("/3/0/14"): "x"}), CODECS, MODELS)
    assert info.value.code == Code.NOT_ACCEPTABLE


def test_wrong_response_type_is_a_usage_error() -> None:
    with pytest.raises(OperationUsageError):
        encode_response(Read(P("/3/0")), EmptyResponse(), CODECS, MODELS)


def test_encode_error_truncates_the_diagnostic() -> None:
    parts = encode_error(Code.BAD_REQUEST, "é" * 200)
    assert parts.code == Code.BAD_REQUEST
    assert len(parts.payload) <= 128
    parts.payload.decode()


@pytest.mark.parametrize(
    ("op", "code", "options", "payload"),
    [
        (Read(P("/3/0")), Code.CHANGED, Options(), b""),  # wrong success code
        (Register("e", OBJECTS), Code.CREATED, Options(), b""),  # no Location-Path
        (Read(P("/3/0")), Code.CONTENT, Options.build(content_format=110), b"{"),
        (Read(P("/3/0")), Code.CONTENT, Options.build(content_format=9999), b"x"),
        (Create(3303, ()), Code.CREATED, Options.build(location_path=("3", "0")), b""),
        (Create(3303, ()), Code.CREATED, Options.build(location_path=("x",)), b""),
        (Discover(P("/3")), Code.CONTENT, Options.build(content_format=40), b"\xff"),
    ],
)
def test_bad_responses_raise(op: Operation, code: Code, options: Options, payload: bytes) -> None:
    with pytest.raises(OperationError):
        decode_response(op, CoapParts(code, options, payload), CODECS, MODELS)


# -- Requests we refuse -----------------------------------------------------------------

SENML_JSON = ContentFormat.SENML_JSON


def _req(
    code: Code,
    path: tuple[str, ...],
    query: tuple[str, ...] = (),
    payload: bytes = b"",
    **fields: int | None,
) -> CoapParts:
    return CoapParts(code, Options.build(uri_path=path, uri_query=query, **fields), payload)


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_req(Code.PATCH, ("3", "0")), Code.METHOD_NOT_ALLOWED),
        (_req(Code.POST, ("3", "0", "7", "1"), content_format=SENML_JSON), Code.METHOD_NOT_ALLOWED),
        (_req(Code.POST, ()), Code.METHOD_NOT_ALLOWED),
        (_req(Code.FETCH, ("3", "0"), content_format=SENML_JSON), Code.METHOD_NOT_ALLOWED),
        (_req(Code.GET, ("rd",)), Code.METHOD_NOT_ALLOWED),
        (_req(Code.PUT, ("rd", "x")), Code.METHOD_NOT_ALLOWED),
        (_req(Code.DELETE, ("rd",)), Code.METHOD_NOT_ALLOWED),
        (_req(Code.GET, ("bs",)), Code.METHOD_NOT_ALLOWED),
        (_req(Code.GET, ("abc",)), Code.NOT_FOUND),
        (_req(Code.GET, ("3", "70000")), Code.NOT_FOUND),
        (_req(Code.GET, ("3", "0", "0", "0", "0")), Code.NOT_FOUND),
        (_req(Code.GET, ("3", "0"), ("foo=1",)), Code.BAD_REQUEST),
        (_req(Code.GET, ("3", "0"), observe=2), Code.BAD_REQUEST),
        (_req(Code.GET, ("3",), ("depth=5",), accept=40), Code.BAD_REQUEST),
        (_req(Code.GET, ("3",), ("depth=1", "x"), accept=40), Code.BAD_REQUEST),
        (_req(Code.PUT, ("3", "0", "14"), (), b'[{"n":"/3/0/14","vs":"x"}]'), Code.BAD_REQUEST),
        (
            _req(Code.PUT, ("3", "0", "14"), (), b"x", content_format=9999),
            Code.UNSUPPORTED_CONTENT_FORMAT,
        ),
        (_req(Code.PUT, ("3", "0", "14"), (), b"[", content_format=SENML_JSON), Code.BAD_REQUEST),
        (
            _req(
                Code.PUT, ("3", "0"), (), b'[{"n":"/3/1/14","vs":"x"}]', content_format=SENML_JSON
            ),
            Code.BAD_REQUEST,
        ),
        (_req(Code.PUT, ("3", "0", "9")), Code.BAD_REQUEST),  # nothing to write
        (_req(Code.PUT, ("3", "0", "9"), ("pmin=60", "pmax=10")), Code.BAD_REQUEST),
        (_req(Code.PUT, ("3", "0", "0"), ("gt=1",)), Code.BAD_REQUEST),  # string resource
        (_req(Code.PUT, (), ("pmin=1",)), Code.BAD_REQUEST),
        (_req(Code.POST, ("3", "0", "4"), (), b"0=abc"), Code.BAD_REQUEST),
        (_req(Code.POST, ("3303",), (), b"[]", content_format=SENML_JSON), Code.BAD_REQUEST),
        (_req(Code.FETCH, (), (), b"[]", content_format=SENML_JSON), Code.BAD_REQUEST),
        (_req(Code.FETCH, (), (), b'[{"n":"/3/0/0"}]'), Code.BAD_REQUEST),  # no format
        (
            _req(Code.FETCH, (), (), b'[{"n":"/3/0/0"}]', content_format=SENML_JSON, observe=7),
            Code.BAD_REQUEST,
        ),
        (_req(Code.IPATCH, (), (), b"[]", content_format=SENML_JSON), Code.BAD_REQUEST),
        (_req(Code.POST, ("dp",), (), b"[]"), Code.BAD_REQUEST),
        (_req(Code.POST, ("dp",), (), b"[]", content_format=SENML_JSON), Code.BAD_REQUEST),
        (_req(Code.POST, ("bs",), ("pct=112",)), Code.BAD_REQUEST),
        (_req(Code.POST, ("bs",), ("ep=x", "pct=abc")), Code.BAD_REQUEST),
        (_req(Code.POST, ("bs",), ("ep",)), Code.BAD_REQUEST),
        (_req(Code.POST, ("rd", "x"), ("lt=abc",)), Code.BAD_REQUEST),
        (_req(Code.POST, ("rd", "x"), ("lt=0",)), Code.BAD_REQUEST),
        (_req(Code.POST, ("rd", "x"), ("lt=99999999999",)), Code.BAD_REQUEST),
        (_req(Code.POST, ("rd", "x"), ("lt=1", "lt=2")), Code.BAD_REQUEST),
        (_req(Code.POST, ("rd", "x"), ("b=Z",)), Code.BAD_REQUEST),
    ],
)
def test_refused_requests(request_: CoapParts, code: Code) -> None:
    with pytest.raises(OperationError) as info:
        decode_request(request_, CODECS, MODELS)
    assert info.value.code == code


def test_dm_request_outside_the_alternate_path_is_4_04() -> None:
    with pytest.raises(OperationError) as info:
        decode_request(_req(Code.GET, ("3", "0")), CODECS, MODELS, root=("lwm2m",))
    assert info.value.code == Code.NOT_FOUND


def test_execute_with_text_format_is_still_execute() -> None:
    parts = _req(Code.POST, ("3", "0", "4"), (), b"1", content_format=ContentFormat.TEXT)
    assert decode_request(parts, CODECS, MODELS) == Execute(P("/3/0/4"), (ExecuteArgument(1),))


@pytest.mark.parametrize(
    "op",
    [
        Register("", OBJECTS),
        Register("e", ObjectLinks()),
        Register("e", OBJECTS, lwm2m_version="9.9"),
        Register("e", OBJECTS, lifetime=-1),
        Register("e\n", OBJECTS),
        Register("x" * 253, OBJECTS),
        Update(()),
        Deregister(()),
        Send(()),
        Execute(P("/3/0")),
        Write(P("/3/0"), SingleResource(0, "x")),
        Write(P("/3/0/14"), SingleResource(15, "x")),
        Write(P("/3/0/14"), SingleResource(14, "x"), partial=True),
        Update(("rd", "x" * 300)),
        WriteAttributes(P("/3/0/9"), NotificationAttributes()),
        WriteAttributes(P("/3/0/9"), NotificationAttributes(pmin=9, pmax=1)),
        Create(3303, ()),
        ReadComposite(()),
        WriteComposite({}),
        Discover(P("/3"), depth=7),
        BootstrapRequest(""),
        ReadComposite((P("/3/0/0"),)),
    ],
    ids=_id,
)
def test_local_mistakes_are_usage_errors(op: Operation) -> None:
    fmt = ContentFormat.TLV if isinstance(op, ReadComposite) and op.paths else None
    with pytest.raises(OperationUsageError):
        encode_request(op, CODECS, MODELS, fmt=fmt)
