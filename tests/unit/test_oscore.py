"""The OSCORE transformer: round trips, option classes, replay, Echo after a restart, errors."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import OPTION_SPECS, Block, OptionNumber, Options
from lwm2m.model.nodes import ObjectInstance, SingleResource
from lwm2m.security.oscore import (
    ContextNotFoundError,
    ContextRegistry,
    DecryptionError,
    EchoRequiredError,
    MemorySequenceStore,
    OscoreError,
    OscoreFormatError,
    OscoreOption,
    OscoreUsageError,
    ProtectedContentError,
    ProtectedOptionError,
    ReplayError,
    ReplayWindow,
    SecurityContext,
    UnprotectedResponseError,
    context_from_oscore_instance,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)

SECRET = bytes(range(1, 17))
SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"


def pair(
    *,
    aead: int = 10,
    id_context: bytes | None = None,
    client_store: MemorySequenceStore | None = None,
    server_store: MemorySequenceStore | None = None,
    synchronized: bool = True,
) -> tuple[SecurityContext, SecurityContext]:
    """A client context (Sender ID 0x01) and the server's (Sender ID 0x02)."""
    client = SecurityContext(
        SECRET,
        b"\x01",
        b"\x02",
        master_salt=SALT,
        id_context=id_context,
        aead_algorithm=aead,
        sequence_store=client_store,
    )
    server = SecurityContext(
        SECRET,
        b"\x02",
        b"\x01",
        master_salt=SALT,
        id_context=id_context,
        aead_algorithm=aead,
        sequence_store=server_store,
        replay_synchronized=synchronized,
        rng=random.Random(5),
    )
    return client, server


def get(path: str = "3/0/0", **options: object) -> Message:
    return Message(
        Type.CON,
        Code.GET,
        0x1234,
        b"\xaa\xbb",
        Options.build(uri_path=path.split("/"), **options),  # type: ignore[arg-type]
    )


def content(payload: bytes = b"22.5", **options: object) -> Message:
    return Message(
        Type.ACK,
        Code.CONTENT,
        0x1234,
        b"\xaa\xbb",
        Options.build(content_format=0, **options),  # type: ignore[arg-type]
        payload,
    )


def exchange(client: SecurityContext, server: SecurityContext, request: Message) -> Message:
    protected, _ = protect_request(client, request)
    plain, _ = unprotect_request(server, protected)
    return plain


# -- round trips -----------------------------------------------------------------------------

_UNKNOWN = st.integers(100, 5000).filter(lambda n: n not in OPTION_SPECS and n != 16)
_OPTIONS = st.lists(
    st.one_of(
        st.tuples(st.just(OptionNumber.URI_PATH), st.text(max_size=12).map(str.encode)),
        st.tuples(st.just(OptionNumber.URI_QUERY), st.text(max_size=12).map(str.encode)),
        st.tuples(st.just(OptionNumber.ETAG), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just(OptionNumber.LOCATION_PATH), st.text(max_size=8).map(str.encode)),
        st.tuples(st.just(OptionNumber.REQUEST_TAG), st.binary(max_size=8)),
        st.tuples(st.just(OptionNumber.IF_MATCH), st.binary(max_size=8)),
        st.tuples(st.just(16), st.binary(min_size=1, max_size=1)),  # Hop-Limit: class U
        st.tuples(_UNKNOWN, st.binary(max_size=20)),
    ),
    max_size=8,
)
_SINGLE = st.fixed_dictionaries(
    {},
    optional={
        "content_format": st.integers(0, 0xFFFF),
        "accept": st.integers(0, 0xFFFF),
        "observe": st.integers(0, 0xFFFFFF),
        "block2": st.builds(Block, st.integers(0, 1000), st.booleans(), st.integers(0, 6)),
        "block1": st.builds(Block, st.integers(0, 1000), st.booleans(), st.integers(0, 6)),
        "size1": st.integers(0, 1 << 20),
        "max_age": st.integers(0, 1 << 20),
        "echo": st.binary(min_size=1, max_size=40),
        "uri_host": st.text(min_size=1, max_size=20),
        "uri_port": st.integers(0, 0xFFFF),
        "proxy_scheme": st.sampled_from(["coap", "coaps"]),
    },
)


@st.composite
def messages(draw: st.DrawFn, *, request: bool) -> Message:
    codes = range(1, 32) if request else range(64, 192)
    options = Options(draw(_OPTIONS)).replace(**draw(_SINGLE))
    return Message(
        draw(st.sampled_from([Type.CON, Type.NON, Type.ACK])),
        Code(draw(st.sampled_from(codes))),
        draw(st.integers(0, 0xFFFF)),
        draw(st.binary(max_size=8)),
        options,
        draw(st.binary(max_size=300)),
    )


@given(messages(request=True), messages(request=False))
def test_round_trip_gives_the_original_messages(request: Message, response: Message) -> None:
    client, server = pair()
    protected, client_binding = protect_request(client, request)
    plain, server_binding = unprotect_request(server, protected)
    assert plain == request
    protected_response = protect_response(server_binding, response)
    assert unprotect_response(client_binding, protected_response) == response


@pytest.mark.parametrize("aead", [10, 11, 30, 31, 1, 2, 3, 24])
def test_every_supported_aead_round_trips(aead: int) -> None:
    client, server = pair(aead=aead, id_context=b"ctx")
    protected, binding = protect_request(client, get())
    plain, server_binding = unprotect_request(server, protected)
    assert plain == get()
    answer = protect_response(server_binding, content())
    assert unprotect_response(binding, answer) == content()


def test_outer_message_hides_class_e_options_and_keeps_class_u() -> None:
    client, _ = pair()
    request = get(uri_host="example.net", uri_port=5683, accept=11542, observe=0)
    protected, _ = protect_request(client, request)
    numbers = [number for number, _ in protected.options]
    assert numbers == [
        OptionNumber.URI_HOST,
        OptionNumber.OBSERVE,
        OptionNumber.URI_PORT,
        OptionNumber.OSCORE,
    ]
    assert protected.code is Code.FETCH  # §4.2: FETCH with Observe
    assert protect_request(client, get())[0].code is Code.POST


def test_outer_class_e_options_are_discarded() -> None:
    """An on-path attacker's outer Uri-Path or Content-Format never reaches the server."""
    client, server = pair()
    protected, _ = protect_request(client, get("1/0"))
    forged = Message(
        protected.type,
        protected.code,
        protected.message_id,
        protected.token,
        protected.options.replace(uri_path=["5", "0", "2"], content_format=60),
        protected.payload,
    )
    plain, _ = unprotect_request(server, forged)
    assert plain.options.uri_path == ("1", "0")
    assert plain.options.content_format is None


def test_observe_request_dropped_by_a_proxy_is_not_a_registration() -> None:
    """§4.1.3.5.1: without the outer Observe the server must not register an observer."""
    client, server = pair()
    protected, _ = protect_request(client, get(observe=0))
    stripped = Message(
        protected.type,
        protected.code,
        protected.message_id,
        protected.token,
        Options([item for item in protected.options if item[0] != OptionNumber.OBSERVE]),
        protected.payload,
    )
    plain, _ = unprotect_request(server, stripped)
    assert plain.options.observe is None


def test_proxy_uri_and_wrong_codes_are_local_errors() -> None:
    client, server = pair()
    with pytest.raises(OscoreUsageError):
        protect_request(client, get(proxy_uri="coap://h/3/0"))
    with pytest.raises(OscoreUsageError):
        protect_request(client, content())
    _, binding = unprotect_request(server, protect_request(client, get())[0])
    with pytest.raises(OscoreUsageError):
        protect_response(binding, get())


# -- responses and notifications -------------------------------------------------------------


def test_first_response_reuses_the_request_nonce_and_later_ones_do_not() -> None:
    client, server = pair()
    protected, binding = protect_request(client, get())
    _, server_binding = unprotect_request(server, protected)
    first = protect_response(server_binding, content(b"1"))
    second = protect_response(server_binding, content(b"2"))
    assert first.options.oscore == b""
    assert OscoreOption.decode(second.options.oscore or b"").partial_iv == b"\x00"
    assert unprotect_response(binding, first).payload == b"1"
    assert unprotect_response(binding, second).payload == b"2"


def test_notifications_are_ordered_by_partial_iv() -> None:
    """§7.4.1: a replayed or older notification is refused; the outer Observe is kept."""
    client, server = pair()
    protected, binding = protect_request(client, get(observe=0))
    plain, server_binding = unprotect_request(server, protected)
    assert plain.options.observe == 0
    notes = [protect_response(server_binding, content(bytes([n]), observe=n)) for n in range(3)]
    for note in notes:
        assert note.code is Code.CONTENT  # §4.2: 2.05 for an Observe request
        assert note.options.observe is not None
        assert OscoreOption.decode(note.options.oscore or b"").partial_iv is not None
    assert unprotect_response(binding, notes[0]).options.observe == 0
    assert unprotect_response(binding, notes[2]).payload == b"\x02"
    with pytest.raises(ReplayError):
        unprotect_response(binding, notes[1])
    with pytest.raises(ReplayError):
        unprotect_response(binding, notes[2])


def test_unprotected_response_is_reported_with_its_code() -> None:
    client, _ = pair()
    _, binding = protect_request(client, get())
    refusal = Message(Type.ACK, Code.UNAUTHORIZED, 1, b"", payload=b"Decryption failed")
    with pytest.raises(UnprotectedResponseError) as caught:
        unprotect_response(binding, refusal)
    assert caught.value.code is Code.UNAUTHORIZED
    assert caught.value.diagnostic == "Decryption failed"


def test_response_from_another_context_fails_to_decrypt() -> None:
    client, _ = pair()
    other_client, other_server = pair(id_context=b"other")
    _, binding = protect_request(client, get())
    _, other_binding = unprotect_request(other_server, protect_request(other_client, get())[0])
    with pytest.raises(DecryptionError):
        unprotect_response(binding, protect_response(other_binding, content()))


# -- the server's refusals (§8.2) ------------------------------------------------------------


def test_replayed_request_is_refused() -> None:
    client, server = pair()
    protected, _ = protect_request(client, get())
    unprotect_request(server, protected)
    with pytest.raises(ReplayError) as caught:
        unprotect_request(server, protected)
    reply = caught.value.reply(protected)
    assert (reply.code, reply.payload) == (Code.UNAUTHORIZED, b"Replay detected")
    assert reply.options.oscore is None  # unprotected: nothing proves who sent the replay


def test_replay_window_accepts_reordering_and_refuses_the_too_old() -> None:
    client, server = pair()
    sent = [protect_request(client, get())[0] for _ in range(40)]
    for message in sent[39:4:-1]:  # 39 down to 5: out of order, all within reach
        if sent.index(message) > 39 - 32:
            unprotect_request(server, message)
    with pytest.raises(ReplayError):
        unprotect_request(server, sent[7])  # 32 below the top: outside the window
    with pytest.raises(ReplayError):
        unprotect_request(server, sent[20])  # inside, seen


def test_unknown_context_and_bad_option_are_refused_unprotected() -> None:
    client, _ = pair()
    stranger = SecurityContext(SECRET, b"\x02", b"\x03")
    protected, _ = protect_request(client, get())
    with pytest.raises(ContextNotFoundError) as caught:
        unprotect_request(stranger, protected)
    assert caught.value.reply(protected).code is Code.UNAUTHORIZED
    assert caught.value.reply(protected).payload == b"Security context not found"
    bad = Message(
        Type.CON,
        Code.POST,
        1,
        b"",
        Options.build(oscore=b"\x0e\x01"),  # reserved Partial IV size 6
        bytes(12),
    )
    with pytest.raises(OscoreFormatError) as format_error:
        unprotect_request(stranger, bad)
    assert format_error.value.reply(bad).code is Code.BAD_OPTION


def test_tampered_ciphertext_fails_to_decrypt() -> None:
    client, server = pair()
    protected, _ = protect_request(client, get())
    payload = bytearray(protected.payload)
    payload[0] ^= 1
    tampered = Message(
        protected.type, protected.code, protected.message_id, protected.token,
        protected.options, bytes(payload),
    )  # fmt: skip
    with pytest.raises(DecryptionError):
        unprotect_request(server, tampered)
    assert unprotect_request(server, protected)[0] == get()  # the genuine one still passes


def test_decrypted_garbage_is_answered_protected() -> None:
    """A peer holding the keys but sending a response code as request: 4.00, protected."""
    client, server = pair()
    protected, binding = protect_request(client, get())
    # The request's own key, nonce and AAD around a 2.05 plaintext: what protect_response
    # does with the client's binding when it may reuse the request nonce.
    binding.reuse_nonce = True
    inner_response = protect_response(binding, content())
    forged = Message(
        protected.type, protected.code, protected.message_id, protected.token,
        protected.options, inner_response.payload,
    )  # fmt: skip
    with pytest.raises(ProtectedContentError) as caught:
        unprotect_request(server, forged)
    reply = caught.value.reply(forged)
    assert reply.options.oscore is not None
    assert unprotect_response(binding, reply).code is Code.BAD_REQUEST


def test_malformed_inner_critical_option_is_answered_4_02_protected() -> None:
    client, server = pair()
    request = Message(Type.CON, Code.GET, 1, b"", Options([(OptionNumber.IF_NONE_MATCH, b"x")]))
    protected, binding = protect_request(client, request)
    with pytest.raises(ProtectedOptionError) as caught:
        unprotect_request(server, protected)
    reply = caught.value.reply(protected)
    assert unprotect_response(binding, reply).code is Code.BAD_OPTION


def test_request_without_oscore_option_or_kid() -> None:
    _, server = pair()
    with pytest.raises(OscoreFormatError):
        unprotect_request(server, get())
    no_kid = Message(Type.CON, Code.POST, 1, b"", Options.build(oscore=b"\x01\x05"), bytes(9))
    with pytest.raises(OscoreFormatError):
        unprotect_request(server, no_kid)


# -- restart: sequence numbers and Echo ------------------------------------------------------


def test_restart_never_reuses_a_nonce() -> None:
    """Appendix B.1.1: numbers are reserved in chunks before use, so a crash skips, never
    repeats; the store is written once per chunk, not per message."""
    store = MemorySequenceStore()
    writes = []
    save = store.save
    store.save = lambda limit: (writes.append(limit), save(limit))[1]  # type: ignore[method-assign]
    nonces = set()
    for used in (5, 64, 130, 1):  # requests sent before each "crash"
        client, _ = pair(client_store=store)
        for _ in range(used):
            _, binding = protect_request(client, get())
            assert binding.nonce not in nonces
            nonces.add(binding.nonce)
    assert len(nonces) == 200
    assert writes == [64, 128, 192, 256, 320, 384]  # one per 64 numbers, each before use


def test_echo_makes_a_restarted_server_accept_only_fresh_requests() -> None:
    """Appendix B.1.2 with RFC 9175: 4.01 + Echo, then the request that returns it."""
    client, server = pair(synchronized=False)
    old, _ = protect_request(client, get("1/0"))  # sent before the server restarted
    first, first_binding = protect_request(client, get())
    with pytest.raises(EchoRequiredError) as caught:
        unprotect_request(server, first)
    challenge = caught.value.reply(first)
    assert challenge.options.oscore not in (None, b"")  # protected with its own Partial IV
    plain_challenge = unprotect_response(first_binding, challenge)
    assert plain_challenge.code is Code.UNAUTHORIZED
    echo = plain_challenge.options.echo
    assert echo is not None
    with pytest.raises(EchoRequiredError):  # no Echo, still not fresh
        unprotect_request(server, old)
    retry, retry_binding = protect_request(client, get(echo=echo))
    plain, binding = unprotect_request(server, retry)
    assert plain == get()  # the Echo was consumed by OSCORE
    assert unprotect_response(retry_binding, protect_response(binding, content())) == content()
    with pytest.raises(ReplayError):  # older than the request proven fresh
        unprotect_request(server, old)
    with pytest.raises(ReplayError):
        unprotect_request(server, retry)
    unprotect_request(server, protect_request(client, get())[0])


def test_wrong_echo_is_challenged_again() -> None:
    client, server = pair(synchronized=False)
    with pytest.raises(EchoRequiredError) as caught:
        unprotect_request(server, protect_request(client, get(echo=b"guessed!"))[0])
    assert caught.value.options.echo not in (None, b"guessed!")


# -- contexts --------------------------------------------------------------------------------


def test_registry_finds_contexts_by_kid_and_kid_context() -> None:
    client_a, server_a = pair(id_context=b"A")
    client_b, server_b = pair(id_context=b"B")
    registry = ContextRegistry([server_a, server_b])
    assert len(registry) == 2
    for client, server in ((client_a, server_a), (client_b, server_b)):
        _, binding = unprotect_request(registry, protect_request(client, get())[0])
        assert binding.context is server
    assert registry.find(b"\x01", None) is None  # ambiguous without kid context
    registry.remove(server_b)
    assert registry.find(b"\x01", None) is server_a  # now unique
    with pytest.raises(ContextNotFoundError):
        unprotect_request(registry, protect_request(client_b, get())[0])
    with pytest.raises(OscoreUsageError):
        registry.add(server_a)
    with pytest.raises(OscoreUsageError):
        registry.remove(server_b)
    _, plain_server = pair()
    registry.add(plain_server)
    assert registry.find(b"\x01", None) is plain_server


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aead_algorithm": 99},
        {"hkdf_algorithm": 99},
        {"sender_id": bytes(8)},
        {"sender_id": b"\x02"},
        {"id_context": bytes(242)},
        {"sequence_chunk": 0},
        {"replay_window": 0},
    ],
)
def test_bad_configurations_are_local_errors(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"sender_id": b"\x01", "recipient_id": b"\x02"} | kwargs
    with pytest.raises(OscoreUsageError):
        SecurityContext(SECRET, **arguments)  # type: ignore[arg-type]


def test_sequence_number_exhaustion_is_a_local_error() -> None:
    client, _ = pair(client_store=MemorySequenceStore((1 << 40) - 1))
    protect_request(client, get())
    with pytest.raises(OscoreUsageError):
        protect_request(client, get())


def test_repr_never_shows_keys() -> None:
    client, _ = pair()
    assert client.sender_key.hex() not in repr(client)
    assert SECRET.hex() not in repr(client)


def test_errors_are_typed_with_codes() -> None:
    assert issubclass(ReplayError, OscoreError)
    assert OscoreFormatError.code is Code.BAD_OPTION
    assert DecryptionError.code is Code.UNAUTHORIZED


# -- the OSCORE object (21) ------------------------------------------------------------------


def test_context_from_an_oscore_object_instance() -> None:
    """/21/x as object 21 v2.0 types it (opaque) and as v1.0 does (strings, read as hex)."""
    opaque = ObjectInstance(
        0,
        {
            0: SingleResource(0, SECRET),
            1: SingleResource(1, b"\x01"),
            2: SingleResource(2, b"\x02"),
            3: SingleResource(3, 10),
            4: SingleResource(4, -10),
            5: SingleResource(5, SALT),
            6: SingleResource(6, b"ctx"),
        },
    )
    strings = {0: SECRET.hex(), 1: "01", 2: "02", 5: SALT.hex(), 6: b"ctx".hex()}
    for instance in (opaque, strings):
        client = context_from_oscore_instance(instance)
        _, server = pair(id_context=b"ctx")
        plain, _ = unprotect_request(server, protect_request(client, get())[0])
        assert plain == get()


@pytest.mark.parametrize(
    "values",
    [
        {1: "01", 2: "02"},  # no Master Secret
        {0: "zz", 1: "01", 2: "02"},
        {0: "0102", 1: 1, 2: "02"},
        {0: "0102", 1: "01", 2: "02", 3: "10"},
    ],
)
def test_bad_oscore_object_instances_are_local_errors(values: dict[int, object]) -> None:
    with pytest.raises(OscoreUsageError):
        context_from_oscore_instance(values)


# -- the OSCORE option and the replay window -------------------------------------------------


@given(
    st.one_of(st.none(), st.binary(min_size=1, max_size=5)),
    st.one_of(st.none(), st.binary(max_size=255)),
    st.one_of(st.none(), st.binary(max_size=7)),
)
def test_oscore_option_round_trips(
    partial_iv: bytes | None, kid_context: bytes | None, kid: bytes | None
) -> None:
    field = OscoreOption(partial_iv, kid_context, kid)
    assert OscoreOption.decode(field.encode()) == field


@pytest.mark.parametrize(
    "value",
    [
        "00",
        "20",
        "40",
        "80",
        "06" + "00" * 6,
        "0214",
        "10",  # kid context flag without its length
        "1105",
        "10" + "05" + "0102",
        "0114ff",
    ],
)
def test_malformed_oscore_options(value: str) -> None:
    with pytest.raises(OscoreFormatError):
        OscoreOption.decode(bytes.fromhex(value))


def test_replay_window_slides() -> None:
    window = ReplayWindow(4)
    assert window.is_fresh(0)
    for number in (0, 2, 5):
        window.mark(number)
    assert [window.is_fresh(n) for n in range(7)] == [False, False, False, True, True, False, True]
    window.mark(1 << 40)  # a jump far past the window costs nothing and forgets the rest
    assert not window.is_fresh(5) and window.is_fresh((1 << 40) - 1)
    window.synchronize(100)
    assert not window.is_fresh(100) and not window.is_fresh(99) and window.is_fresh(101)
