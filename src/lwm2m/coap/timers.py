"""A timer heap with lazy cancellation, so arming and cancelling a timer are O(log n) and O(1).

Most timers are cancelled (a response arrives long before its timeout), so dead entries are
compacted away once they outnumber the live ones; memory stays proportional to live timers.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

TimerCallback = Callable[[float], None]


def _dropped(now: float) -> None:
    """The callback of a cancelled timer, which never runs."""


class Timer:
    """A handle on a scheduled callback; cancel it through its queue."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: TimerCallback) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False


class TimerQueue:
    __slots__ = ("_cancelled", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._cancelled = 0

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def schedule(self, deadline: float, callback: TimerCallback) -> Timer:
        timer = Timer(deadline, callback)
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, timer))
        return timer

    def cancel(self, timer: Timer | None) -> None:
        if timer is None or timer.cancelled:
            return
        timer.cancelled = True
        timer.callback = _dropped  # what it would call (and keeps alive) can go now
        self._cancelled += 1
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> None:
        """Fire every timer due at ``now``, including ones that due callbacks arm."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            timer = heapq.heappop(heap)[2]
            if timer.cancelled:
                self._cancelled -= 1
                continue
            timer.cancelled = True  # fired: a late cancel() must not count it again
            timer.callback(now)
