"""What every benchmark module shares: timing a callable and the shape of a result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchResult:
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def ops_per_second(func: Callable[[], object], *, min_seconds: float = 1.0) -> float:
    """Best rate over three timed rounds of calling ``func`` repeatedly."""
    count = 1
    while True:  # grow the batch until one round takes a measurable time
        start = time.perf_counter()
        for _ in range(count):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds / 10:
            break
        count *= 4
    best = 0.0
    for _ in range(3):
        rounds = max(1, int(count * (min_seconds / 3) / elapsed))
        start = time.perf_counter()
        for _ in range(rounds):
            func()
        elapsed_round = time.perf_counter() - start
        best = max(best, rounds / elapsed_round)
    return best
