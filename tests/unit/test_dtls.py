"""DTLS server and client cores talking through memory: handshakes, cookies, limits, refusals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, PskIdentity, Secret
from lwm2m.security.dtls import (
    DEFAULT_DTLS,
    MAX_PLAINTEXT,
    CipherSuite,
    DtlsClient,
    DtlsConfig,
    DtlsEvent,
    DtlsServer,
    EndReason,
    MbedtlsClientBackend,
    SessionEnded,
    SessionEstablished,
    SessionState,
    is_client_hello,
)

SERVER = ("192.0.2.1", 5684)
CLIENT = ("198.51.100.7", 40000)
KEY = Secret(bytes.fromhex("00112233445566778899aabbccddeeff"))
PSK = Psk(b"device-1", KEY)
Filter = Callable[[bytes], list[bytes]]


def make_store() -> MemoryPskStore:
    return MemoryPskStore(
        (
            PskCredential("urn:dev:1", PSK),
            PskCredential("urn:dev:2", Psk(b"device-2", Secret(b"another key"))),
        )
    )


def shuttle(
    server: DtlsServer,
    client: DtlsClient,
    now: float = 0.0,
    *,
    peer: object = CLIENT,
    to_server: Filter = lambda d: [d],
) -> tuple[list[bytes], list[bytes]]:
    """Carry datagrams both ways until quiet; returns what each side decrypted."""
    at_server: list[bytes] = []
    at_client: list[bytes] = []
    for _ in range(20):
        moved = False
        for data, _peer in client.datagrams_to_send():
            for datagram in to_server(data):
                at_server += server.receive(datagram, peer, now)
            moved = True
        for data, to in server.datagrams_to_send():
            if to == peer:
                at_client += client.receive(data, SERVER, now)
            moved = True
        if not moved:
            return at_server, at_client
    raise AssertionError("datagrams kept flowing")


def events(core: DtlsServer | DtlsClient) -> list[DtlsEvent]:
    out = []
    while (event := core.next_event()) is not None:
        out.append(event)
    return out


def connected(config: DtlsConfig = DEFAULT_DTLS, psk: Psk = PSK) -> tuple[DtlsServer, DtlsClient]:
    server, client = DtlsServer(make_store(), config), DtlsClient(psk, config)
    client.connect(SERVER, 0.0)
    shuttle(server, client)
    assert server.state(CLIENT) is SessionState.ESTABLISHED
    assert client.state(SERVER) is SessionState.ESTABLISHED
    return server, client


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_handshake_and_data_both_ways(suite: CipherSuite) -> None:
    server, client = connected(DtlsConfig(cipher_suites=(suite,)))
    assert server.peer_identity(CLIENT) == PskIdentity("urn:dev:1", b"device-1")
    assert events(server) == [SessionEstablished(CLIENT, server.peer_identity(CLIENT), suite)]
    assert events(client) == [SessionEstablished(SERVER, None, suite)]
    assert client.send(b"request", SERVER, 1.0)
    assert server.send(b"x" * MAX_PLAINTEXT, CLIENT, 1.0)
    assert shuttle(server, client, 1.0) == ([b"request"], [b"x" * MAX_PLAINTEXT])
    with pytest.raises(ValueError):
        server.send(b"x" * (MAX_PLAINTEXT + 1), CLIENT, 1.0)
    assert server.stats.handshakes_completed == 1 and server.stats.dropped_datagrams == 0


def test_client_holds_datagrams_until_established() -> None:
    server = DtlsServer(make_store())
    client = DtlsClient(PSK, DtlsConfig(max_pending=2))
    for n in range(3):
        assert not client.send(b"early %d" % n, SERVER, 0.0)
    assert shuttle(server, client)[0] == [b"early 1", b"early 2"]  # the oldest went first


def test_first_client_hello_costs_no_state() -> None:
    server = DtlsServer(make_store())
    client = DtlsClient(PSK)
    client.connect(SERVER, 0.0)
    [(hello, _)] = client.datagrams_to_send()
    assert is_client_hello(hello)
    assert server.receive(hello, CLIENT, 0.0) == []
    [(verify, _)] = server.datagrams_to_send()
    assert verify[13] == 3  # HelloVerifyRequest
    assert server.half_open == server.established == 0
    assert server.stats.hello_verify_requests == 1
    assert server.get_timer() is None


def test_spoofed_client_hello_flood_keeps_no_state_and_a_client_still_connects() -> None:
    server = DtlsServer(make_store(), DtlsConfig(max_half_open=8))
    hello = MbedtlsClientBackend(PSK).connect(0.0).datagrams_to_send()[0]
    for port in range(2000):
        server.receive(hello, ("203.0.113.9", port), 0.0)
    assert len(server.datagrams_to_send()) == 2000
    assert server.half_open == server.established == 0
    connected_server_client = DtlsClient(PSK)
    connected_server_client.connect(SERVER, 0.0)
    shuttle(server, connected_server_client)
    assert server.peer_identity(CLIENT) is not None


def test_verified_half_open_handshakes_are_bounded() -> None:
    server = DtlsServer(make_store(), DtlsConfig(max_half_open=4))
    for port in range(10):  # real addresses that answer the cookie, then go silent
        client = DtlsClient(PSK)
        client.connect(SERVER, 0.0)
        for _ in range(2):  # ClientHello, HelloVerifyRequest, ClientHello with cookie
            for data, _peer in client.datagrams_to_send():
                server.receive(data, ("203.0.113.9", port), 0.0)
            for data, to in server.datagrams_to_send():
                if to == ("203.0.113.9", port):
                    client.receive(data, SERVER, 0.0)
    assert server.half_open == 4 and server.stats.evicted == 6
    ended = [e for e in events(server) if isinstance(e, SessionEnded)]
    assert {e.reason for e in ended} == {EndReason.EVICTED} and len(ended) == 6
    late = DtlsClient(PSK)
    late.connect(SERVER, 0.0)
    shuttle(server, late)
    assert server.peer_identity(CLIENT) is not None


def test_wrong_key_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = DtlsServer(make_store())
    client = DtlsClient(Psk(b"device-1", Secret(b"not the key")))
    client.connect(SERVER, 0.0)
    with caplog.at_level(logging.WARNING, logger="lwm2m.security.dtls"):
        shuttle(server, client)
    assert server.state(CLIENT) is None and server.peer_identity(CLIENT) is None
    assert [e.reason for e in events(server) if isinstance(e, SessionEnded)] == [EndReason.FAILED]
    assert server.stats.handshakes_failed == 1
    assert "refused" in caplog.text and KEY.reveal().hex() not in caplog.text


def test_unknown_identity_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = DtlsServer(make_store())
    client = DtlsClient(Psk(b"stranger", KEY))
    client.connect(SERVER, 0.0)
    with caplog.at_level(logging.WARNING, logger="lwm2m.security.dtls"):
        shuttle(server, client)
    assert server.state(CLIENT) is None
    assert "unknown PSK identity b'stranger'" in caplog.text
    assert client.state(SERVER) is None  # the client saw the fatal alert
    assert [e.reason for e in events(client) if isinstance(e, SessionEnded)] == [EndReason.FAILED]


def test_identity_of_another_device_gets_its_own_binding() -> None:
    server, _ = connected(psk=Psk(b"device-2", Secret(b"another key")))
    assert server.peer_identity(CLIENT) == PskIdentity("urn:dev:2", b"device-2")


def test_replayed_truncated_and_garbage_records_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, client = connected()
    client.send(b"once", SERVER, 1.0)
    [(record, _)] = client.datagrams_to_send()
    with caplog.at_level(logging.DEBUG, logger="lwm2m.security.dtls"):
        assert server.receive(record, CLIENT, 1.0) == [b"once"]
        assert server.receive(record, CLIENT, 1.0) == []  # replay
        client.send(b"twice", SERVER, 1.0)
        [(record, _)] = client.datagrams_to_send()
        assert server.receive(record[:-1], CLIENT, 1.0) == []  # truncated
        assert server.receive(record[:5], CLIENT, 1.0) == []
        tampered = record[:-1] + bytes([record[-1] ^ 1])
        assert server.receive(tampered, CLIENT, 1.0) == []  # forged
        assert server.receive(b"\x17\xfe\xfd" + b"\xff" * 40, CLIENT, 1.0) == []  # garbage
        assert server.receive(b"garbage", ("203.0.113.1", 9), 1.0) == []  # no session
        assert server.receive(b"\x16" * 70_000, CLIENT, 1.0) == []  # oversized
        assert server.receive(record, CLIENT, 1.0) == [b"twice"]  # the session is intact
    assert server.stats.dropped_datagrams == 7
    assert "dropped" in caplog.text
    assert server.state(CLIENT) is SessionState.ESTABLISHED


def test_restarted_client_replaces_its_session_only_after_the_cookie() -> None:
    server, _ = connected()
    events(server)
    restarted = DtlsClient(Psk(b"device-2", Secret(b"another key")))
    restarted.connect(SERVER, 5.0)
    [(hello, _)] = restarted.datagrams_to_send()
    server.receive(hello, CLIENT, 5.0)  # anyone could send this: the session must survive
    assert server.peer_identity(CLIENT) == PskIdentity("urn:dev:1", b"device-1")
    for data, _peer in server.datagrams_to_send():
        restarted.receive(data, SERVER, 5.0)
    shuttle(server, restarted, 5.0)
    assert server.peer_identity(CLIENT) == PskIdentity("urn:dev:2", b"device-2")
    assert [type(e) for e in events(server)] == [SessionEnded, SessionEstablished]


def test_late_duplicate_client_hello_leaves_the_session_alone() -> None:
    hellos: list[bytes] = []

    def keep_hellos(datagram: bytes) -> list[bytes]:
        if is_client_hello(datagram):
            hellos.append(datagram)
        return [datagram]

    server, client = DtlsServer(make_store()), DtlsClient(PSK)
    client.connect(SERVER, 0.0)
    shuttle(server, client, to_server=keep_hellos)
    assert server.receive(hellos[-1], CLIENT, 1.0) == []  # the network delivers it twice
    assert server.datagrams_to_send() == []
    assert server.state(CLIENT) is SessionState.ESTABLISHED
    client.send(b"still here", SERVER, 1.0)
    assert shuttle(server, client, 1.0)[0] == [b"still here"]


def test_reconnect_runs_a_full_handshake_against_the_store() -> None:
    """python-mbedtls exposes no session resumption: every handshake consults the store, so a
    removed credential stops a device at its next handshake."""
    store = make_store()
    server = DtlsServer(store)
    client = DtlsClient(PSK)
    client.connect(SERVER, 0.0)
    shuttle(server, client)
    client.close(SERVER)
    shuttle(server, client)
    assert server.state(CLIENT) is None
    store.remove("urn:dev:1")
    client.connect(SERVER, 1.0)
    shuttle(server, client, 1.0)
    assert server.state(CLIENT) is None and client.state(SERVER) is None


def test_close_notify_ends_both_sides() -> None:
    server, client = connected()
    events(server)
    server.close(CLIENT)
    shuttle(server, client)
    assert server.state(CLIENT) is None and client.state(SERVER) is None
    [ended] = events(client)[1:]
    assert isinstance(ended, SessionEnded) and ended.reason is EndReason.CLOSED


def test_idle_sessions_expire_on_the_timer() -> None:
    server, client = connected(DtlsConfig(idle_timeout=100.0))
    client.send(b"keepalive", SERVER, 60.0)
    shuttle(server, client, 60.0)
    assert server.get_timer() == 160.0
    server.handle_timer(159.0)
    assert server.state(CLIENT) is SessionState.ESTABLISHED
    server.handle_timer(160.0)
    assert server.state(CLIENT) is None and server.get_timer() is None
    assert isinstance(ended := events(server)[-1], SessionEnded)
    assert ended.reason is EndReason.IDLE and ended.identity is not None


def test_session_limit_evicts_the_least_recently_active() -> None:
    config = DtlsConfig(max_sessions=2)
    server = DtlsServer(make_store(), config)
    peers = [("198.51.100.7", port) for port in range(3)]
    for n, peer in enumerate(peers):
        client = DtlsClient(PSK, config)
        client.connect(SERVER, float(n))
        shuttle(server, client, float(n), peer=peer)
    assert server.established == 2 and server.state(peers[0]) is None


def test_lost_client_hello_is_retransmitted_on_the_timer() -> None:
    """mbed TLS times retransmissions with its own clock: this waits for real."""
    config = DtlsConfig(handshake_timeout_min=0.05, handshake_timeout_max=0.4)
    server, client = DtlsServer(make_store(), config), DtlsClient(PSK, config)
    start = time.monotonic()
    client.connect(SERVER, start)
    client.datagrams_to_send()  # lost
    deadline = client.get_timer()
    assert deadline == pytest.approx(start + 0.05)
    while (now := time.monotonic()) < deadline:
        time.sleep(deadline - now)
    for _ in range(20):  # mbed TLS's clock may lag ours by a hair: we look again shortly
        client.handle_timer(time.monotonic())
        if client._out:
            break
        time.sleep(0.01)
    shuttle(server, client, time.monotonic())
    assert server.state(CLIENT) is SessionState.ESTABLISHED


def test_unanswered_handshake_times_out() -> None:
    config = DtlsConfig(handshake_lifetime=5.0)
    client = DtlsClient(PSK, config)
    client.connect(SERVER, 0.0)
    client.datagrams_to_send()
    client.handle_timer(5.0)
    assert client.state(SERVER) is None
    [ended] = events(client)
    assert isinstance(ended, SessionEnded) and ended.reason is EndReason.TIMEOUT
    assert not client.send(b"again", SERVER, 6.0)  # starts over
    assert client.state(SERVER) is SessionState.HANDSHAKING


HELLO = MbedtlsClientBackend(PSK).connect(0.0).datagrams_to_send()[0]
FUZZ_SERVER = DtlsServer(make_store())


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda at, byte: HELLO[:at] + bytes([byte]) + HELLO[at + 1 :],
            st.integers(0, len(HELLO) - 1),
            st.integers(0, 255),
        ),
        st.integers(0, len(HELLO)).map(lambda cut: HELLO[:cut]),
    ),
    port=st.integers(0, 3),
)
def test_any_datagram_is_answered_or_dropped_without_state(data: bytes, port: int) -> None:
    server = FUZZ_SERVER
    assert server.receive(data, ("203.0.113.5", port), 0.0) == []
    for datagram, _ in server.datagrams_to_send():
        assert datagram[13] == 3  # only ever a HelloVerifyRequest
    assert server.half_open == 0 and server.established == 0
