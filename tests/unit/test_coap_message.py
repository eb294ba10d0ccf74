"""Message: construction checks, UDP decode errors and Hypothesis round trips for both framings."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap import (
    OPTION_SPECS,
    BadOptionError,
    Code,
    InvalidMessageError,
    Message,
    MessageFormatError,
    OptionFormat,
    Options,
    TcpFramer,
    Type,
    decode_tcp,
    encode_tcp,
)

UNKNOWN_NUMBERS = st.integers(0, 0xFFFF).filter(lambda n: n not in OPTION_SPECS)


@st.composite
def known_option(draw: st.DrawFn, number: int) -> tuple[int, bytes]:
    spec = OPTION_SPECS[number]
    if spec.format is OptionFormat.STRING:
        text = draw(st.text(max_size=spec.max_length // 4))
        value = text.encode()[: spec.max_length]
        value = value.decode(errors="ignore").encode()
        if len(value) < spec.min_length:
            value = b"x"
    elif spec.format is OptionFormat.UINT:
        number_value = draw(st.integers(0, (1 << (8 * spec.max_length)) - 1))
        value = number_value.to_bytes((number_value.bit_length() + 7) // 8, "big")
    else:
        value = draw(st.binary(min_size=spec.min_length, max_size=spec.max_length))
    return number, value


@st.composite
def options(draw: st.DrawFn) -> Options:
    items = []
    for number in draw(st.sets(st.sampled_from(sorted(OPTION_SPECS)), max_size=6)):
        repeats = draw(st.integers(1, 3)) if OPTION_SPECS[number].repeatable else 1
        items += [draw(known_option(number)) for _ in range(repeats)]
    items += draw(st.lists(st.tuples(UNKNOWN_NUMBERS, st.binary(max_size=300)), max_size=4))
    return Options(items)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    code = Code(draw(st.integers(0, 255)))
    if code == Code.EMPTY:
        return Message(Type(draw(st.integers(0, 3))), code, draw(st.integers(0, 0xFFFF)))
    return Message(
        Type(draw(st.integers(0, 3))),
        code,
        draw(st.integers(0, 0xFFFF)),
        draw(st.binary(max_size=8)),
        draw(options()),
        draw(st.binary(max_size=300)),
    )


@given(messages())
def test_udp_roundtrip(message: Message) -> None:
    wire = message.encode()
    assert Message.decode(wire) == message
    assert Message.decode(bytearray(wire)) == message


@given(messages())
def test_tcp_roundtrip(message: Message) -> None:
    expected = dataclasses.replace(message, type=Type.NON, message_id=0)
    frame = encode_tcp(message)
    assert decode_tcp(frame) == expected
    assert TcpFramer(max_message_size=len(frame)).feed(frame) == [expected]


@given(st.lists(messages(), min_size=1, max_size=4))
def test_tcp_split_at_every_byte(batch: list[Message]) -> None:
    expected = [dataclasses.replace(m, type=Type.NON, message_id=0) for m in batch]
    stream = b"".join(encode_tcp(m) for m in batch)
    for cut in range(len(stream) + 1):
        framer = TcpFramer(max_message_size=len(stream))
        assert framer.feed(stream[:cut]) + framer.feed(stream[cut:]) == expected


def test_decoded_message_reuses_wire_options() -> None:
    wire = bytes.fromhex("44011234deadbeefb13301300130622d16")
    message = Message.decode(wire)
    assert message.options.encode() == wire[8:]
    assert message.encode() == wire


def test_decoded_message_is_a_frozen_message() -> None:
    """Decoding fills the slots without the constructor; the result is still the real thing."""
    message = Message.decode(bytes.fromhex("64451234deadbeefc12dff7061796c6f6164"))
    assert type(message) is Message and type(message.options) is Options
    assert message == Message(
        Type.ACK,
        Code.CONTENT,
        0x1234,
        b"\xde\xad\xbe\xef",
        Options.build(content_format=45),
        b"payload",
    )
    assert hash(message) == hash(dataclasses.replace(message))
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.code = Code.GET  # type: ignore[misc]
    with pytest.raises(AttributeError):
        message.options._wire = None


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"", "shorter than"),
        (b"\x40\x01\x00", "shorter than"),
        (b"\x80\x01\x00\x01", "version"),
        (b"\x09\x01\x00\x01", "version"),
        (b"\x49\x01\x00\x01" + bytes(9), "token length"),
        (b"\x44\x01\x00\x01\x01\x02", "token runs past"),
        (b"\x40\x00\x00\x01\xff", "Empty message"),
        (b"\x41\x00\x00\x01\x07", "Empty message"),
        (b"\x40\x01\x00\x01\xff", "payload marker without payload"),
        (b"\x40\x01\x00\x01\xf0", "delta nibble 15"),
        (b"\x40\x01\x00\x01\x0f", "length nibble 15"),
        (b"\x40\x01\x00\x01\xd0", "runs past the end"),
        (b"\x40\x01\x00\x01\x0e\x00", "runs past the end"),
        (b"\x40\x01\x00\x01\x03ab", "runs past the end"),
        (b"\x40\x01\x00\x01" + b"\xe0\xff\xff" * 2, "out of range"),
    ],
)
def test_format_errors(wire: bytes, reason: str) -> None:
    with pytest.raises(MessageFormatError, match=reason):
        Message.decode(wire)


def test_format_error_carries_header_fields() -> None:
    with pytest.raises(MessageFormatError) as caught:
        Message.decode(b"\x52\x01\xab\xcd\x11\x22\xff")
    error = caught.value
    assert (error.type, error.code, error.message_id, error.token) == (
        Type.NON,
        Code.GET,
        0xABCD,
        b"\x11\x22",
    )
    assert error.offset == 6
    with pytest.raises(MessageFormatError) as caught:
        Message.decode(b"\x4c\x01\xab\xcd")
    assert (caught.value.type, caught.value.message_id, caught.value.token) == (
        Type.CON,
        0xABCD,
        None,
    )


def test_bad_critical_option_is_bad_option_error() -> None:
    """RFC 7252 §5.4.3: a critical option with a wrong length is unrecognized: 4.02."""
    wire = b"\x41\x01\x00\x07\x99\x73\x01\x02\x03"  # Uri-Port (7) of 3 bytes
    with pytest.raises(BadOptionError) as caught:
        Message.decode(wire)
    assert caught.value.option == 7
    assert caught.value.message_id == 7
    assert caught.value.token == b"\x99"


def test_bad_elective_option_is_dropped() -> None:
    """RFC 7252 §5.4.3: an elective one with a wrong length is silently ignored."""
    wire = b"\x40\x01\x00\x07\xc3\x01\x02\x03\x51\x2a"  # Content-Format of 3 bytes, Accept 42
    message = Message.decode(wire)
    assert list(message.options) == [(17, b"\x2a")]
    assert message.encode() == b"\x40\x01\x00\x07\xd1\x04\x2a"


def test_repeated_non_repeatable_options() -> None:
    """RFC 7252 §5.4.5: later occurrences are unrecognized; the first one stays."""
    elective = Message.decode(b"\x40\x01\x00\x07\xc1\x28\x01\x29")  # Content-Format twice
    assert elective.options.content_format == 40
    assert len(elective.options) == 1
    with pytest.raises(BadOptionError, match="option 7"):
        Message.decode(b"\x40\x01\x00\x07\x71\x28\x01\x29")  # Uri-Port twice
    repeatable = Message.decode(b"\x40\x01\x00\x07\xb1a\x01b")
    assert repeatable.options.uri_path == ("a", "b")


def test_string_options_must_be_utf8() -> None:
    with pytest.raises(BadOptionError):
        Message.decode(b"\x40\x01\x00\x07\x31\xff")  # Uri-Host, critical
    dropped = Message.decode(b"\x40\x01\x00\x07\x81\xff")  # Location-Path, elective
    assert dropped.options.location_path == ()
    accepted = Message.decode(b"\x40\x01\x00\x07\xb2\xc3\xa9")
    assert accepted.options.uri_path == ("é",)


def test_unknown_options_are_kept() -> None:
    wire = b"\x40\x01\x00\x07\xd2\x00\xab\xcd\x12\x01\x02\xff\x01"  # 13, then 14: both unknown
    message = Message.decode(wire)
    assert list(message.options) == [(13, b"\xab\xcd"), (14, b"\x01\x02")]
    assert message.options.unknown_critical() == (13,)
    assert message.payload == b"\x01"
    assert message.encode() == wire


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message_id": -1},
        {"message_id": 65536},
        {"token": bytes(9)},
        {"token": "abc"},
        {"payload": "text"},
        {"options": [(11, b"a")]},
        {"code": Code.EMPTY, "token": b"\x01"},
        {"code": Code.EMPTY, "payload": b"\x01"},
        {"code": 256},
        {"type": 4},
    ],
)
def test_invalid_local_messages(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"type": Type.CON, "code": Code.GET} | kwargs
    with pytest.raises(InvalidMessageError):
        Message(**fields)  # type: ignore[arg-type]


def test_coerces_ints_and_is_hashable() -> None:
    message = Message(1, 0x45, 5, payload=b"x")  # type: ignore[arg-type]
    assert message.type is Type.NON
    assert message.code is Code.CONTENT
    assert hash(message) == hash(Message(Type.NON, Code.CONTENT, 5, payload=b"x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.payload = b"y"  # type: ignore[misc]


def test_matches_aiocoap_encoding() -> None:
    """An independent encoder agrees byte for byte (aiocoap, a test dependency)."""
    aiocoap = pytest.importorskip("aiocoap")
    ours = Message(
        Type.CON,
        Code.GET,
        0x1234,
        b"\xde\xad\xbe\xef",
        Options.build(uri_path=["3", "0", "0"], uri_query=["ep=x"], accept=11542),
    )
    theirs = aiocoap.Message.decode(ours.encode())
    assert theirs.mid == 0x1234
    assert theirs.token == b"\xde\xad\xbe\xef"
    assert theirs.opt.uri_path == ("3", "0", "0")
    assert theirs.opt.uri_query == ("ep=x",)
    assert theirs.opt.accept == 11542
