"""The sans-I/O AT session: one command in flight, answers tied to it, URCs typed.

Bytes from the modem go in with :meth:`AtSession.receive`; bytes for the modem come out of
:meth:`AtSession.data_to_send`; results and URCs come out of :meth:`AtSession.next_event`;
:meth:`get_timer`/:meth:`handle_timer` run per-command timeouts on the caller's ``now``.
No clock, no socket, no asyncio.

How a line is classified, in order:

1. the line after a ``+CMT`` header is its PDU;
2. the echo of the command in flight (``ATE1``, the V.250 default) is dropped;
3. ``OK``, ``ERROR``, ``+CME ERROR``, ``+CMS ERROR`` and V.250's other final result codes
   end the command in flight (with none in flight they are stray and counted);
4. a ``+NAME:`` line that is not the command's own response prefix is a URC, typed by
   :mod:`~lwm2m.transport.modem.urc` whatever arrives around it;
5. any other line is information text of the command in flight (or stray without one).

After a timeout the session waits ``settle_after_timeout`` before the next command, so that
a late final result code of the abandoned command is not taken for the next one's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from lwm2m.transport.modem.commands import AtCommand
from lwm2m.transport.modem.errors import (
    CommandTimeoutError,
    ModemError,
    ModemUsageError,
    ResponseFormatError,
    final_error,
)
from lwm2m.transport.modem.framing import CTRL_Z, LineFramer, SessionStats
from lwm2m.transport.modem.quirks import GENERIC, ModemQuirks
from lwm2m.transport.modem.syntax import prefix_of
from lwm2m.transport.modem.urc import CmtHeader, MalformedUrc, Urc, parse_urc

FAILURE_RESULTS = frozenset({"ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "ABORTED"})
MAX_INFO_LINES = 64
"""Information lines kept per command (``+CGAPNRC`` lists one per context)."""


@dataclass(frozen=True, slots=True)
class CommandSucceeded:
    handle: int
    command: str
    result: Any
    """What the command's parser made of its answer (its ``AtCommand[T]``'s T)."""


@dataclass(frozen=True, slots=True)
class CommandFailed:
    handle: int
    command: str
    error: ModemError


SessionEvent = CommandSucceeded | CommandFailed | Urc


@dataclass(slots=True)
class _InFlight:
    handle: int
    command: AtCommand[Any]
    deadline: float
    timeout: float
    echo: str
    payload_sent: bool = False


class AtSession:
    """One AT channel to one modem (module docstring)."""

    def __init__(
        self, quirks: ModemQuirks = GENERIC, *, max_queue: int = 32, max_urcs: int = 256
    ) -> None:
        self.quirks = quirks
        self.stats = SessionStats()
        self.max_queue = max_queue
        self.max_urcs = max_urcs
        self._framer = LineFramer(quirks.max_line, self.stats)
        self._queue: deque[tuple[int, AtCommand[Any]]] = deque()
        self._in_flight: _InFlight | None = None
        self._info: list[str] = []
        self._cmt: CmtHeader | None = None
        self._settle_until: float | None = None
        self._out = bytearray()
        self._events: deque[SessionEvent] = deque()
        self._urcs_queued = 0
        self._next_handle = 1
        self._closed = False

    # -- the caller's side --------------------------------------------------------------

    def submit(self, command: AtCommand[Any], now: float) -> int:
        """Queue ``command``; its :class:`CommandSucceeded`/:class:`CommandFailed` event
        carries the returned handle. A full queue or closed session raises ModemUsageError."""
        if self._closed:
            raise ModemUsageError("the AT session is closed")
        if len(self._queue) >= self.max_queue:
            raise ModemUsageError(f"{self.max_queue} AT commands already queued")
        handle = self._next_handle
        self._next_handle += 1
        self._queue.append((handle, command))
        self._start_next(now)
        return handle

    @property
    def busy(self) -> bool:
        """A command is in flight or queued."""
        return self._in_flight is not None or bool(self._queue)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> SessionEvent | None:
        if not self._events:
            return None
        event = self._events.popleft()
        if not isinstance(event, CommandSucceeded | CommandFailed):
            self._urcs_queued -= 1
        return event

    def get_timer(self) -> float | None:
        if self._in_flight is not None:
            return self._in_flight.deadline
        if self._queue and self._settle_until is not None:
            return self._settle_until
        return None

    def handle_timer(self, now: float) -> None:
        in_flight = self._in_flight
        if in_flight is not None and now >= in_flight.deadline:
            self.stats.timeouts += 1
            self._in_flight = None
            self._info.clear()
            self._framer.clear_partial()
            self._settle_until = now + self.quirks.settle_after_timeout
            error = CommandTimeoutError(in_flight.echo, in_flight.timeout)
            self._finish_failed(in_flight, error)
        self._start_next(now)

    def close(self) -> None:
        """Fail the command in flight and every queued one; take no more."""
        self._closed = True
        failed = [self._in_flight] if self._in_flight is not None else []
        self._in_flight = None
        error = ModemUsageError("the AT session was closed")
        for in_flight in failed:
            self._finish_failed(in_flight, error)
        while self._queue:
            handle, command = self._queue.popleft()
            self._events.append(CommandFailed(handle, "AT" + command.text, error))

    # -- the modem's side ---------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes the modem sent; never raises on their content."""
        for line in self._framer.feed(data):
            self._line(line)
        in_flight = self._in_flight
        if (
            in_flight is not None
            and in_flight.command.payload is not None
            and not in_flight.payload_sent
            and self._framer.partial.startswith(">")
        ):
            self._framer.clear_partial()
            in_flight.payload_sent = True
            self._out += in_flight.command.payload.encode("ascii") + CTRL_Z.encode("ascii")
        self._start_next(now)

    def _line(self, line: str) -> None:
        if self._cmt is not None:
            header, self._cmt = self._cmt, None
            if line not in FAILURE_RESULTS and line != "OK" and prefix_of(line) is None:
                try:
                    self._urc(header.complete(line))
                except ResponseFormatError as error:
                    self._urc(MalformedUrc(line, str(error)))
                return
            self._urc(MalformedUrc("+CMT", "no PDU line after the header"))
        in_flight = self._in_flight
        if in_flight is not None and self._is_echo(line, in_flight):
            return
        upper = line.upper()
        if upper == "OK":
            self._succeed()
        elif upper in FAILURE_RESULTS or upper.startswith(("+CME ERROR:", "+CMS ERROR:")):
            self._fail(line)
        elif (prefix := prefix_of(line)) is not None and (
            in_flight is None or prefix != in_flight.command.prefix
        ):
            self._typed_urc(prefix, line)
        elif in_flight is None or len(self._info) >= MAX_INFO_LINES:
            self.stats.stray_lines += 1
        else:
            self._info.append(line)

    def _is_echo(self, line: str, in_flight: _InFlight) -> bool:
        if line.upper() == in_flight.echo.upper():
            return True
        payload = in_flight.command.payload
        return (
            payload is not None
            and in_flight.payload_sent
            and line.lstrip("> ").rstrip(CTRL_Z).upper() == payload.upper()
        )

    def _typed_urc(self, prefix: str, line: str) -> None:
        urc = parse_urc(prefix, line)
        if isinstance(urc, CmtHeader):
            self._cmt = urc
        else:
            self._urc(urc)

    def _urc(self, urc: Urc) -> None:
        if isinstance(urc, MalformedUrc):
            self.stats.malformed_urcs += 1
        if self._urcs_queued >= self.max_urcs:
            self.stats.dropped_events += 1
            return
        self._urcs_queued += 1
        self._events.append(urc)

    # -- commands -----------------------------------------------------------------------

    def _start_next(self, now: float) -> None:
        if self._in_flight is not None or not self._queue:
            return
        if self._settle_until is not None:
            if now < self._settle_until:
                return
            self._settle_until = None
        handle, command = self._queue.popleft()
        timeout = self.quirks.timeouts.get(command.name, command.timeout)
        echo = "AT" + command.text
        self._in_flight = _InFlight(handle, command, now + timeout, timeout, echo)
        self._info.clear()
        self._out += echo.encode("ascii") + b"\r"

    def _succeed(self) -> None:
        in_flight = self._in_flight
        if in_flight is None:
            self.stats.stray_lines += 1
            return
        self._in_flight = None
        lines = tuple(self._info)
        self._info.clear()
        try:
            result = in_flight.command.parse(lines)
        except ResponseFormatError as error:
            self._finish_failed(in_flight, ResponseFormatError(f"{in_flight.echo}: {error}"))
            return
        self._events.append(CommandSucceeded(in_flight.handle, in_flight.echo, result))

    def _fail(self, line: str) -> None:
        in_flight = self._in_flight
        if in_flight is None:
            self.stats.stray_lines += 1
            return
        self._in_flight = None
        self._info.clear()
        self._finish_failed(in_flight, final_error(in_flight.echo, line))

    def _finish_failed(self, in_flight: _InFlight, error: ModemError) -> None:
        self._events.append(CommandFailed(in_flight.handle, in_flight.echo, error))
