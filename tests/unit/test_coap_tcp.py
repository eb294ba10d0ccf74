"""RFC 8323 framing: stream reassembly, size limits, error recovery and signal parsing."""

from __future__ import annotations

import pytest

from lwm2m.coap import (
    Abort,
    BadOptionError,
    Code,
    Csm,
    FramingError,
    InvalidMessageError,
    Message,
    MessageFormatError,
    Options,
    Ping,
    Release,
    TcpFramer,
    Type,
    decode_tcp,
    encode_tcp,
    parse_signal,
)

GET = Message(Type.NON, Code.GET, token=b"\x01", options=Options.build(uri_path=["3", "0"]))


def test_byte_by_byte() -> None:
    stream = encode_tcp(GET) * 3
    framer = TcpFramer()
    received = [m for byte in stream for m in framer.feed(bytes([byte]))]
    assert received == [GET] * 3


def test_oversized_frame_rejected_before_buffering() -> None:
    """A 4 GiB Len field fails on its first 5 bytes: nothing is allocated for it."""
    framer = TcpFramer(max_message_size=1152)
    with pytest.raises(FramingError, match="exceeds"):
        framer.feed(b"\xf0\xff\xff\xff\xff")
    with pytest.raises(FramingError, match="already failed"):
        framer.feed(encode_tcp(GET))


def test_limit_counts_the_whole_frame() -> None:
    frame = encode_tcp(Message(Type.NON, Code.CONTENT, payload=b"x" * 100))
    assert TcpFramer(max_message_size=len(frame)).feed(frame)
    with pytest.raises(FramingError):
        TcpFramer(max_message_size=len(frame) - 1).feed(frame)


def test_reserved_token_length_is_fatal() -> None:
    with pytest.raises(FramingError, match="token length"):
        TcpFramer().feed(b"\x09\x01")


def test_bad_frame_then_resume() -> None:
    """A malformed frame with a sound length is skipped; earlier and later ones survive."""
    bad = b"\x10\x01\xff"  # Len 1, one 0xFF byte: payload marker without payload
    stream = encode_tcp(GET) + bad + encode_tcp(GET)
    framer = TcpFramer()
    with pytest.raises(MessageFormatError, match="payload marker") as caught:
        framer.feed(stream)
    assert not isinstance(caught.value, FramingError)
    assert caught.value.code == Code.GET
    assert framer.feed(b"") == [GET, GET]


def test_bad_option_in_frame() -> None:
    frame = b"\x41\x01\x07\x73\x01\x02\x03"  # Uri-Port of 3 bytes, token 0x07
    with pytest.raises(BadOptionError) as caught:
        TcpFramer().feed(frame)
    assert caught.value.token == b"\x07" and caught.value.option == 7


def test_empty_message() -> None:
    """RFC 8323 §3.2: an Empty message is a bare 0x00 0x00, and must carry nothing else."""
    assert TcpFramer().feed(b"\x00\x00") == [Message(Type.NON, Code.EMPTY)]
    with pytest.raises(MessageFormatError, match="Empty"):
        decode_tcp(b"\x01\x00\x01")


def test_decode_tcp_needs_exact_frame() -> None:
    frame = encode_tcp(GET)
    for wrong in (frame[:-1], frame + b"\x00", b""):
        with pytest.raises(MessageFormatError):
            decode_tcp(wrong)


def test_signal_options_are_not_checked_as_request_options() -> None:
    """Option 4 is ETag (1-8 bytes) in requests but Block-Wise-Transfer (empty) in a CSM."""
    csm = decode_tcp(b"\x10\xe1\x40")
    assert parse_signal(csm) == Csm(block_wise_transfer=True)


def test_csm_unknown_critical_option() -> None:
    """RFC 8323 §5.3: an unknown critical CSM option is answered with Abort(Bad-CSM-Option)."""
    with pytest.raises(BadOptionError) as caught:
        parse_signal(decode_tcp(b"\x20\xe1\x51\x01"))
    assert caught.value.option == 5
    assert parse_signal(decode_tcp(b"\x20\xe1\x61\x01")) == Csm()  # elective 6 is ignored


def test_malformed_elective_signal_options_are_ignored() -> None:
    assert parse_signal(decode_tcp(b"\x60\xe1\x25\x01\x02\x03\x04\x05")) == Csm()
    assert parse_signal(decode_tcp(b"\x20\xe2\x21\x00")) == Ping()  # Custody must be empty
    release = decode_tcp(b"\x30\xe4\x20\x01\xff")  # empty and non-UTF-8 addresses
    assert parse_signal(release) == Release()


def test_unknown_signal_code() -> None:
    assert parse_signal(Message(Type.NON, Code(0xE9))) is None


def test_signal_from_wrong_code() -> None:
    with pytest.raises(InvalidMessageError):
        Csm.from_message(Message(Type.NON, Code.PING))


def test_signal_value_limits() -> None:
    with pytest.raises(InvalidMessageError):
        Csm(max_message_size=1 << 32).to_message()
    with pytest.raises(InvalidMessageError):
        Abort(bad_csm_option=-1).to_message()
