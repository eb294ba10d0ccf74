"""LwM2M 1.0 JSON (11543): document shape, typing and timestamped batches."""

from __future__ import annotations

import json

import pytest

from lwm2m.codec.errors import DecodeError, UnsupportedFormatError
from lwm2m.codec.lwm2m_json import LwM2mJsonCodec
from lwm2m.model import MultipleResource, ObjectLink, Path, SingleResource, TimestampedValues
from tests.codec_fixtures import example_models

MODELS = example_models()
CODEC = LwM2mJsonCodec(clock=lambda: 1_700_000_000.0)


def test_opaque_travels_as_base64_in_sv_and_the_model_tells() -> None:
    path = Path.of(5, 0, 0)
    payload = CODEC.encode(path, SingleResource(0, b"\x00\xff"), MODELS)
    assert json.loads(payload) == {"bn": "/5/0/0", "e": [{"sv": "AP8="}]}
    assert CODEC.decode(payload, path, MODELS) == SingleResource(0, b"\x00\xff")
    unmodelled = b'{"bn": "/30000/0/", "e": [{"n": "0", "sv": "AP8="}]}'
    assert CODEC.decode(unmodelled, Path.of(30000, 0, 0), MODELS) == SingleResource(0, "AP8=")
    with pytest.raises(DecodeError, match="not base64"):
        CODEC.decode(b'{"bn": "/5/0/0", "e": [{"sv": "AP8"}]}', path, MODELS)


def test_booleans_and_object_links() -> None:
    values = {Path.of(9999, 0, 4): True, Path.of(9999, 0, 17, 3): ObjectLink(1, 2)}
    batch = [TimestampedValues(None, values)]
    payload = CODEC.encode_timestamped(batch, MODELS)
    assert json.loads(payload) == {
        "bn": "/",
        "e": [{"n": "9999/0/4", "bv": True}, {"n": "9999/0/17/3", "ov": "1:2"}],
    }
    assert CODEC.decode_timestamped(payload, MODELS) == batch


def test_timestamped_batches_round_trip_with_absolute_times() -> None:
    batches = [
        TimestampedValues(1_600_000_000.25, {Path.of(3, 0, 9): 1, Path.of(3, 0, 7, 0): 3}),
        TimestampedValues(None, {Path.of(3, 0, 9): 2}),
        TimestampedValues(1_600_000_001, {Path.of(3, 0, 9): 3}),
    ]
    payload = CODEC.encode_timestamped(batches, MODELS)
    assert [entry.get("t") for entry in json.loads(payload)["e"]] == [
        1600000000.25,
        1600000000.25,
        None,
        1600000001,
    ]
    assert CODEC.decode_timestamped(payload, MODELS) == batches


def test_empty_multiple_resource_keeps_its_base_name() -> None:
    path = Path.of(3, 0, 7)
    payload = CODEC.encode(path, MultipleResource(7, {}), MODELS)
    assert json.loads(payload) == {"bn": "/3/0/7/", "e": []}
    assert CODEC.decode(payload, path, MODELS) == MultipleResource(7, {})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[]", "is an object"),
        (b'{"bn": "/3/0/"}', "without an 'e'"),
        (b'{"bn": 3, "e": []}', "'bn' is not a string"),
        (b'{"bt": "x", "e": []}', "'bt' is not a finite number"),
        (b'{"bt": 1e400, "e": []}', "out of range"),
        (b'{"e": {}}', "array of records"),
        (b'{"bn": "/3/0/", "e": [{"n": "9", "sv": "1"}]}', "no 'v'"),
        (b'{"bn": "/3/0/", "e": [{"n": "9", "v": 1, "vs": "1"}]}', "must be understood|unex"),
    ],
)
def test_malformed_documents(payload: bytes, message: str) -> None:
    if message == "must be understood|unex":
        # Unknown fields are ignored (RFC 8428 §4.4 must-ignore); SenML's "vs" is one here.
        assert CODEC.decode(payload, Path.of(3, 0, 9), MODELS) == SingleResource(9, 1)
        return
    with pytest.raises(DecodeError, match=message):
        CODEC.decode(payload, Path.of(3, 0, 9), MODELS)


def test_no_composite_operations_in_1_0() -> None:
    with pytest.raises(UnsupportedFormatError):
        CODEC.encode_values({}, MODELS)
    with pytest.raises(UnsupportedFormatError):
        CODEC.decode_paths(b"[]")
