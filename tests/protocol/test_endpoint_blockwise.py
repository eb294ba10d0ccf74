"""Block-wise transfers (RFC 7959) both ways, with Size1/Size2 and Request-Tag (RFC 9175)."""

from __future__ import annotations

import random

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    Event,
    FailureReason,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import Block, Options
from tests.protocol.harness import Network, Node

SIZES = [0, 1, 1024, 1025, 100_000]
PATH = Options.build(uri_path=("fw", "image"))


def body_of(size: int, seed: int = 0) -> bytes:
    return random.Random(size * 7 + seed).randbytes(size)


def config(szx: int, **kwargs: object) -> EndpointConfig:
    return EndpointConfig(
        ack_timeout=1.0,
        max_latency=3.0,
        preferred_block_szx=szx,
        **kwargs,  # type: ignore[arg-type]
    )


def store_and_serve(store: dict[tuple[str, ...], bytes]):  # type: ignore[no-untyped-def]
    """PUT stores the body, GET returns it: a tiny resource server."""

    def handler(node: Node, event: Event) -> None:
        if not isinstance(event, RequestReceived):
            return
        request = event.request
        path = request.options.uri_path
        if request.code is Code.PUT:
            store[path] = request.payload
            node.endpoint.respond(event.exchange, Code.CHANGED, now=node.now)
        else:
            node.endpoint.respond(
                event.exchange, Code.CONTENT, payload=store.get(path, b""), now=node.now
            )

    return handler


def messages(net: Network, source: object) -> list[Message]:
    return [Message.decode(data) for _, src, _, data in net.sent if src == source]


@pytest.mark.parametrize("szx", range(7))
@pytest.mark.parametrize("size", SIZES)
def test_block1_and_block2_roundtrip(szx: int, size: int) -> None:
    net = Network(szx * 100 + size % 97)
    store: dict[tuple[str, ...], bytes] = {}
    client = net.add("client", config(szx, max_body_size=200_000))
    server = net.add("server", config(szx, max_body_size=200_000), store_and_serve(store))
    body = body_of(size)
    put = client.endpoint.send_request(server.address, Code.PUT, options=PATH, payload=body, now=0)
    net.run()
    assert store[("fw", "image")] == body
    get = client.endpoint.send_request(server.address, Code.GET, options=PATH, now=net.now)
    net.run()
    put_event, get_event = client.events
    assert isinstance(put_event, ResponseReceived) and put_event.handle == put
    assert put_event.response.code is Code.CHANGED
    assert isinstance(get_event, ResponseReceived) and get_event.handle == get
    assert get_event.response.payload == body
    assert get_event.response.options.block2 is None
    block_size = 16 << szx
    requests = messages(net, client.address)
    if size > block_size:
        first = requests[0]
        assert first.options.block1 == Block(0, True, szx)
        assert first.options.size1 == size
        assert first.options.request_tag is not None
        assert {m.options.request_tag for m in requests if m.code is Code.PUT} == {
            first.options.request_tag
        }
        first_response = next(m for m in messages(net, server.address) if m.options.block2)
        assert first_response.options.size2 == size
        expected_blocks = -(-size // block_size)
        assert sum(m.code is Code.PUT for m in requests) == expected_blocks
        assert sum(m.code is Code.GET for m in requests) == expected_blocks
    else:
        assert len(requests) == 2 and requests[0].options.block1 is None
    assert client.endpoint.get_timer() is None and server.endpoint.get_timer() is None


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("szx", [0, 3, 6])
def test_blockwise_under_loss_duplication_and_reordering(seed: int, szx: int) -> None:
    net = Network(seed, loss=0.15, duplicate=0.15, reorder=1.5)
    store: dict[tuple[str, ...], bytes] = {}
    cfg = config(szx, max_retransmit=8)
    client = net.add("client", cfg)
    server = net.add("server", cfg, store_and_serve(store))
    body = body_of(3000 + seed * 517, seed)
    client.endpoint.send_request(server.address, Code.PUT, options=PATH, payload=body, now=0)
    net.run()
    client.endpoint.send_request(server.address, Code.GET, options=PATH, now=net.now)
    net.run()
    put_event, get_event = client.events
    assert isinstance(put_event, ResponseReceived), put_event
    assert store[("fw", "image")] == body
    assert isinstance(get_event, ResponseReceived), get_event
    assert get_event.response.payload == body
    assert client.endpoint.get_timer() is None and server.endpoint.get_timer() is None


def test_concurrent_block1_bodies_to_one_resource_do_not_mix() -> None:
    net = Network(11, reorder=0.5)
    store: list[bytes] = []

    def handler(node: Node, event: Event) -> None:
        if isinstance(event, RequestReceived):
            store.append(event.request.payload)
            node.endpoint.respond(event.exchange, Code.CHANGED, now=node.now)

    cfg = config(0, nstart=4)
    client = net.add("client", cfg)
    server = net.add("server", cfg, handler)
    bodies = [bytes([65 + i]) * 200 for i in range(3)]
    for body in bodies:
        client.endpoint.send_request(server.address, Code.PUT, options=PATH, payload=body, now=0)
    net.run()
    assert sorted(store) == bodies
    assert len(client.of_type(ResponseReceived)) == 3
    tags = {m.options.request_tag for m in messages(net, client.address)}
    assert len(tags) == 3


def test_server_asks_for_smaller_blocks() -> None:
    """Late negotiation: the server's 2.31 carries a smaller SZX and the client follows."""
    net = Network(12)
    store: dict[tuple[str, ...], bytes] = {}
    client = net.add("client", config(6))
    server = net.add("server", config(4), store_and_serve(store))
    body = body_of(5000)
    client.endpoint.send_request(server.address, Code.PUT, options=PATH, payload=body, now=0)
    net.run()
    assert store[("fw", "image")] == body
    sizes = [m.options.block1.szx for m in messages(net, client.address) if m.options.block1]
    assert sizes[0] == 6 and set(sizes[1:]) == {4}


def test_block2_request_for_smaller_blocks_is_honoured() -> None:
    net = Network(13)
    store = {("fw", "image"): body_of(3000)}
    client = net.add("client", config(6))
    server = net.add("server", config(6), store_and_serve(store))
    options = PATH.replace(block2=Block(0, False, 2))
    client.endpoint.send_request(server.address, Code.GET, options=options, now=0)
    net.run()
    (event,) = client.events
    assert isinstance(event, ResponseReceived) and event.response.payload == store[PATH.uri_path]
    assert {m.options.block2.szx for m in messages(net, server.address)} == {2}


def test_body_too_large_gets_4_13_with_size1() -> None:
    net = Network(14)
    client = net.add("client", config(4))
    server = net.add("server", config(4, max_body_size=1000), store_and_serve({}))
    client.endpoint.send_request(server.address, Code.PUT, options=PATH, payload=b"x" * 5000, now=0)
    net.run()
    (event,) = client.events
    assert isinstance(event, ResponseReceived)
    assert event.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert event.response.options.size1 == 1000
    assert server.events == []


def test_body_growing_past_the_limit_without_size1_gets_4_13() -> None:
    net = Network(15)
    server = net.add("server", config(0, max_body_size=40), store_and_serve({}))
    net.add("client", config(0))
    for num in range(3):
        block = Message(
            Type.CON,
            Code.PUT,
            100 + num,
            b"t",
            PATH.replace(block1=Block(num, True, 0), request_tag=b"\x01"),
            b"y" * 16,
        )
        net.inject(block.encode(), "client", server.address)
    codes = [m.code for m in messages(net, server.address)]
    assert codes == [Code.CONTINUE, Code.CONTINUE, Code.REQUEST_ENTITY_TOO_LARGE]


def test_block1_out_of_sequence_gets_4_08_and_incomplete_bodies_expire() -> None:
    net = Network(16)
    cfg = config(0)
    server = net.add("server", cfg, store_and_serve({}))
    net.add("client", cfg)

    def block(mid: int, num: int, more: bool = True) -> bytes:
        options = PATH.replace(block1=Block(num, more, 0))
        return Message(Type.CON, Code.PUT, mid, b"t", options, b"z" * 16).encode()

    net.inject(block(1, 2), "client", server.address)  # no block 0 seen
    net.inject(block(2, 0), "client", server.address)
    net.inject(block(3, 2), "client", server.address)  # skipped block 1
    codes = [m.code for m in messages(net, server.address)]
    assert codes == [Code.REQUEST_ENTITY_INCOMPLETE, Code.CONTINUE, Code.REQUEST_ENTITY_INCOMPLETE]
    net.inject(block(4, 0), "client", server.address)
    net.now += cfg.exchange_lifetime + 1  # the client vanished: the body expires
    net.inject(block(5, 1, more=False), "client", server.address)
    assert messages(net, server.address)[-1].code is Code.REQUEST_ENTITY_INCOMPLETE
    assert server.events == []


def test_block2_changing_etag_fails_the_request() -> None:
    net = Network(17)
    version = [0]

    def handler(node: Node, event: Event) -> None:
        if isinstance(event, RequestReceived):
            version[0] += 1
            node.endpoint.respond(
                event.exchange,
                Code.CONTENT,
                options=Options.build(etags=[bytes([version[0]])]),
                payload=b"q" * 100,
                now=node.now,
            )

    client = net.add("client", config(0))
    server = net.add("server", config(0), handler)
    handle = client.endpoint.send_request(server.address, Code.GET, options=PATH, now=0)
    # Forget the cached body so the follow-up reaches the handler, which changes the ETag.
    net.step()
    server.endpoint._block2.pop((client.address, ("fw", "image"), ()))
    net.run()
    assert client.events == [RequestFailed(handle, FailureReason.PROTOCOL)]


def test_block2_beyond_the_end_gets_4_02() -> None:
    net = Network(18)
    server = net.add("server", config(0), store_and_serve({("fw", "image"): b"a" * 20}))
    net.add("client", config(0))
    request = Message(Type.CON, Code.GET, 9, b"t", PATH.replace(block2=Block(5, False, 0)))
    net.inject(request.encode(), "client", server.address)
    assert messages(net, server.address)[-1].code is Code.BAD_OPTION


def test_response_larger_than_client_limit_fails() -> None:
    net = Network(19)
    client = net.add("client", config(2, max_body_size=100))
    server = net.add("server", config(2), store_and_serve({("fw", "image"): b"a" * 1000}))
    handle = client.endpoint.send_request(server.address, Code.GET, options=PATH, now=0)
    net.run()
    assert client.events == [RequestFailed(handle, FailureReason.TOO_LARGE)]


class SmallBlockServer:
    """A peer that takes Block1 blocks of at most ``max_szx`` and answers bigger ones 4.13,
    with a Block1 hint of ``max_szx`` when ``hint`` (RFC 7959 §2.9.3), else with none."""

    def __init__(self, max_szx: int, *, hint: bool, size1: int | None = None) -> None:
        self.max_szx = max_szx
        self.hint = hint
        self.size1 = size1
        self.body = bytearray()
        self.block_sizes: list[int] = []
        self.tags: set[bytes | None] = set()

    def answer(self, request: Message) -> Message:
        block1 = request.options.block1
        szx = 7 if block1 is None else block1.szx
        self.block_sizes.append(szx)
        if szx > self.max_szx:
            options = Options.build(
                block1=Block(0, False, self.max_szx) if self.hint else None, size1=self.size1
            )
            return self._reply(request, Code.REQUEST_ENTITY_TOO_LARGE, options)
        assert block1 is not None
        self.tags.add(request.options.request_tag)
        if block1.num == 0:
            self.body.clear()
        self.body += request.payload
        if block1.more:
            return self._reply(request, Code.CONTINUE, Options.build(block1=block1))
        return self._reply(request, Code.CHANGED, Options.build(block1=block1))

    @staticmethod
    def _reply(request: Message, code: Code, options: Options) -> Message:
        return Message(Type.ACK, code, request.message_id, request.token, options)


def upload_to(server: SmallBlockServer, body: bytes, szx: int = 6) -> list[Event]:
    """Drive a client endpoint against ``server`` until the PUT ends (no time passes)."""
    client = Endpoint(config(szx), random.Random(7))
    client.send_request("server", Code.PUT, options=PATH, payload=body, now=0)
    for _ in range(10_000):
        out = client.datagrams_to_send()
        if not out:
            break
        for data, _ in out:
            client.receive(server.answer(Message.decode(data)).encode(), "server", 0)
    return list(iter(client.next_event, None))


@pytest.mark.parametrize("hint", [True, False])
def test_block1_refused_with_4_13_starts_over_in_smaller_blocks(hint: bool) -> None:
    server = SmallBlockServer(2, hint=hint)
    body = body_of(3000)
    (event,) = upload_to(server, body)
    assert isinstance(event, ResponseReceived) and event.response.code is Code.CHANGED
    assert bytes(server.body) == body
    tried = list(dict.fromkeys(server.block_sizes))  # in order, each once
    assert tried == ([6, 2] if hint else [6, 5, 4, 3, 2])
    assert len(server.tags) == 1  # only the transfer that went through was accepted


def test_block1_4_13_hint_to_a_single_message_request_goes_block_wise() -> None:
    server = SmallBlockServer(3, hint=True)
    body = body_of(300)
    (event,) = upload_to(server, body)
    assert isinstance(event, ResponseReceived) and event.response.code is Code.CHANGED
    assert bytes(server.body) == body and server.block_sizes[:2] == [7, 3]


def test_block1_4_13_even_at_16_bytes_is_the_answer() -> None:
    """A peer that refuses the body itself (a Register over its link count) answers 4.13 to
    every block size: after the 16-byte try that 4.13 is the application's answer."""
    server = SmallBlockServer(-1, hint=False)  # takes no block at all
    (event,) = upload_to(server, body_of(3000))
    assert isinstance(event, ResponseReceived)
    assert event.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert list(dict.fromkeys(server.block_sizes)) == [6, 5, 4, 3, 2, 1, 0]


def test_block1_4_13_with_size1_below_the_body_is_the_answer() -> None:
    """Smaller blocks cannot shrink the body: the application gets the 4.13 and its Size1."""
    server = SmallBlockServer(2, hint=True, size1=500)
    (event,) = upload_to(server, body_of(3000))
    assert isinstance(event, ResponseReceived)
    assert event.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert event.response.options.size1 == 500 and server.block_sizes == [6]
