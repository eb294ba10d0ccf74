"""Opaque (content format 42, LwM2M Core 1.1 §7.4.2): the raw bytes of one opaque value.

Only a resource or resource instance of type opaque (or one the model does not know) fits.
"""

from __future__ import annotations

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import CodecError, DecodeError, EncodeError
from lwm2m.codec.values import leaf_node, leaf_value, require_single_value_path
from lwm2m.model import ModelRegistry, Node, Path, ResourceType


class OpaqueCodec(Codec):
    content_format = ContentFormat.OPAQUE

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        require_single_value_path(models, path, DecodeError)
        _require_opaque(models, path, DecodeError)
        return leaf_node(path, bytes(payload))

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        require_single_value_path(models, path, EncodeError)
        _require_opaque(models, path, EncodeError)
        value = leaf_value(path, node)
        if not isinstance(value, bytes):
            raise EncodeError(f"opaque needs bytes, got {type(value).__name__}", path=path)
        return value


def _require_opaque(models: ModelRegistry, path: Path, error: type[CodecError]) -> None:
    model = models.resource(path)
    if model is not None and model.type is not ResourceType.OPAQUE:
        raise error(f"resource is {model.type.value}, not opaque", path=path)
