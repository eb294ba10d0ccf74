"""Fuzz the SenML JSON/CBOR, LwM2M JSON and LwM2M CBOR decoders: random bytes and mutations of
valid payloads (seeded, so failures reproduce) may only ever raise DecodeError."""

from __future__ import annotations

import contextlib
import random
import time
import tracemalloc
from collections.abc import Callable

import pytest

from lwm2m.codec.base import Codec
from lwm2m.codec.errors import DecodeError
from lwm2m.codec.lwm2m_cbor import LwM2mCborCodec
from lwm2m.codec.lwm2m_json import LwM2mJsonCodec
from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.model import ObjectLink, Path, TimestampedValues
from tests.codec_fixtures import DEVICE_INSTANCE, example_models

MODELS = example_models()
CASES = 10_000
DEVICE = Path.of(3, 0)
BATCHES = [
    TimestampedValues(1_600_000_000, {Path.of(3, 0, 9): 90, Path.of(3, 0, 7, 0): 3800}),
    TimestampedValues(None, {Path.of(66, 1, 2): ObjectLink(65535, 65535)}),
]
COMPOSITE = {Path.of(3, 0, 0): "Open Mobile Alliance", Path.of(5, 0, 0): b"\x00\x01\xfe"}


def _decoders(codec: Codec) -> list[Callable[[bytes], object]]:
    """Every decoding entry point the codec supports."""
    out: list[Callable[[bytes], object]] = [lambda p: codec.decode(p, DEVICE, MODELS)]
    if not isinstance(codec, LwM2mJsonCodec):
        out.append(lambda p: codec.decode_values(p, MODELS))
    if not isinstance(codec, LwM2mCborCodec):
        out.append(lambda p: codec.decode_timestamped(p, MODELS))
    if isinstance(codec, (SenmlJsonCodec, SenmlCborCodec)):
        out.append(codec.decode_paths)
    return out


def _seeds(codec: Codec) -> list[bytes]:
    seeds = [codec.encode(DEVICE, DEVICE_INSTANCE, MODELS)]
    if not isinstance(codec, LwM2mJsonCodec):
        seeds.append(codec.encode_values(COMPOSITE, MODELS))
    if not isinstance(codec, LwM2mCborCodec):
        seeds.append(codec.encode_timestamped(BATCHES, MODELS))
    if isinstance(codec, (SenmlJsonCodec, SenmlCborCodec)):
        seeds.append(codec.encode_paths([Path.of(3, 0, 9), Path()]))
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip bits
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # replace with an interesting byte
            buf[pos % len(buf)] = rng.choice(b'\x00\x17\x18\x1b\x3a\x5a\x7b\x9a\xbb\xbf\xff"[]{},:')
        elif op == 2:  # insert
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 3:  # delete
            del buf[pos : pos + rng.randint(1, 4)]
        elif op == 4:  # truncate
            del buf[pos:]
        else:  # duplicate a slice
            start = rng.randrange(len(buf) + 1)
            buf[pos:pos] = buf[start : start + rng.randint(1, 16)]
    return bytes(buf)


def _only_decode_errors(decoders: list[Callable[[bytes], object]], payload: bytes) -> None:
    for decode in decoders:
        with contextlib.suppress(DecodeError):
            decode(payload)


CODECS = [
    SenmlJsonCodec(time.time),
    SenmlCborCodec(time.time),
    LwM2mJsonCodec(time.time),
    LwM2mCborCodec(),
]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: type(c).__name__)
def test_random_bytes(codec: Codec) -> None:
    rng = random.Random(f"random-{type(codec).__name__}")
    decoders = _decoders(codec)
    for _ in range(CASES):
        payload = rng.randbytes(rng.randint(0, 64))
        if rng.random() < 0.5:  # start like the format does, to get past the first check
            payload = bytes([rng.choice(b"[{\x80\x81\x9f\xa1\xbf")]) + payload
        _only_decode_errors(decoders, payload)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: type(c).__name__)
def test_mutated_payloads(codec: Codec) -> None:
    rng = random.Random(f"mutate-{type(codec).__name__}")
    decoders = _decoders(codec)
    seeds = _seeds(codec)
    assert codec.decode(seeds[0], DEVICE, MODELS) == DEVICE_INSTANCE
    for _ in range(CASES):
        _only_decode_errors(decoders, _mutate(rng, rng.choice(seeds)))


HUGE = 16 * 2**20


@pytest.mark.parametrize(
    "codec", [SenmlCborCodec(time.time), LwM2mCborCodec()], ids=["senml", "lwm2m"]
)
@pytest.mark.parametrize(
    "header",
    [
        bytes([0x5A]) + HUGE.to_bytes(4, "big"),  # byte string
        bytes([0x7A]) + HUGE.to_bytes(4, "big"),  # text string
        bytes([0x9A]) + HUGE.to_bytes(4, "big"),  # array
        bytes([0xBA]) + HUGE.to_bytes(4, "big"),  # map
        bytes([0x9B]) + (2**63).to_bytes(8, "big"),  # array, 64-bit count
        bytes([0x5B]) + (2**63).to_bytes(8, "big"),  # byte string, 64-bit length
    ],
    ids=["bytes", "text", "array", "map", "array64", "bytes64"],
)
def test_huge_length_claims_are_refused_without_allocating(codec: Codec, header: bytes) -> None:
    for payload in (header + b"\x00" * 8, b"\x81" + header + b"\x01", b"\xa1\x00" + header):
        tracemalloc.start()
        try:
            with pytest.raises(DecodeError):
                codec.decode(payload, DEVICE, MODELS)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 2**20, f"{peak} bytes allocated for {payload.hex()}"
