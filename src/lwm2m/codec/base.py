"""The codec interface and the registry that picks a codec by content-format number."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum

from lwm2m.codec.errors import UnsupportedFormatError
from lwm2m.model import ModelRegistry, Node, Path, TimestampedValues, Value


class ContentFormat(IntEnum):
    """CoAP Content-Format numbers LwM2M uses (IANA CoAP registry, LwM2M Core 7.2)."""

    TEXT = 0
    LINK = 40
    OPAQUE = 42
    CBOR = 60
    SENML_JSON = 110
    SENML_CBOR = 112
    TLV = 11542
    LWM2M_JSON = 11543
    LWM2M_CBOR = 11544


FORMAT_NAMES: dict[str, ContentFormat] = {
    "text": ContentFormat.TEXT,
    "link": ContentFormat.LINK,
    "opaque": ContentFormat.OPAQUE,
    "cbor": ContentFormat.CBOR,
    "senml-json": ContentFormat.SENML_JSON,
    "senml-cbor": ContentFormat.SENML_CBOR,
    "tlv": ContentFormat.TLV,
    "lwm2m-json": ContentFormat.LWM2M_JSON,
    "lwm2m-cbor": ContentFormat.LWM2M_CBOR,
}


class Codec:
    """One content format.  Subclasses override what their format can carry.

    - ``encode`` / ``decode``: one node at ``path`` (Read, Write, notifications).
    - ``encode_values`` / ``decode_values``: leaf values from several places (composite).
    - ``encode_timestamped`` / ``decode_timestamped``: value batches with times (Send,
      notifications of historical values).
    - ``encode_paths`` / ``decode_paths``: path lists (Read-/Observe-Composite request bodies).

    Decoders raise only :class:`~lwm2m.codec.errors.DecodeError` (or its subclasses);
    encoders only :class:`~lwm2m.codec.errors.EncodeError`.
    """

    content_format: ContentFormat

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        raise self._unsupported("a single node")

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        raise self._unsupported("a single node")

    def encode_values(self, values: Mapping[Path, Value], models: ModelRegistry) -> bytes:
        raise self._unsupported("composite values")

    def decode_values(self, payload: bytes, models: ModelRegistry) -> dict[Path, Value]:
        raise self._unsupported("composite values")

    def encode_timestamped(
        self, batches: Sequence[TimestampedValues], models: ModelRegistry
    ) -> bytes:
        raise self._unsupported("timestamped values")

    def decode_timestamped(self, payload: bytes, models: ModelRegistry) -> list[TimestampedValues]:
        raise self._unsupported("timestamped values")

    def encode_paths(self, paths: Sequence[Path]) -> bytes:
        raise self._unsupported("path lists")

    def decode_paths(self, payload: bytes) -> list[Path]:
        raise self._unsupported("path lists")

    def _unsupported(self, what: str) -> UnsupportedFormatError:
        return UnsupportedFormatError(f"{self.content_format.name} cannot carry {what}")


class CodecRegistry:
    """Codecs keyed by content-format number."""

    __slots__ = ("_codecs",)

    def __init__(self, codecs: Sequence[Codec] = ()) -> None:
        self._codecs: dict[int, Codec] = {}
        for codec in codecs:
            self._codecs[int(codec.content_format)] = codec

    def get(self, content_format: int) -> Codec:
        codec = self._codecs.get(content_format)
        if codec is None:
            raise UnsupportedFormatError(f"content format {content_format} is not supported")
        return codec

    def __contains__(self, content_format: int) -> bool:
        return content_format in self._codecs

    def formats(self) -> list[int]:
        return sorted(self._codecs)


def parse_format(name_or_number: str) -> ContentFormat:
    """``senml-cbor`` or ``112`` -> ContentFormat.SENML_CBOR (for CLI and REST arguments)."""
    key = name_or_number.strip().lower()
    if key in FORMAT_NAMES:
        return FORMAT_NAMES[key]
    if key.isdigit():
        try:
            return ContentFormat(int(key))
        except ValueError:
            pass
    raise UnsupportedFormatError(f"unknown content format {name_or_number!r}")
