"""CoAP over TCP and TLS for the client engine: servers named by address, whatever their
connection of the moment (RFC 8323)."""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from lwm2m.client.engine import ClientEngine
from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    ObservationCancelled,
    ObservationKey,
    RequestFailed,
    RequestReceived,
)
from lwm2m.coap.events import Peer as AnyPeer
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.coap.stream import ConnectionClosed, StreamEndpoint
from lwm2m.transport.tcp import StreamPeer


class StreamLinks:
    """The engine's CoAP endpoint over TCP and TLS (RFC 8323).

    The engine names a server by its address, as over UDP; this maps the address to the
    server's current connection, so a reconnect is invisible to the engine.  A request for a
    server with no connection waits while the façade connects (``want``); a failed connect
    fails it (RESET), and the next attempt waits ``retry(failures so far)`` after it, whatever
    asks for it (the engine's registration back-off usually waits as long already).
    """

    def __init__(
        self,
        config: EndpointConfig,
        stream: StreamEndpoint,
        want: Callable[[AnyPeer], None],
        retry: Callable[[int], float],
    ) -> None:
        self._config = config
        self.stream = stream
        self._want = want
        self._retry = retry
        self._failures: dict[AnyPeer, tuple[int, float]] = {}  # in a row, next attempt's time
        self.on_lost: Callable[[AnyPeer], None] | None = None
        self.links: dict[AnyPeer, StreamPeer] = {}
        self._addresses: dict[AnyPeer, AnyPeer] = {}
        self._events: deque[Event] = deque()
        self._pending: dict[int, tuple[AnyPeer, Code, Options, bytes]] = {}
        self._waiting = itertools.count(-1, -1)  # handles of requests waiting for a connection
        self._alias: dict[int, int] = {}  # stream handle -> the waiting handle the engine knows
        self._real: dict[int, int] = {}

    @property
    def config(self) -> EndpointConfig:
        return self._config

    # -- connections (the façade) --------------------------------------------------------------

    def connected(self, address: AnyPeer, peer: StreamPeer, now: float) -> None:
        """``peer`` is the connection to ``address`` now: what waited for it goes out."""
        self._failures.pop(address, None)
        self.links[address] = peer
        self._addresses[peer] = address
        for handle, (target, code, options, payload) in list(self._pending.items()):
            if target == address:
                del self._pending[handle]
                real = self.stream.send_request(
                    peer, code, options=options, payload=payload, now=now
                )
                self._alias[real] = handle
                self._real[handle] = real

    def connect_failed(self, address: AnyPeer, now: float) -> int:
        """Fail what waited for ``address`` and back off; the failures in a row."""
        failed, _ = self._failures.get(address, (0, 0.0))
        self._failures[address] = (failed + 1, now + self._retry(failed))
        for handle, (target, *_) in list(self._pending.items()):
            if target == address:
                del self._pending[handle]
                self._events.append(RequestFailed(handle, FailureReason.RESET))
        return failed + 1

    def connect_at(self, address: AnyPeer) -> float:
        """When the next attempt to connect to ``address`` may start (0: now)."""
        return self._failures.get(address, (0, 0.0))[1]

    # -- the engine's endpoint -------------------------------------------------------------------

    def receive(self, data: bytes, peer: AnyPeer, now: float) -> None:
        self.stream.receive(data, peer, now)

    def datagrams_to_send(self) -> list[tuple[bytes, AnyPeer]]:
        return self.stream.data_to_send()

    def get_timer(self) -> float | None:
        return self.stream.get_timer()

    def handle_timer(self, now: float) -> None:
        self.stream.handle_timer(now)

    def next_event(self) -> Event | None:
        """The stream's events with servers named by address (connection events consumed)."""
        while not self._events:
            event = self.stream.next_event()
            if event is None:
                return None
            if isinstance(event, ConnectionClosed):
                address = self._addresses.pop(event.peer, None)
                if address is not None and self.links.get(address) == event.peer:
                    del self.links[address]
                    if self.on_lost is not None:
                        self.on_lost(address)
            elif isinstance(event, RequestReceived):
                exchange = event.exchange
                self._events.append(replace(event, exchange=self._logical(exchange)))
            elif isinstance(event, ObservationCancelled):
                self._events.append(replace(event, observation=self._logical(event.observation)))
            elif not isinstance(event, Event):
                continue  # CSM, Release: the stream core handles them
            else:
                handle: int | None = getattr(event, "handle", None)
                alias = self._alias.pop(handle, None) if handle is not None else None
                if alias is not None:  # the engine observes nothing: any event ends a request
                    del self._real[alias]
                    event = replace(event, handle=alias)
                self._events.append(event)
        return self._events.popleft()

    def send_request(
        self,
        peer: AnyPeer,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
    ) -> int:
        link = self.links.get(peer)
        if link is not None:
            return self.stream.send_request(link, code, options=options, payload=payload, now=now)
        handle = next(self._waiting)
        self._pending[handle] = (peer, code, options, payload)
        self._want(peer)
        return handle

    def cancel(self, handle: int, now: float) -> None:
        if self._pending.pop(handle, None) is not None:
            return
        real = self._real.pop(handle, handle)
        self._alias.pop(real, None)
        with contextlib.suppress(StaleHandleError):  # its connection closed: it is over
            self.stream.cancel(real, now)

    def respond(
        self,
        exchange: ExchangeKey,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
    ) -> ObservationKey | None:
        physical = self._physical(exchange)
        if physical is None:
            return None  # the connection it came on is gone, and its answer with it
        key = self.stream.respond(physical, code, options=options, payload=payload, now=now)
        return None if key is None else self._logical(key)

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = False,
    ) -> None:
        """Over TCP every message is reliable: ``confirmable`` has no meaning."""
        physical = self._physical(observation)
        if physical is not None:
            with contextlib.suppress(StaleHandleError):
                self.stream.notify(physical, code, options=options, payload=payload, now=now)

    def _logical(self, key: _Keyed) -> _Keyed:
        address = self._addresses.get(key.peer)
        return key if address is None else replace(key, peer=address)

    def _physical(self, key: _Keyed) -> _Keyed | None:
        link = self.links.get(key.peer)
        return None if link is None else replace(key, peer=link)


_Keyed = TypeVar("_Keyed", ExchangeKey, ObservationKey)


class EngineStreams:
    """The engine as a :class:`~lwm2m.coap.stream.StreamCore`, for the stream transport."""

    __slots__ = ("_engine", "_links")

    def __init__(self, engine: ClientEngine, links: StreamLinks) -> None:
        self._engine = engine
        self._links = links

    def connection_made(self, peer: AnyPeer, now: float) -> None:
        self._links.stream.connection_made(peer, now)
        self._engine.handle_timer(now)

    def receive(self, data: bytes, peer: AnyPeer, now: float) -> None:
        self._engine.receive(data, peer, now)

    def connection_lost(self, peer: AnyPeer, now: float) -> None:
        self._links.stream.connection_lost(peer, now)
        self._engine.handle_timer(now)

    def data_to_send(self) -> list[tuple[bytes, AnyPeer]]:
        return self._engine.datagrams_to_send()

    def closing(self) -> list[AnyPeer]:
        return self._links.stream.closing()

    def get_timer(self) -> float | None:
        return self._engine.get_timer()

    def handle_timer(self, now: float) -> None:
        self._engine.handle_timer(now)
