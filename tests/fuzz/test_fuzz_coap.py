"""Seeded fuzzing of both decoders: only MessageFormatError may escape, and whatever decodes
must encode again. Deterministic (fixed seeds) so a failure reproduces."""

from __future__ import annotations

import random

from lwm2m.coap import (
    Block,
    Code,
    Message,
    MessageFormatError,
    Options,
    TcpFramer,
    Type,
    decode_tcp,
    encode_tcp,
)

CASES = 10_000

SEEDS = [
    Message(
        Type.CON,
        Code.GET,
        0x1234,
        b"\xde\xad\xbe\xef",
        Options.build(uri_path=["3", "0", "0"], accept=11542),
    ),
    Message(
        Type.ACK,
        Code.CONTENT,
        7,
        b"\x01",
        Options.build(content_format=11543, observe=12, block2=Block(3, True, 6)),
        b"x" * 40,
    ),
    Message(
        Type.CON,
        Code.POST,
        9,
        b"",
        Options.build(
            uri_path=["rd"], uri_query=["ep=a", "lt=30"], echo=b"\x01" * 8, request_tag=b"\x02"
        ),
        b"</1/0>",
    ),
    Message(Type.NON, Code.CSM, options=Options([(2, b"\x04\x80"), (4, b"")])),
    Message(Type.RST, Code.EMPTY, 3),
    Message(
        Type.CON,
        Code(0x9F),
        1,
        b"\x05" * 8,
        Options([(300, bytes(20)), (70000 - 4500, b"\x01")]),
        bytes(300),
    ),
]
UDP_SEEDS = [m.encode() for m in SEEDS]
TCP_SEEDS = [encode_tcp(m) for m in SEEDS]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif choice < 0.6 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif choice < 0.8:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = rng.randbytes(rng.randint(1, 4))
        elif buf:
            buf[rng.randrange(len(buf))] = rng.choice((0x0D, 0x0E, 0x0F, 0xD0, 0xE0, 0xF0, 0xFF))
    return bytes(buf)


def random_bytes(rng: random.Random) -> bytes:
    data = rng.randbytes(rng.randint(0, 40))
    if data and rng.random() < 0.75:  # mostly version 1, TKL 0-8: the parser gets past the header
        data = bytes([0x40 | data[0] & 0x30 | rng.randint(0, 8)]) + data[1:]
    return data


def check_udp(data: bytes) -> bool:
    try:
        message = Message.decode(data)
    except MessageFormatError:
        return False
    assert Message.decode(message.encode()) == message
    return True


def check_tcp(data: bytes) -> None:
    try:
        message = decode_tcp(data)
    except MessageFormatError:
        pass
    else:
        assert decode_tcp(encode_tcp(message)) == message
    framer = TcpFramer(max_message_size=4096)
    for _ in range(3):  # a recoverable error leaves the rest of the stream readable
        try:
            for message in framer.feed(data):
                assert decode_tcp(encode_tcp(message)) == message
        except MessageFormatError:
            data = b""
            continue
        break


def test_udp_random_bytes() -> None:
    rng = random.Random(7252)
    decoded = sum(check_udp(random_bytes(rng)) for _ in range(CASES))
    assert decoded > CASES // 50  # the header check alone must not reject everything


def test_udp_mutations() -> None:
    rng = random.Random(7959)
    decoded = sum(check_udp(mutate(rng, rng.choice(UDP_SEEDS))) for _ in range(CASES))
    assert decoded > CASES // 10


def test_tcp_random_bytes() -> None:
    rng = random.Random(8323)
    for _ in range(CASES):
        check_tcp(rng.randbytes(rng.randint(0, 40)))


def test_tcp_mutations() -> None:
    rng = random.Random(9175)
    for _ in range(CASES):
        check_tcp(mutate(rng, b"".join(rng.choices(TCP_SEEDS, k=2))))
