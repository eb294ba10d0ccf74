"""Seeded fuzzing of OSCORE unprotection: only OscoreError may escape, and whatever passes the
AEAD is exactly what the sender protected. Deterministic (fixed seeds) so a failure reproduces.
"""

from __future__ import annotations

import random

from lwm2m.coap import Block, Code, Message, MessageFormatError, Options, Type
from lwm2m.security.oscore import (
    ContextRegistry,
    MemorySequenceStore,
    OscoreError,
    SecurityContext,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)
from tests.fuzz.test_fuzz_coap import mutate  # bit flips, truncation, insertion, bad nibbles

CASES = 4_000
SECRET = bytes(range(16))

PLAIN_REQUESTS = [
    Message(Type.CON, Code.GET, 1, b"\x01\x02", Options.build(uri_path=["3", "0"], accept=11542)),
    Message(
        Type.CON,
        Code.POST,
        2,
        b"",
        Options.build(uri_path=["rd"], uri_query=["ep=dev", "lt=300"], content_format=40),
        b"</1/0>,</3/0>",
    ),
    Message(Type.NON, Code.FETCH, 3, b"\x09" * 8, Options.build(observe=0, uri_host="h"), b"x"),
]
PLAIN_RESPONSES = [
    Message(Type.ACK, Code.CONTENT, 1, b"\x01\x02", Options.build(content_format=11542), bytes(40)),
    Message(Type.ACK, Code.CHANGED, 2, b"", Options.build(block2=Block(1, False, 2))),
]


def contexts(id_context: bytes | None) -> tuple[SecurityContext, SecurityContext]:
    client = SecurityContext(
        SECRET, b"\x01", b"", id_context=id_context, sequence_store=MemorySequenceStore(300)
    )
    server = SecurityContext(SECRET, b"", b"\x01", id_context=id_context)
    return client, server


def decoded(data: bytes) -> Message | None:
    try:
        return Message.decode(data)
    except MessageFormatError:
        return None


def test_mutated_requests_raise_only_oscore_errors() -> None:
    rng = random.Random(8613)
    accepted = refused = 0
    for case in range(CASES):
        id_context = b"ctx" if case % 2 else None
        client, server = contexts(id_context)
        plain = PLAIN_REQUESTS[case % len(PLAIN_REQUESTS)]
        protected, _ = protect_request(client, plain)
        message = decoded(mutate(rng, protected.encode()))
        if message is None:
            continue
        try:
            result, _ = unprotect_request(ContextRegistry([server]), message)
        except OscoreError as error:
            refused += 1
            assert error.code.is_error
            error.reply(message).encode()  # every refusal can be answered
            continue
        accepted += 1
        # Integrity: only unauthenticated outer fields can differ from what was sent.
        assert (result.code, result.payload) == (plain.code, plain.payload)
        assert result.options.uri_path == plain.options.uri_path
    assert refused > CASES // 2 and accepted > 0


def test_random_oscore_options_and_payloads_raise_only_oscore_errors() -> None:
    rng = random.Random(7)
    _, server = contexts(None)
    for _ in range(CASES):
        option = rng.choice([b"", rng.randbytes(rng.randint(1, 12)), b"\x09\x00" + b"\x01"])
        message = Message(
            Type.CON,
            rng.choice([Code.POST, Code.FETCH, Code.GET]),
            rng.randrange(0x10000),
            b"",
            Options.build(oscore=option),
            rng.randbytes(rng.randint(0, 40)),
        )
        try:
            unprotect_request(server, message)
        except OscoreError as error:
            assert error.code.is_error
        else:
            raise AssertionError(f"forged request accepted: {message}")


def test_mutated_responses_raise_only_oscore_errors() -> None:
    rng = random.Random(9175)
    for case in range(CASES):
        client, server = contexts(None)
        protected, binding = protect_request(client, PLAIN_REQUESTS[0])
        _, server_binding = unprotect_request(server, protected)
        plain = PLAIN_RESPONSES[case % len(PLAIN_RESPONSES)]
        response = protect_response(server_binding, plain, partial_iv=case % 3 == 0)
        message = decoded(mutate(rng, response.encode()))
        if message is None:
            continue
        try:
            result = unprotect_response(binding, message)
        except OscoreError:
            continue
        assert (result.code, result.payload) == (plain.code, plain.payload)
