"""Requests an application awaits, matched to the core events that end them; the other events
go on to its ``on_event``. Shared by the UDP and the TCP/TLS endpoint adapters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from lwm2m.coap.events import ObservationEnded, PongReceived, RequestFailed, ResponseReceived
from lwm2m.coap.message import Message

E = TypeVar("E")


class RequestError(Exception):
    """A request of ours ended without a response (see ``event.reason``)."""

    def __init__(self, event: RequestFailed | ObservationEnded | PongReceived) -> None:
        super().__init__(event)
        self.event = event


class AwaitedRequests(Generic[E]):
    __slots__ = ("_waiting", "on_event")

    def __init__(self, on_event: Callable[[E], None] | None) -> None:
        self.on_event = on_event
        self._waiting: dict[int, asyncio.Future[Message]] = {}

    def expect(self, handle: int) -> asyncio.Future[Message]:
        """The future the response (or the failure) of request ``handle`` will settle."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[handle] = future
        return future

    def dispatch(self, event: E) -> None:
        handle = getattr(event, "handle", None)
        future = None if handle is None else self._waiting.pop(handle, None)
        if future is None:
            if self.on_event is not None:
                self.on_event(event)
        elif future.done():
            pass
        elif isinstance(event, ResponseReceived):
            future.set_result(event.response)
        elif isinstance(event, (RequestFailed, ObservationEnded, PongReceived)):
            future.set_exception(RequestError(event))

    def cancel_all(self) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        self._waiting.clear()
