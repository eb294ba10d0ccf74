"""DTLS 1.2 with pre-shared keys (RFC 6347, RFC 4279, RFC 6655 CCM_8), sans-I/O.

A :class:`DtlsSession` is one DTLS association as the rest of the stack sees it: ciphertext
datagrams and ``now`` in; plaintext datagrams, ciphertext to send, the handshake state, the
authenticated identity and the next handshake-retransmission timer out.  It hides the library
so that it can be swapped: python-mbedtls (mbed TLS 2.28) today, which lacks the DTLS
Connection ID (RFC 9146) that NB-IoT devices behind NATs want.

:class:`DtlsServer` runs many peers on one socket.  A ClientHello from an unknown address is
answered with a HelloVerifyRequest and forgotten: no state exists for a peer until it echoes a
valid cookie, which a spoofed source cannot.  Verified handshakes ("half-open") are capped,
the oldest evicted first; established sessions expire when idle.  :class:`DtlsClient` opens one
session per server peer and holds back plaintext until the handshake is done.

Library caveats (python-mbedtls 2.10): mbed TLS times handshake retransmissions with its own
clock (``mbedtls_timing``), so ``now`` here only schedules when to let it look, and a virtual
clock does not make it retransmit sooner; session resumption is not exposed (no session
cache, tickets or get/set session), so a reconnecting client always runs a full handshake;
PSK identities reach Python as str, so they must be UTF-8.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, cast

from mbedtls import tls as _tls
from mbedtls.exceptions import TLSError

from lwm2m.coap.events import Peer
from lwm2m.security.credentials import Psk, PskCredential, PskIdentity, PskStore

logger = logging.getLogger(__name__)

#: DTLS record header: type, version, epoch, sequence number, length (RFC 6347 §4.1).
RECORD_HEADER_LENGTH = 13
#: Largest plaintext record (RFC 6347 §4.1: 2^14) and the largest datagram we look at: room
#: for one such record under either suite (CBC: IV, MAC, padding), below mbed TLS's buffer.
MAX_PLAINTEXT = 1 << 14
MAX_DATAGRAM = MAX_PLAINTEXT + 256 + RECORD_HEADER_LENGTH
_CONTENT_HANDSHAKE = 22
_CLIENT_HELLO = 1
_PEER_CLOSE_NOTIFY = 0x7880  # MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY
_TIMEOUT = 0x6800  # MBEDTLS_ERR_SSL_TIMEOUT
#: Handshake steps in one call are a handful; this only guards against a library loop.
_MAX_STEPS = 64
#: When mbed TLS's own clock is not yet due at our timer, look again this much later.
_RECHECK = 0.02
_HANDSHAKE_OVER: object = _tls.HandshakeStep.HANDSHAKE_OVER  # the stubs type members as int


def _code(error: TLSError) -> int | None:
    code: int | None = getattr(error, "err", None)  # present at run time, missing in the stubs
    return code


class CipherSuite(Enum):
    PSK_WITH_AES_128_CCM_8 = "TLS_PSK_WITH_AES_128_CCM_8"  # LwM2M's mandatory suite
    PSK_WITH_AES_128_CBC_SHA256 = "TLS_PSK_WITH_AES_128_CBC_SHA256"


class SessionState(Enum):
    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"
    CLOSED = "closed"
    FAILED = "failed"


class EndReason(Enum):
    CLOSED = "closed"  # close_notify, sent or received
    FAILED = "failed"  # handshake failure or fatal alert
    TIMEOUT = "timeout"  # the handshake did not finish in time
    IDLE = "idle"  # no authenticated traffic for idle_timeout
    REPLACED = "replaced"  # the peer completed a cookie exchange for a new handshake
    EVICTED = "evicted"  # a limit was reached and this was the oldest


@dataclass(frozen=True, slots=True)
class DtlsConfig:
    cipher_suites: tuple[CipherSuite, ...] = (
        CipherSuite.PSK_WITH_AES_128_CCM_8,
        CipherSuite.PSK_WITH_AES_128_CBC_SHA256,
    )
    #: Handshake retransmission timer, doubled per retransmission (RFC 6347 §4.2.4.1).
    #: NB-IoT round trips take seconds: raise both there.
    handshake_timeout_min: float = 1.0
    handshake_timeout_max: float = 60.0
    #: A handshake not finished this long after it started is abandoned.
    handshake_lifetime: float = 120.0
    #: Server: cookie-verified handshakes in progress; the oldest is evicted beyond it.
    max_half_open: int = 256
    #: Server: established sessions; the least recently active is evicted beyond it.
    max_sessions: int = 100_000
    #: Server: seconds without authenticated traffic before a session is forgotten.
    idle_timeout: float = 86_400.0
    #: Client: plaintext datagrams held per peer while its handshake runs (oldest dropped).
    max_pending: int = 16

    def __post_init__(self) -> None:
        if not self.cipher_suites:
            raise ValueError("at least one cipher suite is needed")
        if not 0 < self.handshake_timeout_min <= self.handshake_timeout_max:
            raise ValueError("need 0 < handshake_timeout_min <= handshake_timeout_max")
        if min(self.max_half_open, self.max_sessions, self.max_pending) < 1:
            raise ValueError("limits must be positive")
        if self.handshake_lifetime <= 0 or self.idle_timeout <= 0:
            raise ValueError("lifetimes must be positive")


DEFAULT_DTLS = DtlsConfig()


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    """``identity`` is the peer's, authenticated (server side); None on the client side."""

    peer: Peer
    identity: PskIdentity | None
    cipher_suite: CipherSuite


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """``identity`` is None when the handshake never completed."""

    peer: Peer
    identity: PskIdentity | None
    reason: EndReason
    detail: str = ""


DtlsEvent = SessionEstablished | SessionEnded


@dataclass(slots=True)
class DtlsStats:
    """Counters for what the server refused; bad input is logged at DEBUG only (a flood of it
    must not become a flood of log lines), so these are what monitoring should watch."""

    hello_verify_requests: int = 0
    handshakes_completed: int = 0
    handshakes_failed: int = 0
    dropped_datagrams: int = 0
    evicted: int = 0


class DtlsSession(Protocol):
    """One DTLS association, whatever the library behind it."""

    @property
    def state(self) -> SessionState: ...

    @property
    def cipher_suite(self) -> CipherSuite | None: ...

    @property
    def peer_credential(self) -> PskCredential | None:
        """Server side: the store entry whose key the peer proved it holds."""

    @property
    def failure(self) -> str:
        """Why the session failed or closed; empty while it is fine."""

    def receive(self, datagram: bytes, now: float) -> list[bytes]:
        """Feed one ciphertext datagram; returns the plaintext records it carried."""

    def send(self, plaintext: bytes, now: float) -> None:
        """Encrypt one datagram; only in state ESTABLISHED."""

    def datagrams_to_send(self) -> list[bytes]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def close(self) -> None:
        """Queue a close_notify and end the session."""


class DtlsServerBackend(Protocol):
    def accept(
        self, client_hello: bytes, client_id: bytes, now: float
    ) -> DtlsSession | bytes | None:
        """A session if ``client_hello`` carries a valid cookie for ``client_id``; else the
        HelloVerifyRequest to answer with (nothing kept), or None for a broken ClientHello."""


class DtlsClientBackend(Protocol):
    def connect(self, now: float) -> DtlsSession:
        """Start a handshake; the ClientHello is waiting in ``datagrams_to_send``."""


# -- python-mbedtls backend ------------------------------------------------------------------


def _mbedtls_configuration(
    config: DtlsConfig, *, psk: Psk | None = None, store: Mapping[str, bytes] | None = None
) -> _tls.DTLSConfiguration:
    return _tls.DTLSConfiguration(
        validate_certificates=False,
        ciphers=tuple(suite.value.replace("_", "-") for suite in config.cipher_suites),
        lowest_supported_version=_tls.DTLSVersion.DTLSv1_2,
        highest_supported_version=_tls.DTLSVersion.DTLSv1_2,
        handshake_timeout_min=config.handshake_timeout_min,
        handshake_timeout_max=config.handshake_timeout_max,
        pre_shared_key=None if psk is None else (psk.identity.decode(), psk.key.reveal()),
        pre_shared_key_store=store if store is not None else {},
    )


class _PskLookup(Mapping[str, bytes]):
    """The server's PSK callback: mbed TLS asks for an identity's key while the server steps
    one session, and that session then reads which credential was used from here."""

    def __init__(self, store: PskStore) -> None:
        self._store = store
        self.found: PskCredential | None = None
        self.unknown: bytes | None = None

    def reset(self) -> None:
        self.found = self.unknown = None

    def __getitem__(self, identity: str) -> bytes:
        raw = identity.encode()
        credential = self._store.lookup(raw)
        if credential is None:
            self.unknown = raw
            raise KeyError("unknown PSK identity")
        self.found = credential
        return credential.psk.key.reveal()

    def __iter__(self) -> Iterator[str]:
        return iter(())  # never enumerate the store (nor let a repr print it)

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "_PskLookup(...)"


_READ_BUFFER = bytearray(MAX_PLAINTEXT)
_READ_VIEW = memoryview(_READ_BUFFER)


class MbedtlsSession:
    """:class:`DtlsSession` on python-mbedtls memory buffers."""

    def __init__(
        self, tls: _tls.TLSWrappedBuffer, config: DtlsConfig, now: float, lookup: _PskLookup | None
    ) -> None:
        self._tls = tls
        self._config = config
        self._lookup = lookup
        self.state = SessionState.HANDSHAKING
        self.cipher_suite: CipherSuite | None = None
        self.peer_credential: PskCredential | None = None
        self.failure = ""
        self.hello_verify_sent = False
        self._out: list[bytes] = []
        self._timeout = config.handshake_timeout_min
        self._retransmit_at: float | None = None
        self._deadline = now + config.handshake_lifetime

    def receive(self, datagram: bytes, now: float) -> list[bytes]:
        state = self.state
        if state is SessionState.CLOSED or state is SessionState.FAILED:
            return []
        if len(datagram) > MAX_DATAGRAM:
            return []
        self._tls.receive_from_network(datagram)
        if self.state is SessionState.HANDSHAKING and not self.handshake(now, by_timer=False):
            return []
        return self._read()

    def send(self, plaintext: bytes, now: float) -> None:
        if self.state is not SessionState.ESTABLISHED:
            raise RuntimeError(f"DTLS session is {self.state.value}, not established")
        if len(plaintext) > MAX_PLAINTEXT:
            raise ValueError(f"a DTLS record carries at most {MAX_PLAINTEXT} bytes")
        try:
            self._tls.write(plaintext)
        except TLSError as error:
            self._end(SessionState.FAILED, error.msg)
        self._flush()

    def datagrams_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        if self.state is not SessionState.HANDSHAKING:
            return None
        if self._retransmit_at is None:
            return self._deadline
        return min(self._retransmit_at, self._deadline)

    def handle_timer(self, now: float) -> None:
        if self.state is not SessionState.HANDSHAKING:
            return
        if now >= self._deadline:
            self._end(SessionState.FAILED, "handshake timed out")
        elif self._retransmit_at is not None and now >= self._retransmit_at:
            self.handshake(now, by_timer=True)

    def close(self) -> None:
        if self.state is SessionState.ESTABLISHED:
            self._tls.shutdown()  # queues close_notify
            self._flush()
        self._end(SessionState.CLOSED, "closed locally")

    def handshake(self, now: float, *, by_timer: bool) -> bool:
        """Step the handshake as far as the input allows and (re)arm the retransmission;
        True once established."""
        lookup = self._lookup
        if lookup is not None:
            lookup.reset()
        sent = False
        try:
            for _ in range(_MAX_STEPS):
                try:
                    self._tls.do_handshake()
                except (_tls.WantWriteError, _tls.WantReadError) as wait:
                    sent |= self._flush()
                    if isinstance(wait, _tls.WantReadError):
                        break
                    continue
                sent |= self._flush()
                if self._tls._handshake_state is _HANDSHAKE_OVER:
                    self._established()
                    break
        except _tls.HelloVerifyRequest:
            self._flush()
            self.hello_verify_sent = True
            self._end(SessionState.CLOSED, "hello verify request sent")
        except TLSError as error:
            self._flush()  # the fatal alert, if mbed TLS queued one
            if lookup is not None and lookup.unknown is not None:
                self._end(SessionState.FAILED, f"unknown PSK identity {lookup.unknown!r}")
            elif _code(error) == _TIMEOUT:
                self._end(SessionState.FAILED, "handshake timed out")
            else:
                self._end(SessionState.FAILED, error.msg)
        if lookup is not None and lookup.found is not None:
            self.peer_credential = lookup.found
        if self.state is not SessionState.HANDSHAKING:
            self._retransmit_at = None
        elif sent:
            self._timeout = (
                min(2 * self._timeout, self._config.handshake_timeout_max)
                if by_timer
                else self._config.handshake_timeout_min
            )
            self._retransmit_at = now + self._timeout
        elif by_timer:
            self._retransmit_at = now + _RECHECK
        return self.state is SessionState.ESTABLISHED

    def _established(self) -> None:
        self.state = SessionState.ESTABLISHED
        name = self._tls.cipher()
        self.cipher_suite = CipherSuite(str(name).replace("-", "_"))

    def _read(self) -> list[bytes]:
        plaintexts: list[bytes] = []
        while True:  # one record per call; ends on WantReadError once the input is consumed
            try:
                length = self._tls.readinto(cast(bytes, _READ_BUFFER), MAX_PLAINTEXT)
            except _tls.WantReadError:
                break
            except _tls.WantWriteError:
                self._flush()  # mbed TLS resent its last flight: the peer missed it
                continue
            except _tls.RaggedEOF:
                self._end(SessionState.CLOSED, "closed by peer")
                break
            except TLSError as error:
                if _code(error) == _PEER_CLOSE_NOTIFY:
                    self._end(SessionState.CLOSED, "closed by peer")
                else:
                    self._end(SessionState.FAILED, error.msg)
                break
            plaintexts.append(bytes(_READ_VIEW[:length]))
        self._flush()
        return plaintexts

    def _flush(self) -> bool:
        pending = len(self._tls._output_buffer)
        if not pending:
            return False
        self._out.append(self._tls.peek_outgoing(pending))
        self._tls.consume_outgoing(pending)
        return True

    def _end(self, state: SessionState, why: str) -> None:
        if self.state is SessionState.HANDSHAKING or self.state is SessionState.ESTABLISHED:
            self.state = state
            self.failure = why


class MbedtlsServerBackend:
    """One ServerContext (so one cookie key) for all peers; PSKs come from ``store``."""

    def __init__(self, store: PskStore, config: DtlsConfig = DEFAULT_DTLS) -> None:
        self._config = config
        self._lookup = _PskLookup(store)
        self._context = _tls.ServerContext(_mbedtls_configuration(config, store=self._lookup))

    def accept(
        self, client_hello: bytes, client_id: bytes, now: float
    ) -> DtlsSession | bytes | None:
        session = MbedtlsSession(self._context.wrap_buffers(), self._config, now, self._lookup)
        session._tls.setcookieparam(client_id)
        session.receive(client_hello, now)
        if session.hello_verify_sent:
            return b"".join(session.datagrams_to_send())
        if session.state is not SessionState.HANDSHAKING or not session._out:
            return None  # only a verified cookie makes mbed TLS answer with a ServerHello
        return session


class MbedtlsClientBackend:
    def __init__(self, psk: Psk, config: DtlsConfig = DEFAULT_DTLS) -> None:
        self._config = config
        self._context = _tls.ClientContext(_mbedtls_configuration(config, psk=psk))

    def connect(self, now: float) -> DtlsSession:
        session = MbedtlsSession(self._context.wrap_buffers(None), self._config, now, None)
        session.handshake(now, by_timer=False)
        return session


# -- many peers --------------------------------------------------------------------------------


def is_client_hello(datagram: bytes) -> bool:
    """Whether ``datagram`` starts with an epoch-0 ClientHello record: the only thing a peer
    without a session may send us."""
    return (
        len(datagram) > RECORD_HEADER_LENGTH
        and datagram[0] == _CONTENT_HANDSHAKE
        and datagram[1] == 0xFE  # DTLS major version byte
        and datagram[3:5] == b"\0\0"
        and datagram[RECORD_HEADER_LENGTH] == _CLIENT_HELLO
    )


class _Association:
    __slots__ = ("hello", "last_active", "session")

    def __init__(self, session: DtlsSession, hello: bytes, now: float) -> None:
        self.session = session
        self.hello = hello  # the ClientHello that started it, to recognise retransmissions
        self.last_active = now


class _DtlsPeers:
    """What the server and the client share: associations by peer, output, events, timers."""

    def __init__(self, config: DtlsConfig) -> None:
        self.config = config
        self._half_open: dict[Peer, _Association] = {}
        self._sessions: OrderedDict[Peer, _Association] = OrderedDict()  # oldest activity first
        self._out: list[tuple[bytes, Peer]] = []
        self._events: deque[DtlsEvent] = deque()

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> DtlsEvent | None:
        return self._events.popleft() if self._events else None

    def state(self, peer: Peer) -> SessionState | None:
        association = self._half_open.get(peer) or self._sessions.get(peer)
        return None if association is None else association.session.state

    @property
    def half_open(self) -> int:
        return len(self._half_open)

    @property
    def established(self) -> int:
        return len(self._sessions)

    def get_timer(self) -> float | None:
        deadlines = [
            deadline
            for association in self._half_open.values()
            if (deadline := association.session.get_timer()) is not None
        ]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for peer, association in list(self._half_open.items()):
            deadline = association.session.get_timer()
            if deadline is not None and deadline <= now:
                association.session.handle_timer(now)
                self._settle(peer, association, now)

    def send(self, plaintext: bytes, peer: Peer, now: float) -> bool:
        """Encrypt one datagram to an established peer; False (and nothing sent) otherwise."""
        association = self._sessions.get(peer)
        if association is None:
            return False
        association.session.send(plaintext, now)
        association.last_active = now
        self._sessions.move_to_end(peer)
        self._settle(peer, association, now)
        return True

    def close(self, peer: Peer) -> None:
        """Send close_notify (if established) and forget the peer."""
        association = self._half_open.get(peer) or self._sessions.get(peer)
        if association is not None:
            association.session.close()
            self._settle(peer, association, 0.0)

    def _feed(self, association: _Association, data: bytes, peer: Peer, now: float) -> list[bytes]:
        plaintexts = association.session.receive(data, now)
        if plaintexts:
            self._touch(peer, association, now)
        self._settle(peer, association, now)
        return plaintexts

    def _touch(self, peer: Peer, association: _Association, now: float) -> None:
        association.last_active = now
        if peer in self._sessions:
            self._sessions.move_to_end(peer)

    def _settle(self, peer: Peer, association: _Association, now: float) -> None:
        """Queue the session's output and move it along its life: half-open → established →
        gone, with an event at each step."""
        session = association.session
        out = session.datagrams_to_send()
        if out:
            self._out.extend([(datagram, peer) for datagram in out])
        state = session.state
        if state is SessionState.ESTABLISHED:
            if peer not in self._half_open:
                return
            del self._half_open[peer]
            while len(self._sessions) >= self.config.max_sessions:
                oldest = next(iter(self._sessions))
                self._forget(oldest, EndReason.EVICTED, "session limit reached")
            association.last_active = now
            self._sessions[peer] = association
            self._on_established(peer, association)
        elif state is SessionState.CLOSED or state is SessionState.FAILED:
            reason = EndReason.CLOSED if state is SessionState.CLOSED else EndReason.FAILED
            if session.failure == "handshake timed out":
                reason = EndReason.TIMEOUT
            self._forget(peer, reason, session.failure)

    def _on_established(self, peer: Peer, association: _Association) -> None:
        suite = association.session.cipher_suite
        assert suite is not None
        self._events.append(SessionEstablished(peer, None, suite))

    def _forget(self, peer: Peer, reason: EndReason, detail: str) -> None:
        association = self._half_open.pop(peer, None) or self._sessions.pop(peer, None)
        if association is None:
            return
        credential = association.session.peer_credential
        established = association.session.cipher_suite is not None
        identity = credential.identity if credential is not None and established else None
        self._events.append(SessionEnded(peer, identity, reason, detail))
        self._log_end(peer, identity, reason, detail)

    def _log_end(
        self, peer: Peer, identity: PskIdentity | None, reason: EndReason, detail: str
    ) -> None:
        logger.debug("DTLS session with %s (%s) ended: %s %s", peer, identity, reason.value, detail)


class DtlsServer(_DtlsPeers):
    """Many DTLS peers on one socket; ``receive`` returns the plaintext datagrams of a peer."""

    def __init__(
        self,
        store: PskStore,
        config: DtlsConfig = DEFAULT_DTLS,
        *,
        backend: DtlsServerBackend | None = None,
    ) -> None:
        super().__init__(config)
        self._backend = backend if backend is not None else MbedtlsServerBackend(store, config)
        self.stats = DtlsStats()

    def peer_identity(self, peer: Peer) -> PskIdentity | None:
        """The authenticated identity behind ``peer``, None without an established session."""
        association = self._sessions.get(peer)
        if association is None:
            return None
        credential = association.session.peer_credential
        return None if credential is None else credential.identity

    def receive(self, data: bytes, peer: Peer, now: float) -> list[bytes]:
        if len(data) > MAX_DATAGRAM:
            return self._drop(peer, "oversized datagram")
        association = self._sessions.get(peer)
        if association is None:
            association = self._half_open.get(peer)
            if is_client_hello(data) and (association is None or data != association.hello):
                return self._accept(data, peer, now)
        elif is_client_hello(data):
            if data == association.hello:
                return self._drop(peer, "late duplicate of the ClientHello")
            return self._accept(data, peer, now)  # a restarted client; proven before replacing
        if association is None:
            return self._drop(peer, "no DTLS session")
        session = association.session
        was_established = session.state is SessionState.ESTABLISHED
        plaintexts = self._feed(association, data, peer, now)
        if was_established and not plaintexts and session.state is SessionState.ESTABLISHED:
            self._drop(peer, "record rejected (replayed, forged or malformed)")
        return plaintexts

    def get_timer(self) -> float | None:
        deadline = super().get_timer()
        if self._sessions:
            idle = next(iter(self._sessions.values())).last_active + self.config.idle_timeout
            deadline = idle if deadline is None else min(deadline, idle)
        return deadline

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        limit = now - self.config.idle_timeout
        while self._sessions:
            peer, association = next(iter(self._sessions.items()))
            if association.last_active > limit:
                break
            self._forget(peer, EndReason.IDLE, "")

    def close_endpoint(self, endpoint: str) -> int:
        """Close every session authenticated as ``endpoint`` (its credential changed or went);
        returns how many there were."""
        peers = [
            peer
            for peer, association in (*self._half_open.items(), *self._sessions.items())
            if (credential := association.session.peer_credential) is not None
            and credential.endpoint == endpoint
        ]
        for peer in peers:
            self.close(peer)
        return len(peers)

    def _accept(self, data: bytes, peer: Peer, now: float) -> list[bytes]:
        result = self._backend.accept(data, repr(peer).encode(), now)
        if result is None:
            return self._drop(peer, "malformed ClientHello")
        if isinstance(result, bytes):
            self.stats.hello_verify_requests += 1
            self._out.append((result, peer))
            return []
        # The cookie proves the peer receives at its address: only now does it cost memory.
        self._forget(peer, EndReason.REPLACED, "new handshake")
        if len(self._half_open) >= self.config.max_half_open:
            self.stats.evicted += 1
            self._forget(next(iter(self._half_open)), EndReason.EVICTED, "half-open limit")
        association = _Association(result, data, now)
        self._half_open[peer] = association
        self._settle(peer, association, now)
        return []

    def _on_established(self, peer: Peer, association: _Association) -> None:
        session = association.session
        credential = session.peer_credential
        if credential is None:  # a backend that does not say who: refuse rather than guess
            session.close()
            self._settle(peer, association, association.last_active)
            return
        assert session.cipher_suite is not None
        self.stats.handshakes_completed += 1
        self._events.append(SessionEstablished(peer, credential.identity, session.cipher_suite))
        logger.debug("DTLS session with %s as %s", peer, credential.identity)

    def _log_end(
        self, peer: Peer, identity: PskIdentity | None, reason: EndReason, detail: str
    ) -> None:
        if reason is EndReason.FAILED or reason is EndReason.TIMEOUT:
            self.stats.handshakes_failed += 1
            # Only cookie-verified peers get here, so this cannot be flooded from spoofed ones.
            logger.warning("DTLS handshake with %s refused: %s", peer, detail)
        else:
            super()._log_end(peer, identity, reason, detail)

    def _drop(self, peer: Peer, why: str) -> list[bytes]:
        self.stats.dropped_datagrams += 1
        logger.debug("DTLS datagram from %s dropped: %s", peer, why)
        return []


class DtlsClient(_DtlsPeers):
    """Our side of DTLS sessions to servers; ``send`` opens them on demand.

    Every server gets ``psk`` unless :meth:`use_psk` named another for it (a bootstrap
    server and a DM server hold different keys).  Sending to a server without a PSK ends in
    ``SessionEnded(FAILED)`` at once."""

    def __init__(
        self,
        psk: Psk | None = None,
        config: DtlsConfig = DEFAULT_DTLS,
        *,
        backend: DtlsClientBackend | None = None,
    ) -> None:
        super().__init__(config)
        self._default = psk
        self._backend = backend
        self._backends: dict[Psk, DtlsClientBackend] = {}
        self._psks: dict[Peer, Psk] = {}
        self._pending: dict[Peer, deque[bytes]] = {}

    def use_psk(self, peer: Peer, psk: Psk) -> None:
        """Authenticate to ``peer`` with ``psk`` from now on; a session opened with another
        key is closed, so the next datagram handshakes with this one."""
        changed = self._psks.get(peer, self._default) != psk
        self._psks[peer] = psk
        if changed:
            self.close(peer)

    def connect(self, peer: Peer, now: float) -> None:
        """Start a handshake with ``peer`` unless one is running or done."""
        if peer in self._half_open or peer in self._sessions:
            return
        backend = self._backend_for(peer)
        if backend is None:
            self._pending.pop(peer, None)
            self._events.append(SessionEnded(peer, None, EndReason.FAILED, "no PSK for it"))
            return
        association = _Association(backend.connect(now), b"", now)
        self._half_open[peer] = association
        self._settle(peer, association, now)

    def _backend_for(self, peer: Peer) -> DtlsClientBackend | None:
        if self._backend is not None:
            return self._backend
        psk = self._psks.get(peer, self._default)
        if psk is None:
            return None
        backend = self._backends.get(psk)
        if backend is None:
            backend = self._backends[psk] = MbedtlsClientBackend(psk, self.config)
        return backend

    def send(self, plaintext: bytes, peer: Peer, now: float) -> bool:
        """Encrypt to ``peer``, or hold the datagram until the handshake (started here) ends."""
        if super().send(plaintext, peer, now):
            return True
        pending = self._pending.setdefault(peer, deque(maxlen=self.config.max_pending))
        pending.append(plaintext)
        self.connect(peer, now)
        return False

    def receive(self, data: bytes, peer: Peer, now: float) -> list[bytes]:
        if len(data) > MAX_DATAGRAM:
            return []
        association = self._half_open.get(peer) or self._sessions.get(peer)
        if association is None:
            logger.debug("DTLS datagram from %s dropped: no session", peer)
            return []
        return self._feed(association, data, peer, now)

    def _on_established(self, peer: Peer, association: _Association) -> None:
        super()._on_established(peer, association)
        for plaintext in self._pending.pop(peer, ()):
            association.session.send(plaintext, association.last_active)
        self._out.extend((datagram, peer) for datagram in association.session.datagrams_to_send())

    def _forget(self, peer: Peer, reason: EndReason, detail: str) -> None:
        self._pending.pop(peer, None)
        super()._forget(peer, reason, detail)
