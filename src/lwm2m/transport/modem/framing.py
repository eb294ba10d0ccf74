"""Bytes from the modem into lines, with bounded memory whatever the modem sends.

V.250 modems end information text and result codes with CR LF and echo command lines
ending in CR alone, so CR and LF both end a line and empty lines are dropped. The one
thing that ends without a terminator is the ``>`` prompt of ``AT+CMGS``: :attr:`partial`
shows it to the session. A line longer than ``max_line`` is dropped up to its next
terminator, a line that is not printable text (noise on a UART waking from sleep, a wrong
baud rate) is dropped as garbage; both are counted in :class:`SessionStats`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TERMINATOR = re.compile(rb"[\r\n]")
CTRL_Z = "\x1a"
WAKE_NOISE = b"\x00\xff"
"""Bytes some modules put on the UART as they wake from PSM: stripped from line edges."""


@dataclass(slots=True)
class SessionStats:
    """What the session ignored or gave up on, for logs and metrics (never reset)."""

    garbage_lines: int = 0
    oversized_lines: int = 0
    stray_lines: int = 0
    """Information text or a result code with no command in flight."""
    malformed_urcs: int = 0
    timeouts: int = 0
    dropped_events: int = 0


class LineFramer:
    """Splits the byte stream into text lines; keeps at most ``max_line`` bytes pending."""

    __slots__ = ("_buffer", "_skipping", "max_line", "stats")

    def __init__(self, max_line: int, stats: SessionStats) -> None:
        self.max_line = max_line
        self.stats = stats
        self._buffer = bytearray()
        self._skipping = False

    @property
    def partial(self) -> str:
        """The unterminated text so far (where a ``> `` prompt shows), stripped."""
        return self._buffer.strip(WAKE_NOISE + b" ").decode("latin-1")

    def clear_partial(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[str]:
        """The complete lines ``data`` finishes, in order."""
        lines: list[str] = []
        *complete, rest = TERMINATOR.split(data)
        for chunk in complete:
            self._append(chunk)
            self._end_line(lines)
        self._append(rest)
        return lines

    def _append(self, chunk: bytes) -> None:
        if self._skipping or not chunk:
            return
        if len(self._buffer) + len(chunk) > self.max_line:
            self._buffer.clear()
            self._skipping = True
            self.stats.oversized_lines += 1
            return
        self._buffer += chunk

    def _end_line(self, lines: list[str]) -> None:
        if self._skipping:
            self._skipping = False
            return
        raw = bytes(self._buffer.strip(WAKE_NOISE))
        self._buffer.clear()
        if not raw.strip():
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.stats.garbage_lines += 1
            return
        if any((ord(c) < 0x20 and c not in f"\t{CTRL_Z}") or c == "\x7f" for c in text):
            self.stats.garbage_lines += 1
            return
        lines.append(text.strip())
