"""SenML JSON/CBOR against the LwM2M Core 1.1 examples and RFC 8428 §5.1.

Byte-exact where the spec gives bytes (the SenML CBOR Device example, Core 1.1.1 §7.4.5);
structurally exact for JSON, where whitespace and key order are free.
"""

from __future__ import annotations

import json

import cbor2
import pytest

from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.model import MultipleResource, Path, ResourceInstance, SingleResource, TimestampedValues
from tests.codec_fixtures import DEVICE_INSTANCE, DEVICE_OBJECT, example_models

MODELS = example_models()
NOW = 1_700_000_000.0
JSON = SenmlJsonCodec(clock=lambda: NOW)
CBOR = SenmlCborCodec(clock=lambda: NOW)

# Core 1.1 §7.4.4 (SenML JSON), "Read on Device Object Instance" example.
DEVICE_JSON = [
    {"bn": "/3/0/", "n": "0", "vs": "Open Mobile Alliance"},
    {"n": "1", "vs": "Lightweight M2M Client"},
    {"n": "2", "vs": "345000123"},
    {"n": "3", "vs": "1.0"},
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
    {"n": "14", "vs": "+02:00"},
    {"n": "16", "vs": "U"},
]

# Core 1.1.1 §7.4.5 (SenML CBOR): the same Device instance, as the spec's hex dump.
DEVICE_CBOR = bytes.fromhex(
    "90a321652f332f302f00613003744f70656e204d6f62696c6520416c6c69616e6365"
    "a200613103764c69676874776569676874204d324d20436c69656e74"
    "a20061320369333435303030313233a20061330363312e30"
    "a20063362f300201a20063362f310205a20063372f3002190ed8a20063372f3102191388"
    "a20063382f3002187da20063382f3102190384a2006139021864a200623130020f"
    "a2006431312f300200a200623133021a5182428fa20062313403662b30323a3030"
    "a200623136036155"
)


def test_device_instance_senml_json_core_7_4_4() -> None:
    path = Path.of(3, 0)
    assert json.loads(JSON.encode(path, DEVICE_INSTANCE, MODELS)) == DEVICE_JSON
    assert JSON.decode(json.dumps(DEVICE_JSON).encode(), path, MODELS) == DEVICE_INSTANCE


def test_device_instance_senml_cbor_core_7_4_5_byte_exact() -> None:
    path = Path.of(3, 0)
    assert CBOR.encode(path, DEVICE_INSTANCE, MODELS) == DEVICE_CBOR
    assert CBOR.decode(DEVICE_CBOR, path, MODELS) == DEVICE_INSTANCE
    # Core 7.4.5: SenML CBOR is SenML JSON under the RFC 8428 §6 integer labels.
    labels = {"bn": -2, "n": 0, "v": 2, "vs": 3}
    assert cbor2.loads(DEVICE_CBOR) == [
        {labels[k]: v for k, v in record.items()} for record in DEVICE_JSON
    ]


def test_device_object_read_core_7_4_4() -> None:
    """Read /3: the base name is the target, names run on to instance and resource."""
    payload = JSON.encode(Path.of(3), DEVICE_OBJECT, MODELS)
    assert json.loads(payload)[0] == {"bn": "/3/", "n": "0/0", "vs": "Open Mobile Alliance"}
    assert JSON.decode(payload, Path.of(3), MODELS) == DEVICE_OBJECT


@pytest.mark.parametrize("codec", [JSON, CBOR], ids=["json", "cbor"])
def test_single_resource_core_7_4_4(codec: SenmlJsonCodec | SenmlCborCodec) -> None:
    """A single resource: one record whose base name is the resource path, no name."""
    path = Path.of(3, 0, 0)
    node = SingleResource(0, "Open Mobile Alliance")
    payload = codec.encode(path, node, MODELS)
    expected = [{"bn": "/3/0/0", "vs": "Open Mobile Alliance"}]
    if codec is CBOR:
        assert cbor2.loads(payload) == [{-2: "/3/0/0", 3: "Open Mobile Alliance"}]
    else:
        assert json.loads(payload) == expected
    assert codec.decode(payload, path, MODELS) == node
    # The same record written with a full name, as other Core examples do, decodes the same.
    alternative = json.dumps([{"n": "/3/0/0", "vs": "Open Mobile Alliance"}]).encode()
    assert JSON.decode(alternative, path, MODELS) == node


def test_multiple_resource_instances_core_7_4_4() -> None:
    path = Path.of(3, 0, 7)
    node = MultipleResource(7, {0: 3800, 1: 5000})
    payload = JSON.encode(path, node, MODELS)
    assert json.loads(payload) == [
        {"bn": "/3/0/7/", "n": "0", "v": 3800},
        {"n": "1", "v": 5000},
    ]
    assert JSON.decode(payload, path, MODELS) == node
    one = Path.of(3, 0, 7, 1)
    assert json.loads(JSON.encode(one, ResourceInstance(1, 5000), MODELS)) == [
        {"bn": "/3/0/7/1", "v": 5000}
    ]


def test_read_composite_request_and_response_core_6_3_x() -> None:
    """Read-Composite: the request names paths only; the response groups by instance."""
    request = [{"n": "/3/0/0"}, {"n": "/3/0/9"}, {"n": "/1/0/1"}]
    paths = [Path.of(3, 0, 0), Path.of(3, 0, 9), Path.of(1, 0, 1)]
    assert json.loads(JSON.encode_paths(paths)) == request
    assert JSON.decode_paths(json.dumps(request).encode()) == paths
    # Base names may factor the request too (RFC 8428 §4.5.1).
    factored = [{"bn": "/3/0/", "n": "0"}, {"n": "9"}, {"bn": "/1/0/", "n": "1"}]
    assert JSON.decode_paths(json.dumps(factored).encode()) == paths
    assert cbor2.loads(CBOR.encode_paths(paths)) == [{0: "/3/0/0"}, {0: "/3/0/9"}, {0: "/1/0/1"}]

    values = {
        Path.of(3, 0, 0): "Open Mobile Alliance",
        Path.of(3, 0, 9): 95,
        Path.of(1, 0, 1): 86400,
    }
    response = [
        {"bn": "/3/0/", "n": "0", "vs": "Open Mobile Alliance"},
        {"n": "9", "v": 95},
        {"bn": "/1/0/", "n": "1", "v": 86400},
    ]
    assert json.loads(JSON.encode_values(values, MODELS)) == response
    assert JSON.decode_values(json.dumps(response).encode(), MODELS) == values
    assert CBOR.decode_values(CBOR.encode_values(values, MODELS), MODELS) == values


def test_send_with_timestamps_core_6_4_x() -> None:
    """Send: each batch opens with its time as base time; later records inherit it."""
    t1, t2 = 1_600_000_000.0, 1_600_000_060.5
    batches = [
        TimestampedValues(t1, {Path.of(3, 0, 9): 95, Path.of(3, 0, 7, 0): 3800}),
        TimestampedValues(t2, {Path.of(3, 0, 9): 94}),
    ]
    payload = JSON.encode_timestamped(batches, MODELS)
    assert json.loads(payload) == [
        {"bn": "/3/0/", "bt": 1600000000, "n": "9", "v": 95},
        {"n": "7/0", "v": 3800},
        {"bt": 1600000060.5, "n": "9", "v": 94},
    ]
    assert JSON.decode_timestamped(payload, MODELS) == batches
    assert CBOR.decode_timestamped(CBOR.encode_timestamped(batches, MODELS), MODELS) == batches


# RFC 8428 §5.1.3 "Multiple Measurements" with the names mapped onto LwM2M paths: base name,
# base time, must-ignore fields (u, bu, bver) and relative times t = -5 .. 0 from bt.
RFC_5_1_3 = [
    {"bn": "/3/0/", "bt": 1.276020076001e09, "bu": "A", "bver": 5, "n": "7/0", "u": "V", "v": 120},
    {"n": "7/1", "t": -5, "v": 12},
    {"n": "7/2", "t": -4, "v": 13},
    {"n": "7/3", "t": -3, "v": 14},
    {"n": "7/4", "t": -2, "v": 15},
    {"n": "7/5", "t": -1, "v": 16},
    {"n": "7/6", "v": 17},
]


def test_rfc8428_5_1_3_base_name_and_time_resolution() -> None:
    batches = JSON.decode_timestamped(json.dumps(RFC_5_1_3).encode(), MODELS)
    times = [batch.timestamp for batch in batches]
    base = 1.276020076001e09
    assert times == pytest.approx([base, base - 5, base - 4, base - 3, base - 2, base - 1, base])
    assert [dict(batch.values) for batch in batches][1] == {Path.of(3, 0, 7, 1): 12}
    labels = {"bn": -2, "bt": -3, "bu": -4, "bver": -1, "n": 0, "u": 1, "v": 2, "t": 6}
    cbor_pack = [{labels[k]: v for k, v in r.items()} for r in RFC_5_1_3]
    assert CBOR.decode_timestamped(cbor2.dumps(cbor_pack), MODELS) == batches


def test_rfc8428_4_5_3_relative_time_is_relative_to_now() -> None:
    """A resolved time below 2^28 is relative to now; no time at all means "now" (None)."""
    pack = [{"bn": "/3/0/9", "v": 90, "t": -60}, {"v": 91, "t": -30}, {"v": 92}]
    batches = JSON.decode_timestamped(json.dumps(pack).encode(), MODELS)
    assert [b.timestamp for b in batches] == [NOW - 60, NOW - 30, None]
    with pytest.raises(Exception, match="given twice"):
        JSON.decode(json.dumps(pack).encode(), Path.of(3, 0, 9), MODELS)


def test_rfc8428_4_5_1_base_name_carries_forward_and_changes() -> None:
    pack = [
        {"bn": "/3/0/", "n": "9", "v": 1},
        {"n": "10", "v": 2},
        {"bn": "/1/0/", "n": "1", "v": 3},
        {"n": "/3/0/0", "vs": "x", "bn": ""},
    ]
    assert JSON.decode_values(json.dumps(pack).encode(), MODELS) == {
        Path.of(3, 0, 9): 1,
        Path.of(3, 0, 10): 2,
        Path.of(1, 0, 1): 3,
        Path.of(3, 0, 0): "x",
    }
