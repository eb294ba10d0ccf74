"""Byte-exact vectors from the RFCs; each test names the section its bytes come from."""

from __future__ import annotations

import pytest

from lwm2m.coap import (
    Abort,
    Block,
    Code,
    Csm,
    Message,
    OptionNumber,
    Options,
    Ping,
    Pong,
    Release,
    TcpFramer,
    Type,
    decode_tcp,
    encode_tcp,
    parse_signal,
)


def roundtrip(message: Message, wire: bytes) -> None:
    assert message.encode() == wire
    assert Message.decode(wire) == message


def test_rfc7252_a1_confirmable_request_piggybacked_response() -> None:
    """RFC 7252 Appendix A, Figure 16: CON GET /temperature, MID 0x7d34, no token."""
    request = Message(Type.CON, Code.GET, 0x7D34, options=Options.build(uri_path=["temperature"]))
    roundtrip(request, bytes.fromhex("40017d34") + b"\xbbtemperature")
    response = Message(Type.ACK, Code.CONTENT, 0x7D34, payload=b"22.3 C")
    roundtrip(response, bytes.fromhex("60457d34ff") + b"22.3 C")


def test_rfc7252_a1_with_token_and_lost_ack() -> None:
    """RFC 7252 Appendix A, Figure 17: token 0x20, the retransmission keeps MID/token."""
    request = Message(Type.CON, Code.GET, 0x7D35, b"\x20", Options.build(uri_path=["temperature"]))
    roundtrip(request, bytes.fromhex("41017d3520") + b"\xbbtemperature")
    response = Message(Type.ACK, Code.CONTENT, 0x7D35, b"\x20", payload=b"22.3 C")
    roundtrip(response, bytes.fromhex("61457d3520ff") + b"22.3 C")


def test_rfc7252_a2_separate_response() -> None:
    """RFC 7252 Appendix A, Figure 18/19: empty ACK, then CON 2.05 with token 0x23bb."""
    roundtrip(Message(Type.ACK, Code.EMPTY, 0x7D38), bytes.fromhex("60007d38"))
    response = Message(Type.CON, Code.CONTENT, 0xAD7B, b"\x23\xbb", payload=b"22.3 C")
    roundtrip(response, bytes.fromhex("4245ad7b23bbff") + b"22.3 C")
    roundtrip(Message(Type.RST, Code.EMPTY, 0xAD7B), bytes.fromhex("7000ad7b"))


def test_lwm2m_read_request() -> None:
    """RFC 7252 §3.1 deltas: Uri-Path 11 (delta 11, then 0, 0) and Accept 17 (delta 6)."""
    options = Options.build(uri_path=["3", "0", "0"], accept=11542)
    message = Message(Type.CON, Code.GET, 0x1234, b"\xde\xad\xbe\xef", options)
    roundtrip(message, bytes.fromhex("440112 34deadbeef b133 0130 0130 622d16".replace(" ", "")))


@pytest.mark.parametrize(
    ("delta", "header"),
    [
        (12, b"\xc0"),  # RFC 7252 §3.1: 0-12 in the nibble
        (13, b"\xd0\x00"),  # 13: one extension byte, minus 13
        (268, b"\xd0\xff"),
        (269, b"\xe0\x00\x00"),  # 14: two extension bytes, minus 269
        (65535, b"\xe0\xfe\xf2"),
    ],
)
def test_rfc7252_3_1_extended_delta(delta: int, header: bytes) -> None:
    message = Message(Type.NON, Code.GET, 1, options=Options([(delta, b"")]))
    roundtrip(message, bytes.fromhex("50010001") + header)


@pytest.mark.parametrize(
    ("length", "header"),
    [(12, b"\x0c"), (13, b"\x0d\x00"), (268, b"\x0d\xff"), (269, b"\x0e\x00\x00")],
)
def test_rfc7252_3_1_extended_length(length: int, header: bytes) -> None:
    value = bytes(range(256)) * 2
    message = Message(Type.NON, Code.GET, 1, options=Options([(2, value[:length])]))
    roundtrip(
        message, bytes.fromhex("50010001") + bytes([0x20 | header[0]]) + header[1:] + value[:length]
    )


def test_rfc7252_3_2_uint_minimal_length() -> None:
    """RFC 7252 §3.2: 0 is the empty value; leading zeros are not sent but are accepted."""
    assert Options.build(content_format=0).get(OptionNumber.CONTENT_FORMAT) == b""
    assert Options.build(content_format=60).get(OptionNumber.CONTENT_FORMAT) == b"\x3c"
    assert Options.build(content_format=11543).get(OptionNumber.CONTENT_FORMAT) == b"\x2d\x17"
    received = Message.decode(bytes.fromhex("50010001c2003c"))
    assert received.options.content_format == 60


@pytest.mark.parametrize(
    ("block", "value"),
    [
        (Block(0, True, 3), b"\x0b"),  # RFC 7959 §3, Figure 2: "Block2 0/1/128"
        (Block(2, False, 3), b"\x23"),  # "Block2 2/0/128"
        (Block(0, False, 0), b""),  # §2.2: NUM 0, M 0, SZX 0 is a zero-length uint
        (Block(1, True, 6), b"\x1e"),  # 1024-byte blocks, SZX 6
        (Block(16, False, 2), b"\x01\x02"),  # §2.2: 2 bytes once NUM exceeds 4 bits
        ((Block(4095, True, 6)), b"\xff\xfe"),
        (Block(4096, False, 0), b"\x01\x00\x00"),  # 3 bytes once NUM exceeds 12 bits
        (Block((1 << 20) - 1, True, 6), b"\xff\xff\xfe"),  # the largest NUM (20 bits)
    ],
)
def test_rfc7959_2_2_block_value(block: Block, value: bytes) -> None:
    options = Options.build(block2=block, block1=block)
    assert options.get(OptionNumber.BLOCK2) == value
    assert options.get(OptionNumber.BLOCK1) == value
    decoded = Message.decode(Message(Type.CON, Code.PUT, 7, options=options).encode())
    assert decoded.options.block1 == block == decoded.options.block2


def test_rfc7959_2_2_block_size_and_offset() -> None:
    """RFC 7959 §2.2: size is 2**(SZX + 4), the block starts at NUM * size."""
    assert [Block(3, False, szx).size for szx in range(7)] == [16, 32, 64, 128, 256, 512, 1024]
    assert Block(3, True, 2).offset == 192
    assert Block(5, False, 7).offset == 5 * 1024  # RFC 8323 §6: BERT counts in 1 KiB units


def test_rfc9175_echo_and_request_tag() -> None:
    """RFC 9175 §2.2.1 (Echo, 252) and §3.2.1 (Request-Tag, 292): extended deltas."""
    echo = Options.build(echo=b"\x01\x02\x03\x04\x05\x06\x07\x08")
    wire = Message(Type.CON, Code.POST, 9, options=echo).encode()
    assert wire[4:] == b"\xd8\xef" + bytes(range(1, 9))  # delta 13 + 239 = 252
    tagged = Options.build(request_tag=b"\xab")
    wire = Message(Type.CON, Code.POST, 9, options=tagged).encode()
    assert wire[4:] == b"\xe1\x00\x17\xab"  # delta 14: 269 + 0x0017 = 292
    both = echo.replace(request_tag=b"\xab")
    wire = Message(Type.CON, Code.POST, 9, options=both).encode()
    assert wire[4:] == b"\xd8\xef" + bytes(range(1, 9)) + b"\xd1\x1b\xab"  # 252 + 13 + 27
    assert Message.decode(wire).options.request_tag == b"\xab"
    assert Message.decode(wire).options.echo == bytes(range(1, 9))


@pytest.mark.parametrize(
    ("body_length", "prefix"),
    [
        (0, b"\x00"),
        (12, b"\xc0"),  # RFC 8323 §3.2: Len 0-12 directly
        (13, b"\xd0\x00"),  # Len 13: 8-bit Extended Length = length - 13
        (268, b"\xd0\xff"),
        (269, b"\xe0\x00\x00"),  # Len 14: 16-bit Extended Length = length - 269
        (65804, b"\xe0\xff\xff"),
        (65805, b"\xf0\x00\x00\x00\x00"),  # Len 15: 32-bit Extended Length = length - 65805
    ],
)
def test_rfc8323_3_2_length_edges(body_length: int, prefix: bytes) -> None:
    payload = b"x" * (body_length - 1) if body_length else b""
    message = Message(Type.NON, Code.CONTENT, payload=payload)
    frame = encode_tcp(message)
    assert frame == prefix + b"\x45" + (b"\xff" + payload if payload else b"")
    assert decode_tcp(frame) == message
    assert TcpFramer(max_message_size=len(frame)).feed(frame) == [message]


def test_rfc8323_3_2_token_in_frame() -> None:
    """RFC 8323 Figure 4 shape: Len | TKL, Code, Token, Options, Payload."""
    message = Message(Type.NON, Code.GET, token=b"\x01\x02", options=Options.build(uri_path=["3"]))
    assert encode_tcp(message) == b"\x22\x01\x01\x02\xb1\x33"


def test_rfc8323_5_3_csm_max_message_size() -> None:
    """RFC 8323 §5.3.1: Max-Message-Size is option 2 of 7.01, a uint; §5.3.2 Block-Wise is 4."""
    frame = encode_tcp(Csm(max_message_size=1152).to_message())
    assert frame == b"\x30\xe1\x22\x04\x80"
    assert parse_signal(decode_tcp(frame)) == Csm(max_message_size=1152)
    frame = encode_tcp(Csm(max_message_size=65536, block_wise_transfer=True).to_message())
    assert frame == b"\x50\xe1\x23\x01\x00\x00\x20"
    assert parse_signal(decode_tcp(frame)) == Csm(65536, block_wise_transfer=True)


def test_rfc8323_5_4_ping_pong() -> None:
    """RFC 8323 §5.4: Ping 7.02 and Pong 7.03 with empty bodies; Custody is option 2."""
    assert encode_tcp(Ping().to_message()) == b"\x00\xe2"
    assert encode_tcp(Pong().to_message()) == b"\x00\xe3"
    assert parse_signal(decode_tcp(b"\x00\xe2")) == Ping()
    assert parse_signal(decode_tcp(b"\x11\xe3\x42\x20")) == Pong(custody=True, token=b"\x42")


def test_rfc8323_5_5_release_and_5_6_abort() -> None:
    """RFC 8323 §5.5: Alternative-Address 2 (string), Hold-Off 4 (uint); §5.6 Bad-CSM-Option 2."""
    release = Release(("coap+tcp://[2001:db8::1]",), hold_off=30)
    frame = encode_tcp(release.to_message())
    assert frame[:4] == b"\xd0\x0f\xe4\x2d"
    assert parse_signal(decode_tcp(frame)) == release
    abort = Abort(bad_csm_option=9, diagnostic="no OSCORE")
    frame = encode_tcp(abort.to_message())
    assert frame == b"\xc0\xe5\x21\x09\xff" + b"no OSCORE"
    assert parse_signal(decode_tcp(frame)) == abort
