"""TransferStore: the byte and per-peer bounds, eviction order and expiry on a timer queue."""

from __future__ import annotations

from lwm2m.coap.cache import Refusal, TransferStore
from lwm2m.coap.timers import TimerQueue


def store(
    max_bytes: int = 100, max_per_peer: int = 2
) -> tuple[TransferStore[str, str], TimerQueue]:
    timers = TimerQueue()
    return TransferStore(
        timers, max_bytes=max_bytes, max_per_peer=max_per_peer, lifetime=10
    ), timers


def test_refusal_says_why_without_changing_anything() -> None:
    s, _ = store()
    s.put("p", "a", "A", 60, 0)
    s.put("p", "b", "B", 10, 0)
    assert s.refusal("p", "c", 1) is Refusal.PEER_FULL
    assert s.refusal("q", "c", 31) is Refusal.FULL
    assert s.refusal("q", "c", 30) is None
    assert s.refusal("p", "a", 90) is None  # growing an entry of its own: only bytes count
    assert s.bytes_held == 70 and len(s) == 2


def test_put_evicts_the_peer_oldest_then_the_oldest_of_all() -> None:
    s, _ = store()
    s.put("p", "a", "A", 10, 0)
    s.put("q", "b", "B", 10, 1)
    s.put("p", "c", "C", 10, 2)
    s.put("p", "d", "D", 10, 3)  # p over its 2: its oldest (a) goes, not q's b
    assert s.get("a", 3) is None and s.get("b", 3) == "B"
    s.put("r", "e", "E", 85, 4)  # over 100 bytes: the oldest of all (b, then c) go
    assert [k for k in "abcde" if s.get(k, 4)] == ["d", "e"] and s.bytes_held == 95
    s.put("r", "f", "F", 101, 5)  # larger than the whole bound: not kept
    assert s.get("f", 5) is None and s.bytes_held == 95


def test_entries_expire_on_the_timer_after_their_last_write() -> None:
    s, timers = store()
    s.put("p", "a", "A", 10, 0)
    s.put("q", "b", "B", 10, 4)
    s.put("p", "a", "A2", 20, 6)  # refreshed: now expires at 16
    assert timers.next_deadline() == 10
    timers.run_due(10)  # nothing due at the first deadline: re-armed for b
    assert len(s) == 2 and timers.next_deadline() == 14
    timers.run_due(14)
    assert s.get("b", 14) is None and s.get("a", 14) == "A2" and s.bytes_held == 20
    timers.run_due(16)
    assert len(s) == 0 and s.bytes_held == 0 and timers.next_deadline() is None


def test_retry_after_is_when_the_blocking_entry_expires() -> None:
    s, _ = store()
    s.put("p", "a", "A", 10, 0)
    s.put("q", "b", "B", 10, 3)
    s.put("p", "c", "C", 10, 5)
    assert s.retry_after("p", 6) == 4  # p is at its limit: its own oldest, a, at 10
    assert s.retry_after("r", 6) == 4  # the oldest of all
    s.pop("a")
    assert s.retry_after("p", 6) == 7  # b, the oldest of all now


def test_drop_peer_and_pop_release_bytes_and_the_timer() -> None:
    s, timers = store()
    s.put("p", "a", "A", 10, 0)
    s.put("p", "b", "B", 10, 0)
    s.put("q", "c", "C", 10, 0)
    s.drop_peer("p")
    assert s.bytes_held == 10 and len(s) == 1
    assert s.pop("c") == "C" and s.pop("c") is None
    assert timers.next_deadline() is None
