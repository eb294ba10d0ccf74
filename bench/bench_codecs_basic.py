"""Single-value and TLV codecs: TLV of the Core spec's example Device instance, both ways."""

from __future__ import annotations

from tests.codec_fixtures import DEVICE_INSTANCE, example_models

from bench.common import BenchResult, ops_per_second
from lwm2m.codec.cbor import CborCodec
from lwm2m.codec.link import LinkFormatCodec
from lwm2m.codec.text import TextCodec
from lwm2m.codec.tlv import TlvCodec
from lwm2m.model import Path

REGISTER_PAYLOAD = (
    b'</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1>;ver=1.1,</1/0>,</2>,</3>;ver=1.2,'
    b"</3/0>,</4/0>,</5/0>,</6/0>,</7/0>,</10/0>,</11/0>,</13/0>,</19/0>,</19/1>,</3303/0>"
)


def run() -> list[BenchResult]:
    models = example_models()
    tlv = TlvCodec()
    instance = Path.of(3, 0)
    payload = tlv.encode(instance, DEVICE_INSTANCE, models)
    text, cbor, link = TextCodec(), CborCodec(), LinkFormatCodec()
    battery = Path.of(3, 0, 9)
    text_payload = text.encode(battery, DEVICE_INSTANCE.resources[9], models)
    cbor_payload = cbor.encode(battery, DEVICE_INSTANCE.resources[9], models)
    return [
        BenchResult(
            "TLV decode /3/0 Device instance",
            ops_per_second(lambda: tlv.decode(payload, instance, models)),
            "ops/s",
            target=100_000,
        ),
        BenchResult(
            "TLV encode /3/0 Device instance",
            ops_per_second(lambda: tlv.encode(instance, DEVICE_INSTANCE, models)),
            "ops/s",
        ),
        BenchResult(
            "text decode /3/0/9",
            ops_per_second(lambda: text.decode(text_payload, battery, models)),
            "ops/s",
        ),
        BenchResult(
            "CBOR decode /3/0/9",
            ops_per_second(lambda: cbor.decode(cbor_payload, battery, models)),
            "ops/s",
        ),
        BenchResult(
            "link-format parse of a 17-link Register payload",
            ops_per_second(lambda: link.decode_links(REGISTER_PAYLOAD)),
            "ops/s",
        ),
    ]
