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
An observation survives a restart of ours: persist :meth:`Endpoint.observation_key` and the
request, then :meth:`Endpoint.restore_observation` takes the next notification under a new
handle.

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
transmissions per peer (queued beyond it); the deduplication cache is bounded in entries and
expires after EXCHANGE_LIFETIME (a pending request evicted early makes ``respond`` raise
:class:`StaleHandleError`); Block1 reassembly and the Block2 cache are bounded in bytes across
peers and in transfers per peer, and expire EXCHANGE_LIFETIME after their last block on the
endpoint's own timer; per-peer state lives until :meth:`forget_peer`.
The request/response logic shared with the stream transports (tokens, block-wise, Observe
bookkeeping) is :class:`~lwm2m.coap.exchange.ExchangeLayer`'s; this module is the message layer,
with its records, message IDs and retransmissions in :mod:`lwm2m.coap.endpoint_records`.
Not implemented: PROBING_RATE for NON traffic, matching an RST to a NON request of ours (it
times out instead), No-Response (RFC 7967), Echo (RFC 9175 §2).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from functools import partial

from lwm2m.coap.cache import ExpiringCache
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint_records import (
    DatagramClientExchange,
    DatagramObservation,
    DatagramServerExchange,
    PeerState,
    Received,
    Retransmissions,
    Transmission,
    empty_message,
)
from lwm2m.coap.errors import BadOptionError, MessageFormatError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    ObservationKey,
    Peer,
    PongReceived,
    RequestReceived,
)
from lwm2m.coap.exchange import ExchangeLayer, StaleHandleError
from lwm2m.coap.exchange_records import ClientState
from lwm2m.coap.message import Message
from lwm2m.coap.observe import is_fresh
from lwm2m.coap.options import EMPTY_OPTIONS, Options

__all__ = ["Endpoint", "StaleHandleError"]


class Endpoint(
    Retransmissions,
    ExchangeLayer[DatagramClientExchange, DatagramServerExchange, DatagramObservation, Event],
):
    """One CoAP endpoint (one local address); see the module docstring for the protocol."""

    def __init__(self, config: EndpointConfig = DEFAULT, rng: random.Random | None = None):
        super().__init__(
            config, rng, itertools.count(1), transfer_lifetime=config.exchange_lifetime
        )
        self.config = config
        # Derived times, computed once: they are read per message.
        self._exchange_lifetime = config.exchange_lifetime
        self._non_lifetime = config.non_lifetime
        self._response_timeout = config.effective_response_timeout
        self._out: list[tuple[bytes, Peer]] = []
        self._events: deque[Event] = deque()
        self._emit = self._events.append
        self._peers: dict[Peer, PeerState] = {}
        self._by_mid: dict[tuple[Peer, int], Transmission] = {}
        self._dedup: ExpiringCache[ExchangeKey, Received] = ExpiringCache(config.dedup_capacity)

    # -- driving -----------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

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
                self._out.append((empty_message(Type.RST, message.message_id), peer))
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
        entry = Received()
        lifetime = self._exchange_lifetime if type_ is Type.CON else self._non_lifetime
        self._dedup.put(key, entry, now + lifetime)
        if code.is_request:
            self._on_request(key, entry, message, now)
        elif code.is_response:
            self._on_response(peer, entry, message, now)
        elif type_ is Type.CON:  # reserved class or a signal: reject
            self._reply_empty(entry, peer, Type.RST, message.message_id)

    # -- client API (cancel and cancel_observation are ExchangeLayer's) ----------------------

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
        code, options = self._request_options(code, options)
        ex = self._new_exchange(peer, code, options, payload, confirmable=confirmable)
        szx = self._block_szx
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

    def observation_key(self, handle: int) -> ObservationKey:
        """The peer and token the notifications of observation ``handle`` carry: what a
        server persists to :meth:`restore_observation` it after a restart."""
        ex = self._client(handle)
        return ObservationKey(ex.peer, ex.origin_token)

    def restore_observation(
        self, key: ObservationKey, code: Code, *, options: Options, payload: bytes = b""
    ) -> int:
        """Take notifications carrying ``key`` as those of an observation established earlier
        with this request; returns the handle their events will carry. Whatever number the
        first notification has is fresh."""
        if self._token_taken(key.peer, key.token):
            raise ValueError(f"token {key.token.hex()} of {key.peer!r} is in use")
        ex = self._new_exchange(
            key.peer, Code(code), options, payload, confirmable=True, token=key.token
        )
        ex.enter(ClientState.OBSERVING)
        return ex.handle

    # -- server API (respond is ExchangeLayer's) ---------------------------------------------

    def accept(self, exchange: ExchangeKey, now: float) -> None:
        """Acknowledge a CON request now; the response will follow as a separate message."""
        self._ack_early(self._server(exchange, now))

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
        options = self._notification_options(obs, code, options, now)
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
        """Drop the per-peer state (message IDs, observers, block-wise transfers) of a peer
        that went away."""
        self._peers.pop(peer, None)
        self._block1.store.drop_peer(peer)
        self._block2.drop_peer(peer)

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
            data = empty_message(Type.RST, error.message_id)
        self._out.append((data, peer))

    def _on_ack(self, peer: Peer, message: Message, now: float) -> None:
        tx = self._by_mid.get((peer, message.message_id))
        if tx is None:
            return
        owner = tx.owner
        piggybacked = message.code is not Code.EMPTY
        if piggybacked and (
            not isinstance(owner, DatagramClientExchange) or message.token != owner.token
        ):
            return  # not a response to what we sent: ignore (RFC 7252 §5.3.2)
        self._end_transmission(tx, now)
        if not isinstance(owner, DatagramClientExchange):
            return
        owner.tx = None
        if owner.code is Code.EMPTY:
            self._close_exchange(owner, now)
            self._events.append(PongReceived(owner.handle))
        elif piggybacked:
            self._on_exchange_response(owner, message, now)
        else:
            self._arm(owner, now)  # the response comes separately

    def _on_rst(self, peer: Peer, message_id: int, now: float) -> None:
        tx = self._by_mid.get((peer, message_id))
        if tx is not None:
            self._end_transmission(tx, now)
            owner = tx.owner
            if isinstance(owner, DatagramClientExchange):
                owner.tx = None
                if owner.code is Code.EMPTY:
                    self._close_exchange(owner, now)
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

    def _on_response(self, peer: Peer, entry: Received, message: Message, now: float) -> None:
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

    def _on_request(self, key: ExchangeKey, entry: Received, request: Message, now: float) -> None:
        ex = DatagramServerExchange(key, request)
        ex.entry = entry
        ex.acked = request.type is not Type.CON
        ex.timer = None
        if not self._admit(ex, now):
            return
        entry.exchange = ex
        if not ex.acked and self.config.empty_ack_delay is not None:
            ex.timer = self._timers.schedule(
                now + self.config.empty_ack_delay, partial(self._on_empty_ack_due, ex)
            )
        self._events.append(RequestReceived(key, ex.request))

    # -- ExchangeLayer hooks -----------------------------------------------------------------

    def _token_key(self, peer: Peer, token: bytes) -> tuple[Peer, bytes]:
        return peer, token

    def _token_taken(self, peer: Peer, token: bytes) -> bool:
        return (peer, token) in self._by_token

    def _send_step(
        self, ex: DatagramClientExchange, options: Options, payload: bytes, token: bytes, now: float
    ) -> None:
        peer_state = self._peer(ex.peer)
        mid = self._next_mid(peer_state)
        ex.token = token
        type_ = Type.CON if ex.confirmable else Type.NON
        data = Message(type_, ex.code, mid, token, options, payload).encode()
        if ex.confirmable:
            ex.tx = self._transmit(peer_state, ex.peer, mid, data, owner=ex, now=now)
        else:
            self._out.append((data, ex.peer))
            self._arm(ex, now)

    def _stop_step(self, ex: DatagramClientExchange, now: float) -> None:
        if ex.tx is not None:
            self._end_transmission(ex.tx, now)
            ex.tx = None
        self._timers.cancel(ex.timer)
        ex.timer = None

    def _fresh(self, ex: DatagramClientExchange, observe: int, now: float) -> bool:
        """Datagrams reorder: RFC 7641 §3.4 decides which notification is newer."""
        if not is_fresh(ex.obs_seq, ex.obs_time, observe, now):
            return False
        ex.obs_seq, ex.obs_time = observe, now
        return True

    def _observers(
        self, peer: Peer, create: bool = False
    ) -> dict[bytes, DatagramObservation] | None:
        if not create:
            peer_state = self._peers.get(peer)
            return None if peer_state is None else peer_state.observations
        peer_state = self._peer(peer)
        if peer_state.observations is None:
            peer_state.observations = {}
        return peer_state.observations

    def _new_observation(self, key: ObservationKey, request: Message) -> DatagramObservation:
        obs = DatagramObservation(key, request)
        obs.last_mid = -1
        obs.tx = None
        return obs

    def _drop_observation(
        self, obs: DatagramObservation, reason: FailureReason | None, now: float
    ) -> None:
        if obs.tx is not None:
            obs.tx.owner = None  # a last CON notification may still be retransmitted
            obs.tx = None
        super()._drop_observation(obs, reason, now)

    def _give_up(self, tx: Transmission, now: float) -> None:
        owner = tx.owner
        if isinstance(owner, DatagramClientExchange):
            owner.tx = None
            self._fail(owner, FailureReason.TIMEOUT, now)
        elif owner is not None:
            self._drop_observation(owner, FailureReason.TIMEOUT, now)

    def _take(self, exchange: ExchangeKey, now: float) -> DatagramServerExchange:
        ex = self._server(exchange, now)
        ex.entry.exchange = None
        self._timers.cancel(ex.timer)
        return ex

    def _reject_critical(self, ex: DatagramServerExchange, option: int, now: float) -> None:
        if ex.request.type is Type.CON:
            self._reply(ex, Code.BAD_OPTION, EMPTY_OPTIONS, now)
        else:  # RFC 7252 §5.4.1: reject the NON
            self._reply_empty(ex.entry, ex.key.peer, Type.RST, ex.key.message_id)

    def _reply(self, ex: DatagramServerExchange, code: Code, options: Options, now: float) -> None:
        self._send_response(ex, code, options, b"", observation=None, now=now)

    def _send_response(
        self,
        ex: DatagramServerExchange,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        observation: DatagramObservation | None,
        now: float,
    ) -> None:
        """Piggybacked on the ACK while the request is not acknowledged, else separate."""
        peer, request = ex.key.peer, ex.request
        shaped = self._shape_body(peer, request, code, options, payload, now=now)
        if shaped is None:
            code, options, payload = Code.BAD_OPTION, EMPTY_OPTIONS, b"block out of range"
        else:
            options, payload = shaped
        if not ex.acked:
            data = Message(Type.ACK, code, ex.key.message_id, request.token, options, payload)
            reply = ex.entry.reply = data.encode()
            self._out.append((reply, peer))
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

    # -- server internals --------------------------------------------------------------------

    def _server(self, exchange: ExchangeKey, now: float) -> DatagramServerExchange:
        entry = self._dedup.get(exchange, now)
        ex = entry.exchange if entry is not None else None
        if ex is None:
            raise StaleHandleError(f"{exchange} is answered or expired")
        return ex

    def _ack_early(self, ex: DatagramServerExchange) -> None:
        if not ex.acked:
            ex.acked = True
            self._timers.cancel(ex.timer)
            ex.timer = None
            self._reply_empty(ex.entry, ex.key.peer, Type.ACK, ex.key.message_id)

    def _on_empty_ack_due(self, ex: DatagramServerExchange, now: float) -> None:
        ex.timer = None
        if ex.entry.exchange is ex:
            self._ack_early(ex)

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
        szx = self._block_szx
        if request.options.block2 is None and len(payload) <= 16 << szx:
            return options, payload
        return self._slice_response(
            peer, request, code, options, payload, szx=szx, offset=offset, now=now
        )

    def _reply_empty(self, entry: Received, peer: Peer, type_: Type, message_id: int) -> None:
        entry.reply = empty_message(type_, message_id)
        self._out.append((entry.reply, peer))

    # -- client internals --------------------------------------------------------------------

    def _new_exchange(
        self,
        peer: Peer,
        code: Code,
        options: Options,
        body: bytes,
        *,
        confirmable: bool,
        token: bytes | None = None,
    ) -> DatagramClientExchange:
        if token is None:
            token = self._new_token(peer)
        ex = DatagramClientExchange(
            next(self._handles),
            peer,
            code,
            options,
            body,
            token=token,
            timeout=self._response_timeout,
        )
        ex.confirmable = confirmable
        ex.tx = None
        ex.obs_seq = 0
        ex.obs_time = -math.inf  # the first notification number is always fresh
        self._open(ex)
        return ex
