"""LwM2M JSON (11543, LwM2M 1.0 §6.4.4 / Core 1.1 §7.4.7) and LwM2M CBOR (11544, Core 1.2
§7.4.7) against the spec examples: structurally exact (key order and widths are free)."""

from __future__ import annotations

import json

import cbor2

from lwm2m.codec.lwm2m_cbor import LwM2mCborCodec
from lwm2m.codec.lwm2m_json import LwM2mJsonCodec
from lwm2m.model import MultipleResource, ObjectLink, Path, SingleResource
from tests.codec_fixtures import DEVICE_INSTANCE, OBJECT_66, example_models

MODELS = example_models()
NOW = 1_700_000_000.0
JSON = LwM2mJsonCodec(clock=lambda: NOW)
CBOR = LwM2mCborCodec()

# LwM2M 1.0 §6.4.4 "JSON" Device instance example (as in Core 1.1 §7.4.7).
DEVICE_JSON = {
    "bn": "/3/0/",
    "e": [
        {"n": "0", "sv": "Open Mobile Alliance"},
        {"n": "1", "sv": "Lightweight M2M Client"},
        {"n": "2", "sv": "345000123"},
        {"n": "3", "sv": "1.0"},
        {"n": "6/0", "v": 1},
        {"n": "6/1", "v": 5},
        {"n": "7/0", "v": 3800},
        {"n": "7/1", "v": 5000},
        {"n": "8/0", "v": 125},
        {"n": "8/1", "v": 900},
        {"n": "9", "v": 100},
        {"n": "10", "v": 15},
        {"n": "11/0", "v": 0},
        {"n": "13", "v": 1367491215},
        {"n": "14", "sv": "+02:00"},
        {"n": "16", "sv": "U"},
    ],
}


def test_lwm2m_json_device_instance() -> None:
    path = Path.of(3, 0)
    assert json.loads(JSON.encode(path, DEVICE_INSTANCE, MODELS)) == DEVICE_JSON
    assert JSON.decode(json.dumps(DEVICE_JSON).encode(), path, MODELS) == DEVICE_INSTANCE


def test_lwm2m_json_object_links_from_root() -> None:
    """The 1.0 object-link example: ``bn`` "/" and full names, links in ``ov``."""
    document = {
        "bn": "/",
        "e": [
            {"n": "66/0/0", "sv": "myService 1"},
            {"n": "66/0/1", "sv": "Internet.15.234"},
            {"n": "66/0/2", "ov": "67:0"},
            {"n": "66/1/0", "sv": "myService 2"},
            {"n": "66/1/1", "sv": "Internet.15.235"},
            {"n": "66/1/2", "ov": "65535:65535"},
        ],
    }
    assert JSON.decode(json.dumps(document).encode(), Path.of(66), MODELS) == OBJECT_66
    encoded = json.loads(JSON.encode(Path.of(66), OBJECT_66, MODELS))
    assert encoded["bn"] == "/66/"
    assert {"n": "0/2", "ov": "67:0"} in encoded["e"]


def test_lwm2m_json_historical_values_with_relative_times() -> None:
    """The 1.0 timestamped example: ``bt`` plus negative ``t`` per entry; a small resolved time
    is relative to now (RFC 8428 §4.5.3 semantics, which the 1.0 draft format shares)."""
    document = {
        "bn": "/3/0/",
        "bt": 25462634,
        "e": [{"n": "9", "v": 99, "t": -5}, {"n": "9", "v": 98, "t": -30}, {"n": "9", "v": 97}],
    }
    batches = JSON.decode_timestamped(json.dumps(document).encode(), MODELS)
    assert [b.timestamp for b in batches] == [
        NOW + 25462634 - 5,
        NOW + 25462634 - 30,
        NOW + 25462634,
    ]
    assert [dict(b.values) for b in batches] == [
        {Path.of(3, 0, 9): 99},
        {Path.of(3, 0, 9): 98},
        {Path.of(3, 0, 9): 97},
    ]


# Core 1.2 §7.4.7 "LwM2M CBOR": the Device instance under one path-array key.
DEVICE_LWM2M_CBOR = {
    (3, 0): {
        0: "Open Mobile Alliance",
        1: "Lightweight M2M Client",
        2: "345000123",
        3: "1.0",
        6: {0: 1, 1: 5},
        7: {0: 3800, 1: 5000},
        8: {0: 125, 1: 900},
        9: 100,
        10: 15,
        11: {0: 0},
        13: 1367491215,
        14: "+02:00",
        16: "U",
    }
}


def test_lwm2m_cbor_device_instance() -> None:
    path = Path.of(3, 0)
    payload = CBOR.encode(path, DEVICE_INSTANCE, MODELS)
    assert cbor2.loads(payload) == DEVICE_LWM2M_CBOR
    assert payload.startswith(bytes.fromhex("a1820300ad"))  # {[3, 0]: {13 entries
    assert CBOR.decode(payload, path, MODELS) == DEVICE_INSTANCE


def test_lwm2m_cbor_key_forms_are_equivalent() -> None:
    """Core 1.2 §7.4.7: nested maps and ID-array keys name the same paths."""
    path = Path.of(3, 0, 9)
    forms = [
        {(3, 0, 9): 100},
        {3: {0: {9: 100}}},
        {(3,): {(0,): {(9,): 100}}},
        {(3, 0): {9: 100}},
        {3: {(0, 9): 100}},
    ]
    for form in forms:
        assert CBOR.decode(cbor2.dumps(form), path, MODELS) == SingleResource(9, 100)
    # indefinite-length maps and arrays: {_ [_ 3, 0, 9]: 100}
    assert CBOR.decode(bytes.fromhex("bf9f030009ff1864ff"), path, MODELS) == SingleResource(9, 100)


def test_lwm2m_cbor_composite_values() -> None:
    values = {
        Path.of(3, 0, 0): "Open Mobile Alliance",
        Path.of(3, 0, 7, 1): 5000,
        Path.of(66, 0, 2): ObjectLink(67, 0),
    }
    payload = CBOR.encode_values(values, MODELS)
    assert cbor2.loads(payload) == {
        3: {0: {0: "Open Mobile Alliance", 7: {1: 5000}}},
        66: {0: {2: "67:0"}},
    }
    assert CBOR.decode_values(payload, MODELS) == values


def test_lwm2m_cbor_multiple_resource() -> None:
    path = Path.of(3, 0, 7)
    node = MultipleResource(7, {0: 3800, 1: 5000})
    payload = CBOR.encode(path, node, MODELS)
    assert cbor2.loads(payload) == {(3, 0, 7): {0: 3800, 1: 5000}}
    assert CBOR.decode(payload, path, MODELS) == node
