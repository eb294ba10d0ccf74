"""Sans-I/O CoAP endpoint over datagrams: RFC 7252 messaging, RFC 7959 block-wise transfers,
RFC 7641 Observe and RFC 9175 Request-Tag, for both the client and the server role at once.

Driven like aioquic: the caller feeds datagrams with :meth:`Endpoint.receive`, calls
:meth:`Endpoint.handle_timer` once :meth:`Endpoint.get_timer` has passed, then drains
:meth:`Endpoint.datagrams_to_send` (``(bytes, peer)`` pairs) and :meth:`Endpoint.next_event`.
``now`` is seconds on any monotonic scale; the endpoint never reads a clock, never does I/O and
takes its randomness (initial message IDs, tokens, retransmission jitter) from the injected
``random.Random``. Peers are opaque hashables.

Client role::

    handle = endpoint.send_request(peer, Code.GET, options=..., payload=..., now=now)
    # -> ResponseReceived(handle, response) | RequestFailed(handle, reason)
    # With Observe=0 and a response carrying Observe: then NotificationReceived(handle, ...)
    # until ObservationEnded(handle, ...); end it with cancel_observation() (GET Observe=1)
    # or cancel() (forget it; the next notification is answered with RST).
    endpoint.ping(peer, now)  # -> PongReceived | RequestFailed

Bodies larger than one block go out as Block1 with Size1 and a fresh Request-Tag; Block2
responses are fetched to the end before the application sees them.

Server role::

    RequestReceived(exchange, request)  # Block1 bodies already reassembled
    endpoint.respond(exchange, Code.CONTENT, options=..., payload=..., now=now)
    # returns an ObservationKey when the request registered an observation, then:
    endpoint.notify(observation, Code.CONTENT, payload=..., now=now, confirmable=False)

A CON request not answered within ``empty_ack_delay`` (or after :meth:`Endpoint.accept`) gets an
empty ACK, and the response then goes separately as CON. Large responses are sliced into Block2
and kept for the follow-up requests. Duplicates are answered from the deduplication cache;
unknown critical options get 4.02, malformed CONs RST, responses nobody waits for RST.

Limits, all in :class:`~lwm2m.coap.config.EndpointConfig`: NSTART counts outstanding CON
transmissions per peer (queued beyond it); deduplication, reassembly and Block2 caches are
bounded in entries and expire after EXCHANGE_LIFETIME (a pending request evicted early makes
``respond`` raise :class:`StaleHandleError`); per-peer state lives until :meth:`forget_peer`.
Not implemented: PROBING_RATE for NON traffic, matching an RST to a NON request of ours (it
times out instead), No-Response (RFC 7967), Echo (RFC 9175 §2).
"""

from __future__ import annotations

import random
import struct
from collections import deque
from dataclasses import replace
from enum import Enum, auto
from functools import partial

from lwm2m.coap.blockwise import Assembly, BlockError, slice_block
from lwm2m.coap.cache import ExpiringCache
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.errors import BadOptionError, CoapError, MessageFormatError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    NotificationReceived,
    ObservationCancelled,
    ObservationEnded,
    ObservationKey,
    Peer,
    PongReceived,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.observe import is_fresh, next_sequence
from lwm2m.coap.options import EMPTY_OPTIONS, OPTION_SPECS, Block, OptionNumber, Options
from lwm2m.coap.timers import Timer, TimerQueue

_EMPTY_HEADER = struct.Struct("!BBH")
_TRANSFER_OPTIONS = frozenset({OptionNumber.BLOCK1, OptionNumber.SIZE1, OptionNumber.REQUEST_TAG})
_PLAIN_REQUEST_OPTIONS = frozenset(OPTION_SPECS).difference(
    {OptionNumber.OBSERVE, OptionNumber.BLOCK1, OptionNumber.BLOCK2}
)
"""Options that a request can carry and the endpoint has nothing to do about."""
_OBSERVABLE = frozenset({Code.GET, Code.FETCH})
_BLOCK_ERROR_CODES = {
    BlockError.INCOMPLETE: Code.REQUEST_ENTITY_INCOMPLETE,
    BlockError.TOO_LARGE: Code.REQUEST_ENTITY_TOO_LARGE,
    BlockError.SIZE: Code.BAD_REQUEST,
}


class StaleHandleError(CoapError, LookupError):
    """Local misuse: the exchange, request or observation named is answered, over or expired."""


def _empty(type_: Type, message_id: int) -> bytes:
    return _EMPTY_HEADER.pack(0x40 | type_ << 4, 0, message_id)


class _ClientState(Enum):
    REQUESTING = auto()  # request (or one of its blocks) in flight
    OBSERVING = auto()  # observation established; a Block2 fetch of a notification may run
    CANCELLING = auto()  # GET with Observe=1 in flight
    CLOSED = auto()


_CLIENT_TRANSITIONS: dict[_ClientState, frozenset[_ClientState]] = {
    _ClientState.REQUESTING: frozenset({_ClientState.OBSERVING, _ClientState.CLOSED}),
    _ClientState.OBSERVING: frozenset({_ClientState.CANCELLING, _ClientState.CLOSED}),
    _ClientState.CANCELLING: frozenset({_ClientState.CLOSED}),
    _ClientState.CLOSED: frozenset(),
}


class _PeerState:
    """Per-peer message IDs, NSTART accounting and server-side observers (created lazily)."""

    __slots__ = ("next_mid", "observations", "outstanding", "queue")

    def __init__(self, first_mid: int) -> None:
        self.next_mid = first_mid
        self.outstanding = 0
        self.queue: deque[_Transmission] | None = None
        self.observations: dict[bytes, _Observation] | None = None


class _Transmission:
    """One CON message until it is ACKed, RST or given up (RFC 7252 §4.2)."""

    __slots__ = (
        "data",
        "done",
        "message_id",
        "owner",
        "peer",
        "peer_state",
        "retries",
        "started",
        "timeout",
        "timer",
    )

    def __init__(
        self,
        peer: Peer,
        peer_state: _PeerState,
        message_id: int,
        data: bytes,
        owner: _ClientExchange | _Observation | None,
    ) -> None:
        self.peer = peer
        self.peer_state = peer_state
        self.message_id = message_id
        self.data = data
        self.owner = owner
        self.retries = 0
        self.timeout = 0.0
        self.timer: Timer | None = None
        self.started = False
        self.done = False


class _ClientExchange:
    """A request of ours from send to its terminal event, through all its blocks."""

    __slots__ = (
        "b1_length",
        "b1_offset",
        "b1_szx",
        "b2",
        "body",
        "code",
        "confirmable",
        "handle",
        "obs_seq",
        "obs_time",
        "options",
        "origin_token",
        "peer",
        "request_tag",
        "state",
        "timer",
        "token",
        "tx",
    )

    def __init__(
        self,
        handle: int,
        peer: Peer,
        code: Code,
        options: Options,
        body: bytes,
        *,
        token: bytes,
        confirmable: bool,
    ) -> None:
        self.handle = handle
        self.peer = peer
        self.code = code
        self.options = options
        self.body = body
        self.origin_token = token  # registered until the exchange closes (observations use it)
        self.token = token  # of the request in flight; Block2 follow-ups get fresh ones
        self.confirmable = confirmable
        self.state = _ClientState.REQUESTING
        self.tx: _Transmission | None = None
        self.timer: Timer | None = None
        self.b1_szx: int | None = None  # None: the body goes in one message
        self.b1_offset = 0
        self.b1_length = 0
        self.request_tag: bytes | None = None
        self.b2: Assembly | None = None
        self.obs_seq = 0
        self.obs_time = 0.0

    def enter(self, state: _ClientState) -> None:
        if state not in _CLIENT_TRANSITIONS[self.state]:
            raise AssertionError(f"client exchange {self.state} -> {state}")
        self.state = state


class _ServerExchange:
    """An incoming request the application has not answered yet."""

    __slots__ = ("acked", "block1", "key", "request", "timer")

    def __init__(self, key: ExchangeKey, request: Message, block1: Block | None) -> None:
        self.key = key
        self.request = request
        self.block1 = block1  # echoed (M=0) in the final response of a Block1 body
        self.acked = request.type is not Type.CON
        self.timer: Timer | None = None


class _Received:
    """Deduplication entry for one received message ID: the reply to replay, if any."""

    __slots__ = ("exchange", "reply")

    def __init__(self) -> None:
        self.reply: bytes | None = None
        self.exchange: _ServerExchange | None = None


class _Observation:
    """Server side: one observer of one resource (RFC 7641 §4.1)."""

    __slots__ = ("key", "last_mid", "request", "seq", "tx")

    def __init__(self, peer: Peer, request: Message) -> None:
        self.key = ObservationKey(peer, request.token)
        self.request = request
        # RFC 7641 allows any start; node-coap (under lwm2m-node-lib) drops an Observe of 0.
        self.seq = 1
        self.last_mid = -1  # of the last NON notification, to match an RST to it
        self.tx: _Transmission | None = None


_Block2Key = tuple[Peer, tuple[str, ...], tuple[str, ...]]
_Block1Key = tuple[Peer, Code, tuple[str, ...], tuple[str, ...], bytes | None]


class Endpoint:
    """One CoAP endpoint (one local address); see the module docstring for the protocol."""

    def __init__(self, config: EndpointConfig = DEFAULT, rng: random.Random | None = None):
        self.config = config
        self._rng = rng if rng is not None else random.Random()
        # Derived times, computed once: they are read per message.
        self._exchange_lifetime = config.exchange_lifetime
        self._non_lifetime = config.non_lifetime
        self._response_timeout = config.effective_response_timeout
        self._timers = TimerQueue()
        self._out: list[tuple[bytes, Peer]] = []
        self._events: deque[Event] = deque()
        self._peers: dict[Peer, _PeerState] = {}
        self._by_mid: dict[tuple[Peer, int], _Transmission] = {}
        self._by_token: dict[tuple[Peer, bytes], _ClientExchange] = {}
        self._by_handle: dict[int, _ClientExchange] = {}
        self._next_handle = 1
        self._next_request_tag = self._rng.getrandbits(32)
        self._dedup: ExpiringCache[ExchangeKey, _Received] = ExpiringCache(config.dedup_capacity)
        self._block1: ExpiringCache[_Block1Key, Assembly] = ExpiringCache(
            config.max_block_transfers
        )
        self._block2: ExpiringCache[_Block2Key, tuple[Code, Options, bytes]] = ExpiringCache(
            config.max_block_transfers
        )

    # -- driving -----------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        self._timers.run_due(now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        """Process one datagram; bad input never raises, it is answered or dropped."""
        try:
            message = Message.decode(data)
        except MessageFormatError as error:
            self._reject_malformed(error, peer)
            return
        type_, code = message.type, message.code
        if code is Code.EMPTY:
            if type_ is Type.CON:  # CoAP ping
                self._out.append((_empty(Type.RST, message.message_id), peer))
            elif type_ is Type.ACK:
                self._on_ack(peer, message, now)
            elif type_ is Type.RST:
                self._on_rst(peer, message.message_id, now)
            return
        if type_ is Type.ACK:
            if code.is_response:
                self._on_ack(peer, message, now)
            return
        if type_ is Type.RST:
            return
        self._dedup.purge(now)
        key = ExchangeKey(peer, message.message_id)
        entry = self._dedup.get(key, now)
        if entry is not None:
            if type_ is Type.CON and entry.reply is not None:
                self._out.append((entry.reply, peer))
            return
        entry = _Received()
        lifetime = self._exchange_lifetime if type_ is Type.CON else self._non_lifetime
        self._dedup.put(key, entry, now + lifetime)
        if code.is_request:
            self._on_request(key, entry, message, now)
        elif code.is_response:
            self._on_response(peer, entry, message, now)
        elif type_ is Type.CON:  # reserved class or a signal: reject
            self._reply_empty(entry, peer, Type.RST, message.message_id)

    # -- client API --------------------------------------------------------------------------

    def send_request(
        self,
        peer: Peer,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = True,
        now: float,
    ) -> int:
        """Start a request; the handle names it in the events. Observe=0 registers."""
        code = Code(code)
        if not code.is_request:
            raise ValueError(f"{code} is not a request code")
        for number, _ in options:
            if number in _TRANSFER_OPTIONS:  # ours to set
                options = options.replace(block1=None, size1=None, request_tag=None)
                break
        ex = self._new_exchange(peer, code, options, payload, confirmable=confirmable)
        szx = self.config.preferred_block_szx
        if len(payload) > 16 << szx:
            ex.b1_szx = szx
            ex.request_tag = self._new_request_tag()
            self._send_block1(ex, now)
        else:
            self._send_step(ex, options, payload, ex.token, now)
        return ex.handle

    def ping(self, peer: Peer, now: float) -> int:
        """Send an Empty CON; the peer's RST comes back as :class:`PongReceived`."""
        ex = self._new_exchange(peer, Code.EMPTY, EMPTY_OPTIONS, b"", confirmable=True, token=b"")
        self._send_step(ex, EMPTY_OPTIONS, b"", b"", now)
        return ex.handle

    def cancel(self, handle: int, now: float) -> None:
        """Forget a request or observation; its last event says so (CANCELLED or None)."""
        ex = self._client(handle)
        observing = ex.state is not _ClientState.REQUESTING
        self._close(ex, now)
        self._events.append(
            ObservationEnded(handle, None)
            if observing
            else RequestFailed(handle, FailureReason.CANCELLED)
        )

    def cancel_observation(self, handle: int, now: float) -> None:
        """Deregister politely with GET Observe=1 (RFC 7641 §3.6); ends in ObservationEnded."""
        ex = self._client(handle)
        if ex.state is not _ClientState.OBSERVING:
            raise StaleHandleError(f"request {handle} is not an established observation")
        self._abandon_fetch(ex, now)
        ex.enter(_ClientState.CANCELLING)
        payload = ex.body if ex.code is Code.FETCH else b""
        self._send_step(ex, ex.options.replace(observe=1), payload, ex.origin_token, now)

    # -- server API --------------------------------------------------------------------------

    def accept(self, exchange: ExchangeKey, now: float) -> None:
        """Acknowledge a CON request now; the response will follow as a separate message."""
        entry, ex = self._server(exchange, now)
        self._ack_early(entry, ex)

    def respond(
        self,
        exchange: ExchangeKey,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        now: float,
        observe: bool = True,
    ) -> ObservationKey | None:
        """Answer a request; big payloads are sliced into Block2.

        A successful answer to a GET/FETCH with Observe=0 registers the observer (unless
        ``observe`` is False), gets an Observe number and returns the key for :meth:`notify`.
        """
        entry, ex = self._server(exchange, now)
        entry.exchange = None
        self._timers.cancel(ex.timer)
        request = ex.request
        observation: _Observation | None = None
        if request.code in _OBSERVABLE and request.options.observe == 0:
            observation = self._register(ex, Code(code).is_success and observe)
            if observation is not None:
                options = options.replace(observe=observation.seq)
        if ex.block1 is not None:
            options = options.replace(block1=ex.block1)
        self._answer(ex, entry, Code(code), options, payload, now=now, observation=observation)
        return None if observation is None else observation.key

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        now: float,
        confirmable: bool = False,
    ) -> None:
        """Send a notification; an error code ends the observation (RFC 7641 §4.2)."""
        peer_state = self._peers.get(observation.peer)
        observations = peer_state.observations if peer_state is not None else None
        obs = observations.get(observation.token) if observations is not None else None
        if peer_state is None or obs is None:
            raise StaleHandleError(f"{observation} is not registered")
        code = Code(code)
        if code.is_success:
            obs.seq = next_sequence(obs.seq)
            options = options.replace(observe=obs.seq)
        else:
            self._drop_observation(obs, None, now)
        shaped = self._shape_body(
            observation.peer, obs.request, code, options, payload, now=now, offset=0
        )
        assert shaped is not None  # block 0 always exists
        options, payload = shaped
        mid = self._next_mid(peer_state)
        if confirmable:
            data = Message(Type.CON, code, mid, obs.key.token, options, payload).encode()
            tx = obs.tx
            if tx is not None and not tx.done:
                # RFC 7641 §4.5.2: the newer state replaces the one in transit, keeping its
                # retransmission counter and timeout.
                del self._by_mid[tx.peer, tx.message_id]
                tx.message_id, tx.data = mid, data
                self._by_mid[tx.peer, mid] = tx
            else:
                owner = obs if code.is_success else None
                obs.tx = self._transmit(
                    peer_state, observation.peer, mid, data, owner=owner, now=now
                )
        else:
            obs.last_mid = mid
            data = Message(Type.NON, code, mid, obs.key.token, options, payload).encode()
            self._out.append((data, observation.peer))

    def forget_peer(self, peer: Peer) -> None:
        """Drop the per-peer state (message IDs, observers) of a peer that went away."""
        self._peers.pop(peer, None)

    # -- receiving ---------------------------------------------------------------------------

    def _reject_malformed(self, error: MessageFormatError, peer: Peer) -> None:
        """RFC 7252 §4.2/§5.4.1: RST a malformed CON, 4.02 a CON request with a bad option."""
        if error.type is not Type.CON or error.message_id is None:
            return
        if (
            isinstance(error, BadOptionError)
            and error.code is not None
            and error.code.is_request
            and error.token is not None
        ):
            data = Message(Type.ACK, Code.BAD_OPTION, error.message_id, error.token).encode()
        else:
            data = _empty(Type.RST, error.message_id)
        self._out.append((data, peer))

    def _on_ack(self, peer: Peer, message: Message, now: float) -> None:
        tx = self._by_mid.get((peer, message.message_id))
        if tx is None:
            return
        owner = tx.owner
        piggybacked = message.code is not Code.EMPTY
        if piggybacked and (not isinstance(owner, _ClientExchange) or message.token != owner.token):
            return  # not a response to what we sent: ignore (RFC 7252 §5.3.2)
        self._end_transmission(tx, now)
        if not isinstance(owner, _ClientExchange):
            return
        owner.tx = None
        if owner.code is Code.EMPTY:
            self._close(owner, now)
            self._events.append(PongReceived(owner.handle))
        elif piggybacked:
            self._on_exchange_response(owner, message, now)
        else:
            owner.timer = self._timers.schedule(
                now + self._response_timeout, partial(self._on_response_timeout, owner)
            )

    def _on_rst(self, peer: Peer, message_id: int, now: float) -> None:
        tx = self._by_mid.get((peer, message_id))
        if tx is not None:
            self._end_transmission(tx, now)
            owner = tx.owner
            if isinstance(owner, _ClientExchange):
                owner.tx = None
                if owner.code is Code.EMPTY:
                    self._close(owner, now)
                    self._events.append(PongReceived(owner.handle))
                else:
                    self._fail(owner, FailureReason.RESET, now)
            elif owner is not None:
                self._drop_observation(owner, FailureReason.RESET, now)
            return
        peer_state = self._peers.get(peer)
        if peer_state is not None and peer_state.observations:
            for obs in peer_state.observations.values():
                if obs.last_mid == message_id:
                    self._drop_observation(obs, FailureReason.RESET, now)
                    return

    def _on_response(self, peer: Peer, entry: _Received, message: Message, now: float) -> None:
        """A separate response or notification (CON or NON)."""
        ex = self._by_token.get((peer, message.token))
        if ex is None:  # nobody asked (or we forgot an observation): reject
            self._reply_empty(entry, peer, Type.RST, message.message_id)
            return
        if message.type is Type.CON:
            self._reply_empty(entry, peer, Type.ACK, message.message_id)
        if ex.tx is not None and message.token == ex.token:
            # The response implies the ACK we may have missed (RFC 7252 §5.2.2).
            self._end_transmission(ex.tx, now)
            ex.tx = None
        self._on_exchange_response(ex, message, now)

    def _on_exchange_response(self, ex: _ClientExchange, message: Message, now: float) -> None:
        state = ex.state
        if state is _ClientState.OBSERVING and message.token == ex.origin_token:
            observe = message.options.observe
            if observe is None or not message.code.is_success:
                self._close(ex, now)
                self._events.append(ObservationEnded(ex.handle, message))
                return
            if not is_fresh(ex.obs_seq, ex.obs_time, observe, now):
                return
            ex.obs_seq, ex.obs_time = observe, now
            self._abandon_fetch(ex, now)  # a newer notification supersedes a fetch in progress
        elif state is _ClientState.CANCELLING:
            if message.options.observe is not None and message.code.is_success:
                return  # a notification that crossed our deregistration
            self._close(ex, now)
            self._events.append(ObservationEnded(ex.handle, message))
            return
        elif message.token != ex.token:
            return  # a late answer to an earlier step
        else:
            self._timers.cancel(ex.timer)
            ex.timer = None
            if ex.b1_szx is not None:
                if message.code is Code.CONTINUE:
                    self._continue_block1(ex, message, now)
                    return
                ex.b1_szx = None  # final answer, possibly an early error

        block2 = message.options.block2
        if block2 is None and ex.b2 is not None:
            self._fail(ex, FailureReason.PROTOCOL, now)  # the follow-up lost its Block2
            return
        if block2 is not None and (block2.more or ex.b2 is not None):
            assembled = self._receive_block2(ex, message, block2, now)
            if assembled is None:
                return
            message = assembled
        if ex.state is _ClientState.OBSERVING:
            self._events.append(NotificationReceived(ex.handle, message))
        elif (
            message.options.observe is not None
            and message.code.is_success
            and ex.options.observe == 0
        ):
            ex.enter(_ClientState.OBSERVING)
            ex.obs_seq, ex.obs_time = message.options.observe, now
            self._abandon_fetch(ex, now)
            self._events.append(ResponseReceived(ex.handle, message))
        else:
            self._close(ex, now)
            self._events.append(ResponseReceived(ex.handle, message))

    def _continue_block1(self, ex: _ClientExchange, message: Message, now: float) -> None:
        block1 = message.options.block1
        assert ex.b1_szx is not None
        offset = ex.b1_offset + ex.b1_length
        if block1 is None or offset >= len(ex.body):
            self._fail(ex, FailureReason.PROTOCOL, now)
            return
        ex.b1_offset = offset
        ex.b1_szx = min(ex.b1_szx, block1.szx)  # the server may ask for smaller blocks
        self._send_block1(ex, now)

    def _receive_block2(
        self, ex: _ClientExchange, message: Message, block2: Block, now: float
    ) -> Message | None:
        """Add a Block2 block; the whole response once complete, else None (fetching on)."""
        assembly = ex.b2
        if assembly is None:
            if block2.num != 0:
                self._fail(ex, FailureReason.PROTOCOL, now)
                return None
            assembly = ex.b2 = Assembly(message)
        elif message.options.etags != assembly.first.options.etags:
            self._fail(ex, FailureReason.PROTOCOL, now)  # the representation changed under us
            return None
        error = assembly.append(block2, message.payload, self.config.max_body_size)
        if error is not None:
            reason = (
                FailureReason.TOO_LARGE
                if error is BlockError.TOO_LARGE
                else (FailureReason.PROTOCOL)
            )
            self._fail(ex, reason, now)
            return None
        if block2.more:
            self._request_block2(
                ex, Block(len(assembly.body) // block2.size, False, block2.szx), now
            )
            return None
        ex.b2 = None
        first = assembly.first
        return replace(
            first,
            options=first.options.replace(block2=None, size2=None),
            payload=bytes(assembly.body),
        )

    def _on_request(self, key: ExchangeKey, entry: _Received, request: Message, now: float) -> None:
        echo = None
        for number, _ in request.options:
            if number not in _PLAIN_REQUEST_OPTIONS:
                special = self._on_special_request(key, entry, request, now)
                if special is None:
                    return
                request, echo = special
                break
        ex = _ServerExchange(key, request, echo)
        entry.exchange = ex
        if not ex.acked and self.config.empty_ack_delay is not None:
            ex.timer = self._timers.schedule(
                now + self.config.empty_ack_delay, partial(self._on_empty_ack_due, entry, ex)
            )
        self._events.append(RequestReceived(key, request))

    def _on_special_request(
        self, key: ExchangeKey, entry: _Received, request: Message, now: float
    ) -> tuple[Message, Block | None] | None:
        """A request with options that are more than data: unknown critical ones, Observe,
        Block1 or Block2.  Returns the request to hand on and the Block1 to echo, or None
        when it is answered here."""
        options = request.options
        if options.unknown_critical():
            if request.type is Type.CON:
                self._reply(key, entry, request, Code.BAD_OPTION, now=now)
            else:  # RFC 7252 §5.4.1: reject the NON
                self._reply_empty(entry, key.peer, Type.RST, key.message_id)
            return None
        if options.observe == 1:
            peer_state = self._peers.get(key.peer)
            if peer_state is not None and peer_state.observations:
                obs = peer_state.observations.get(request.token)
                if obs is not None:
                    self._drop_observation(obs, FailureReason.CANCELLED, now)
        block2 = options.block2
        if block2 is not None and block2.num:
            cached = self._block2.get((key.peer, options.uri_path, options.uri_query), now)
            if cached is not None:
                code, response_options, body = cached
                ex = _ServerExchange(key, request, None)
                self._answer(ex, entry, code, response_options, body, now=now)
                return None
        block1 = options.block1
        if block1 is not None:
            reassembled = self._receive_block1(key, entry, request, block1, now)
            if reassembled is None:
                return None
            request = reassembled
        return request, None if block1 is None else Block(block1.num, False, block1.szx)

    def _receive_block1(
        self, key: ExchangeKey, entry: _Received, request: Message, block1: Block, now: float
    ) -> Message | None:
        """Add a Block1 block; the whole request once complete, else None (answered here)."""
        options = request.options
        limit = self.config.max_body_size
        transfer: _Block1Key = (
            key.peer,
            request.code,
            options.uri_path,
            options.uri_query,
            options.request_tag,
        )
        if block1.num == 0:
            size1 = options.size1
            if size1 is not None and size1 > limit:
                self._reply(
                    key,
                    entry,
                    request,
                    Code.REQUEST_ENTITY_TOO_LARGE,
                    Options.build(size1=limit),
                    now=now,
                )
                return None
            assembly: Assembly | None = Assembly(request)
        else:
            assembly = self._block1.get(transfer, now)
        error = (
            BlockError.INCOMPLETE
            if assembly is None
            else assembly.append(block1, request.payload, limit)
        )
        if assembly is None or error is not None:
            self._block1.pop(transfer)
            extra = Options.build(size1=limit) if error is BlockError.TOO_LARGE else EMPTY_OPTIONS
            self._reply(
                key,
                entry,
                request,
                _BLOCK_ERROR_CODES[error or BlockError.INCOMPLETE],
                extra,
                now=now,
            )
            return None
        if block1.more:
            self._block1.put(transfer, assembly, now + self._exchange_lifetime)
            szx = min(block1.szx, self.config.preferred_block_szx)
            self._reply(
                key,
                entry,
                request,
                Code.CONTINUE,
                Options.build(block1=Block(block1.num, True, szx)),
                now=now,
            )
            return None
        self._block1.pop(transfer)
        first = assembly.first
        return replace(
            request,
            options=first.options.replace(block1=None, size1=None, request_tag=None),
            payload=bytes(assembly.body),
        )

    # -- server internals --------------------------------------------------------------------

    def _server(self, exchange: ExchangeKey, now: float) -> tuple[_Received, _ServerExchange]:
        entry = self._dedup.get(exchange, now)
        ex = entry.exchange if entry is not None else None
        if entry is None or ex is None:
            raise StaleHandleError(f"{exchange} is answered or expired")
        return entry, ex

    def _ack_early(self, entry: _Received, ex: _ServerExchange) -> None:
        if not ex.acked:
            ex.acked = True
            self._timers.cancel(ex.timer)
            ex.timer = None
            self._reply_empty(entry, ex.key.peer, Type.ACK, ex.key.message_id)

    def _on_empty_ack_due(self, entry: _Received, ex: _ServerExchange, now: float) -> None:
        ex.timer = None
        if entry.exchange is ex:
            self._ack_early(entry, ex)

    def _register(self, ex: _ServerExchange, keep: bool) -> _Observation | None:
        """Register (or refresh) the observer behind an Observe=0 request, or drop it."""
        peer = ex.key.peer
        token = ex.request.token
        peer_state = self._peer(peer)
        observations = peer_state.observations
        if not keep:
            if observations is not None:
                observations.pop(token, None)
            return None
        if observations is None:
            observations = peer_state.observations = {}
        obs = observations.get(token)
        if obs is None:
            obs = observations[token] = _Observation(peer, ex.request)
        else:
            obs.request = ex.request
            obs.seq = next_sequence(obs.seq)
        return obs

    def _drop_observation(
        self, obs: _Observation, reason: FailureReason | None, now: float
    ) -> None:
        """Forget an observer; with a reason, tell the application it went away."""
        peer_state = self._peers.get(obs.key.peer)
        if peer_state is not None and peer_state.observations is not None:
            peer_state.observations.pop(obs.key.token, None)
        if obs.tx is not None:
            obs.tx.owner = None  # a last CON notification may still be retransmitted
            obs.tx = None
        if reason is not None:
            self._events.append(ObservationCancelled(obs.key, reason))

    def _shape_body(
        self,
        peer: Peer,
        request: Message,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        now: float,
        offset: int | None = None,
    ) -> tuple[Options, bytes] | None:
        """Slice a response into the Block2 block asked for (or block 0), caching the body.

        ``offset`` overrides the requested position (notifications always start at 0). None
        means the requested block is past the end of the body.
        """
        if options.block2 is not None:
            return options, payload  # the application does block-wise itself
        wanted = request.options.block2
        szx = self.config.preferred_block_szx
        if wanted is not None:
            szx = min(szx, wanted.szx)
        elif len(payload) <= 16 << szx:
            return options, payload
        if offset is None:
            offset = 0 if wanted is None else wanted.offset
        sliced = slice_block(payload, offset, szx)
        if sliced is None:
            return None
        chunk, block = sliced
        if block.more:
            uri = (peer, request.options.uri_path, request.options.uri_query)
            self._block2.put(uri, (code, options, payload), now + self._exchange_lifetime)
        return options.replace(block2=block, size2=len(payload) if offset == 0 else None), chunk

    def _answer(
        self,
        ex: _ServerExchange,
        entry: _Received,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        now: float,
        observation: _Observation | None = None,
    ) -> None:
        shaped = self._shape_body(ex.key.peer, ex.request, code, options, payload, now=now)
        if shaped is None:
            code, options, payload = Code.BAD_OPTION, EMPTY_OPTIONS, b"block out of range"
        else:
            options, payload = shaped
        peer, request = ex.key.peer, ex.request
        if not ex.acked:
            data = Message(Type.ACK, code, ex.key.message_id, request.token, options, payload)
            entry.reply = data.encode()
            self._out.append((entry.reply, peer))
            return
        peer_state = self._peer(peer)
        mid = self._next_mid(peer_state)
        if request.type is Type.CON and self.config.confirmable_separate_responses:
            data_con = Message(Type.CON, code, mid, request.token, options, payload).encode()
            tx = self._transmit(peer_state, peer, mid, data_con, owner=observation, now=now)
            if observation is not None:
                observation.tx = tx
        else:
            if observation is not None:
                observation.last_mid = mid
            data_non = Message(Type.NON, code, mid, request.token, options, payload).encode()
            self._out.append((data_non, peer))

    def _reply(
        self,
        key: ExchangeKey,
        entry: _Received,
        request: Message,
        code: Code,
        options: Options = EMPTY_OPTIONS,
        *,
        now: float,
    ) -> None:
        """An answer the endpoint gives by itself (errors, 2.31 Continue): one empty message."""
        self._answer(_ServerExchange(key, request, None), entry, code, options, b"", now=now)

    def _reply_empty(self, entry: _Received, peer: Peer, type_: Type, message_id: int) -> None:
        entry.reply = _empty(type_, message_id)
        self._out.append((entry.reply, peer))

    # -- client internals --------------------------------------------------------------------

    def _client(self, handle: int) -> _ClientExchange:
        ex = self._by_handle.get(handle)
        if ex is None:
            raise StaleHandleError(f"request {handle} is over")
        return ex

    def _new_exchange(
        self,
        peer: Peer,
        code: Code,
        options: Options,
        body: bytes,
        *,
        confirmable: bool,
        token: bytes | None = None,
    ) -> _ClientExchange:
        handle = self._next_handle
        self._next_handle += 1
        if token is None:
            token = self._new_token(peer)
        ex = _ClientExchange(
            handle, peer, code, options, body, token=token, confirmable=confirmable
        )
        self._by_handle[handle] = ex
        if code is not Code.EMPTY:
            self._by_token[peer, token] = ex
        return ex

    def _new_token(self, peer: Peer) -> bytes:
        length = self.config.token_length
        while True:
            token = self._rng.getrandbits(8 * length).to_bytes(length, "big")
            if (peer, token) not in self._by_token:
                return token

    def _new_request_tag(self) -> bytes:
        tag = self._next_request_tag
        self._next_request_tag = (tag + 1) & 0xFFFFFFFF
        return tag.to_bytes(4, "big")

    def _send_step(
        self, ex: _ClientExchange, options: Options, payload: bytes, token: bytes, now: float
    ) -> None:
        """Send the next message of an exchange (the request, a block, or a deregistration)."""
        peer_state = self._peer(ex.peer)
        mid = self._next_mid(peer_state)
        ex.token = token
        type_ = Type.CON if ex.confirmable else Type.NON
        data = Message(type_, ex.code, mid, token, options, payload).encode()
        if ex.confirmable:
            ex.tx = self._transmit(peer_state, ex.peer, mid, data, owner=ex, now=now)
        else:
            self._out.append((data, ex.peer))
            ex.timer = self._timers.schedule(
                now + self._response_timeout, partial(self._on_response_timeout, ex)
            )

    def _send_block1(self, ex: _ClientExchange, now: float) -> None:
        assert ex.b1_szx is not None
        sliced = slice_block(ex.body, ex.b1_offset, ex.b1_szx)
        assert sliced is not None
        chunk, block = sliced
        ex.b1_length = len(chunk)
        options = ex.options.replace(
            block1=block,
            size1=len(ex.body) if ex.b1_offset == 0 else None,
            request_tag=ex.request_tag,
        )
        self._send_step(ex, options, chunk, ex.token, now)

    def _request_block2(self, ex: _ClientExchange, block: Block, now: float) -> None:
        """Ask for the next Block2 block with a fresh token (RFC 7959 §3.4 for observations)."""
        if ex.token != ex.origin_token:
            del self._by_token[ex.peer, ex.token]
        token = self._new_token(ex.peer)
        self._by_token[ex.peer, token] = ex
        options = ex.options.replace(block2=block, observe=None)
        payload = ex.body if ex.code is Code.FETCH else b""
        self._send_step(ex, options, payload, token, now)

    def _abandon_fetch(self, ex: _ClientExchange, now: float) -> None:
        """Stop a Block2 fetch of a notification (superseded, failed or cancelled)."""
        if ex.token != ex.origin_token:
            del self._by_token[ex.peer, ex.token]
            ex.token = ex.origin_token
        if ex.tx is not None:
            self._end_transmission(ex.tx, now)
            ex.tx = None
        self._timers.cancel(ex.timer)
        ex.timer = None
        ex.b2 = None

    def _on_response_timeout(self, ex: _ClientExchange, now: float) -> None:
        ex.timer = None
        self._fail(ex, FailureReason.TIMEOUT, now)

    def _fail(self, ex: _ClientExchange, reason: FailureReason, now: float) -> None:
        state = ex.state
        if state is _ClientState.OBSERVING:  # only a notification's fetch failed
            self._abandon_fetch(ex, now)
            return
        self._close(ex, now)
        self._events.append(
            ObservationEnded(ex.handle, None)
            if state is _ClientState.CANCELLING
            else RequestFailed(ex.handle, reason)
        )

    def _close(self, ex: _ClientExchange, now: float) -> None:
        self._abandon_fetch(ex, now)
        ex.enter(_ClientState.CLOSED)
        del self._by_handle[ex.handle]
        if ex.code is not Code.EMPTY:
            del self._by_token[ex.peer, ex.origin_token]

    # -- transmissions -----------------------------------------------------------------------

    def _peer(self, peer: Peer) -> _PeerState:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState(self._rng.getrandbits(16))
        return state

    @staticmethod
    def _next_mid(peer_state: _PeerState) -> int:
        mid = peer_state.next_mid
        peer_state.next_mid = (mid + 1) & 0xFFFF
        return mid

    def _transmit(
        self,
        peer_state: _PeerState,
        peer: Peer,
        mid: int,
        data: bytes,
        *,
        owner: _ClientExchange | _Observation | None,
        now: float,
    ) -> _Transmission:
        tx = _Transmission(peer, peer_state, mid, data, owner)
        self._by_mid[peer, mid] = tx
        if peer_state.outstanding < self.config.nstart:
            self._start(tx, now)
        else:
            if peer_state.queue is None:
                peer_state.queue = deque()
            peer_state.queue.append(tx)
        return tx

    def _start(self, tx: _Transmission, now: float) -> None:
        config = self.config
        tx.started = True
        tx.peer_state.outstanding += 1
        tx.timeout = self._rng.uniform(
            config.ack_timeout, config.ack_timeout * config.ack_random_factor
        )
        tx.timer = self._timers.schedule(now + tx.timeout, partial(self._on_ack_timeout, tx))
        self._out.append((tx.data, tx.peer))

    def _on_ack_timeout(self, tx: _Transmission, now: float) -> None:
        if tx.retries < self.config.max_retransmit:
            tx.retries += 1
            tx.timeout *= 2
            tx.timer = self._timers.schedule(now + tx.timeout, partial(self._on_ack_timeout, tx))
            self._out.append((tx.data, tx.peer))
            return
        tx.timer = None
        self._end_transmission(tx, now)
        owner = tx.owner
        if isinstance(owner, _ClientExchange):
            owner.tx = None
            self._fail(owner, FailureReason.TIMEOUT, now)
        elif owner is not None:
            self._drop_observation(owner, FailureReason.TIMEOUT, now)

    def _end_transmission(self, tx: _Transmission, now: float) -> None:
        if tx.done:
            return
        tx.done = True
        self._by_mid.pop((tx.peer, tx.message_id), None)
        self._timers.cancel(tx.timer)
        if not tx.started:
            return  # still queued: skipped when its turn comes
        peer_state = tx.peer_state
        peer_state.outstanding -= 1
        queue = peer_state.queue
        while queue and peer_state.outstanding < self.config.nstart:
            waiting = queue.popleft()
            if not waiting.done:
                self._start(waiting, now)
