"""LwM2M content formats, one module each, behind one registry keyed by content format."""

from __future__ import annotations

from lwm2m.codec.base import Codec, CodecRegistry, ContentFormat, parse_format
from lwm2m.codec.cbor import CborCodec
from lwm2m.codec.errors import CodecError, DecodeError, EncodeError, UnsupportedFormatError
from lwm2m.codec.link import LinkFormatCodec
from lwm2m.codec.lwm2m_cbor import LwM2mCborCodec
from lwm2m.codec.lwm2m_json import LwM2mJsonCodec
from lwm2m.codec.opaque import OpaqueCodec
from lwm2m.codec.senml import Clock
from lwm2m.codec.senml_cbor import SenmlCborCodec
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.codec.text import TextCodec
from lwm2m.codec.tlv import TlvCodec


def default_codecs(clock: Clock) -> CodecRegistry:
    """Every content format LwM2M 1.1 (and 1.2's LwM2M CBOR) defines.

    ``clock`` turns SenML relative times into absolute ones; cores get it injected so that
    they never read a clock themselves.
    """
    return CodecRegistry(
        [
            TextCodec(),
            LinkFormatCodec(),
            OpaqueCodec(),
            CborCodec(),
            SenmlJsonCodec(clock),
            SenmlCborCodec(clock),
            TlvCodec(),
            LwM2mJsonCodec(clock),
            LwM2mCborCodec(),
        ]
    )


__all__ = [
    "Clock",
    "Codec",
    "CodecError",
    "CodecRegistry",
    "ContentFormat",
    "DecodeError",
    "EncodeError",
    "UnsupportedFormatError",
    "default_codecs",
    "parse_format",
]
