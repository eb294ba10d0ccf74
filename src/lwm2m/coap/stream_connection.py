"""One reliable connection's CoAP state (RFC 8323); see :mod:`lwm2m.coap.stream` for the
protocol and for :class:`~lwm2m.coap.stream.StreamEndpoint`, which holds many of them."""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator
from enum import Enum, auto
from functools import partial

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.errors import BadOptionError, FramingError, MessageFormatError
from lwm2m.coap.events import (
    ExchangeKey,
    FailureReason,
    ObservationCancelled,
    ObservationKey,
    Peer,
    PongReceived,
    RequestFailed,
    RequestReceived,
)
from lwm2m.coap.exchange import ExchangeLayer, StaleHandleError
from lwm2m.coap.exchange_records import (
    ClientExchange,
    ClientState,
    Observation,
    ServerExchange,
    TransferStores,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Block, Options
from lwm2m.coap.stream_config import (
    DEFAULT_STREAM,
    CloseReason,
    ConnectionClosed,
    CsmReceived,
    ReleaseReceived,
    StreamConfig,
    StreamEvent,
)
from lwm2m.coap.tcp import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Abort,
    Csm,
    Ping,
    Pong,
    Release,
    TcpFramer,
    encode_tcp,
    parse_signal,
)
from lwm2m.coap.timers import Timer

# -- state machines ----------------------------------------------------------------------------


# The Block value that encodes longest, to size blocks before their number is known.
_WIDEST_BLOCK = Block((1 << 20) - 1, True, 6)


class _State(Enum):
    OPEN = auto()
    RELEASING = auto()  # the peer sent Release: finish, then close
    RELEASED = auto()  # we sent Release: wait for the peer to close
    CLOSED = auto()


_TRANSITIONS: dict[_State, frozenset[_State]] = {
    _State.OPEN: frozenset({_State.RELEASING, _State.RELEASED, _State.CLOSED}),
    _State.RELEASING: frozenset({_State.RELEASED, _State.CLOSED}),
    _State.RELEASED: frozenset({_State.CLOSED}),
    _State.CLOSED: frozenset(),
}


class StreamConnection(ExchangeLayer[ClientExchange, ServerExchange, Observation, StreamEvent]):
    """One reliable connection's CoAP state; see the module docstring for the protocol.

    ``peer`` names the connection in the events (an opaque hashable chosen by the owner);
    ``handles`` numbers client requests, shared when several connections feed one owner, and
    so are ``stores`` (block-wise state, bounded across them and expired on the owner's timer).
    """

    _BERT = True

    def __init__(
        self,
        peer: Peer,
        now: float,
        config: StreamConfig = DEFAULT_STREAM,
        rng: random.Random | None = None,
        handles: Iterator[int] | None = None,
        *,
        stores: TransferStores | None = None,
    ) -> None:
        handles = handles if handles is not None else itertools.count(1)
        super().__init__(
            config, rng, handles, transfer_lifetime=config.transfer_lifetime, stores=stores
        )
        self.peer = peer
        self.config = config
        self._state = _State.OPEN
        self._framer = TcpFramer(max(config.max_message_size, DEFAULT_MAX_MESSAGE_SIZE))
        self._out: list[bytes] = []
        self._events: deque[StreamEvent] = deque()
        self._emit = self._events.append
        #: What the peer accepts; RFC 8323 §5.3.1 defaults until its CSM says otherwise.
        self.peer_max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        self.peer_block_wise_transfer = False
        self.csm_received = False
        self._pings: dict[bytes, tuple[int, Timer]] = {}
        self._next_exchange = 0
        self._pending: dict[int, ServerExchange] = {}
        self._observations: dict[bytes, Observation] = {}
        self._last_rx = now
        self._heard = False  # anything received since the last keep-alive Ping
        self._ping_sent = False
        self._send_signal(Csm(config.max_message_size, config.block_wise_transfer))
        if config.csm_timeout is not None:
            self._csm_timer: Timer | None = self._timers.schedule(
                now + config.csm_timeout, self._on_csm_timeout
            )
        else:
            self._csm_timer = None
        if config.ping_interval is not None:
            self._timers.schedule(now + config.ping_interval, self._on_keepalive)

    # -- driving -----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Nothing more happens here: flush :meth:`data_to_send`, then close the transport."""
        return self._state is _State.CLOSED

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def get_timer(self) -> float | None:
        return None if self._state is _State.CLOSED else self._timers.next_deadline()

    def has_handle(self, handle: int) -> bool:
        return handle in self._by_handle or any(h == handle for h, _ in self._pings.values())

    def receive_data(self, data: bytes, now: float) -> None:
        """Process bytes from the stream; bad input never raises, it is answered or aborted."""
        if self._state is _State.CLOSED:
            return
        self._last_rx = now
        self._heard = True
        while True:
            try:
                messages = self._framer.feed(data)
            except FramingError as error:
                self.abort(now, diagnostic=error.reason)
                return
            except MessageFormatError as error:
                if not self._reject_malformed(error, now):
                    return
                data = b""  # the framer hands over what it decoded before the bad frame
                continue
            for message in messages:
                self._on_message(message, now)
                if self.closed:
                    return
            return

    def connection_lost(self, now: float) -> None:
        """The transport closed (by the peer, or after we closed it)."""
        if self._state is _State.CLOSED:
            return
        releasing = self._state in (_State.RELEASING, _State.RELEASED)
        self._close(CloseReason.RELEASED if releasing else CloseReason.LOST, "", now)

    # -- connection API ----------------------------------------------------------------------

    def release(
        self,
        now: float,
        *,
        alternative_addresses: tuple[str, ...] = (),
        hold_off: int | None = None,
        diagnostic: str = "",
    ) -> None:
        """Ask the peer to close (RFC 8323 §5.5); we close ourselves after ``release_timeout``.

        Requests sent after this fail at once: the peer may close before answering them.
        """
        if self._state in (_State.RELEASED, _State.CLOSED):
            return
        self._enter(_State.RELEASED)
        self._send_signal(Release(alternative_addresses, hold_off, diagnostic))
        self._timers.schedule(now + self.config.release_timeout, self._on_release_timeout)

    def abort(self, now: float, *, diagnostic: str = "", bad_csm_option: int | None = None) -> None:
        """Send 7.05 Abort and close (RFC 8323 §5.6)."""
        if self._state is _State.CLOSED:
            return
        self._send_signal(Abort(bad_csm_option, diagnostic))
        self._close(CloseReason.ABORTED, diagnostic, now)

    # -- client API (cancel_observation is ExchangeLayer's) ----------------------------------

    def send_request(
        self,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        now: float,
        timeout: float | None = None,
    ) -> int:
        """Start a request; the handle names it in the events. Observe=0 registers.

        ``timeout`` overrides the configured request timeout for each step of this request.
        On a closed or released connection it fails at once (RequestFailed RESET).
        """
        code, options = self._request_options(code, options)
        handle = next(self._handles)
        if self._state in (_State.RELEASED, _State.CLOSED):
            self._emit(RequestFailed(handle, FailureReason.RESET))
            return handle
        token = self._new_token(self.peer)
        timeout = self.config.request_timeout if timeout is None else timeout
        ex = ClientExchange(handle, self.peer, code, options, payload, token=token, timeout=timeout)
        self._open(ex)
        frame = self._frame_if_fits(code, token, options, payload)
        if frame is not None:
            self._out.append(frame)
            self._arm(ex, now)
        else:
            ex.request_tag = self._new_request_tag()
            widest = options.replace(
                block1=_WIDEST_BLOCK, size1=len(payload), request_tag=ex.request_tag
            )
            ex.b1_szx = self._fitting_szx(token, widest)
            self._send_block1(ex, now)
        return handle

    def ping(self, now: float) -> int:
        """Send 7.02 Ping; ends in :class:`PongReceived` or RequestFailed TIMEOUT."""
        handle = next(self._handles)
        if self._state is _State.CLOSED:
            self._emit(RequestFailed(handle, FailureReason.RESET))
            return handle
        token = self._new_token(self.peer)
        timer = self._timers.schedule(
            now + self.config.pong_timeout, partial(self._on_ping_timeout, token)
        )
        self._pings[token] = (handle, timer)
        self._send_signal(Ping(token=token))
        return handle

    def cancel(self, handle: int, now: float) -> None:
        """Forget a request or observation; its last event says so (CANCELLED or None)."""
        super().cancel(handle, now)
        self._check_released(now)

    # -- server API (respond is ExchangeLayer's) ---------------------------------------------

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        now: float,
    ) -> None:
        """Send a notification; an error code ends the observation (RFC 7641 §4.2)."""
        obs = self._observations.get(observation.token) if observation.peer == self.peer else None
        if obs is None or self._state is _State.CLOSED:
            raise StaleHandleError(f"{observation} is not registered")
        code = Code(code)
        options = self._notification_options(obs, code, options, now)
        self._answer(obs.request, code, options, payload, now=now, offset=0)

    # -- receiving ---------------------------------------------------------------------------

    def _reject_malformed(self, error: MessageFormatError, now: float) -> bool:
        """A frame that decoded badly; True when the stream goes on (a 4.02 was answered)."""
        if (
            isinstance(error, BadOptionError)
            and self.csm_received
            and error.code is not None
            and error.code.is_request
            and error.token is not None
        ):
            self._send(Code.BAD_OPTION, error.token, EMPTY_OPTIONS, str(error).encode())
            return True
        self.abort(now, diagnostic=f"malformed message: {error}")
        return False

    def _on_message(self, message: Message, now: float) -> None:
        code = message.code
        if not self.csm_received and code is not Code.CSM:
            self.abort(now, diagnostic="the first message must be a CSM")
        elif code.is_signal:
            self._on_signal(message, now)
        elif code.is_request:
            self._on_request(message, now)
        elif code.is_response:
            self._on_response(message, now)
        # Empty messages must be ignored (RFC 8323 §3.4), and so are reserved classes.

    def _on_signal(self, message: Message, now: float) -> None:
        try:
            signal = parse_signal(message)
        except BadOptionError as error:
            if message.code is Code.CSM:
                self.abort(now, diagnostic=str(error), bad_csm_option=error.option)
            elif message.code is Code.ABORT:
                self._close(CloseReason.PEER_ABORTED, message.payload.decode(errors="replace"), now)
            else:
                self.abort(now, diagnostic=str(error))
            return
        if isinstance(signal, Csm):
            self._on_csm(signal)
        elif isinstance(signal, Ping):
            self._send_signal(Pong(token=signal.token))
        elif isinstance(signal, Pong):
            entry = self._pings.pop(signal.token, None)
            if entry is not None:
                self._timers.cancel(entry[1])
                self._events.append(PongReceived(entry[0]))
        elif isinstance(signal, Release):
            self._events.append(ReleaseReceived(self.peer, signal))
            if self._state is _State.OPEN:
                self._enter(_State.RELEASING)
            self._check_released(now)
        elif isinstance(signal, Abort):
            self._close(CloseReason.PEER_ABORTED, signal.diagnostic, now)
        # Signal codes nobody has defined yet are ignored.

    def _on_csm(self, csm: Csm) -> None:
        if not self.csm_received:
            self.csm_received = True
            self._timers.cancel(self._csm_timer)
            self._csm_timer = None
        if csm.max_message_size is not None:
            self.peer_max_message_size = csm.max_message_size
        self.peer_block_wise_transfer |= csm.block_wise_transfer
        self._events.append(
            CsmReceived(self.peer, self.peer_max_message_size, self.peer_block_wise_transfer)
        )

    def _on_request(self, request: Message, now: float) -> None:
        number = self._next_exchange
        ex = ServerExchange(ExchangeKey(self.peer, number), request)
        if not self._admit(ex, now):
            return
        self._next_exchange = number + 1
        self._pending[number] = ex
        self._emit(RequestReceived(ex.key, ex.request))

    def _on_response(self, message: Message, now: float) -> None:
        ex = self._by_token.get(message.token)
        if ex is None:
            return  # nobody asked, or we forgot an observation: no RST over reliable transports
        self._on_exchange_response(ex, message, now)
        self._check_released(now)

    # -- ExchangeLayer hooks -----------------------------------------------------------------

    def _token_key(self, peer: Peer, token: bytes) -> bytes:
        return token  # one peer per connection

    def _token_taken(self, peer: Peer, token: bytes) -> bool:
        return token in self._by_token or token in self._pings

    def _send_step(
        self, ex: ClientExchange, options: Options, payload: bytes, token: bytes, now: float
    ) -> None:
        ex.token = token
        self._send(ex.code, token, options, payload)
        self._arm(ex, now)

    def _stop_step(self, ex: ClientExchange, now: float) -> None:
        self._timers.cancel(ex.timer)
        ex.timer = None

    def _fresh(self, ex: ClientExchange, observe: int, now: float) -> bool:
        """In order by construction: every notification is the freshest (RFC 8323 §7.1)."""
        return True

    def _observers(self, peer: Peer, create: bool = False) -> dict[bytes, Observation]:
        return self._observations

    def _new_observation(self, key: ObservationKey, request: Message) -> Observation:
        return Observation(key, request)

    def _take(self, exchange: ExchangeKey, now: float) -> ServerExchange:
        ex = self._pending.pop(exchange.message_id, None) if exchange.peer == self.peer else None
        if ex is None:
            raise StaleHandleError(f"{exchange} is answered or its connection closed")
        return ex

    def _reject_critical(self, ex: ServerExchange, option: int, now: float) -> None:
        detail = f"unknown critical option {option}".encode()
        self._send(Code.BAD_OPTION, ex.request.token, EMPTY_OPTIONS, detail)

    def _reply(self, ex: ServerExchange, code: Code, options: Options, now: float) -> None:
        self._send(code, ex.request.token, options, b"")

    def _send_response(
        self,
        ex: ServerExchange,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        observation: Observation | None,
        now: float,
    ) -> None:
        self._answer(ex.request, code, options, payload, now=now, offset=None)
        self._check_released(now)

    # -- sending -----------------------------------------------------------------------------

    def _send(self, code: Code, token: bytes, options: Options, payload: bytes) -> None:
        self._out.append(encode_tcp(Message(Type.NON, code, 0, token, options, payload)))

    def _send_signal(self, signal: Csm | Ping | Pong | Release | Abort) -> None:
        self._out.append(encode_tcp(signal.to_message()))

    def _frame_if_fits(
        self, code: Code, token: bytes, options: Options, payload: bytes
    ) -> bytes | None:
        frame = encode_tcp(Message(Type.NON, code, 0, token, options, payload))
        return frame if len(frame) <= self.peer_max_message_size else None

    def _fitting_szx(self, token: bytes, options: Options) -> int:
        """The largest block size (up to ours) whose message fits the peer's limit.

        ``options`` carry the block options at their widest.
        """
        fixed = len(token) + len(options.encode()) + 1  # and the payload marker
        szx = self.config.preferred_block_szx
        while szx:
            body = fixed + (16 << szx)
            extension = 0 if body < 13 else 1 if body < 269 else 2 if body < 65805 else 4
            if 2 + extension + body <= self.peer_max_message_size:
                break
            szx -= 1
        return szx

    def _answer(
        self,
        request: Message,
        code: Code,
        options: Options,
        payload: bytes,
        *,
        now: float,
        offset: int | None,
    ) -> None:
        """Send a response or notification, sliced into the Block2 block asked for.

        ``offset`` overrides the requested position (notifications always start at 0).
        """
        token = request.token
        wanted = request.options.block2
        if options.block2 is not None:  # the application does block-wise itself
            self._send(code, token, options, payload)
            return
        if wanted is None or offset == 0:
            frame = self._frame_if_fits(code, token, options, payload)
            if frame is not None:
                self._out.append(frame)
                return
        szx = self._fitting_szx(token, options.replace(block2=_WIDEST_BLOCK, size2=len(payload)))
        shaped = self._slice_response(
            self.peer, request, code, options, payload, szx=szx, offset=offset, now=now
        )
        if shaped is None:
            self._send(Code.BAD_OPTION, token, EMPTY_OPTIONS, b"block out of range")
            return
        options, chunk = shaped
        self._send(code, token, options, chunk)

    def _on_response_timeout(self, ex: ClientExchange, now: float) -> None:
        super()._on_response_timeout(ex, now)
        self._check_released(now)

    def _on_ping_timeout(self, token: bytes, now: float) -> None:
        entry = self._pings.pop(token, None)
        if entry is not None:
            self._emit(RequestFailed(entry[0], FailureReason.TIMEOUT))

    # -- connection internals ----------------------------------------------------------------

    def _enter(self, state: _State) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise AssertionError(f"connection {self._state} -> {state}")
        self._state = state

    def _check_released(self, now: float) -> None:
        """After the peer's Release: close once its requests are answered and ours are over."""
        if self._state is not _State.RELEASING or self._pending:
            return
        if any(ex.state is ClientState.REQUESTING for ex in self._by_handle.values()):
            return
        self._close(CloseReason.RELEASED, "", now)

    def _on_release_timeout(self, now: float) -> None:
        if self._state is _State.RELEASED:
            self._close(CloseReason.RELEASED, "the peer did not close after our Release", now)

    def _on_csm_timeout(self, now: float) -> None:
        self._csm_timer = None
        if not self.csm_received and self._state is not _State.CLOSED:
            self._send_signal(Abort(diagnostic="no CSM received"))
            self._close(CloseReason.TIMEOUT, "no CSM received", now)

    def _on_keepalive(self, now: float) -> None:
        """Ping after ``ping_interval`` of silence; anything received since proves liveness."""
        if self._state is _State.CLOSED:
            return
        config = self.config
        assert config.ping_interval is not None
        if self._ping_sent:
            if not self._heard:
                self._send_signal(Abort(diagnostic="keep-alive Ping unanswered"))
                self._close(CloseReason.TIMEOUT, "keep-alive Ping unanswered", now)
                return
            self._ping_sent = False
        due = self._last_rx + config.ping_interval
        if now < due:
            self._timers.schedule(due, self._on_keepalive)
            return
        self._ping_sent, self._heard = True, False
        self._send_signal(Ping())
        self._timers.schedule(now + config.pong_timeout, self._on_keepalive)

    def _close(self, reason: CloseReason, detail: str, now: float) -> None:
        """End everything on the connection, each exchange with its last event, then say so."""
        self._enter(_State.CLOSED)  # timers still queued find nothing left to do
        self._timers.cancel(self._csm_timer)
        for ex in list(self._by_handle.values()):
            self._end(ex, FailureReason.RESET, now)
        for handle, _ in self._pings.values():
            self._events.append(RequestFailed(handle, FailureReason.RESET))
        self._pings.clear()
        for obs in self._observations.values():
            self._events.append(ObservationCancelled(obs.key, FailureReason.RESET))
        self._observations.clear()
        self._pending.clear()
        self._block1.store.drop_peer(self.peer)
        self._block2.drop_peer(self.peer)
        self._events.append(ConnectionClosed(self.peer, reason, detail))
