"""Admission policy (established devices first): how datagrams are ranked, the 5.03 a shed
request gets, the per-source token bucket and its bounded memory, and the settings refused."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.coap.options import OptionNumber, Options
from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, Secret
from lwm2m.security.dtls import DtlsClient, DtlsServer, SessionState
from lwm2m.transport.admission import Admission, AdmissionConfig, SourceBudget

KNOWN = ("192.0.2.1", 40000)
STRANGER = ("192.0.2.2", 40000)
SERVER = ("198.51.100.1", 5684)


def admission(config: AdmissionConfig | None = None) -> Admission:
    return Admission(config or AdmissionConfig(), lambda peer: peer == KNOWN, random.Random(7))


def request(code: Code, *path: str, type_: Type = Type.CON, query: tuple[str, ...] = ()) -> bytes:
    options = Options.build(uri_path=path, uri_query=query)
    return Message(type_, code, 0x1234, b"tk", options).encode()


REGISTER = request(Code.POST, "rd", query=("ep=urn:imei:1", "lt=300"))
UPDATE = request(Code.POST, "rd", "5a3f")
READ_ANSWER = Message(Type.ACK, Code.CONTENT, 7, b"t", Options(), b"\x42").encode()


@pytest.mark.parametrize(
    ("data", "peer", "established"),
    [
        (READ_ANSWER, STRANGER, True),  # an answer to our request, from anyone
        (Message(Type.RST, Code.EMPTY, 7).encode(), STRANGER, True),
        (Message(Type.ACK, Code.EMPTY, 7).encode(), KNOWN, True),
        (Message(Type.CON, Code.CONTENT, 9, b"o", Options()).encode(), STRANGER, True),  # notify
        (UPDATE, KNOWN, True),
        (request(Code.POST, "dp"), KNOWN, True),  # a Send
        (Message(Type.CON, Code.EMPTY, 9).encode(), KNOWN, True),  # a ping
        (REGISTER, KNOWN, False),  # Registers are new work, whoever sends them
        (REGISTER, STRANGER, False),
        (UPDATE, STRANGER, False),  # an unknown address (a NAT rebinding, or not a device)
        (Message(Type.CON, Code.EMPTY, 9).encode(), STRANGER, False),
        (b"\x40\x01", KNOWN, False),  # too short to be CoAP
        (b"\x80\x45\x00\x01", STRANGER, False),  # CoAP version 2
    ],
)
def test_answers_and_known_peers_go_first(
    data: bytes, peer: tuple[str, int], established: bool
) -> None:
    assert admission().coap.is_established(data, peer) is established


def test_a_shed_register_gets_a_piggybacked_503_with_max_age() -> None:
    triage = admission(AdmissionConfig(retry_after=30)).coap
    ages = set()
    for _ in range(50):
        answer = triage.refusal(REGISTER)
        assert answer is not None
        message = Message.decode(answer)
        assert (message.type, message.code) == (Type.ACK, Code.SERVICE_UNAVAILABLE)
        assert (message.message_id, message.token) == (0x1234, b"tk")
        assert message.options.get(OptionNumber.MAX_AGE) is not None
        ages.add(message.options.max_age)
    assert min(ages) >= 30 and max(ages) <= 60 and len(ages) > 1  # jittered


@given(
    path=st.lists(st.sampled_from(["rd", "dp", "5a3f", "r", "rdx", ""]), max_size=3),
    host=st.none() | st.text("abcdefghij.-", min_size=1, max_size=255),  # extended lengths
    queries=st.lists(st.text("ep=urn:imei:0123456789", max_size=20), max_size=3),
    payload=st.binary(max_size=40),
)
def test_a_register_is_told_from_the_option_headers_as_a_decode_would(
    path: list[str], host: str | None, queries: list[str], payload: bytes
) -> None:
    options = Options.build(uri_host=host, uri_path=tuple(path), uri_query=tuple(queries))
    data = Message(Type.CON, Code.POST, 1, b"tok", options, payload).encode()
    registers = Message.decode(data).options.uri_path == ("rd",)
    assert admission().coap.is_established(data, KNOWN) is not registers


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x40\x02",
        b"\x48\x02\x00\x01tok",  # a token shorter than its length
        b"\x49\x02\x00\x01123456789",  # token length 9 is reserved
        request(Code.POST, "rd", type_=Type.NON),  # no message ID of ours to answer with
        READ_ANSWER,
        b"\x40\x02\x12",  # malformed
    ],
)
def test_only_confirmable_requests_are_answered_when_shed(data: bytes) -> None:
    assert admission().coap.refusal(data) is None


def test_a_source_spends_its_burst_then_its_rate() -> None:
    budget = SourceBudget(rate=10.0, burst=3.0, limit=100)
    assert [budget.take("10.0.0.1", 0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.take("10.0.0.2", 0.0)  # each address has its own bucket
    assert not budget.take("10.0.0.1", 0.05)  # half a token back
    assert budget.take("10.0.0.1", 0.1)
    assert [budget.take("10.0.0.1", 10.0) for _ in range(4)] == [True, True, True, False]


def test_the_budget_forgets_idle_sources_first_and_stays_bounded() -> None:
    budget = SourceBudget(rate=1.0, burst=2.0, limit=100)
    for n in range(100):
        budget.take(f"busy-{n}", 0.0)
        budget.take(f"busy-{n}", 0.0)  # emptied
    budget.take("new", 0.0)  # the table is full, none idle: the oldest half goes
    assert len(budget) <= 51
    assert not budget.take("busy-99", 0.0)  # the newest kept their (empty) buckets
    for n in range(10_000):
        budget.take(f"spoofed-{n}", 100.0)
    assert len(budget) <= 100


def test_per_source_budget_is_shared_and_can_be_off() -> None:
    shared = admission(AdmissionConfig(source_rate=1.0, source_burst=2.0))
    coap = shared.coap
    assert coap.within_budget(STRANGER, 0.0) and coap.within_budget(STRANGER, 0.0)
    assert not coap.within_budget(STRANGER, 0.0)
    unlimited = admission(AdmissionConfig(source_rate=None)).coap
    assert all(unlimited.within_budget(STRANGER, 0.0) for _ in range(100_000))


@pytest.mark.parametrize(
    "fields",
    [
        {"new_per_tick": 0},
        {"new_backlog": 0},
        {"refusals_per_tick": -1},
        {"retry_after": -1},
        {"source_rate": 0.0},
        {"source_burst": 0.5},
        {"max_sources": 0},
    ],
)
def test_settings_that_cannot_work_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdmissionConfig(**fields)  # type: ignore[arg-type]


def test_dtls_sessions_go_first_and_client_hellos_are_new_work() -> None:
    key = Psk(b"device-1", Secret(b"0123456789abcdef"))
    server = DtlsServer(MemoryPskStore((PskCredential("urn:dev:1", key),)))
    triage = admission().dtls(server)
    client = DtlsClient(key)
    client.connect(SERVER, 0.0)
    [(hello, _)] = client.datagrams_to_send()
    assert not triage.is_established(hello, KNOWN)
    server.receive(hello, KNOWN, 0.0)
    for _ in range(10):  # carry the handshake through memory
        for data, _ in client.datagrams_to_send():
            assert triage.is_established(data, KNOWN) is (server.state(KNOWN) is not None)
            server.receive(data, KNOWN, 0.0)
        for data, _ in server.datagrams_to_send():
            client.receive(data, SERVER, 0.0)
    assert server.state(KNOWN) is SessionState.ESTABLISHED
    assert client.send(b"\x40\x01\x00\x01", SERVER, 0.0)
    [(record, _)] = client.datagrams_to_send()
    assert triage.is_established(record, KNOWN)
    assert not triage.is_established(record, STRANGER)  # no session: dropped by the layer
