"""Seeded fuzzing of every basic decoder: random bytes and mutated valid payloads.

Whatever the input, a decoder returns or raises DecodeError: never another exception, never a
hang, never an allocation a length field asks for.
"""

from __future__ import annotations

import contextlib
import random
import tracemalloc
from collections.abc import Callable

import pytest

from lwm2m.codec.cbor import CborCodec
from lwm2m.codec.errors import DecodeError
from lwm2m.codec.link import LinkFormatCodec
from lwm2m.codec.opaque import OpaqueCodec
from lwm2m.codec.text import TextCodec
from lwm2m.codec.tlv import TlvCodec
from lwm2m.model import Path, SingleResource
from tests.codec_fixtures import ACCESS_CONTROL_OBJECT, DEVICE_INSTANCE, example_models

MODELS = example_models()
RANDOM_CASES = 10_000
MUTATION_CASES = 10_000
TLV_PATHS = [
    Path.of(3),
    Path.of(3, 0),
    Path.of(3, 0, 6),
    Path.of(3, 0, 7, 1),
    Path.of(2),
    Path.of(9999, 0),
]
SINGLE_PATHS = [
    Path.of(3, 0, 0),
    Path.of(3, 0, 9),
    Path.of(3, 0, 13),
    Path.of(9999, 0, 3),
    Path.of(9999, 0, 7),
    Path.of(5, 0, 0),
    Path.of(1, 0, 6),
    Path.of(3, 0, 99),
    Path.of(3, 0, 7, 0),
]

Decoder = Callable[[bytes, int], object]


def _tlv(payload: bytes, i: int) -> object:
    return TlvCodec().decode(payload, TLV_PATHS[i % len(TLV_PATHS)], MODELS)


def _text(payload: bytes, i: int) -> object:
    return TextCodec().decode(payload, SINGLE_PATHS[i % len(SINGLE_PATHS)], MODELS)


def _cbor(payload: bytes, i: int) -> object:
    return CborCodec().decode(payload, SINGLE_PATHS[i % len(SINGLE_PATHS)], MODELS)


def _opaque(payload: bytes, i: int) -> object:
    return OpaqueCodec().decode(payload, Path.of(5, 0, 0), MODELS)


def _link(payload: bytes, i: int) -> object:
    return LinkFormatCodec().decode_links(payload)


TLV = TlvCodec()
SEEDS: dict[str, tuple[Decoder, list[bytes]]] = {
    "tlv": (
        _tlv,
        [
            TLV.encode(Path.of(3, 0), DEVICE_INSTANCE, MODELS),
            b"\x08\x00\x79" + TLV.encode(Path.of(3, 0), DEVICE_INSTANCE, MODELS),
            TLV.encode(Path.of(2), ACCESS_CONTROL_OBJECT, MODELS),
        ],
    ),
    "text": (_text, [b"Open Mobile Alliance", b"100", b"-12.5e3", b"66:0", b"AQIDBAU=", b"1"]),
    "cbor": (
        _cbor,
        [
            bytes.fromhex(x)
            for x in (
                "1864",
                "c11a5182428f",
                "fb3ff199999999999a",
                "6436363a31",
                "5f42010243030405ff",
                "f5",
            )
        ],
    ),
    "opaque": (_opaque, [b"\x00\x01firmware"]),
    "link": (
        _link,
        [
            b'</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1>;ver=1.1,</1/0>,</3/0>',
            b"</3/0>;pmax=60,</3/0/6>;dim=8,</3/0/7>;dim=8;gt=50;lt=42.2",
            b'</sensors>;ct=40;title="Sensor \\"Index\\""',
        ],
    ),
}


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if choice == 0 and data:
            data[pos % len(data)] = rng.randrange(256)
        elif choice == 1 and data:
            data[pos % len(data)] ^= 1 << rng.randrange(8)
        elif choice == 2:
            data[pos:pos] = rng.randbytes(rng.randint(1, 4))
        elif choice == 3:
            del data[pos : pos + rng.randint(1, 8)]
        else:
            data = data[:pos]
    return bytes(data)


def _survives(decode: Decoder, payload: bytes, i: int) -> None:
    with contextlib.suppress(DecodeError):
        decode(payload, i)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_random_bytes(name: str) -> None:
    decode, _ = SEEDS[name]
    rng = random.Random(f"random-{name}")
    alphabet = (
        bytes(range(256)) if name not in ("text", "link") else b'<>/;,="\\ 0123abc:.-\x80\xff'
    )
    for i in range(RANDOM_CASES):
        size = rng.randint(0, 40)
        payload = bytes(rng.choices(alphabet, k=size)) if i % 2 else rng.randbytes(size)
        _survives(decode, payload, i)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutations_of_valid_payloads(name: str) -> None:
    decode, seeds = SEEDS[name]
    rng = random.Random(f"mutate-{name}")
    for i in range(MUTATION_CASES):
        _survives(decode, _mutate(rng, seeds[i % len(seeds)]), i)


@pytest.mark.parametrize(
    ("decode", "payload"),
    [
        (
            lambda p: TlvCodec().decode(p, Path.of(3, 0), MODELS),
            b"\xd8\x00\xff\xff\xff" + b"x" * 64,
        ),
        (lambda p: TlvCodec().decode(p, Path.of(3), MODELS), b"\x18\x00\xff\xff\xff\xc1\x09\x64"),
        (lambda p: CborCodec().decode(p, Path.of(3, 0, 0), MODELS), b"\x7a\x01\x00\x00\x00abc"),
        (
            lambda p: CborCodec().decode(p, Path.of(3, 0, 99), MODELS),
            b"\x5b\x00\x00\x00\x00\x01\x00\x00\x00a",
        ),
        (lambda p: CborCodec().decode(p, Path.of(3, 0, 0), MODELS), b"\x7f\x7a\x01\x00\x00\x00"),
    ],
)
def test_huge_length_claims_allocate_nothing(
    decode: Callable[[bytes], object], payload: bytes
) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError):
            decode(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_a_valid_payload_still_decodes() -> None:
    assert CborCodec().decode(b"\x18\x64", Path.of(3, 0, 9), MODELS) == SingleResource(9, 100)
