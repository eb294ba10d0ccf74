"""Bounded maps whose entries expire: :class:`ExpiringCache` for deduplication, purged as
messages arrive, and :class:`TransferStore` for block-wise transfer state, bounded in bytes and
expired on the core's timer.

Entries are kept in order of last write; with similar lifetimes that is expiry order, so purging
pops from the front and stops at the first live entry. An entry with a shorter lifetime behind a
longer one lingers until it reaches the front, but ``get`` never returns it once expired.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from enum import Enum
from typing import Generic, TypeVar

from lwm2m.coap.timers import Timer, TimerQueue

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    __slots__ = ("_capacity", "_entries")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def put(self, key: K, value: V, expires: float) -> None:
        """Insert or refresh ``key``; the oldest entries go when over capacity."""
        entries = self._entries
        entries[key] = (expires, value)
        entries.move_to_end(key)
        while len(entries) > self._capacity:
            entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[1]

    def purge(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (expires, _) = next(iter(entries.items()))
            if expires > now:
                return
            del entries[key]


class Refusal(Enum):
    """Why :meth:`TransferStore.refusal` will not take a transfer now."""

    PEER_FULL = "the peer has as many transfers as it may"
    FULL = "the transfer memory of all peers is in use"


class _Held(Generic[V]):
    __slots__ = ("expires", "peer", "size", "value")

    def __init__(self, peer: Hashable, value: V, size: int, expires: float) -> None:
        self.peer = peer
        self.value = value
        self.size = size
        self.expires = expires


class TransferStore(Generic[K, V]):
    """Block-wise transfer state (partial Block1 bodies, Block2 bodies being served).

    Bounded in bytes across all peers and in entries per peer, so that neither many peers nor
    one can make it grow without limit (issue 8: 1,024 abandoned 1 MiB uploads held 1.1 GB).
    Entries expire ``lifetime`` after their last write on the owner's ``timers``, so memory is
    given back with no further traffic. All entries share one lifetime, so keeping them in
    order of last write keeps them in expiry order, and one timer (for the front) suffices.
    """

    __slots__ = (
        "_by_peer",
        "_entries",
        "_lifetime",
        "_timer",
        "_timers",
        "bytes_held",
        "max_bytes",
        "max_per_peer",
    )

    def __init__(
        self, timers: TimerQueue, *, max_bytes: int, max_per_peer: int, lifetime: float
    ) -> None:
        self._timers = timers
        self.max_bytes = max_bytes
        self.max_per_peer = max_per_peer
        self._lifetime = lifetime
        self._entries: OrderedDict[K, _Held[V]] = OrderedDict()
        self._by_peer: dict[Hashable, dict[K, None]] = {}  # each in order of last write
        self._timer: Timer | None = None
        #: What the entries are charged, the sum of the sizes given to :meth:`put`.
        self.bytes_held = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> V | None:
        held = self._entries.get(key)
        return None if held is None or held.expires <= now else held.value

    def charged(self, key: K) -> int:
        held = self._entries.get(key)
        return 0 if held is None else held.size

    def refusal(self, peer: Hashable, key: K, size: int) -> Refusal | None:
        """Why charging ``key`` ``size`` bytes would not fit without evicting anything."""
        held = self._entries.get(key)
        if held is None and len(self._by_peer.get(peer, ())) >= self.max_per_peer:
            return Refusal.PEER_FULL
        if self.bytes_held + size - (0 if held is None else held.size) > self.max_bytes:
            return Refusal.FULL
        return None

    def retry_after(self, peer: Hashable, now: float) -> float:
        """Seconds until :meth:`refusal` may say yes to ``peer``: until its own oldest entry
        expires when it is at its limit, else until the oldest of all does."""
        keys = self._by_peer.get(peer)
        if keys is not None and len(keys) >= self.max_per_peer:
            held = self._entries[next(iter(keys))]
        elif self._entries:
            held = next(iter(self._entries.values()))
        else:
            return 0.0
        return max(0.0, held.expires - now)

    def put(self, peer: Hashable, key: K, value: V, size: int, now: float) -> None:
        """Insert or refresh ``key``, charged ``size`` bytes; the peer's oldest entries go when
        it is over its limit, then the oldest of all while over the byte bound. An entry
        larger than the whole bound is not kept."""
        if size > self.max_bytes:
            self.pop(key)
            return
        entries = self._entries
        held = entries.get(key)
        expires = now + self._lifetime
        if held is None:
            entries[key] = _Held(peer, value, size, expires)
            keys = self._by_peer.setdefault(peer, {})
        else:
            entries.move_to_end(key)
            self.bytes_held -= held.size
            held.value, held.size, held.expires = value, size, expires
            keys = self._by_peer[peer]
            del keys[key]
        keys[key] = None
        self.bytes_held += size
        while len(keys) > self.max_per_peer:
            self.pop(next(iter(keys)))
        while self.bytes_held > self.max_bytes:
            self.pop(next(iter(entries)))
        if self._timer is None:
            self._timer = self._timers.schedule(
                next(iter(entries.values())).expires, self._on_expiry
            )

    def pop(self, key: K) -> V | None:
        held = self._entries.pop(key, None)
        if held is None:
            return None
        self.bytes_held -= held.size
        keys = self._by_peer[held.peer]
        del keys[key]
        if not keys:
            del self._by_peer[held.peer]
        if not self._entries:
            self._timers.cancel(self._timer)
            self._timer = None
        return held.value

    def drop_peer(self, peer: Hashable) -> None:
        """Forget every transfer of a peer that went away."""
        for key in list(self._by_peer.get(peer, ())):
            self.pop(key)

    def _on_expiry(self, now: float) -> None:
        self._timer = None
        entries = self._entries
        while entries:
            key, held = next(iter(entries.items()))
            if held.expires > now:
                self._timer = self._timers.schedule(held.expires, self._on_expiry)
                return
            self.pop(key)
