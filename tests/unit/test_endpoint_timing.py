"""Retransmission schedule (RFC 7252 §4.2, §4.8) and the endpoint's timing building blocks."""

from __future__ import annotations

import itertools
import random

import pytest

from lwm2m.coap.cache import ExpiringCache
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import DEFAULT, NB_IOT, EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import FailureReason, RequestFailed
from lwm2m.coap.message import Message
from lwm2m.coap.timers import TimerQueue

PEER = ("192.0.2.1", 5683)


def test_derived_parameters_match_rfc_7252_defaults() -> None:
    assert DEFAULT.max_transmit_span == pytest.approx(45.0)
    assert DEFAULT.max_transmit_wait == pytest.approx(93.0)
    assert DEFAULT.max_rtt == pytest.approx(202.0)
    assert DEFAULT.exchange_lifetime == pytest.approx(247.0)
    assert DEFAULT.non_lifetime == pytest.approx(145.0)
    assert DEFAULT.effective_response_timeout == DEFAULT.exchange_lifetime


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ack_timeout": 0},
        {"ack_random_factor": 0.5},
        {"nstart": 0},
        {"preferred_block_szx": 7},
        {"token_length": 9},
    ],
)
def test_config_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EndpointConfig(**kwargs)  # type: ignore[arg-type]


def transmissions_until_failure(
    config: EndpointConfig, seed: int
) -> tuple[list[float], float, Endpoint]:
    """Send one CON into the void; return its transmission times and when it failed."""
    endpoint = Endpoint(config, random.Random(seed))
    handle = endpoint.send_request(PEER, Code.GET, now=0.0)
    sent = [0.0 for _ in endpoint.datagrams_to_send()]
    while (deadline := endpoint.get_timer()) is not None:
        endpoint.handle_timer(deadline)
        sent += [deadline for _ in endpoint.datagrams_to_send()]
        if (event := endpoint.next_event()) is not None:
            assert event == RequestFailed(handle, FailureReason.TIMEOUT)
            return sent, deadline, endpoint
    raise AssertionError("no failure")


@pytest.mark.parametrize("config", [DEFAULT, NB_IOT], ids=["rfc-defaults", "nb-iot"])
@pytest.mark.parametrize("seed", range(20))
def test_retransmission_schedule(config: EndpointConfig, seed: int) -> None:
    sent, failed_at, endpoint = transmissions_until_failure(config, seed)
    assert len(sent) == 1 + config.max_retransmit
    first = sent[1] - sent[0]
    assert config.ack_timeout <= first <= config.ack_timeout * config.ack_random_factor
    gaps = [b - a for a, b in itertools.pairwise(sent)] + [failed_at - sent[-1]]
    for n, gap in enumerate(gaps):
        assert gap == pytest.approx(first * 2**n)
    assert failed_at == pytest.approx(first * (2 ** (config.max_retransmit + 1) - 1))
    assert failed_at <= config.max_transmit_wait
    assert sent[-1] <= config.max_transmit_span
    assert endpoint.get_timer() is None  # nothing left behind


def test_nb_iot_first_retransmission_is_late() -> None:
    sent, failed_at, _ = transmissions_until_failure(NB_IOT, 3)
    assert sent[1] >= 10.0
    assert failed_at >= 310.0


def test_retransmissions_are_identical_bytes() -> None:
    endpoint = Endpoint(DEFAULT, random.Random(1))
    endpoint.send_request(PEER, Code.GET, now=0.0)
    first = endpoint.datagrams_to_send()
    deadline = endpoint.get_timer()
    assert deadline is not None
    endpoint.handle_timer(deadline)
    assert endpoint.datagrams_to_send() == first
    assert Message.decode(first[0][0]).type is Type.CON


def test_nstart_queues_beyond_the_limit() -> None:
    endpoint = Endpoint(EndpointConfig(nstart=1), random.Random(2))
    endpoint.send_request(PEER, Code.GET, now=0.0)
    endpoint.send_request(PEER, Code.GET, now=0.0)
    endpoint.send_request(("other", 1), Code.GET, now=0.0)
    sent = endpoint.datagrams_to_send()
    assert [peer for _, peer in sent] == [PEER, ("other", 1)]
    first = Message.decode(sent[0][0])
    endpoint.receive(Message(Type.ACK, Code.EMPTY, first.message_id).encode(), PEER, 0.5)
    released = endpoint.datagrams_to_send()
    assert len(released) == 1 and Message.decode(released[0][0]).code is Code.GET


def test_timer_queue_compacts_cancelled_timers() -> None:
    queue = TimerQueue()
    fired: list[float] = []
    timers = [queue.schedule(float(i), fired.append) for i in range(5000)]
    for timer in timers[:4990]:
        queue.cancel(timer)
    assert len(queue._heap) < 3000  # compaction ran
    assert len(queue) == 10
    assert queue.next_deadline() == 4990.0
    queue.run_due(4995.0)
    assert fired == [4995.0] * 6
    queue.cancel(timers[-1])
    queue.cancel(timers[-1])
    assert len(queue) == 3


def test_expiring_cache_bounds_and_expiry() -> None:
    cache: ExpiringCache[int, str] = ExpiringCache(3)
    for i in range(5):
        cache.put(i, str(i), expires=10.0 + i)
    assert len(cache) == 3 and cache.get(0, 0.0) is None and cache.get(4, 0.0) == "4"
    assert cache.get(2, 12.0) is None  # expired, even before a purge
    cache.purge(13.5)
    assert len(cache) == 1 and cache.pop(4) == "4" and cache.pop(4) is None
