"""The request/response layer of CoAP (RFC 7252 §2.1), shared by every transport.

:class:`ExchangeLayer` holds what does not depend on how messages travel: the client side of a
request from send to its terminal event (tokens, Block1 with Request-Tag, Block2 fetching and
reassembly, the Observe client with its deregistration) and the server side (Block1
reassembly, Block2 slicing and caching, observer registrations and their sequence numbers).
The datagram :class:`~lwm2m.coap.endpoint.Endpoint` (CON/ACK, message IDs, retransmission,
deduplication) and the stream :class:`~lwm2m.coap.stream.StreamConnection` (RFC 8323 framing,
CSM-sized blocks, connection lifecycle) subclass it and fill in the hooks that say how a
message is sent, how an answer goes back and how notifications are ordered.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator
from dataclasses import replace
from functools import partial
from typing import ClassVar, Generic, TypeVar

from lwm2m.coap.blockwise import (
    Assembly,
    Block1Receiver,
    Block1Reply,
    BlockError,
    append_block,
    slice_block,
)
from lwm2m.coap.codes import Code
from lwm2m.coap.errors import CoapError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    NotificationReceived,
    ObservationCancelled,
    ObservationEnded,
    ObservationKey,
    Peer,
    RequestFailed,
    ResponseReceived,
)
from lwm2m.coap.exchange_records import (
    ClientExchange,
    ClientState,
    CoreQueues,
    E,
    Observation,
    ServerExchange,
    TransferConfig,
    TransferStores,
)
from lwm2m.coap.message import Message
from lwm2m.coap.observe import next_sequence
from lwm2m.coap.options import EMPTY_OPTIONS, OPTION_SPECS, Block, OptionNumber, Options
from lwm2m.coap.timers import TimerQueue

_TRANSFER_OPTIONS = frozenset({OptionNumber.BLOCK1, OptionNumber.SIZE1, OptionNumber.REQUEST_TAG})
_PLAIN_REQUEST_OPTIONS = frozenset(OPTION_SPECS).difference(
    {OptionNumber.OBSERVE, OptionNumber.BLOCK1, OptionNumber.BLOCK2}
)
"""Options that a request can carry and the layer has nothing to do about."""
_OBSERVABLE = frozenset({Code.GET, Code.FETCH})


class StaleHandleError(CoapError, LookupError):
    """Local misuse: the exchange, request or observation named is answered, over or expired."""


CX = TypeVar("CX", bound=ClientExchange)
SX = TypeVar("SX", bound=ServerExchange)
OB = TypeVar("OB", bound=Observation)


class ExchangeLayer(CoreQueues[E], ABC, Generic[CX, SX, OB, E]):
    """Exchanges above a message layer; the subclass implements the abstract hooks.

    The subclass sets ``_events`` and ``_emit`` (its ``append``) before any exchange starts.
    ``_BERT`` says whether SZX 7 means BERT (RFC 8323 §6) rather than one 1024-byte block;
    ``transfer_lifetime`` is how long Block1 and Block2 transfer state is kept after its last
    block, unless ``stores`` (shared, on another timer queue) are given.
    """

    _BERT: ClassVar[bool] = False
    _emit: Callable[[Event], None]

    def __init__(
        self,
        config: TransferConfig,
        rng: random.Random | None,
        handles: Iterator[int],
        *,
        transfer_lifetime: float,
        stores: TransferStores | None = None,
    ) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._handles = handles
        self._token_length = config.token_length
        self._block_szx = config.preferred_block_szx
        self._max_body_size = config.max_body_size
        self._timers = TimerQueue()
        self._by_token: dict[Hashable, CX] = {}
        self._by_handle: dict[int, CX] = {}
        self._next_request_tag = self._rng.getrandbits(32)
        if stores is None:
            stores = TransferStores.create(config, self._timers, transfer_lifetime)
        self._block1 = Block1Receiver(
            stores.block1,
            max_body_size=config.max_body_size,
            preferred_szx=config.preferred_block_szx,
            bert=self._BERT,
        )
        self._block2 = stores.block2

    # -- hooks -------------------------------------------------------------------------------

    @abstractmethod
    def _token_key(self, peer: Peer, token: bytes) -> Hashable:
        """What ``_by_token`` is keyed by: tokens are per peer (RFC 7252 §5.3.1)."""

    @abstractmethod
    def _token_taken(self, peer: Peer, token: bytes) -> bool:
        """Whether a new exchange with ``peer`` must not use ``token``."""

    @abstractmethod
    def _send_step(
        self, ex: CX, options: Options, payload: bytes, token: bytes, now: float
    ) -> None:
        """Send the next message of an exchange (the request, a block, a deregistration) and
        arm what ends it if no answer comes."""

    @abstractmethod
    def _stop_step(self, ex: CX, now: float) -> None:
        """Stop waiting for the answer to the step in flight."""

    @abstractmethod
    def _fresh(self, ex: CX, observe: int, now: float) -> bool:
        """Whether a notification numbered ``observe`` is newer than the last one (noting it
        if so); the first number of an observation is always taken."""

    @abstractmethod
    def _observers(self, peer: Peer, create: bool = False) -> dict[bytes, OB] | None:
        """The observers registered by ``peer``, by token (None when it has none yet)."""

    @abstractmethod
    def _new_observation(self, key: ObservationKey, request: Message) -> OB: ...

    @abstractmethod
    def _reject_critical(self, ex: SX, option: int, now: float) -> None:
        """Answer a request carrying an unknown critical option (RFC 7252 §5.4.1)."""

    @abstractmethod
    def _take(self, exchange: ExchangeKey, now: float) -> SX:
        """The pending exchange ``exchange`` names, no longer pending; StaleHandleError if
        there is none."""

    @abstractmethod
    def _reply(self, ex: SX, code: Code, options: Options, now: float) -> None:
        """An answer the layer gives by itself (errors, 2.31 Continue): no payload."""

    @abstractmethod
    def _send_response(
        self,
        ex: SX,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        observation: OB | None,
        now: float,
    ) -> None:
        """Send the answer to ``ex``, sliced into the Block2 block its request asks for."""

    # -- client API --------------------------------------------------------------------------

    def cancel(self, handle: int, now: float) -> None:
        """Forget a request or observation; its last event says so (CANCELLED or None)."""
        self._end(self._client(handle), FailureReason.CANCELLED, now)

    def deliver_blocks(self, handle: int) -> None:
        """Hand request ``handle``'s answer over as the one Block2 block it is, rather than
        fetching the rest (RFC 7959 §2.4 random access): a downloader that resumes from its
        last good block, and checks Size2 and ETag itself, asks for each block in turn."""
        self._client(handle).single_blocks = True

    def cancel_observation(self, handle: int, now: float) -> None:
        """Deregister politely with GET Observe=1 (RFC 7641 §3.6); ends in ObservationEnded."""
        ex = self._client(handle)
        if ex.state is not ClientState.OBSERVING:
            raise StaleHandleError(f"request {handle} is not an established observation")
        self._abandon_fetch(ex, now)
        ex.enter(ClientState.CANCELLING)
        payload = ex.body if ex.code is Code.FETCH else b""
        self._send_step(ex, ex.options.replace(observe=1), payload, ex.origin_token, now)

    # -- client internals --------------------------------------------------------------------

    @staticmethod
    def _request_options(code: Code, options: Options) -> tuple[Code, Options]:
        """Check a request code and drop the transfer options, which are the layer's to set."""
        code = Code(code)
        if not code.is_request:
            raise ValueError(f"{code} is not a request code")
        for number, _ in options:
            if number in _TRANSFER_OPTIONS:
                return code, options.replace(block1=None, size1=None, request_tag=None)
        return code, options

    def _arm(self, ex: CX, now: float) -> None:
        """Wait for the response to the step just sent (or acknowledged)."""
        if ex.timeout is not None:
            ex.timer = self._timers.schedule(
                now + ex.timeout, partial(self._on_response_timeout, ex)
            )

    def _on_response_timeout(self, ex: CX, now: float) -> None:
        ex.timer = None
        self._fail(ex, FailureReason.TIMEOUT, now)

    def _client(self, handle: int) -> CX:
        ex = self._by_handle.get(handle)
        if ex is None:
            raise StaleHandleError(f"request {handle} is over")
        return ex

    def _open(self, ex: CX) -> None:
        """Register a new exchange under its handle and (unless a ping) its token."""
        self._by_handle[ex.handle] = ex
        if ex.code is not Code.EMPTY:
            self._by_token[self._token_key(ex.peer, ex.token)] = ex

    def _new_token(self, peer: Peer) -> bytes:
        length = self._token_length
        while True:
            token = self._rng.getrandbits(8 * length).to_bytes(length, "big")
            if not self._token_taken(peer, token):
                return token

    def _new_request_tag(self) -> bytes:
        tag = self._next_request_tag
        self._next_request_tag = (tag + 1) & 0xFFFFFFFF
        return tag.to_bytes(4, "big")

    def _send_block1(self, ex: CX, now: float) -> None:
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

    def _request_block2(self, ex: CX, block: Block, now: float) -> None:
        """Ask for the next Block2 block with a fresh token (RFC 7959 §3.4 for observations)."""
        peer = ex.peer
        if ex.token != ex.origin_token:
            del self._by_token[self._token_key(peer, ex.token)]
        token = self._new_token(peer)
        self._by_token[self._token_key(peer, token)] = ex
        options = ex.options.replace(block2=block, observe=None)
        payload = ex.body if ex.code is Code.FETCH else b""
        self._send_step(ex, options, payload, token, now)

    def _abandon_fetch(self, ex: CX, now: float) -> None:
        """Stop a Block2 fetch of a notification (superseded, failed or cancelled)."""
        if ex.token != ex.origin_token:
            del self._by_token[self._token_key(ex.peer, ex.token)]
            ex.token = ex.origin_token
        self._stop_step(ex, now)
        ex.b2 = None

    def _on_exchange_response(self, ex: CX, message: Message, now: float) -> None:
        """A response (or notification) carrying the token of one of our exchanges."""
        state = ex.state
        if state is ClientState.OBSERVING and message.token == ex.origin_token:
            observe = message.options.observe
            if observe is None or not message.code.is_success:
                self._close_exchange(ex, now)
                self._emit(ObservationEnded(ex.handle, message))
                return
            if not self._fresh(ex, observe, now):
                return
            self._abandon_fetch(ex, now)  # a newer notification supersedes a fetch in progress
        elif state is ClientState.CANCELLING:
            if message.options.observe is not None and message.code.is_success:
                return  # a notification that crossed our deregistration
            self._close_exchange(ex, now)
            self._emit(ObservationEnded(ex.handle, message))
            return
        elif message.token != ex.token:
            return  # a late answer to an earlier step
        else:
            self._timers.cancel(ex.timer)
            ex.timer = None
            if message.code is Code.REQUEST_ENTITY_TOO_LARGE and self._retry_smaller_blocks(
                ex, message, now
            ):
                return
            if ex.b1_szx is not None:
                if message.code is Code.CONTINUE:
                    self._continue_block1(ex, message, now)
                    return
                ex.b1_szx = None  # final answer, possibly an early error

        block2 = message.options.block2
        if block2 is None and ex.b2 is not None:
            self._fail(ex, FailureReason.PROTOCOL, now)  # the follow-up lost its Block2
            return
        if block2 is not None and (block2.more or ex.b2 is not None) and not ex.single_blocks:
            assembled = self._receive_block2(ex, message, block2, now)
            if assembled is None:
                return
            message = assembled
        observe = message.options.observe
        if ex.state is ClientState.OBSERVING:
            self._emit(NotificationReceived(ex.handle, message))
        elif observe is not None and message.code.is_success and ex.options.observe == 0:
            ex.enter(ClientState.OBSERVING)
            self._fresh(ex, observe, now)
            self._abandon_fetch(ex, now)
            self._emit(ResponseReceived(ex.handle, message))
        else:
            self._close_exchange(ex, now)
            self._emit(ResponseReceived(ex.handle, message))

    def _continue_block1(self, ex: CX, message: Message, now: float) -> None:
        block1 = message.options.block1
        assert ex.b1_szx is not None
        offset = ex.b1_offset + ex.b1_length
        if block1 is None or offset >= len(ex.body):
            self._fail(ex, FailureReason.PROTOCOL, now)
            return
        ex.b1_offset = offset
        ex.b1_szx = min(ex.b1_szx, block1.szx)  # the server may ask for smaller blocks
        self._send_block1(ex, now)

    def _retry_smaller_blocks(self, ex: CX, message: Message, now: float) -> bool:
        """RFC 7959 §2.9.3: a 4.13 may only mean that our blocks are too big. Start the body
        over in the block size its Block1 option hints, else the next smaller one, down to 16
        bytes. False when a smaller block cannot help, and the 4.13 is the answer: the body is
        over the Size1 the peer gave, it went in one message and no hint came, or even 16-byte
        blocks were refused (the peer refuses the body itself, e.g. a Register's link count)."""
        size1 = message.options.size1
        if ex.state is not ClientState.REQUESTING or (size1 is not None and size1 < len(ex.body)):
            return False
        hint = message.options.block1
        hinted = None if hint is None else min(hint.szx, 6)  # we send no BERT blocks
        if ex.b1_szx is None:  # one message: block-wise only on a hint of a size that slices it
            if hinted is None or len(ex.body) <= 16 << hinted:
                return False
            szx = hinted
        elif hinted is not None and hinted < ex.b1_szx:
            szx = hinted
        else:
            szx = ex.b1_szx - 1
        if szx < 0:
            return False
        ex.b1_szx, ex.b1_offset = szx, 0
        ex.request_tag = self._new_request_tag()
        self._send_block1(ex, now)
        return True

    def _receive_block2(
        self, ex: CX, message: Message, block2: Block, now: float
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
        error = append_block(
            assembly, block2, message.payload, self._max_body_size, bert=self._BERT
        )
        if error is not None:
            too_large = error is BlockError.TOO_LARGE
            self._fail(ex, FailureReason.TOO_LARGE if too_large else FailureReason.PROTOCOL, now)
            return None
        if block2.more:
            szx = min(block2.szx, 6)  # BERT blocks come 1024 bytes at a time
            self._request_block2(ex, Block(len(assembly.body) // (16 << szx), False, szx), now)
            return None
        ex.b2 = None
        first = assembly.first
        return replace(
            first,
            options=first.options.replace(block2=None, size2=None),
            payload=bytes(assembly.body),
        )

    def _fail(self, ex: CX, reason: FailureReason, now: float) -> None:
        state = ex.state
        if state is ClientState.OBSERVING:  # only a notification's fetch failed
            self._abandon_fetch(ex, now)
            return
        self._close_exchange(ex, now)
        self._emit(
            ObservationEnded(ex.handle, None)
            if state is ClientState.CANCELLING
            else RequestFailed(ex.handle, reason)
        )

    def _end(self, ex: CX, reason: FailureReason, now: float) -> None:
        """End an exchange locally: a request fails with ``reason``, an observation ends."""
        observing = ex.state is not ClientState.REQUESTING
        self._close_exchange(ex, now)
        self._emit(
            ObservationEnded(ex.handle, None) if observing else RequestFailed(ex.handle, reason)
        )

    def _close_exchange(self, ex: CX, now: float) -> None:
        self._abandon_fetch(ex, now)
        ex.enter(ClientState.CLOSED)
        del self._by_handle[ex.handle]
        if ex.code is not Code.EMPTY:
            del self._by_token[self._token_key(ex.peer, ex.origin_token)]

    # -- server API --------------------------------------------------------------------------

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
        """Answer a request; bodies too big for one message go as Block2.

        A successful answer to a GET/FETCH with Observe=0 registers the observer (unless
        ``observe`` is False), gets an Observe number and returns the key for ``notify``.
        """
        ex = self._take(exchange, now)
        code = Code(code)
        request = ex.request
        observation: OB | None = None
        if request.code in _OBSERVABLE and request.options.observe == 0:
            observation = self._register(ex.key.peer, request, code.is_success and observe)
            if observation is not None:
                options = options.replace(observe=observation.seq)
        if ex.block1 is not None:
            options = options.replace(block1=ex.block1)
        self._send_response(ex, code, options, payload, observation=observation, now=now)
        return None if observation is None else observation.key

    def _notification_options(self, obs: OB, code: Code, options: Options, now: float) -> Options:
        """Number a notification; an error code ends the observation (RFC 7641 §4.2)."""
        if code.is_success:
            obs.seq = next_sequence(obs.seq)
            return options.replace(observe=obs.seq)
        self._drop_observation(obs, None, now)
        return options

    # -- server internals --------------------------------------------------------------------

    def _admit(self, ex: SX, now: float) -> bool:
        """Handle a request's options that are more than data: unknown critical ones,
        Observe, Block1 and Block2. False when it is answered here; else ``ex`` holds the
        request to hand on (a Block1 body reassembled) and the Block1 to echo."""
        request = ex.request
        options = request.options
        for number, _ in options:
            if number not in _PLAIN_REQUEST_OPTIONS:
                break
        else:
            return True
        unknown = options.unknown_critical()
        if unknown:
            self._reject_critical(ex, unknown[0], now)
            return False
        peer = ex.key.peer
        if options.observe == 1:
            observers = self._observers(peer)
            obs = observers.get(request.token) if observers else None
            if obs is not None:
                self._drop_observation(obs, FailureReason.CANCELLED, now)
        block2 = options.block2
        if block2 is not None and block2.num:
            cached = self._block2.get((peer, options.uri_path, options.uri_query), now)
            if cached is not None:
                code, response_options, body = cached
                self._send_response(ex, code, response_options, body, observation=None, now=now)
                return False
        block1 = options.block1
        if block1 is not None:
            reassembled = self._receive_block1(ex, block1, now)
            if reassembled is None:
                return False
            ex.request = reassembled
            ex.block1 = Block(block1.num, False, block1.szx)
        return True

    def _receive_block1(self, ex: SX, block1: Block, now: float) -> Message | None:
        """Add a Block1 block; the whole request once complete, else None (answered here)."""
        outcome = self._block1.receive(ex.key.peer, ex.request, block1, now)
        if isinstance(outcome, Block1Reply):
            self._reply(ex, outcome.code, outcome.options, now)
            return None
        return outcome

    def _slice_response(
        self,
        peer: Peer,
        request: Message,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        szx: int,
        offset: int | None,
        now: float,
    ) -> tuple[Options, bytes] | None:
        """The Block2 block of a response that ``request`` asks for (at most ``szx``), caching
        the body for the follow-ups; ``offset`` overrides the position (notifications start at
        0). None when the block asked for is past the end of the body."""
        wanted = request.options.block2
        if wanted is not None:
            szx = min(szx, wanted.szx)
        if offset is None:
            offset = 0 if wanted is None else wanted.offset
        sliced = slice_block(payload, offset, szx)
        if sliced is None:
            return None
        chunk, block = sliced
        uri = (peer, request.options.uri_path, request.options.uri_query)
        if block.more:
            self._block2.put(peer, uri, (code, options, payload), len(payload), now)
        elif offset:
            self._block2.pop(uri)  # the last block is out: no follow-up will ask for more
        return options.replace(block2=block, size2=len(payload) if offset == 0 else None), chunk

    def _register(self, peer: Peer, request: Message, keep: bool) -> OB | None:
        """Register (or refresh) the observer behind an Observe=0 request, or drop it."""
        token = request.token
        if not keep:
            observers = self._observers(peer)
            if observers is not None:
                observers.pop(token, None)
            return None
        observers = self._observers(peer, True)
        assert observers is not None
        obs = observers.get(token)
        if obs is None:
            obs = observers[token] = self._new_observation(ObservationKey(peer, token), request)
        else:
            obs.request = request
            obs.seq = next_sequence(obs.seq)
        return obs

    def _drop_observation(self, obs: OB, reason: FailureReason | None, now: float) -> None:
        """Forget an observer; with a reason, tell the application it went away."""
        observers = self._observers(obs.key.peer)
        if observers is not None:
            observers.pop(obs.key.token, None)
        if reason is not None:
            self._emit(ObservationCancelled(obs.key, reason))
