"""Operation vectors: LwM2M requests as CoAP parts, decoded to typed operations and back.

Each request is written as it goes on the wire (method, Uri-Path, Uri-Query, Content-Format,
Accept, Observe, payload) and must decode to the typed operation and encode back to the same
CoAP parts.  What each vector rests on:

* Payloads from the spec: the Read-Composite request body is Core 1.1
  (OMA-TS-LightweightM2M_Core-V1_1-20180710-A) Table 7.4.4-6 and the Write-Composite body is
  Table 7.4.4-8, both as quoted by table number in Eclipse Wakaama
  ``tests/data_senml_json_tests.c``.  The Register payload object list
  ``</1/101>,</1/102>,</2/0>..`` with a root link ``</>;rt="oma.lwm2m";ct=..`` is the Core
  registration example's shape as Eclipse Leshan's link-parser tests reproduce it
  (``</>;rt="oma.lwm2m";ct=100, </1/101>,</1/102>, </2/0>, </2/1>``); the rest of that list and
  the ``ct`` value are ours.
* The method/URI mapping of every operation (Register POST /rd?ep&lt&lwm2m&b&Q, Update POST
  on the location, De-register DELETE, Bootstrap-Request POST /bs?ep&pct, Read/Discover/Observe
  GET, Write-Attributes PUT with the attributes as Uri-Query, Execute POST with the argument
  list as payload, Read-Composite FETCH, Write-Composite iPATCH) is that of the operation tables
  of OMA-TS-LightweightM2M_Transport-V1_1 §6 (CoAP binding) and Core 1.1 §6 (interfaces).
  NOT VERIFIED against the spec text: neither document's body was readable from here, so the
  section numbers are as the project has them and endpoint names, lifetimes, location paths and
  attribute values are ours ("values ours" in the ids).
* The refusal table (second half) is our policy: 4.00 for malformed registrations, 4.12 for an
  unsupported ``lwm2m=`` version, 4.13 for object lists past our bound.
"""

from __future__ import annotations

import time

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.options import Options
from lwm2m.codec.base import CodecRegistry, ContentFormat
from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.codec.tlv import TlvCodec
from lwm2m.model import Path, SingleResource
from lwm2m.model.builtin import builtin_models
from lwm2m.operations import (
    BootstrapRequest,
    CoapParts,
    Deregister,
    Discover,
    Execute,
    ExecuteArgument,
    LinksResponse,
    NodeResponse,
    NotificationAttributes,
    ObjectEntry,
    ObjectLinks,
    Observe,
    Operation,
    OperationError,
    Read,
    ReadComposite,
    Register,
    RegisteredResponse,
    Update,
    WriteAttributes,
    WriteComposite,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

MODELS = builtin_models()
CODECS = CodecRegistry([SenmlJsonCodec(time.time), SenmlCborCodec(time.time), TlvCodec()])
P = Path.parse
LINK = ContentFormat.LINK
SENML_JSON = ContentFormat.SENML_JSON


def _req(
    code: Code,
    path: tuple[str, ...],
    query: tuple[str, ...] = (),
    payload: bytes = b"",
    *,
    content_format: int | None = None,
    accept: int | None = None,
    observe: int | None = None,
) -> CoapParts:
    options = Options.build(
        uri_path=path,
        uri_query=query,
        content_format=content_format,
        accept=accept,
        observe=observe,
    )
    return CoapParts(code, options, payload)


# Register (Transport 1.1 §6 mapping; payload shape of the Core registration example, values ours).
SPEC_REGISTER = _req(
    Code.POST,
    ("rd",),
    ("ep=example_ep", "lt=3600", "lwm2m=1.1", "b=U"),
    b'</>;rt="oma.lwm2m";ct=11543,</1/101>,</1/102>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,'
    b"</3/0>,</4/0>,</5>",
    content_format=LINK,
)

VECTORS: list[tuple[str, CoapParts, Operation]] = [
    (
        "Register (values ours)",
        SPEC_REGISTER,
        Register(
            "example_ep",
            ObjectLinks(
                (
                    ObjectEntry(1, instances=(101, 102)),
                    ObjectEntry(2, instances=(0, 1, 2, 3, 4)),
                    ObjectEntry(3, instances=(0,)),
                    ObjectEntry(4, instances=(0,)),
                    ObjectEntry(5),
                ),
                content_formats=(11543,),
            ),
            lifetime=3600,
            lwm2m_version="1.1",
            binding="U",
        ),
    ),
    (
        "Register with an alternate path (values ours)",
        _req(
            Code.POST,
            ("rd",),
            ("ep=urn:imei:490154203237518", "lwm2m=1.1"),
            b'</lwm2m>;rt="oma.lwm2m",</lwm2m/1/101>,</lwm2m/1/102>,</lwm2m/2/0>',
            content_format=LINK,
        ),
        Register(
            "urn:imei:490154203237518",
            ObjectLinks(
                (ObjectEntry(1, instances=(101, 102)), ObjectEntry(2, instances=(0,))),
                root="/lwm2m",
            ),
        ),
    ),
    (
        "Register with object versions and queue mode (values ours)",
        _req(
            Code.POST,
            ("rd",),
            ("ep=urn:imsi:262011234567890", "lt=86400", "lwm2m=1.1", "b=U", "Q"),
            b"</1/0>,</3>;ver=1.1,</3/0>,</3442>;ver=1.1",
            content_format=LINK,
        ),
        Register(
            "urn:imsi:262011234567890",
            ObjectLinks(
                (
                    ObjectEntry(1, instances=(0,)),
                    ObjectEntry(3, "1.1", (0,)),
                    ObjectEntry(3442, "1.1"),
                )
            ),
            lifetime=86400,
            binding="U",
            queue_mode=True,
        ),
    ),
    (
        "Update (values ours)",
        _req(Code.POST, ("rd", "5a3f"), ("lt=3600",)),
        Update(("rd", "5a3f"), lifetime=3600),
    ),
    (
        "Update with a new object list (values ours)",
        _req(Code.POST, ("rd", "5a3f"), (), b"</1/0>,</3/0>", content_format=LINK),
        Update(
            ("rd", "5a3f"),
            objects=ObjectLinks((ObjectEntry(1, instances=(0,)), ObjectEntry(3, instances=(0,)))),
        ),
    ),
    ("De-register (values ours)", _req(Code.DELETE, ("rd", "5a3f")), Deregister(("rd", "5a3f"))),
    (
        "Bootstrap-Request with pct (values ours)",
        _req(Code.POST, ("bs",), ("ep=example_ep", "pct=112")),
        BootstrapRequest("example_ep", 112),
    ),
    ("Read", _req(Code.GET, ("3", "0", "0")), Read(P("/3/0/0"))),
    (
        "Read with Accept",
        _req(Code.GET, ("3", "0"), accept=SENML_JSON),
        Read(P("/3/0"), SENML_JSON),
    ),
    ("Discover", _req(Code.GET, ("3",), accept=LINK), Discover(P("/3"))),
    (
        "Discover with depth (Core 1.2)",
        _req(Code.GET, ("3",), ("depth=1",), accept=LINK),
        Discover(P("/3"), 1),
    ),
    (
        "Write-Attributes (values ours)",
        _req(Code.PUT, ("3", "0", "9"), ("pmin=10", "pmax=60")),
        WriteAttributes(P("/3/0/9"), NotificationAttributes(pmin=10, pmax=60)),
    ),
    (
        "Execute with arguments (values ours)",
        _req(Code.POST, ("3", "0", "4"), (), b"0='abc',1"),
        Execute(P("/3/0/4"), (ExecuteArgument(0, "abc"), ExecuteArgument(1))),
    ),
    ("Observe", _req(Code.GET, ("3", "0", "9"), observe=0), Observe(P("/3/0/9"))),
    (
        "Cancel Observation",
        _req(Code.GET, ("3", "0", "9"), observe=1),
        Observe(P("/3/0/9"), cancel=True),
    ),
    (
        "Read-Composite, Core 1.1 Table 7.4.4-6 body",
        _req(
            Code.FETCH,
            (),
            (),
            b'[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]',
            content_format=SENML_JSON,
            accept=SENML_JSON,
        ),
        ReadComposite((P("/3/0/0"), P("/3/0/9"), P("/1/0/1")), SENML_JSON),
    ),
    (
        "Write-Composite, Core 1.1 Table 7.4.4-8 body",
        _req(
            Code.IPATCH,
            (),
            (),
            b'[{"n":"/3311/0/5850","vb":false},{"n":"/3311/1/5850","vb":false},'
            b'{"n":"/3311/2/5851","v":20},{"n":"/3308/0/5900","v":18}]',
            content_format=SENML_JSON,
        ),
        WriteComposite(
            {
                P("/3311/0/5850"): False,
                P("/3311/1/5850"): False,
                P("/3311/2/5851"): 20,
                P("/3308/0/5900"): 18,
            }
        ),
    ),
]


@pytest.mark.parametrize(("name", "wire", "op"), VECTORS, ids=[v[0] for v in VECTORS])
def test_spec_request_decodes(name: str, wire: CoapParts, op: Operation) -> None:
    assert decode_request(wire, CODECS, MODELS) == op


@pytest.mark.parametrize(("name", "wire", "op"), VECTORS, ids=[v[0] for v in VECTORS])
def test_spec_request_encodes(name: str, wire: CoapParts, op: Operation) -> None:
    fmt = wire.options.content_format
    parts = encode_request(op, CODECS, MODELS, fmt=fmt)
    assert (parts.code, parts.options.uri_path) == (wire.code, wire.options.uri_path)
    assert sorted(parts.options.uri_query) == sorted(wire.options.uri_query)
    assert (parts.options.accept, parts.options.observe) == (
        wire.options.accept,
        wire.options.observe,
    )
    # Bodies are compared by meaning: formats allow several spellings of the same content.
    assert decode_request(parts, CODECS, MODELS) == op


def test_register_answer_is_2_01_with_location() -> None:
    op = decode_request(SPEC_REGISTER, CODECS, MODELS)
    parts = encode_response(op, RegisteredResponse(("rd", "5a3f")), CODECS, MODELS)
    assert parts.code == Code.CREATED
    assert parts.options.location_path == ("rd", "5a3f")
    assert decode_response(op, parts, CODECS, MODELS) == RegisteredResponse(("rd", "5a3f"))


def test_discover_answer() -> None:
    # A Discover answer on /3/0 (values ours): attributes ride on the links.
    payload = b"</3/0>;pmin=10,</3/0/1>,</3/0/7>;dim=2;gt=50;lt=42.2,</3/0/9>"
    answer = CoapParts(Code.CONTENT, Options.build(content_format=LINK), payload)
    response = decode_response(Discover(P("/3/0")), answer, CODECS, MODELS)
    assert isinstance(response, LinksResponse)
    assert [link.target for link in response.links] == ["/3/0", "/3/0/1", "/3/0/7", "/3/0/9"]


def test_notification_carries_its_sequence_number() -> None:
    observe = Observe(P("/3/0/9"))
    parts = encode_response(
        observe, NodeResponse(SingleResource(9, 80), observe=4), CODECS, MODELS, fmt=SENML_JSON
    )
    assert parts.options.observe == 4
    assert decode_response(observe, parts, CODECS, MODELS) == NodeResponse(
        SingleResource(9, 80), SENML_JSON, 4
    )


# -- Registrations a server must refuse -------------------------------------------------

OBJECTS = b"</1/0>,</3/0>"


def _register(*query: str, payload: bytes = OBJECTS) -> CoapParts:
    return _req(Code.POST, ("rd",), query, payload, content_format=LINK)


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (_register("lt=3600", "lwm2m=1.1"), Code.BAD_REQUEST),  # no ep
        (_register("ep=", "lwm2m=1.1"), Code.BAD_REQUEST),
        (_register("ep", "lwm2m=1.1"), Code.BAD_REQUEST),
        (_register("ep=a", "ep=b"), Code.BAD_REQUEST),
        (_register("ep=bad\x00name"), Code.BAD_REQUEST),
        (_register("ep=a", "lt=abc"), Code.BAD_REQUEST),
        (_register("ep=a", "lt=-1"), Code.BAD_REQUEST),
        (_register("ep=a", "lt=1.5"), Code.BAD_REQUEST),
        (_register("ep=a", "lt=2147483648"), Code.BAD_REQUEST),  # absurd: > MAX_LIFETIME
        (_register("ep=a", "lt=99999999999999999999"), Code.BAD_REQUEST),
        (_register("ep=a", "lt="), Code.BAD_REQUEST),
        (_register("ep=a", "lwm2m=9.9"), Code.PRECONDITION_FAILED),
        (_register("ep=a", "lwm2m=2.0"), Code.PRECONDITION_FAILED),
        (_register("ep=a", "lwm2m=1.3"), Code.PRECONDITION_FAILED),
        (_register("ep=a", "lwm2m=one"), Code.BAD_REQUEST),
        (_register("ep=a", "b=X"), Code.BAD_REQUEST),
        (_register("ep=a", "b=UU"), Code.BAD_REQUEST),
        (_register("ep=a", "b="), Code.BAD_REQUEST),
        (_register("ep=a", "Q=1"), Code.BAD_REQUEST),
        (_register("ep=a", "sms=call-me"), Code.BAD_REQUEST),
        (_register("ep=a", payload=b""), Code.BAD_REQUEST),  # the object list is mandatory
        (_register("ep=a", payload=b"</1/0"), Code.BAD_REQUEST),  # malformed link format
        (_register("ep=a", payload=b"\xff\xfe"), Code.BAD_REQUEST),
        (_register("ep=a", payload=b"</3/0/1>"), Code.BAD_REQUEST),  # not an object or instance
        (_register("ep=a", payload=b"</abc>"), Code.BAD_REQUEST),
        (_register("ep=a", payload=b"</3/70000>"), Code.BAD_REQUEST),
        (_register("ep=a", payload=b"</3>;ver=latest"), Code.BAD_REQUEST),
        (_register("ep=a", payload=b'</>;rt="oma.lwm2m";ct=json,</3/0>'), Code.BAD_REQUEST),
        (
            _register("ep=a", payload=b'</a>;rt="oma.lwm2m",</b>;rt="oma.lwm2m",</a/3/0>'),
            Code.BAD_REQUEST,
        ),
        (_register("ep=a", payload=b'</lwm2m>;rt="oma.lwm2m",</3/0>'), Code.BAD_REQUEST),
    ],
)
def test_bad_registrations(wire: CoapParts, code: Code) -> None:
    with pytest.raises(OperationError) as info:
        decode_request(wire, CODECS, MODELS)
    assert info.value.code == code


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_supported_versions_register(version: str) -> None:
    op = decode_request(_register("ep=a", f"lwm2m={version}"), CODECS, MODELS)
    assert isinstance(op, Register)
    assert op.lwm2m_version == version


def test_missing_version_means_1_0() -> None:
    op = decode_request(_register("ep=a"), CODECS, MODELS)
    assert isinstance(op, Register)
    assert op.lwm2m_version == "1.0"


@pytest.mark.parametrize("lifetime", ["0", "2147483648", "-5", "1e3"])
def test_lifetime_zero_or_absurd_is_refused(lifetime: str) -> None:
    with pytest.raises(OperationError) as caught:
        decode_request(_register("ep=a", f"lt={lifetime}"), CODECS, MODELS)
    assert caught.value.code == Code.BAD_REQUEST


@pytest.mark.parametrize(
    "endpoint",
    [
        "urn:imei:490154203237518",
        "urn:imsi:262011234567890",
        "urn:imei-msisdn:490154203237518-491701234567",
        "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "sensor-17@iot.example.com",
        "Zähler 7",
    ],
)
def test_endpoint_name_forms(endpoint: str) -> None:
    op = decode_request(_register(f"ep={endpoint}"), CODECS, MODELS)
    assert isinstance(op, Register)
    assert op.endpoint == endpoint


def test_unknown_parameters_are_kept_for_the_engine() -> None:
    op = decode_request(_register("ep=a", "apn=iot", "flag"), CODECS, MODELS)
    assert isinstance(op, Register)
    assert op.extra == ("apn=iot", "flag")


@pytest.mark.parametrize("count", [5_000, 10_000, 100_000])
def test_huge_object_lists_are_refused_cheaply(count: int) -> None:
    payload = ",".join(f"</{3 + i // 60000}/{i % 60000}>" for i in range(count)).encode()
    started = time.perf_counter()
    with pytest.raises(OperationError) as info:
        decode_request(_register("ep=a", payload=payload), CODECS, MODELS)
    assert info.value.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert time.perf_counter() - started < 1.0


def test_largest_accepted_object_list() -> None:
    payload = ",".join(f"</3303/{i}>" for i in range(4096)).encode()
    started = time.perf_counter()
    op = decode_request(_register("ep=a", payload=payload), CODECS, MODELS)
    assert isinstance(op, Register)
    assert op.objects.objects == (ObjectEntry(3303, instances=tuple(range(4096))),)
    assert time.perf_counter() - started < 1.0
