"""Bounded block-wise state (issue 8 §3): Block1 reassembly and the Block2 cache are bounded in
bytes across peers and in transfers per peer, refuse with 4.13 or 5.03, and expire on the
endpoint's own timer with no further traffic."""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import RequestReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Block, Options

PATH = Options.build(uri_path=("fw", "image"))
KIB = 1024


def config(**kwargs: object) -> EndpointConfig:
    return EndpointConfig(ack_timeout=1.0, max_latency=3.0, **kwargs)  # type: ignore[arg-type]


class Uploads:
    """Raw Block1 blocks from many peers into one endpoint, and the answers it gives."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.mid = 0

    def block(
        self, peer: str, num: int, *, tag: bytes = b"t", more: bool = True, size1: int | None = None
    ) -> Message:
        self.mid += 1
        options = PATH.replace(block1=Block(num, more, 6), request_tag=tag, size1=size1)
        request = Message(Type.CON, Code.PUT, self.mid & 0xFFFF, b"k", options, b"x" * KIB)
        self.endpoint.receive(request.encode(), peer, 0.0)
        (answer,) = [Message.decode(data) for data, _ in self.endpoint.datagrams_to_send()]
        return answer


def test_many_unfinished_uploads_stay_under_the_byte_bound() -> None:
    bound = 64 * KIB
    endpoint = Endpoint(config(max_transfer_bytes=bound, max_body_size=32 * KIB), random.Random(1))
    uploads = Uploads(endpoint)
    codes = [uploads.block(f"peer{n}", num).code for n in range(40) for num in range(8)]
    store = endpoint._block1.store
    assert store.bytes_held <= bound
    assert store.bytes_held == bound  # full: 8 peers hold 8 KiB each
    assert codes.count(Code.CONTINUE) > 0 and codes.count(Code.SERVICE_UNAVAILABLE) > 0


def test_unfinished_uploads_do_not_grow_the_heap_past_the_bound() -> None:
    """1 MiB bound, 200 peers each leaving 40 KiB unfinished (8 MB if unbounded)."""
    bound = 1 << 20
    endpoint = Endpoint(config(max_transfer_bytes=bound, max_body_size=64 * KIB), random.Random(2))
    uploads = Uploads(endpoint)
    uploads.block("warm-up", 0)  # first-use allocations are not what is measured
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(200):
            for num in range(40):
                uploads.block(f"peer{n}", num)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert endpoint._block1.store.bytes_held <= bound
    # What else stays: 8,000 deduplication entries of a few hundred bytes each.
    assert grown < bound + 4 * (1 << 20), grown
    assert grown < 8 * (1 << 20)


def test_5_03_when_the_total_is_reached_carries_max_age_until_space_frees() -> None:
    endpoint = Endpoint(config(max_transfer_bytes=4 * KIB, max_body_size=4 * KIB))
    uploads = Uploads(endpoint)
    assert uploads.block("a", 0, size1=3 * KIB).code is Code.CONTINUE  # charged its Size1
    answer = uploads.block("b", 0, size1=2 * KIB)
    assert answer.code is Code.SERVICE_UNAVAILABLE
    assert answer.options.max_age == math.ceil(endpoint.config.exchange_lifetime)  # a expires
    assert uploads.block("b", 0, size1=KIB).code is Code.CONTINUE
    assert endpoint._block1.store.bytes_held == 4 * KIB


def test_5_03_beyond_the_transfers_per_peer_and_other_peers_still_served() -> None:
    endpoint = Endpoint(config(max_peer_transfers=2))
    uploads = Uploads(endpoint)
    assert uploads.block("a", 0, tag=b"1").code is Code.CONTINUE
    assert uploads.block("a", 0, tag=b"2").code is Code.CONTINUE
    refused = uploads.block("a", 0, tag=b"3")
    assert refused.code is Code.SERVICE_UNAVAILABLE and refused.options.max_age > 0
    assert uploads.block("b", 0, tag=b"3").code is Code.CONTINUE
    # The same transfer restarting is no new transfer.
    assert uploads.block("a", 0, tag=b"1").code is Code.CONTINUE


def test_4_13_with_size1_for_one_transfer_over_the_body_limit() -> None:
    endpoint = Endpoint(config(max_body_size=2 * KIB))
    uploads = Uploads(endpoint)
    announced = uploads.block("a", 0, size1=3 * KIB)
    assert announced.code is Code.REQUEST_ENTITY_TOO_LARGE and announced.options.size1 == 2 * KIB
    codes = [uploads.block("b", num).code for num in range(3)]
    assert codes == [Code.CONTINUE, Code.CONTINUE, Code.REQUEST_ENTITY_TOO_LARGE]
    assert len(endpoint._block1.store) == 0 and endpoint._block1.store.bytes_held == 0


def test_unfinished_uploads_expire_on_the_timer_with_no_further_traffic() -> None:
    cfg = config()
    endpoint = Endpoint(cfg)
    uploads = Uploads(endpoint)
    for n in range(5):
        uploads.block(f"peer{n}", 0)
    store = endpoint._block1.store
    assert len(store) == 5
    deadline = endpoint.get_timer()
    assert deadline is not None and deadline <= cfg.exchange_lifetime
    endpoint.handle_timer(deadline)
    assert len(store) == 0 and store.bytes_held == 0
    # Nothing is left to wake up for once the deduplication entries are gone too.
    assert endpoint.get_timer() is None


def test_a_refreshed_upload_outlives_its_first_deadline() -> None:
    cfg = config()
    endpoint = Endpoint(cfg)
    uploads = Uploads(endpoint)
    uploads.block("a", 0)
    uploads.block("b", 0)
    lifetime = cfg.exchange_lifetime
    endpoint.receive(
        Message(
            Type.CON,
            Code.PUT,
            999,
            b"k",
            PATH.replace(block1=Block(1, True, 6), request_tag=b"t"),
            b"x" * KIB,
        ).encode(),
        "a",
        lifetime / 2,
    )
    endpoint.handle_timer(lifetime)
    store = endpoint._block1.store
    assert len(store) == 1 and store.get(("a", Code.PUT, ("fw", "image"), (), b"t"), lifetime)
    assert endpoint.get_timer() == pytest.approx(lifetime * 1.5)


def test_forget_peer_gives_back_its_transfers() -> None:
    endpoint = Endpoint(config())
    uploads = Uploads(endpoint)
    uploads.block("a", 0)
    uploads.block("b", 0)
    endpoint.forget_peer("a")
    assert endpoint._block1.store.bytes_held == KIB


def serve_big(endpoint: Endpoint, size: int) -> None:
    while (event := endpoint.next_event()) is not None:
        assert isinstance(event, RequestReceived)
        endpoint.respond(event.exchange, Code.CONTENT, payload=b"r" * size, now=0.0)


def test_block2_bodies_being_served_are_bounded_and_expire_on_the_timer() -> None:
    bound = 16 * KIB
    endpoint = Endpoint(config(max_transfer_bytes=bound, max_body_size=8 * KIB))
    for n in range(10):  # each asks for block 0 of a 5 KiB body and never for more
        endpoint.receive(Message(Type.CON, Code.GET, n, b"k", PATH).encode(), f"p{n}", 0.0)
        serve_big(endpoint, 5 * KIB)
    cache = endpoint._block2
    assert cache.bytes_held <= bound and len(cache) == 3
    deadline = endpoint.get_timer()
    assert deadline is not None
    endpoint.handle_timer(endpoint.config.exchange_lifetime)
    assert len(cache) == 0 and cache.bytes_held == 0


def test_block2_body_is_released_once_its_last_block_is_served() -> None:
    endpoint = Endpoint(config())
    for num in range(3):
        options = PATH.replace(block2=Block(num, False, 6))
        endpoint.receive(Message(Type.CON, Code.GET, num, b"k", options).encode(), "p", 0.0)
        serve_big(endpoint, 3 * KIB - 100)
        endpoint.datagrams_to_send()
        assert len(endpoint._block2) == (1 if num < 2 else 0)


def test_limits_under_which_a_body_could_never_complete_are_refused() -> None:
    with pytest.raises(ValueError, match="max_transfer_bytes"):
        EndpointConfig(max_body_size=1 << 20, max_transfer_bytes=1 << 19)
    with pytest.raises(ValueError, match="max_peer_transfers"):
        EndpointConfig(max_peer_transfers=0)
