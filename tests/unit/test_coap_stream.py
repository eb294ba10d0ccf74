"""CoAP over reliable transports (RFC 8323): two StreamConnections joined in memory on a virtual
clock, and a StreamEndpoint multiplexing several."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import (
    ExchangeKey,
    FailureReason,
    NotificationReceived,
    ObservationCancelled,
    ObservationEnded,
    ObservationKey,
    PongReceived,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import Block, Options
from lwm2m.coap.stream import (
    DEFAULT_STREAM,
    CloseReason,
    ConnectionClosed,
    CsmReceived,
    ReleaseReceived,
    StreamConfig,
    StreamConnection,
    StreamEndpoint,
    StreamEvent,
)
from lwm2m.coap.tcp import Abort, Csm, Release, TcpFramer, encode_tcp

Responder = Callable[[StreamConnection, RequestReceived, float], None]


def echo(connection: StreamConnection, event: RequestReceived, now: float) -> None:
    """Answer every request with 2.05 and its own payload (bodies echo through block-wise)."""
    connection.respond(event.exchange, Code.CONTENT, payload=event.request.payload, now=now)


class Pair:
    """A client and a server connection; ``flush`` carries bytes both ways until quiet.

    ``split`` cuts every chunk into pieces of at most that many bytes; ``wire`` records what
    each side wrote, so tests can check frame sizes or replay a stream.
    """

    def __init__(
        self,
        client_config: StreamConfig = DEFAULT_STREAM,
        server_config: StreamConfig = DEFAULT_STREAM,
        *,
        responder: Responder | None = echo,
        split: int | None = None,
    ) -> None:
        self.now = 0.0
        self.client = StreamConnection("server", 0.0, client_config, random.Random(1))
        self.server = StreamConnection("client", 0.0, server_config, random.Random(2))
        self.responder = responder
        self.split = split
        self.client_events: list[StreamEvent] = []
        self.server_events: list[StreamEvent] = []
        self.wire: dict[str, list[bytes]] = {"client": [], "server": []}
        self.connected = True

    def flush(self, rounds: int = 10_000) -> None:
        for _ in range(rounds):
            moved = self._move(self.client, self.server, "client")
            moved |= self._move(self.server, self.client, "server")
            self._drain()
            if not moved and not self._pending_output():
                return
        raise AssertionError("the connections never went quiet")

    def advance(self, seconds: float, step: float = 0.5) -> None:
        """Move the clock, firing both sides' timers and flushing in between."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for side in (self.client, self.server):
                deadline = side.get_timer()
                if deadline is not None and deadline <= self.now:
                    side.handle_timer(self.now)
            if self.connected:
                self.flush()
            else:
                self._drain()

    def _pending_output(self) -> bool:
        return bool(self.client._out or self.server._out)

    def _move(self, source: StreamConnection, target: StreamConnection, name: str) -> bool:
        data = source.data_to_send()
        if not data:
            return False
        self.wire[name].append(data)
        if not self.connected:
            return True
        step = self.split or len(data)
        for start in range(0, len(data), step):
            target.receive_data(data[start : start + step], self.now)
        return True

    def _drain(self) -> None:
        while (event := self.client.next_event()) is not None:
            self.client_events.append(event)
        while (event := self.server.next_event()) is not None:
            self.server_events.append(event)
            if isinstance(event, RequestReceived) and self.responder is not None:
                self.responder(self.server, event, self.now)


BIG = random.Random(3).randbytes(20_000)


def _of(events: list[StreamEvent], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def _frames(chunks: list[bytes]) -> list[Message]:
    return TcpFramer(1 << 24).feed(b"".join(chunks))


def _get(path: str, **fields: object) -> Options:
    return Options.build(uri_path=path.split("/"), **fields)  # type: ignore[arg-type]


# -- CSM ---------------------------------------------------------------------------------------


def test_csm_exchange_sets_the_peer_limits() -> None:
    pair = Pair(StreamConfig(max_message_size=4096), StreamConfig(block_wise_transfer=False))
    assert pair.client.peer_max_message_size == 1152  # RFC 8323 §5.3.1 until the CSM comes
    pair.flush()
    assert pair.client_events == [CsmReceived("server", 1 << 16, False)]
    assert pair.server_events == [CsmReceived("client", 4096, True)]
    assert pair.client.peer_max_message_size == 1 << 16
    assert pair.server.peer_max_message_size == 4096
    first = _frames(pair.wire["client"])[0]
    assert first.code is Code.CSM and Csm.from_message(first) == Csm(4096, True)


def test_requests_before_the_peer_csm_are_sized_to_1152() -> None:
    pair = Pair()
    handle = pair.client.send_request(Code.PUT, options=_get("big"), payload=BIG, now=0)
    pair.flush()
    frames = [len(encode_tcp(m)) for m in _frames(pair.wire["client"])]
    assert max(frames) <= 1152
    request = _of(pair.server_events, RequestReceived)[0].request
    assert request.payload == BIG and request.options.block1 is None
    response = _of(pair.client_events, ResponseReceived)[0]
    assert response.handle == handle and response.response.payload == BIG  # whole: 64 KiB MMS


def test_a_later_csm_updates_the_limit() -> None:
    pair = Pair()
    pair.flush()
    pair.server._send_signal(Csm(max_message_size=2000))
    pair.flush()
    assert pair.client.peer_max_message_size == 2000
    assert pair.client.peer_block_wise_transfer  # a flag once given stays
    assert pair.client_events[-1] == CsmReceived("server", 2000, True)


def test_bad_csm_option_aborts_with_its_number() -> None:
    pair = Pair()
    pair.client._out = [encode_tcp(Message(Type.NON, Code.CSM, options=Options([(9, b"")])))]
    pair.flush()
    assert pair.server.closed
    abort = Abort.from_message(_frames(pair.wire["server"])[-1])
    assert abort.bad_csm_option == 9
    assert pair.server_events[-1] == ConnectionClosed(
        "client", CloseReason.ABORTED, abort.diagnostic
    )
    assert pair.client.closed
    assert pair.client_events[-1].reason is CloseReason.PEER_ABORTED  # type: ignore[union-attr]


def test_first_message_must_be_a_csm() -> None:
    pair = Pair()
    pair.client._out = [encode_tcp(Message(Type.NON, Code.GET, token=b"\x01"))]
    pair.flush()
    assert pair.server.closed and not _of(pair.server_events, RequestReceived)
    assert _frames(pair.wire["server"])[-1].code is Code.ABORT


def test_no_csm_in_time_aborts() -> None:
    pair = Pair(server_config=StreamConfig(csm_timeout=5.0))
    pair.client._out = []  # the client never sends its CSM
    pair.connected = False
    pair.advance(6)
    assert pair.server.closed
    assert pair.server_events[-1] == ConnectionClosed(
        "client", CloseReason.TIMEOUT, "no CSM received"
    )


# -- requests and responses --------------------------------------------------------------------


def test_pipelined_requests_match_by_token_in_any_order() -> None:
    waiting: list[RequestReceived] = []
    pair = Pair(responder=lambda conn, event, now: waiting.append(event))
    handles = {
        pair.client.send_request(Code.POST, options=_get("x"), payload=b"%d" % i, now=0): i
        for i in range(300)
    }
    pair.flush()
    assert len(waiting) == 300
    for event in reversed(waiting):
        pair.server.respond(
            event.exchange, Code.CHANGED, payload=event.request.payload + b"!", now=0
        )
    pair.flush()
    responses = _of(pair.client_events, ResponseReceived)
    assert len(responses) == 300
    for event in responses:
        assert event.response.payload == b"%d!" % handles[event.handle]
    tokens = {e.request.token for e in waiting}
    assert len(tokens) == 300


def test_no_message_ids_acks_or_retransmissions() -> None:
    pair = Pair(responder=None, client_config=StreamConfig(request_timeout=10))
    pair.client.send_request(Code.GET, options=_get("x"), now=0)
    pair.advance(9)
    frames = _frames(pair.wire["client"])
    assert [m.code for m in frames] == [Code.CSM, Code.GET]  # sent once, never again
    assert all(m.message_id == 0 for m in frames)
    assert all(m.code is not Code.EMPTY for m in _frames(pair.wire["server"]))


def test_request_timeout_default_and_per_request() -> None:
    pair = Pair(responder=None, client_config=StreamConfig(request_timeout=10))
    slow = pair.client.send_request(Code.GET, options=_get("a"), now=0)
    fast = pair.client.send_request(Code.GET, options=_get("b"), now=0, timeout=2)
    pair.advance(3)
    assert _of(pair.client_events, RequestFailed) == [RequestFailed(fast, FailureReason.TIMEOUT)]
    pair.advance(8)
    assert _of(pair.client_events, RequestFailed)[-1] == RequestFailed(slow, FailureReason.TIMEOUT)
    # The late answer is dropped quietly: there is no RST over TCP.
    exchange = _of(pair.server_events, RequestReceived)[0].exchange
    pair.server.respond(exchange, Code.CONTENT, now=pair.now)
    pair.flush()
    assert not _of(pair.client_events, ResponseReceived) and not pair.client.closed


def test_unknown_critical_option_gets_4_02_and_the_stream_goes_on() -> None:
    pair = Pair()
    handle = pair.client.send_request(Code.GET, options=Options([(11, b"x"), (2049, b"?")]), now=0)
    pair.client.send_request(Code.GET, options=_get("ok"), now=0)
    pair.flush()
    responses = _of(pair.client_events, ResponseReceived)
    assert responses[0].handle == handle and responses[0].response.code is Code.BAD_OPTION
    assert responses[1].response.code is Code.CONTENT
    assert len(_of(pair.server_events, RequestReceived)) == 1


def test_malformed_known_critical_option_gets_4_02() -> None:
    pair = Pair()
    pair.flush()
    bad = Message(Type.NON, Code.GET, token=b"\x07", options=Options([(17, b"\x01\x02\x03")]))
    pair.client._out.append(encode_tcp(bad))  # Accept is 0-2 bytes
    pair.flush()
    answer = _frames(pair.wire["server"])[-1]
    assert answer.code is Code.BAD_OPTION and answer.token == b"\x07"
    assert not pair.server.closed


def test_respond_twice_or_on_another_connection_is_stale() -> None:
    waiting: list[RequestReceived] = []
    pair = Pair(responder=lambda conn, event, now: waiting.append(event))
    pair.client.send_request(Code.GET, now=0)
    pair.flush()
    pair.server.respond(waiting[0].exchange, Code.CONTENT, now=0)
    with pytest.raises(StaleHandleError):
        pair.server.respond(waiting[0].exchange, Code.CONTENT, now=0)
    with pytest.raises(StaleHandleError):
        pair.server.respond(ExchangeKey("elsewhere", 0), Code.CONTENT, now=0)
    with pytest.raises(StaleHandleError):
        pair.client.cancel(999, now=0)


def test_cancel_a_request() -> None:
    pair = Pair(responder=None)
    handle = pair.client.send_request(Code.GET, now=0)
    pair.client.cancel(handle, now=0)
    assert pair.client.next_event() == RequestFailed(handle, FailureReason.CANCELLED)


def test_empty_messages_and_unknown_signals_are_ignored() -> None:
    pair = Pair()
    pair.flush()
    pair.client._out += [b"\x00\x00", encode_tcp(Message(Type.NON, Code(0xE9)))]
    pair.client.send_request(Code.GET, now=0)
    pair.flush()
    assert not pair.server.closed and _of(pair.client_events, ResponseReceived)


# -- observe -----------------------------------------------------------------------------------


class Observed:
    """A server application with one observable resource."""

    def __init__(self) -> None:
        self.keys: list[ObservationKey] = []

    def __call__(self, connection: StreamConnection, event: RequestReceived, now: float) -> None:
        key = connection.respond(event.exchange, Code.CONTENT, payload=b"v0", now=now)
        if key is not None:
            self.keys.append(key)


def test_observe_notifications_and_deregistration() -> None:
    app = Observed()
    pair = Pair(responder=app)
    handle = pair.client.send_request(Code.GET, options=_get("obs", observe=0), now=0)
    pair.flush()
    first = _of(pair.client_events, ResponseReceived)[0]
    assert first.handle == handle and first.response.options.observe is not None
    key = app.keys[0]
    for value in (b"v1", b"v2", b"v3"):
        pair.server.notify(key, Code.CONTENT, payload=value, now=0)
    pair.flush()
    notes = _of(pair.client_events, NotificationReceived)
    assert [n.notification.payload for n in notes] == [b"v1", b"v2", b"v3"]
    assert all(m.type is Type.NON for m in _frames(pair.wire["server"]))  # no CON over TCP
    pair.client.cancel_observation(handle, now=0)
    pair.flush()
    ended = _of(pair.client_events, ObservationEnded)
    assert ended[0].handle == handle and ended[0].response is not None
    assert _of(pair.server_events, ObservationCancelled) == [
        ObservationCancelled(key, FailureReason.CANCELLED)
    ]
    with pytest.raises(StaleHandleError):
        pair.server.notify(key, Code.CONTENT, now=0)


def test_notification_order_wins_over_sequence_numbers() -> None:
    """RFC 8323 §7.1: the Observe value is ignored on reception, even a going-back one."""
    app = Observed()
    pair = Pair(responder=app)
    handle = pair.client.send_request(Code.GET, options=_get("obs", observe=0), now=0)
    pair.flush()
    token = app.keys[0].token
    for observe, payload in ((50, b"a"), (3, b"b"), (0, b"c")):
        note = Message(Type.NON, Code.CONTENT, 0, token, Options.build(observe=observe), payload)
        pair.server._out.append(encode_tcp(note))
    pair.flush()
    notes = _of(pair.client_events, NotificationReceived)
    assert [(n.handle, n.notification.payload) for n in notes] == [
        (handle, b"a"),
        (handle, b"b"),
        (handle, b"c"),
    ]


def test_error_notification_ends_the_observation() -> None:
    app = Observed()
    pair = Pair(responder=app)
    handle = pair.client.send_request(Code.GET, options=_get("obs", observe=0), now=0)
    pair.flush()
    pair.server.notify(app.keys[0], Code.NOT_FOUND, now=0)
    pair.flush()
    ended = _of(pair.client_events, ObservationEnded)[0]
    assert ended.handle == handle and ended.response is not None
    assert ended.response.code is Code.NOT_FOUND


def test_big_notification_is_fetched_block_wise() -> None:
    app = Observed()
    pair = Pair(StreamConfig(max_message_size=1152), responder=app)
    pair.client.send_request(Code.GET, options=_get("obs", observe=0), now=0)
    pair.flush()
    pair.server.notify(app.keys[0], Code.CONTENT, payload=BIG, now=0)
    pair.flush()
    note = _of(pair.client_events, NotificationReceived)[0]
    assert note.notification.payload == BIG and note.notification.options.block2 is None
    assert max(len(encode_tcp(m)) for m in _frames(pair.wire["server"])) <= 1152


# -- block-wise --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 300, 1152])
def test_block_wise_both_ways_over_small_max_message_size(size: int) -> None:
    config = StreamConfig(max_message_size=size)
    pair = Pair(config, config)
    pair.flush()
    handle = pair.client.send_request(Code.PUT, options=_get("big/one"), payload=BIG, now=0)
    pair.flush()
    request = _of(pair.server_events, RequestReceived)[0].request
    assert request.payload == BIG and request.options.uri_path == ("big", "one")
    assert request.options.block1 is None and request.options.request_tag is None
    response = _of(pair.client_events, ResponseReceived)[0]
    assert response.handle == handle and response.response.payload == BIG
    limit = max(size, 64)
    assert max(len(encode_tcp(m)) for m in _frames(pair.wire["client"])) <= max(limit, 64)
    assert max(len(encode_tcp(m)) for m in _frames(pair.wire["server"])) <= max(limit, 64)


def test_bert_block1_from_the_peer_is_reassembled() -> None:
    pair = Pair()
    pair.flush()
    body = BIG[:5000]
    first = Options.build(uri_path=["bert"], block1=Block(0, True, 7), size1=len(body))
    last = Options.build(uri_path=["bert"], block1=Block(4, False, 7))
    pair.client._out += [
        encode_tcp(Message(Type.NON, Code.PUT, 0, b"\x01", first, body[:4096])),
        encode_tcp(Message(Type.NON, Code.PUT, 0, b"\x02", last, body[4096:])),
    ]
    pair.flush()
    answers = _frames(pair.wire["server"])[1:]
    assert answers[0].code is Code.CONTINUE and answers[0].options.block1 == Block(0, True, 7)
    assert answers[1].options.block1 == Block(4, False, 7)
    assert _of(pair.server_events, RequestReceived)[0].request.payload == body


def test_block1_out_of_sequence_gets_4_08() -> None:
    pair = Pair()
    pair.flush()
    stray = Options.build(uri_path=["x"], block1=Block(3, True, 6))
    pair.client._out.append(encode_tcp(Message(Type.NON, Code.PUT, 0, b"\x01", stray, bytes(1024))))
    pair.flush()
    assert _frames(pair.wire["server"])[-1].code is Code.REQUEST_ENTITY_INCOMPLETE


def test_block2_request_past_the_end_gets_4_02() -> None:
    pair = Pair()
    pair.flush()
    past = Options.build(uri_path=["x"], block2=Block(9, False, 6))
    pair.client._out.append(encode_tcp(Message(Type.NON, Code.GET, 0, b"\x01", past)))
    pair.flush()
    assert _frames(pair.wire["server"])[-1].code is Code.BAD_OPTION


# -- keep-alive, Ping/Pong ---------------------------------------------------------------------


def test_explicit_ping_gets_pong() -> None:
    pair = Pair()
    handle = pair.client.ping(now=0)
    pair.flush()
    assert _of(pair.client_events, PongReceived) == [PongReceived(handle)]


def test_keepalive_pings_keep_a_live_connection_open() -> None:
    pair = Pair(StreamConfig(ping_interval=10, pong_timeout=5))
    pair.advance(100)
    assert not pair.client.closed
    pings = [m for m in _frames(pair.wire["client"]) if m.code is Code.PING]
    assert 8 <= len(pings) <= 10


def test_no_pong_fails_the_connection_and_its_exchanges() -> None:
    app = Observed()
    pair = Pair(StreamConfig(ping_interval=10, pong_timeout=5), responder=app)
    observing = pair.client.send_request(Code.GET, options=_get("o", observe=0), now=0)
    pair.flush()
    pending = pair.client.send_request(Code.GET, options=_get("x"), now=0)
    ping = pair.client.ping(now=0)
    pair.connected = False  # the peer goes silent
    pair.advance(14)
    assert not pair.client.closed
    pair.advance(2)
    assert pair.client.closed
    tail = pair.client_events[-5:]
    assert RequestFailed(pending, FailureReason.RESET) in tail
    assert ObservationEnded(observing, None) in tail
    assert RequestFailed(ping, FailureReason.TIMEOUT) in pair.client_events
    assert tail[-1] == ConnectionClosed("server", CloseReason.TIMEOUT, "keep-alive Ping unanswered")
    assert pair.client.get_timer() is None


# -- Release and Abort -------------------------------------------------------------------------


def test_release_is_surfaced_and_closes_once_exchanges_are_over() -> None:
    waiting: list[RequestReceived] = []
    pair = Pair(responder=lambda conn, event, now: waiting.append(event))
    pair.client.send_request(Code.GET, options=_get("x"), now=0)
    pair.flush()
    client_as_server = pair.client
    # The server asks the client to go elsewhere while the client waits for an answer, and
    # the client holds a request of the server's it has not answered yet.
    pair.server.send_request(Code.GET, options=_get("y"), now=0)
    pair.client_events.clear()
    pair.flush()
    incoming = _of(pair.client_events, RequestReceived)[0]
    pair.server.release(now=0, alternative_addresses=("coap+tcp://b.example",), hold_off=30)
    pair.flush()
    release = _of(pair.client_events, ReleaseReceived)[0]
    assert release.release == Release(("coap+tcp://b.example",), 30, "")
    assert not pair.client.closed
    # The server may not start requests after its own Release.
    late = pair.server.send_request(Code.GET, now=0)
    assert pair.server.next_event() == RequestFailed(late, FailureReason.RESET)
    pair.server.respond(waiting[0].exchange, Code.CONTENT, now=0)
    pair.flush()
    assert not pair.client.closed  # still owes an answer
    client_as_server.respond(incoming.exchange, Code.CONTENT, now=0)
    pair.flush()
    assert pair.client.closed
    assert pair.client_events[-1] == ConnectionClosed("server", CloseReason.RELEASED)
    pair.server.connection_lost(now=0)
    assert pair.server.next_event() is not None
    assert _of([*iter(pair.server.next_event, None)], ConnectionClosed) or True
    assert pair.server.closed


def test_release_without_the_peer_closing_times_out() -> None:
    pair = Pair(StreamConfig(release_timeout=5), responder=None)
    pair.flush()
    pair.client.release(now=0)
    pair.connected = False
    pair.advance(6)
    assert pair.client.closed
    assert pair.client_events[-1].reason is CloseReason.RELEASED  # type: ignore[union-attr]


def test_abort_by_us_fails_everything_and_sends_abort() -> None:
    app = Observed()
    pair = Pair(responder=app)
    pair.client.send_request(Code.GET, options=_get("o", observe=0), now=0)
    pair.flush()
    pair.server.abort(now=0, diagnostic="going down")
    pair.flush()
    assert _of(pair.server_events, ObservationCancelled) == [
        ObservationCancelled(app.keys[0], FailureReason.RESET)
    ]
    assert pair.client_events[-1] == ConnectionClosed(
        "server", CloseReason.PEER_ABORTED, "going down"
    )
    pair.client.receive_data(b"anything", now=0)  # ignored once closed
    assert pair.client.data_to_send() == b""


def test_frame_over_our_max_message_size_aborts() -> None:
    pair = Pair(server_config=StreamConfig(max_message_size=2000))
    pair.flush()
    pair.client.peer_max_message_size = 1 << 20  # a peer ignoring our CSM
    pair.client.send_request(Code.PUT, payload=bytes(5000), now=0)
    pair.flush()
    assert pair.server.closed
    assert _of(pair.server_events, ConnectionClosed)[0].reason is CloseReason.ABORTED


def test_transport_lost_fails_pending_requests() -> None:
    pair = Pair(responder=None)
    handle = pair.client.send_request(Code.GET, now=0)
    pair.client.connection_lost(now=0)
    events = [*iter(pair.client.next_event, None)]
    assert events[-2:] == [
        RequestFailed(handle, FailureReason.RESET),
        ConnectionClosed("server", CloseReason.LOST),
    ]


# -- robustness: splits and garbage ------------------------------------------------------------


def _changed(connection: StreamConnection, event: RequestReceived, now: float) -> None:
    connection.respond(event.exchange, Code.CHANGED, now=now)


def _session_stream() -> tuple[bytes, list[StreamEvent]]:
    """Everything a client writes in a busy session, and what the server made of it whole."""
    config = StreamConfig(max_message_size=1152)
    pair = Pair(config, config, responder=_changed)
    pair.client.send_request(Code.PUT, options=_get("a"), payload=BIG[:3000], now=0)
    pair.client.send_request(Code.GET, options=_get("obs", observe=0), now=0)
    pair.client.ping(now=0)
    for i in range(5):
        pair.client.send_request(Code.POST, options=_get("p"), payload=bytes(i * 100), now=0)
    pair.flush()
    return b"".join(pair.wire["client"]), pair.server_events


def _feed_split(stream: bytes, cuts: list[int]) -> list[StreamEvent]:
    server = StreamConnection("client", 0.0, StreamConfig(max_message_size=1152))
    events: list[StreamEvent] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        server.receive_data(stream[start:cut], 0.0)
        start = cut
        while (event := server.next_event()) is not None:
            events.append(event)
            if isinstance(event, RequestReceived):
                _changed(server, event, 0.0)
    return events


def test_bytes_split_at_every_boundary() -> None:
    stream, whole = _session_stream()
    expected = [type(e).__name__ for e in whole]
    payloads = [e.request.payload for e in _of(whole, RequestReceived)]
    for cut in range(1, len(stream)):
        events = _feed_split(stream, [cut])
        assert [type(e).__name__ for e in events] == expected, cut
        assert [e.request.payload for e in _of(events, RequestReceived)] == payloads


def test_bytes_one_at_a_time() -> None:
    stream, whole = _session_stream()
    events = _feed_split(stream, list(range(1, len(stream))))
    assert [type(e).__name__ for e in events] == [type(e).__name__ for e in whole]


@given(st.binary(max_size=300))
def test_garbage_after_csm_aborts_or_is_served_never_raises(garbage: bytes) -> None:
    server = StreamConnection("client", 0.0)
    server.receive_data(encode_tcp(Csm().to_message()) + garbage, 0.0)
    events = [*iter(server.next_event, None)]
    if server.closed:
        assert isinstance(events[-1], ConnectionClosed)
        assert server.get_timer() is None


# -- many connections --------------------------------------------------------------------------


def test_stream_endpoint_routes_by_connection() -> None:
    server = StreamEndpoint(rng=random.Random(5))
    clients = {
        name: StreamConnection("srv", 0.0, rng=random.Random(i)) for i, name in enumerate("ab")
    }
    for name in clients:
        server.connection_made(name, 0.0)

    def carry() -> None:
        for _ in range(20):
            moved = False
            for data, peer in server.data_to_send():
                clients[peer].receive_data(data, 0.0)
                moved = True
            for name, client in clients.items():
                data = client.data_to_send()
                if data:
                    server.receive(data, name, 0.0)
                    moved = True
            if not moved:
                return

    handles = {
        name: client.send_request(Code.GET, payload=name.encode(), now=0.0)
        for name, client in clients.items()
    }
    carry()
    requests = [e for e in iter(server.next_event, None) if isinstance(e, RequestReceived)]
    assert sorted(e.exchange.peer for e in requests) == ["a", "b"]
    for event in requests:
        server.respond(event.exchange, Code.CONTENT, payload=event.request.payload * 2, now=0.0)
    # The server asks both clients something too; handles are unique across connections.
    mine = [server.send_request(name, Code.GET, now=0.0) for name in clients]
    assert len(set(mine)) == 2
    carry()
    for name, client in clients.items():
        events = [*iter(client.next_event, None)]
        response = _of(events, ResponseReceived)[0]
        assert response.handle == handles[name] and response.response.payload == name.encode() * 2
        incoming = _of(events, RequestReceived)[0]
        client.respond(incoming.exchange, Code.CONTENT, payload=b"from " + name.encode(), now=0.0)
    carry()
    answers = {
        e.handle: e.response.payload
        for e in iter(server.next_event, None)
        if isinstance(e, ResponseReceived)
    }
    assert answers == {mine[0]: b"from a", mine[1]: b"from b"}
    server.abort("a", 0.0, diagnostic="bye")
    assert server.closing() == ["a"] and len(server) == 1
    assert isinstance([*iter(server.next_event, None)][-1], ConnectionClosed)
    with pytest.raises(StaleHandleError):
        server.send_request("a", Code.GET, now=0.0)


def test_stream_endpoint_fires_each_connection_timer() -> None:
    server = StreamEndpoint(StreamConfig(csm_timeout=5.0))
    server.connection_made("a", 0.0)
    server.connection_made("b", 2.0)
    assert server.get_timer() == 5.0
    server.handle_timer(5.0)
    assert server.closing() == ["a"] and server.get_timer() == 7.0
    server.handle_timer(7.0)
    assert server.closing() == ["b"] and server.get_timer() is None


# -- bounded block-wise state ------------------------------------------------------------------


def _upload_block(server: StreamEndpoint, peer: str, num: int, token: bytes) -> Message:
    options = _get("fw", block1=Block(num, True, 6), request_tag=b"t")
    server.receive(encode_tcp(Message(Type.NON, Code.PUT, 0, token, options, bytes(1024))), peer, 0)
    ((data, _),) = server.data_to_send()
    return _frames([data])[-1]


def test_stream_endpoint_bounds_reassembly_across_connections_and_expires_it() -> None:
    config = StreamConfig(max_transfer_bytes=8192, max_body_size=4096, transfer_lifetime=60.0)
    server = StreamEndpoint(config, random.Random(1))
    for peer in ("a", "b", "c"):
        server.connection_made(peer, 0.0)
        server.receive(encode_tcp(Csm().to_message()), peer, 0.0)
    server.data_to_send()
    codes = [_upload_block(server, p, n, bytes([n + 1])).code for p in "abc" for n in range(3)]
    assert codes[:6] == [Code.CONTINUE] * 6  # a and b hold 3 KiB each
    # c's third block would make 9 KiB: refused, and c's transfer dropped.
    assert codes[6:] == [Code.CONTINUE, Code.CONTINUE, Code.SERVICE_UNAVAILABLE]
    assert server._stores.block1.bytes_held == 6144
    server.abort("a", 0.0)  # a closed connection gives its transfers back
    assert server._stores.block1.bytes_held == 3072
    assert server.get_timer() == 60.0
    server.handle_timer(60.0)
    assert server._stores.block1.bytes_held == 0 and len(server._stores.block1) == 0
