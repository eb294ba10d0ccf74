"""Fuzz targets for every decoder in the codec registry, the flat JSON view and CoAP framing.

An input's first byte picks what to decode (operation and target path, from :data:`CASES`);
the rest is the payload.  What decodes must satisfy :mod:`tests.fuzz.oracles` and re-encode
with the same codec to bytes that decode equal (the formats are canonical enough for values;
times are compared after SenML resolution).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from lwm2m.coap import FramingError, MessageFormatError, TcpFramer, decode_tcp, encode_tcp
from lwm2m.coap.message import Message
from lwm2m.codec import DecodeError, EncodeError, default_codecs
from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.flat_json import values_from_json, values_to_json
from lwm2m.codec.link import LinkFormatCodec
from lwm2m.codec.senml import RELATIVE_TIME_LIMIT
from lwm2m.model import Node, Path, TimestampedValues, node_to_values
from tests.codec_fixtures import example_models
from tests.fuzz.oracles import (
    OracleError,
    canonical_values,
    check_event_json,
    check_json,
    check_model,
    check_store,
    check_values,
)

T0 = 1_700_000_000.0
MODELS = example_models()
CODECS = default_codecs(lambda: T0)

NODE_PATHS = (
    Path.of(3, 0),
    Path.of(3),
    Path.of(3, 0, 0),
    Path.of(3, 0, 6),
    Path.of(3, 0, 7, 1),
    Path.of(9999, 0),
    Path.of(9999, 0, 2),
    Path.of(9999, 0, 3),
    Path.of(9999, 0, 5),
    Path.of(9999, 0, 6),
    Path.of(9999, 0, 12),
    Path.of(9998, 0),
    Path.of(9998, 0, 1),
    Path.of(65, 0),
    Path.of(2),
)
"""Device, every data type (9999), an object no model knows (9998), object links, ACL."""

Case = tuple[str, Path]
CASES: dict[ContentFormat, tuple[Case, ...]] = {}
for _format in ContentFormat:
    _cases: list[Case] = [("node", path) for path in NODE_PATHS]
    if _format in (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR):
        _cases.append(("values", Path.of()))
    if _format in (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_JSON):
        _cases.append(("batches", Path.of()))
    if _format in (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LINK):
        _cases.append(("paths", Path.of()))
    if _format is ContentFormat.LINK:
        _cases = [("links", Path.of()), ("paths", Path.of())]
    CASES[_format] = tuple(_cases)


def _same(first: dict[Path, object], second: dict[Path, object], what: str) -> None:
    if first != second:
        raise OracleError(f"{what}: {str(first)[:150]} came back as {str(second)[:150]}")


def _node(codec: Codec, payload: bytes, path: Path) -> None:
    node = codec.decode(payload, path, MODELS)
    values = node_to_values(path, node)
    check_values(values, MODELS)
    again = _reencoded(codec, path, node)
    if type(again) is not type(node):
        raise OracleError(f"a {type(node).__name__} came back as a {type(again).__name__}")
    _same(canonical_values(values), canonical_values(node_to_values(path, again)), "node")


def _reencoded(codec: Codec, path: Path, node: Node) -> Node:
    try:
        encoded = codec.encode(path, node, MODELS)
    except EncodeError as exc:
        raise OracleError(f"decoded, but does not encode again: {exc}") from exc
    try:
        return codec.decode(encoded, path, MODELS)
    except DecodeError as exc:
        raise OracleError(f"re-encoded {encoded[:80]!r} does not decode: {exc}") from exc


def _values(codec: Codec, payload: bytes) -> None:
    values = codec.decode_values(payload, MODELS)
    check_values(values, MODELS)
    try:
        again = codec.decode_values(codec.encode_values(values, MODELS), MODELS)
    except (EncodeError, DecodeError) as exc:
        raise OracleError(f"composite values do not round-trip: {exc}") from exc
    _same(canonical_values(values), canonical_values(again), "values")


def _batches(codec: Codec, payload: bytes) -> None:
    batches = codec.decode_timestamped(payload, MODELS)
    for batch in batches:
        check_model(batch.values, MODELS)
        check_json(batch.values, MODELS)
    # As a SendReceived event shows them; a timestamp must be finite for that.
    check_event_json(
        [{"timestamp": b.timestamp, "values": values_to_json(b.values)} for b in batches]
    )
    check_store((b.timestamp or T0, b.values) for b in batches)
    try:
        encoded = codec.encode_timestamped(batches, MODELS)
    except EncodeError as exc:
        # SenML reads times below 2^28 s as relative: an absolute time before 1978 (a
        # relative time far in the past) has no SenML form.  Known, see the report.
        if any(b.timestamp is not None and b.timestamp < RELATIVE_TIME_LIMIT for b in batches):
            return
        raise OracleError(f"timestamped values do not encode again: {exc}") from exc
    again = codec.decode_timestamped(encoded, MODELS)
    _same(_batch_form(batches), _batch_form(again), "timestamped values")


def _batch_form(batches: Sequence[TimestampedValues]) -> dict[Path, object]:
    return {
        Path.of(index): (batch.timestamp, canonical_values(batch.values))
        for index, batch in enumerate(batches)
    }


def _paths(codec: Codec, payload: bytes) -> None:
    paths = codec.decode_paths(payload)
    try:
        again = codec.decode_paths(codec.encode_paths(paths))
    except (EncodeError, DecodeError) as exc:
        raise OracleError(f"paths do not round-trip: {exc}") from exc
    if again != paths:
        raise OracleError(f"paths {paths[:5]} came back as {again[:5]}")


def _links(codec: LinkFormatCodec, payload: bytes) -> None:
    links = codec.decode_links(payload)
    check_event_json([link.to_json() for link in links])
    try:
        again = codec.decode_links(codec.encode_links(links))
    except (EncodeError, DecodeError) as exc:
        raise OracleError(f"links do not round-trip: {exc}") from exc
    if again != links:
        raise OracleError(f"links {links[:3]} came back as {again[:3]}")


def codec_target(content_format: ContentFormat) -> Callable[[bytes], None]:
    codec = CODECS.get(content_format)
    cases = CASES[content_format]

    def run(data: bytes) -> None:
        if not data:
            return
        kind, path = cases[data[0] % len(cases)]
        payload = data[1:]
        try:
            if kind == "node":
                _node(codec, payload, path)
            elif kind == "values":
                _values(codec, payload)
            elif kind == "batches":
                _batches(codec, payload)
            elif kind == "paths":
                _paths(codec, payload)
            else:
                assert isinstance(codec, LinkFormatCodec)
                _links(codec, payload)
        except DecodeError:
            pass

    return run


def flat_json(data: bytes) -> None:
    """A REST write body's ``values`` as ``web.inputs.read_json`` parses it (plain json.loads)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return
    try:
        values = values_from_json(document, MODELS)
    except DecodeError:
        return
    check_values(values, MODELS)


def coap_datagram(data: bytes) -> None:
    try:
        message = Message.decode(data)
    except MessageFormatError:
        return
    if Message.decode(message.encode()) != message:
        raise OracleError("a CoAP datagram does not round-trip")


def coap_stream(data: bytes) -> None:
    """RFC 8323 framing: one frame, then the stream cut where the first byte says."""
    try:
        message = decode_tcp(data)
    except MessageFormatError:
        pass
    else:
        if decode_tcp(encode_tcp(message)) != message:
            raise OracleError("a CoAP-over-TCP frame does not round-trip")
    framer = TcpFramer(max_message_size=4096)
    step = (data[0] if data else 1) or 1
    chunks = [data[start : start + step] for start in range(0, len(data), step)]
    for chunk in [*chunks, b""]:  # feed(b"") returns what a recoverable error held back
        try:
            for message in framer.feed(chunk):
                if decode_tcp(encode_tcp(message)) != message:
                    raise OracleError("a framed message does not round-trip")
        except FramingError:
            return  # the length cannot be trusted: the connection is aborted
        except MessageFormatError:
            continue  # one bad frame; the stream stays in step


CODEC_TARGETS: dict[str, Callable[[bytes], None]] = {
    f"codec-{content_format.name.lower().replace('_', '-')}": codec_target(content_format)
    for content_format in ContentFormat
}
CODEC_TARGETS["flat-json"] = flat_json
CODEC_TARGETS["coap-datagram"] = coap_datagram
CODEC_TARGETS["coap-stream"] = coap_stream
