"""Plain text, CBOR and link-format examples from LwM2M Core 1.1, RFC 8949 and RFC 6690.

Verified: the plain-text example (Core 1.1 §7.4.1; the same "Req: GET /3/0/0, Res: 2.05 Content,
Open Mobile Alliance" text is in the LwM2M 1.0 data-formats chapter, read in a public
transcription).  Not re-verified in this pass: the RFC 8949 Appendix A and RFC 6690 §5 items,
and the LwM2M link payloads in ``LWM2M_EXAMPLES``, which are illustrative (values ours), not
quotations of the Core Register/Discover examples.
"""

from __future__ import annotations

import pytest

from lwm2m.codec.cbor import CborCodec
from lwm2m.codec.link import Link, LinkFormatCodec, format_links, parse_links
from lwm2m.codec.text import TextCodec
from lwm2m.model import ObjectLink, Path, SingleResource
from tests.codec_fixtures import example_models

MODELS = example_models()


def test_core_7_4_1_plain_text_manufacturer() -> None:
    # Core §7.4.1: "Req: Get /3/0/0 ... Res: 2.05 Content  Open Mobile Alliance"
    node = SingleResource(0, "Open Mobile Alliance")
    assert TextCodec().encode(Path.of(3, 0, 0), node, MODELS) == b"Open Mobile Alliance"
    assert TextCodec().decode(b"Open Mobile Alliance", Path.of(3, 0, 0), MODELS) == node


@pytest.mark.parametrize(
    ("path", "value", "text"),
    [
        ((3, 0, 9), 100, b"100"),  # Appendix C: integer as ASCII decimal
        ((3, 0, 13), 1367491215, b"1367491215"),  # time: seconds since the epoch
        ((1, 0, 6), True, b"1"),  # boolean: "0" or "1"
        ((9999, 0, 7), ObjectLink(66, 0), b"66:0"),  # objlnk: "o:i"
        ((5, 0, 0), b"\x01\x02\x03\x04\x05", b"AQIDBAU="),  # opaque: base64 (RFC 4648)
        ((9999, 0, 3), -12.5, b"-12.5"),  # float
    ],
)
def test_appendix_c_text_forms(path: tuple[int, ...], value: object, text: bytes) -> None:
    node = SingleResource(path[2], value)  # type: ignore[arg-type]
    assert TextCodec().encode(Path(path), node, MODELS) == text
    assert TextCodec().decode(text, Path(path), MODELS) == node


@pytest.mark.parametrize(
    ("path", "value", "cbor"),
    [
        # RFC 8949 Appendix A examples, typed by LwM2M Core Appendix C.
        ((3, 0, 9), 100, "1864"),
        ((9999, 0, 1), -1000, "3903e7"),
        ((9999, 0, 2), 18446744073709551615, "1bffffffffffffffff"),
        ((9999, 0, 3), 1.5, "f93e00"),
        ((9999, 0, 3), 100000.0, "fa47c35000"),
        ((9999, 0, 3), 1.1, "fb3ff199999999999a"),
        ((1, 0, 6), False, "f4"),
        ((3, 0, 0), "Open Mobile Alliance", "744f70656e204d6f62696c6520416c6c69616e6365"),
        ((5, 0, 0), b"\x01\x02\x03\x04", "4401020304"),
        ((3, 0, 13), 1367491215, "1a5182428f"),  # time as a plain integer
        ((9999, 0, 7), ObjectLink(66, 1), "6436363a31"),  # objlnk as text "66:1"
    ],
)
def test_cbor_single_values(path: tuple[int, ...], value: object, cbor: str) -> None:
    node = SingleResource(path[2], value)  # type: ignore[arg-type]
    assert CborCodec().encode(Path(path), node, MODELS).hex() == cbor
    assert CborCodec().decode(bytes.fromhex(cbor), Path(path), MODELS) == node


@pytest.mark.parametrize(
    "cbor",
    [
        "c11a5182428f",  # RFC 8949 §3.4.2: tag 1, epoch-based date/time
        "1a5182428f",
    ],
)
def test_cbor_time_with_or_without_tag_1(cbor: str) -> None:
    node = CborCodec().decode(bytes.fromhex(cbor), Path.of(3, 0, 13), MODELS)
    assert node == SingleResource(13, 1367491215)


def test_cbor_float16_float32_float64_all_decode() -> None:
    for cbor in ("f93e00", "fa3fc00000", "fb3ff8000000000000"):
        node = CborCodec().decode(bytes.fromhex(cbor), Path.of(9999, 0, 3), MODELS)
        assert node == SingleResource(3, 1.5)


# RFC 6690 §5 examples.
RFC6690_EXAMPLES = [
    '</sensors/temp>;if="sensor",</sensors/light>;if="sensor"',
    '</sensors>;ct=40;title="Sensor Index",</sensors/temp>;rt="temperature-c";if="sensor",'
    '</sensors/light>;rt="light-lux";if="sensor",'
    '<http://www.example.com/sensors/t123>;anchor="/sensors/temp";rel="describedby",'
    '</t>;anchor="/sensors/temp";rel="alternate"',
    '</firmware/v2.1>;rt="firmware";sz=262144',
]

# Register- and Discover-shaped LwM2M payloads (values ours; see the module docstring).
LWM2M_EXAMPLES = [
    '</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1>;ver=1.1,</1/0>,</2>,</3>;ver=1.1,'
    "</3/0>,</3442/0>",
    "</1/0>,</1/1>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,</3/0>,</4/0>,</5>",
    "</3/0>;pmax=60,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/6>;dim=8,"
    "</3/0/7>;dim=8;gt=50;lt=42.2,</3/0/8>;dim=8,</3/0/11>,</3/0/16>",
    "</3>;pmin=10,</3/0>",
]


@pytest.mark.parametrize("text", RFC6690_EXAMPLES + LWM2M_EXAMPLES)
def test_link_examples_round_trip_exactly(text: str) -> None:
    assert format_links(parse_links(text)) == text


def test_register_payload_fields() -> None:
    root, *objects = parse_links(LWM2M_EXAMPLES[0])
    assert root == Link("/", [("rt", "oma.lwm2m"), ("ct", "60 110 112 11542 11543")])
    assert objects[0] == Link("/1", {"ver": "1.1"})
    assert [link.target for link in objects] == ["/1", "/1/0", "/2", "/3", "/3/0", "/3442/0"]


def test_discover_attributes() -> None:
    links = parse_links(LWM2M_EXAMPLES[2])
    voltage = links[6]
    assert voltage.target == "/3/0/7"
    assert voltage.attributes == (("dim", "8"), ("gt", "50"), ("lt", "42.2"))
    assert voltage.attributes.get("lt") == "42.2"
    paths = LinkFormatCodec().decode_paths(LWM2M_EXAMPLES[2].encode())
    assert paths[:2] == [Path.of(3, 0), Path.of(3, 0, 1)]
