"""RFC 8613 Appendix C test vectors, byte for byte.

C.1-C.3 derive the contexts (with and without Master Salt, with ID Context), C.4-C.6 protect a
request on the client, C.7 and C.8 protect the response on the server (reusing the request
nonce, and with a Partial IV of its own). Each request and response is also unprotected by
the other side and must give back the RFC's unprotected message.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lwm2m.coap.message import Message
from lwm2m.security.oscore import (
    MemorySequenceStore,
    SecurityContext,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)

h = bytes.fromhex
MASTER_SECRET = h("0102030405060708090a0b0c0d0e0f10")
MASTER_SALT = h("9e7ca92223786340")
ID_CONTEXT = h("37cbf3210017a2d3")


@dataclass(frozen=True)
class Derivation:
    section: str
    salt: bytes
    id_context: bytes | None
    client_id: bytes
    server_id: bytes
    client_key: bytes
    server_key: bytes
    common_iv: bytes
    client_nonce: bytes
    server_nonce: bytes


C1 = Derivation(  # C.1: Key Derivation with Master Salt
    "C.1",
    MASTER_SALT,
    None,
    b"",
    h("01"),
    h("f0910ed7295e6ad4b54fc793154302ff"),
    h("ffb14e093c94c9cac9471648b4f98710"),
    h("4622d4dd6d944168eefb54987c"),
    h("4622d4dd6d944168eefb54987c"),
    h("4722d4dd6d944169eefb54987c"),
)
C2 = Derivation(  # C.2: Key Derivation without Master Salt
    "C.2",
    b"",
    None,
    h("00"),
    h("01"),
    h("321b26943253c7ffb6003b0b64d74041"),
    h("e57b5635815177cd679ab4bcec9d7dda"),
    h("be35ae297d2dace910c52e99f9"),
    h("bf35ae297d2dace910c52e99f9"),
    h("bf35ae297d2dace810c52e99f9"),
)
C3 = Derivation(  # C.3: Key Derivation with ID Context
    "C.3",
    MASTER_SALT,
    ID_CONTEXT,
    b"",
    h("01"),
    h("af2a1300a5e95788b356336eeecd2b92"),
    h("e39a0c7c77b43f03b4b39ab9a268699f"),
    h("2ca58fb85ff1b81c0b7181b85e"),
    h("2ca58fb85ff1b81c0b7181b85e"),
    h("2da58fb85ff1b81d0b7181b85e"),
)


def context(vector: Derivation, role: str, sequence: int = 0) -> SecurityContext:
    ids = (vector.client_id, vector.server_id)
    sender_id, recipient_id = ids if role == "client" else ids[::-1]
    return SecurityContext(
        MASTER_SECRET,
        sender_id,
        recipient_id,
        master_salt=vector.salt,
        id_context=vector.id_context,
        sequence_store=MemorySequenceStore(sequence),
    )


def client(vector: Derivation, sequence: int = 0) -> SecurityContext:
    return context(vector, "client", sequence)


def server(vector: Derivation) -> SecurityContext:
    return context(vector, "server")


@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("vector", [C1, C2, C3], ids=lambda v: v.section)
def test_key_derivation(vector: Derivation, role: str) -> None:
    """C.1.1/C.2.1/C.3.1 (client) and C.1.2/C.2.2/C.3.2 (server, roles swapped): Sender and
    Recipient Keys, Common IV, and the nonces for Partial IV 0 from either side."""
    derived = context(vector, role)
    keys = (vector.client_key, vector.server_key)
    nonces = (vector.client_nonce, vector.server_nonce)
    if role == "server":
        keys, nonces = keys[::-1], nonces[::-1]
    assert (derived.sender_key, derived.recipient_key) == keys
    assert derived.common_iv == vector.common_iv
    assert derived.nonce(derived.sender_id, b"\x00") == nonces[0]
    assert derived.nonce(derived.recipient_id, b"\x00") == nonces[1]


REQUESTS = [
    # C.4: Test Vector 4, OSCORE Request, Client (context C.1, Sender Sequence Number 20)
    (
        C1,
        "44015d1f00003974396c6f63616c686f737483747631",
        "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e",
    ),
    # C.5: Test Vector 5, OSCORE Request, Client (context C.2: kid 0x00)
    (
        C2,
        "440171c30000b932396c6f63616c686f737483747631",
        "440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0",
    ),
    # C.6: Test Vector 6, OSCORE Request, Client (context C.3: kid context in the option)
    (
        C3,
        "44012f8eef9bbf7a396c6f63616c686f737483747631",
        "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
    ),
]


@pytest.mark.parametrize(("vector", "plain", "protected"), REQUESTS, ids=["C.4", "C.5", "C.6"])
def test_request_protected_by_the_client(vector: Derivation, plain: str, protected: str) -> None:
    context = client(vector, sequence=20)
    message, binding = protect_request(context, Message.decode(h(plain)))
    assert message.encode().hex() == protected
    assert binding.piv == b"\x14"
    assert context.sender_sequence_number == 21


@pytest.mark.parametrize(("vector", "plain", "protected"), REQUESTS, ids=["C.4", "C.5", "C.6"])
def test_request_unprotected_by_the_server(vector: Derivation, plain: str, protected: str) -> None:
    request, binding = unprotect_request(server(vector), Message.decode(h(protected)))
    assert request == Message.decode(h(plain))
    assert (binding.kid, binding.piv) == (vector.client_id, b"\x14")


C7_PLAIN = "64455d1f00003974ff48656c6c6f20576f726c6421"
C7_PROTECTED = "64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106"
C8_PROTECTED = "64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"


def test_c7_response_reusing_the_request_nonce() -> None:
    """C.7: Test Vector 7, OSCORE Response, Server: no Partial IV, empty OSCORE option."""
    _, binding = unprotect_request(server(C1), Message.decode(h(REQUESTS[0][2])))
    response = protect_response(binding, Message.decode(h(C7_PLAIN)))
    assert response.encode().hex() == C7_PROTECTED


def test_c8_response_with_partial_iv() -> None:
    """C.8: Test Vector 8, OSCORE Response with Partial IV, Server (Sequence Number 0)."""
    _, binding = unprotect_request(server(C1), Message.decode(h(REQUESTS[0][2])))
    response = protect_response(binding, Message.decode(h(C7_PLAIN)), partial_iv=True)
    assert response.encode().hex() == C8_PROTECTED


@pytest.mark.parametrize("protected", [C7_PROTECTED, C8_PROTECTED], ids=["C.7", "C.8"])
def test_responses_unprotected_by_the_client(protected: str) -> None:
    _, binding = protect_request(client(C1, sequence=20), Message.decode(h(REQUESTS[0][1])))
    assert unprotect_response(binding, Message.decode(h(protected))) == Message.decode(h(C7_PLAIN))
