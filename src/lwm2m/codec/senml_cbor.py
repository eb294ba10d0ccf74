"""SenML CBOR (content format 112, RFC 8428 §6; LwM2M Core 1.1 §7.4.5), and guarded CBOR input."""

from __future__ import annotations

import io

import cbor2

from lwm2m.codec.base import ContentFormat
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.senml import Label, Labels, SenmlCodec


def bytes_in(raw: object) -> bytes:
    """CBOR carries opaque natively as a byte string."""
    if type(raw) is bytes:
        return raw
    raise TypeError(f"expected a byte string, got {type(raw).__name__}")


def _bytes_out(data: bytes) -> object:
    return data


LABELS = Labels(
    format="SenML CBOR",
    bn=-2,
    bt=-3,
    n=0,
    t=6,
    v=2,
    vs=3,
    vb=4,
    vd=8,
    vlo="vlo",
    opaque_in=bytes_in,
    opaque_out=_bytes_out,
)

# Only additional information 26/27 (4- and 8-byte arguments) lets a string, array or map header
# claim more than 65535 entries.  Payloads without such an initial byte cannot make any cbor2
# version allocate much, so only they skip the pre-scan (found by deleting them: a third of the
# time a regular expression takes).
_LONG_HEADERS = b"\x5a\x5b\x7a\x7b\x9a\x9b\xba\xbb"
_DECODE_ERRORS = (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError)


def load_cbor(payload: bytes) -> object:
    """One CBOR data item spanning the whole payload.

    Lengths are checked against the bytes that remain before cbor2 sees them (older cbor2 C
    decoders preallocate what a header claims), and trailing bytes are an error.
    """
    if len(payload.translate(None, _LONG_HEADERS)) != len(payload):
        check_lengths(payload)
    stream = io.BytesIO(payload)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except _DECODE_ERRORS as exc:
        raise DecodeError(f"malformed CBOR: {exc}", offset=stream.tell()) from None
    if stream.tell() != len(payload):
        raise DecodeError("bytes after the CBOR data item", offset=stream.tell())
    return item


def check_lengths(payload: bytes) -> None:
    """Walk the item headers and refuse any length the remaining payload cannot hold."""
    end = len(payload)
    pos = 0
    pending = [1]  # items still to read at each open nesting level; -1: indefinite
    while pending:
        if pos >= end:
            raise DecodeError("CBOR item is cut short", offset=pos)
        start = pos
        initial = payload[pos]
        major, info = initial >> 5, initial & 0x1F
        pos += 1
        if initial == 0xFF:
            if pending[-1] != -1:
                raise DecodeError("unexpected CBOR break", offset=start)
            pending.pop()
            _item_done(pending)
            continue
        if info < 24:
            argument = info
        elif info < 28:
            size = 1 << (info - 24)
            if pos + size > end:
                raise DecodeError("CBOR header is cut short", offset=start)
            argument = int.from_bytes(payload[pos : pos + size], "big")
            pos += size
        elif info == 31 and 2 <= major <= 5:
            pending.append(-1)
            continue
        else:
            raise DecodeError(f"reserved CBOR header byte 0x{initial:02x}", offset=start)
        if major in (2, 3):
            if argument > end - pos:
                raise DecodeError(f"CBOR string of {argument} bytes overruns", offset=start)
            pos += argument
        elif major in (4, 5):
            count = argument * (major - 3)
            if count > end - pos:
                raise DecodeError(f"CBOR container of {argument} entries overruns", offset=start)
            if count:
                pending.append(count)
                continue
        elif major == 6:
            pending.append(1)
            continue
        _item_done(pending)


def _item_done(pending: list[int]) -> None:
    while pending and pending[-1] != -1:
        pending[-1] -= 1
        if pending[-1]:
            return
        pending.pop()


def dump_cbor(item: object) -> bytes:
    try:
        return cbor2.dumps(item)
    except (cbor2.CBOREncodeError, ValueError, TypeError) as exc:
        raise EncodeError(f"CBOR cannot carry it: {exc}") from None


class SenmlCborCodec(SenmlCodec):
    content_format = ContentFormat.SENML_CBOR
    labels = LABELS

    def _load(self, payload: bytes) -> object:
        return load_cbor(payload)

    def _dump(self, items: list[dict[Label, object]]) -> bytes:
        return dump_cbor(items)
