"""LwM2M CBOR (11544): key forms, typing and what the decoder refuses."""

from __future__ import annotations

import cbor2
import pytest

from lwm2m.codec.errors import DecodeError, EncodeError, UnsupportedFormatError
from lwm2m.codec.lwm2m_cbor import LwM2mCborCodec
from lwm2m.model import ObjectInstance, ObjectLink, ObjectNode, Path, SingleResource
from tests.codec_fixtures import OBJECT_65_INSTANCE, example_models

MODELS = example_models()
CODEC = LwM2mCborCodec()


def test_every_type_from_the_model() -> None:
    values = {
        Path.of(9999, 0, 0): "s",
        Path.of(9999, 0, 1): -3,
        Path.of(9999, 0, 2): 2**64 - 1,
        Path.of(9999, 0, 3): 0.5,
        Path.of(9999, 0, 4): False,
        Path.of(9999, 0, 5): b"\x01",
        Path.of(9999, 0, 6): 1367491215,
        Path.of(9999, 0, 7): ObjectLink(3, 0),
        Path.of(9999, 0, 8): "</1>",
    }
    payload = CODEC.encode_values(values, MODELS)
    assert cbor2.loads(payload)[(9999, 0)][7] == "3:0"
    assert CODEC.decode_values(payload, MODELS) == values


def test_time_accepts_tag_1_and_float_accepts_integers() -> None:
    tree = {(9999, 0): {6: cbor2.CBORTag(1, 5), 3: 2}}
    assert CODEC.decode_values(cbor2.dumps(tree), MODELS) == {
        Path.of(9999, 0, 6): 5,
        Path.of(9999, 0, 3): 2.0,
    }


def test_unmodelled_resources_keep_the_cbor_type() -> None:
    tree = {30000: {0: {0: "a", 1: 2, 2: 2.5, 3: True, 4: b"x", 5: {9: "b"}}}}
    assert CODEC.decode_values(cbor2.dumps(tree), MODELS) == {
        Path.of(30000, 0, 0): "a",
        Path.of(30000, 0, 1): 2,
        Path.of(30000, 0, 2): 2.5,
        Path.of(30000, 0, 3): True,
        Path.of(30000, 0, 4): b"x",
        Path.of(30000, 0, 5, 9): "b",
    }


def test_empty_nodes_keep_their_path() -> None:
    assert cbor2.loads(CODEC.encode(Path.of(3, 0), ObjectInstance(0, {}), MODELS)) == {(3, 0): {}}
    assert CODEC.decode(cbor2.dumps({3: {}}), Path.of(3), MODELS) == ObjectNode(3, {})
    node = ObjectNode(65, {0: OBJECT_65_INSTANCE})
    assert CODEC.decode(CODEC.encode(Path.of(65), node, MODELS), Path.of(65), MODELS) == node


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ([1], "is a map"),
        ({"3": {}}, "not an ID"),
        ({-1: {}}, "do not make an LwM2M path"),
        ({65536: {}}, "do not make an LwM2M path"),
        ({(): 1}, "not an ID"),
        ({(3, 0, 0, 0, 0): 1}, "do not make an LwM2M path"),
        ({(3, 0): 1}, "above resource level"),
        ({(3, 0, 9): None}, "expected an integer"),
        ({(3, 0, 9): "1"}, "expected an integer"),
        ({(3, 0, 7): 1}, "needs instance IDs"),
        ({(3, 0, 9, 0): 1}, "has no instances"),
        ({(3, 0, 4): 1}, "executable"),
        ({(30000, 0, 0): None}, "not an LwM2M value"),
        ({(30000, 0, 0): [1]}, "not an LwM2M value"),
        ({(30000, 0, 0): 2**64}, "64 bits"),
        ({(3, 0, 9): 1, 3: {0: {9: 2}}}, "given twice"),
    ],
)
def test_bad_trees(tree: object, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        CODEC.decode(cbor2.dumps(tree), Path.of(3, 0), MODELS)


def test_encoder_checks_the_model() -> None:
    with pytest.raises(EncodeError, match="expected integer"):
        CODEC.encode(Path.of(3, 0, 9), SingleResource(9, "x"), MODELS)
    with pytest.raises(EncodeError, match="only resources"):
        CODEC.encode_values({Path.of(3, 0): 1}, MODELS)


def test_no_names_no_times() -> None:
    with pytest.raises(UnsupportedFormatError):
        CODEC.encode_timestamped([], MODELS)
    with pytest.raises(UnsupportedFormatError):
        CODEC.encode_paths([])
