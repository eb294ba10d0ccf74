"""Replaying a modem session through the sans-I/O core: what the TE must write, what the
module answers, on a virtual clock."""

from __future__ import annotations

from typing import Any

from lwm2m.transport.modem.commands import AtCommand
from lwm2m.transport.modem.session import AtSession, CommandFailed, CommandSucceeded

Event = Any


class Replay:
    def __init__(self, session: AtSession | None = None) -> None:
        self.session = session if session is not None else AtSession()
        self.now = 0.0
        self.events: list[Event] = []

    def submit(self, command: AtCommand[Any]) -> int:
        return self.session.submit(command, self.now)

    def expect_written(self, text: str) -> None:
        """The TE wrote exactly ``text`` since the last check."""
        assert self.session.data_to_send() == text.encode("latin-1")

    def modem(self, text: str | bytes) -> list[Event]:
        """The module sends ``text``; the events it caused (all also kept in ``events``)."""
        data = text if isinstance(text, bytes) else text.encode("latin-1")
        self.session.receive(data, self.now)
        return self._drain()

    def advance(self, seconds: float) -> list[Event]:
        self.now += seconds
        timer = self.session.get_timer()
        if timer is not None and timer <= self.now:
            self.session.handle_timer(self.now)
        return self._drain()

    def _drain(self) -> list[Event]:
        new = []
        while (event := self.session.next_event()) is not None:
            new.append(event)
        self.events.extend(new)
        return new

    def result(self, handle: int) -> Any:
        for event in self.events:
            if isinstance(event, CommandSucceeded) and event.handle == handle:
                return event.result
            if isinstance(event, CommandFailed) and event.handle == handle:
                raise event.error
        raise AssertionError(f"command {handle} has not finished")
