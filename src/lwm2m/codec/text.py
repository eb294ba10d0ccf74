"""Plain text (content format 0, LwM2M Core 1.1 §7.4.1): one resource or resource instance.

Values take their Appendix C text form: decimal integers, ``0``/``1`` booleans, time as integer
seconds, objlnk as ``o:i``, opaque as base64.  Nothing is trimmed: ``"1 "`` is not an integer.
An unknown resource decodes as a string (see :mod:`lwm2m.codec.values`).
"""

from __future__ import annotations

from lwm2m.codec.base import Codec, ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.values import (
    decode_type,
    encode_type,
    leaf_node,
    leaf_value,
    require_single_value_path,
    text_to_value,
    value_to_text,
)
from lwm2m.model import ModelRegistry, Node, Path, ResourceType


class TextCodec(Codec):
    content_format = ContentFormat.TEXT

    def decode(self, payload: bytes, path: Path, models: ModelRegistry) -> Node:
        require_single_value_path(models, path, DecodeError)
        resource_type = decode_type(models, path, ResourceType.STRING)
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("plain text is not UTF-8", path=path, offset=exc.start) from None
        return leaf_node(path, text_to_value(resource_type, text, path))

    def encode(self, path: Path, node: Node, models: ModelRegistry) -> bytes:
        require_single_value_path(models, path, EncodeError)
        value = leaf_value(path, node)
        # encode_type refuses strings with lone surrogates: every text has a UTF-8 form.
        return value_to_text(encode_type(models, path, value), value, path).encode("utf-8")
