"""Drive a :class:`~lwm2m.coap.endpoint.Endpoint` over an asyncio UDP socket.

The adapter owns no protocol logic: it feeds received datagrams to the endpoint, then pumps —
sends what the endpoint queued, hands its events out, and keeps exactly one ``loop.call_at``
armed for the endpoint's next timer. Call :meth:`UdpEndpoint.pump` after using the endpoint
directly (``respond``, ``notify``...); :meth:`UdpEndpoint.request` does it for you.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import (
    Event,
    ObservationEnded,
    Peer,
    PongReceived,
    RequestFailed,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Options

EventHandler = Callable[[Event], None]


class RequestError(Exception):
    """A request of ours ended without a response (see ``event.reason``)."""

    def __init__(self, event: RequestFailed | ObservationEnded | PongReceived) -> None:
        super().__init__(event)
        self.event = event


class UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, endpoint: Endpoint, on_event: EventHandler | None = None) -> None:
        self.endpoint = endpoint
        self.on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._waiting: dict[int, asyncio.Future[Message]] = {}

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._transport is not None
        address: tuple[str, int] = self._transport.get_extra_info("sockname")[:2]
        return address

    # -- asyncio.DatagramProtocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.endpoint.receive(data, addr[:2], self._loop.time())
        self.pump()

    def error_received(self, exc: Exception) -> None:
        """ICMP errors say nothing reliable about the peer: CoAP's own timeouts decide."""

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for future in self._waiting.values():
            if not future.done():
                future.cancel()

    # -- driving -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def pump(self) -> None:
        """Send queued datagrams, dispatch events, re-arm the timer; repeat while busy."""
        endpoint = self.endpoint
        while True:
            datagrams = endpoint.datagrams_to_send()
            if self._transport is not None:
                for data, peer in datagrams:
                    self._transport.sendto(data, peer)  # type: ignore[arg-type]
            event = endpoint.next_event()
            if event is None:
                break
            self._dispatch(event)
        self._arm(endpoint.get_timer())

    def _dispatch(self, event: Event) -> None:
        future = self._waiting.pop(getattr(event, "handle", -1), None)
        if future is None:
            if self.on_event is not None:
                self.on_event(event)
        elif future.done():
            pass
        elif isinstance(event, ResponseReceived):
            future.set_result(event.response)
        else:
            future.set_exception(RequestError(event))  # type: ignore[arg-type]

    def _arm(self, deadline: float | None) -> None:
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        self.endpoint.handle_timer(self._loop.time())
        self.pump()

    async def request(
        self,
        peer: Peer,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = True,
    ) -> Message:
        """Send a request and wait for its (reassembled) response.

        For an observation the later events (notifications, its end) go to ``on_event``.
        Raises :class:`RequestError` when the request fails.
        """
        handle = self.endpoint.send_request(
            peer,
            code,
            options=options,
            payload=payload,
            confirmable=confirmable,
            now=self._loop.time(),
        )
        future: asyncio.Future[Message] = self._loop.create_future()
        self._waiting[handle] = future
        self.pump()
        return await future


async def open_udp_endpoint(
    endpoint: Endpoint,
    local_address: tuple[str, int] = ("127.0.0.1", 0),
    on_event: EventHandler | None = None,
) -> UdpEndpoint:
    """Bind a UDP socket and drive ``endpoint`` from it; close with :meth:`UdpEndpoint.close`."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: UdpEndpoint(endpoint, on_event), local_addr=local_address
    )
    return protocol
