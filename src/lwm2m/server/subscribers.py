"""Who hears the server's events: plain callbacks, called in order as each event happens, and
async ones, each call scheduled as a task; a failing subscriber is logged and never stops the
server or the other subscribers.  Also :func:`wait_registered`, built on them."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from lwm2m.server.events import Registered, ServerEvent
from lwm2m.server.registration import Registration, RegistrationStore

logger = logging.getLogger(__name__)

Subscriber = Callable[[ServerEvent], Awaitable[None] | None]
"""``callback(event)``; a coroutine function's calls run as tasks (in the order scheduled)."""


class Subscribers:
    __slots__ = ("_callbacks", "_tasks")

    def __init__(self) -> None:
        self._callbacks: list[Subscriber] = []
        self._tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak ones

    def add(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every event from now on; returns the unsubscriber."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def publish(self, event: ServerEvent) -> None:
        for callback in list(self._callbacks):
            try:
                outcome = callback(event)
            except Exception:
                logger.exception("event subscriber %s failed", _name(callback))
                continue
            if inspect.isawaitable(outcome):
                self._schedule(callback, outcome)

    def _schedule(self, callback: Subscriber, outcome: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await outcome
            except Exception:
                logger.exception("event subscriber %s failed", _name(callback))

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _name(callback: Subscriber) -> object:
    return getattr(callback, "__qualname__", callback)


async def wait_registered(
    subscribe: Callable[[Subscriber], Callable[[], None]],
    registrations: RegistrationStore,
    ep: str,
    timeout: float | None,
) -> Registration:
    """``ep``'s registration: the current one, or the next Register's; TimeoutError after
    ``timeout`` seconds (None: wait for ever)."""
    registered: asyncio.Future[Registration] = asyncio.get_running_loop().create_future()

    def on_event(event: ServerEvent) -> None:
        if (
            isinstance(event, Registered)
            and event.registration.endpoint == ep
            and not registered.done()
        ):
            registered.set_result(event.registration)

    unsubscribe = subscribe(on_event)  # before looking: a Register in between is not missed
    try:
        current = registrations.get(ep)
        if current is not None:
            return current
        return await asyncio.wait_for(registered, timeout)
    finally:
        unsubscribe()
