"""SenML JSON/CBOR encode and decode of the Core examples' Device instance /3/0."""

from __future__ import annotations

import time

from bench.common import BenchResult, ops_per_second
from lwm2m.codec.senml import SenmlCodec
from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    ObjectInstance,
    ObjectModel,
    Operations,
    Path,
    ResourceModel,
    ResourceType,
    SingleResource,
)

DECODE_TARGET = 50_000


def _device() -> tuple[ModelRegistry, ObjectInstance]:
    """Device (3) model and the Core examples' /3/0, built here so the bench needs no tests."""
    strings = {0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 2: "345000123", 3: "1.0"}
    singles: dict[int, str | int] = {**strings, 9: 100, 10: 15, 13: 1367491215, 14: "+02:00"}
    singles[16] = "U"
    multiples = {6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000}, 8: {0: 125, 1: 900}, 11: {0: 0}}
    types = dict.fromkeys(singles, ResourceType.STRING)
    types.update(dict.fromkeys((6, 7, 8, 9, 10, 11), ResourceType.INTEGER))
    types[13] = ResourceType.TIME
    model = ObjectModel(
        3,
        "Device",
        multiple=False,
        mandatory=True,
        resources={
            rid: ResourceModel(rid, str(rid), Operations.R, rid in multiples, False, rtype)
            for rid, rtype in types.items()
        },
    )
    resources: dict[int, SingleResource | MultipleResource] = {
        rid: SingleResource(rid, value) for rid, value in singles.items()
    }
    resources.update({rid: MultipleResource(rid, values) for rid, values in multiples.items()})
    return ModelRegistry([model]), ObjectInstance(0, dict(sorted(resources.items())))


def run() -> list[BenchResult]:
    models, instance = _device()
    path = Path.of(3, 0)
    results: list[BenchResult] = []
    codecs: list[tuple[str, SenmlCodec]] = [
        ("SenML CBOR", SenmlCborCodec(time.time)),
        ("SenML JSON", SenmlJsonCodec(time.time)),
    ]
    for label, codec in codecs:
        payload = codec.encode(path, instance, models)
        assert codec.decode(payload, path, models) == instance

        def decode(codec: SenmlCodec = codec, payload: bytes = payload) -> object:
            return codec.decode(payload, path, models)

        def encode(codec: SenmlCodec = codec) -> object:
            return codec.encode(path, instance, models)

        target = DECODE_TARGET if label == "SenML CBOR" else None
        decode_rate = ops_per_second(decode)
        encode_rate = ops_per_second(encode)
        results.append(
            BenchResult(f"{label} decode /3/0 Device instance", decode_rate, "ops/s", target)
        )
        results.append(BenchResult(f"{label} encode /3/0 Device instance", encode_rate, "ops/s"))
    return results
