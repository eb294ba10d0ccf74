"""What ``lwm2m bench`` shows while it runs: the phase, what it has done and at what rate, and
how many devices are registered, on stderr so that the report on stdout stays clean.

On a terminal one line is rewritten in place about once a second and erased at the end; in a
log or a pipe a plain line is written every :data:`PLAIN_INTERVAL` seconds instead, since
carriage returns would pile up there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TextIO

TTY_INTERVAL = 1.0
PLAIN_INTERVAL = 5.0
_ERASE = "\r\033[K"  # to the line's start, then clear it


class Progress:
    """Reports the bench's phases on ``stream``; ``registered`` counts registered devices (the
    fleet's ``clients``, and the flood's new devices once it runs)."""

    def __init__(
        self,
        stream: TextIO,
        clients: int,
        registered: Callable[[], int],
        clock: Callable[[], float],
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._clients = clients
        self._registered = registered
        self._clock = clock
        self._phase = "starting the fleet"
        self._done: Callable[[], int] | None = None
        self._started = self._last_time = clock()
        self._first = self._last_done = 0
        self._shown = False

    @property
    def interval(self) -> float:
        return TTY_INTERVAL if self._tty else PLAIN_INTERVAL

    def begin(self, phase: str, done: Callable[[], int] | None = None) -> None:
        """A new phase; ``done`` counts its operations (None: the phase has no count here)."""
        self._phase, self._done = phase, done
        self._started = self._last_time = self._clock()
        self._first = self._last_done = 0 if done is None else done()

    def line(self) -> str:
        """The phase, its operations and their rate since the last line, the registered."""
        now = self._clock()
        elapsed = now - self._started
        parts = [f"bench: {self._phase}, {elapsed:.0f} s"]
        if self._done is not None:
            done = self._done()
            since = now - self._last_time
            rate = (done - self._last_done) / since if since > 0 else 0.0
            self._last_time, self._last_done = now, done
            parts.append(f"{done - self._first:,} done ({rate:,.0f}/s)")
        parts.append(self._registration())
        return ", ".join(parts)

    def _registration(self) -> str:
        return f"{self._registered():,} registered (fleet of {self._clients:,})"

    def show(self) -> None:
        line = self.line()
        if self._tty:
            self._stream.write(f"{_ERASE}{line}")
        else:
            self._stream.write(f"{line}\n")
        self._stream.flush()
        self._shown = True

    async def run(self) -> None:
        """Show a line every :attr:`interval` until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.show()

    def close(self, interrupted: bool = False) -> None:
        """Erase the terminal's line; ``interrupted``: say where the bench stopped instead."""
        if self._tty and self._shown:
            self._stream.write(_ERASE)
        if interrupted:
            self._stream.write(
                f"lwm2m bench: interrupted while {self._phase}, {self._registration()}\n"
            )
        self._stream.flush()
