"""A bounded map whose entries expire, for deduplication and block-wise transfer state.

Entries are kept in order of last write; with similar lifetimes that is expiry order, so purging
pops from the front and stops at the first live entry. An entry with a shorter lifetime behind a
longer one lingers until it reaches the front, but :meth:`get` never returns it once expired.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

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
