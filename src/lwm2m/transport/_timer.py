"""The one asyncio timer a transport adapter keeps for its sans-I/O core's next deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class TimedCore(Protocol):
    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class CoreTimer:
    """A ``loop.call_at`` kept no later than the core's next deadline; on firing it runs the
    core's due timers, then ``then()`` (the adapter's pump, which re-arms).

    A later deadline (the earlier timer was cancelled: most are, as answers come long before
    timeouts) waits for the armed one, which then re-arms: re-arming on every change would
    cost a loop timer per request. ``clock`` is the core's ``now``, at the loop clock's rate.
    """

    __slots__ = ("_at", "_clock", "_core", "_handle", "_loop", "_then")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        core: TimedCore,
        clock: Callable[[], float],
        then: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._core = core
        self._clock = clock
        self._then = then
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def arm(self, deadline: float | None) -> None:
        at = self._at
        if deadline is None or (at is not None and deadline >= at):
            return
        if self._handle is not None:
            self._handle.cancel()
        self._at = deadline
        loop = self._loop
        self._handle = loop.call_at(deadline - self._clock() + loop.time(), self._fire)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._at = None

    def _fire(self) -> None:
        self._handle = self._at = None
        core = self._core
        now = self._clock()
        deadline = core.get_timer()
        if deadline is not None and deadline <= now:
            core.handle_timer(now)
        self._then()
