"""LwM2M 1.0 JSON (content format 11543, LwM2M 1.0 §6.4.4; Core 1.1 §7.4.7, legacy).

``{"bn": ..., "bt": ..., "e": [{"n": ..., "v"|"sv"|"bv"|"ov": ..., "t": ...}]}``: the SenML
record model of an early SenML draft, with the base fields outside the records, string and
opaque (base64) both in ``sv``, and object links in ``ov``.  Single nodes and timestamped
batches (notifications of historical values); 1.0 has no composite operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.senml import (
    Clock,
    Labels,
    Leaf,
    Record,
    build_node,
    check_timestamp,
    finite_number,
    layout_records,
    leaves_to_batches,
    node_records,
    resolve,
    time_number,
    to_items,
)
from lwm2m.codec.senml_json import (
    base64_reader,
    base64_writer,
    dump_json,
    load_json,
    refuse_lone_surrogates,
)
from lwm2m.model import ModelRegistry, Node, Path, TimestampedValues

LABELS = Labels(
    format="LwM2M JSON",
    bn=None,
    bt=None,
    n="n",
    t="t",
    v="v",
    vs="sv",
    vb="bv",
    vd="sv",
    vlo="ov",
    opaque_in=base64_reader(urlsafe=False),
    opaque_out=base64_writer(urlsafe=False),
)


class LwM2mJsonCodec(Codec):
    """``bt`` is an absolute time and ``t`` is added to it (LwM2M 1.0 §6.4.4); ``clock``
    resolves a negative result, which the SenML draft of 1.0 made relative to now."""

    content_format = ContentFormat.LWM2M_JSON

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        records = node_records(path, node, models)
        base = records[0].bn if records else f"{path}/"
        return dump_json({"bn": base, "e": to_items(records, LABELS)})

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        return build_node(path, self._leaves(payload, models), models)

    def encode_timestamped(
        self, batches: Sequence[TimestampedValues], models: ModelRegistry
    ) -> bytes:
        """One document under ``bn`` "/", each entry with its batch's absolute time."""
        records: list[Record] = []
        for batch in batches:
            check_timestamp(batch.timestamp)
            if not batch.values:
                raise EncodeError("a timestamped batch needs at least one value")
            added = layout_records(batch.values.items(), lambda _: "/", models)
            records.extend(replace(record, t=batch.timestamp) for record in added)
        return dump_json({"bn": "/", "e": to_items(records, LABELS)})

    def decode_timestamped(self, payload: bytes, models: ModelRegistry) -> list[TimestampedValues]:
        return leaves_to_batches(self._leaves(payload, models))

    def _leaves(self, payload: bytes, models: ModelRegistry) -> list[Leaf]:
        document = load_json(payload)
        if type(document) is not dict:
            raise DecodeError("LwM2M JSON is an object with an 'e' array", offset=0)
        base_name = document.get("bn", "")
        if type(base_name) is not str:
            raise DecodeError("'bn' is not a string")
        base_time = time_number(finite_number(document.get("bt", 0), "'bt'"), "'bt'")
        if "e" not in document:
            raise DecodeError("LwM2M JSON without an 'e' array")
        leaves = resolve(
            document["e"],
            LABELS,
            models,
            self._clock,
            base_name=base_name,
            base_time=base_time,
            relative_below=0.0,
        )
        return refuse_lone_surrogates(payload, leaves)
