"""What an operator looks at beside the protocol: a device's observations and queue-mode state,
and an opt-in log of the CoAP messages exchanged with a few devices (what Leshan's demo shows).

The log costs nothing while no device is watched: the tap around the server core checks one
empty dict per datagram.  A watched device keeps its last :data:`PER_DEVICE` messages (header
fields, options as text, payload size, never the payload), and at most :data:`MAX_WATCHED`
devices are watched at once, so its memory is bounded whatever the traffic.  Messages are
attributed by the peer's current registration: a Register from a new address is logged from
its answer on.  CoAP over TCP and TLS is not logged (its framing has no type or message ID).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.coap.options import OPTION_SPECS, Block, OptionFormat, OptionNumber
from lwm2m.server.errors import UnknownEndpointError
from lwm2m.transport.udp import DatagramCore

if TYPE_CHECKING:
    from lwm2m.server.core import ServerCore
    from lwm2m.server.state import SessionView

PER_DEVICE = 200
"""Messages kept per watched device."""
MAX_WATCHED = 32
"""Devices whose messages are logged at once."""
_OPTION_TEXT = 64
"""Characters of one option's value shown."""

_NAMES = {
    OptionNumber.URI_PATH: "Uri-Path",
    OptionNumber.URI_QUERY: "Uri-Query",
    OptionNumber.LOCATION_PATH: "Location-Path",
    OptionNumber.LOCATION_QUERY: "Location-Query",
    OptionNumber.CONTENT_FORMAT: "Content-Format",
    OptionNumber.ACCEPT: "Accept",
    OptionNumber.OBSERVE: "Observe",
    OptionNumber.BLOCK1: "Block1",
    OptionNumber.BLOCK2: "Block2",
    OptionNumber.SIZE1: "Size1",
    OptionNumber.SIZE2: "Size2",
    OptionNumber.MAX_AGE: "Max-Age",
    OptionNumber.ETAG: "ETag",
    OptionNumber.OSCORE: "OSCORE",
    OptionNumber.ECHO: "Echo",
    OptionNumber.REQUEST_TAG: "Request-Tag",
    OptionNumber.NO_RESPONSE: "No-Response",
}


class TooManyWatchedError(Exception):
    """The message log already watches :data:`MAX_WATCHED` devices."""


class MessageLog:
    """Rings of CoAP messages for the devices an operator watches; :meth:`tap` wraps the
    server core so that every datagram in or out passes :meth:`_record`."""

    def __init__(self, core: ServerCore, clock: Callable[[], float] = time.time) -> None:
        self._core = core
        self._clock = clock
        self._rings: dict[str, deque[dict[str, Any]]] = {}

    def watch(self, endpoint: str) -> bool:
        """Log ``endpoint``'s messages from now on; False if it was watched already."""
        if endpoint in self._rings:
            return False
        if len(self._rings) >= MAX_WATCHED:
            raise TooManyWatchedError(f"the message log watches {MAX_WATCHED} devices already")
        self._rings[endpoint] = deque(maxlen=PER_DEVICE)
        return True

    def unwatch(self, endpoint: str) -> bool:
        """Stop logging ``endpoint`` and forget its messages; False if it was not watched."""
        return self._rings.pop(endpoint, None) is not None

    def messages(self, endpoint: str) -> list[dict[str, Any]] | None:
        """``endpoint``'s logged messages, oldest first; None when it is not watched."""
        ring = self._rings.get(endpoint)
        return None if ring is None else list(ring)

    def tap(self, core: DatagramCore) -> DatagramCore:
        """``core`` as the transports should see it: the same, with its datagrams logged."""
        return _Tapped(core, self)

    def _record(self, direction: str, data: bytes, peer: Peer) -> None:
        endpoint = self._core.endpoint_of(peer)
        ring = None if endpoint is None else self._rings.get(endpoint)
        if ring is not None:
            ring.append(_describe(direction, data, self._clock()))


class _Tapped:
    __slots__ = ("_core", "_log")

    def __init__(self, core: DatagramCore, log: MessageLog) -> None:
        self._core = core
        self._log = log

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        log = self._log
        if log._rings:  # the tap is the log's own view
            log._record("in", data, peer)
        self._core.receive(data, peer, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out = self._core.datagrams_to_send()
        log = self._log
        if log._rings:
            for data, peer in out:
                log._record("out", data, peer)
        return out

    def get_timer(self) -> float | None:
        return self._core.get_timer()

    def handle_timer(self, now: float) -> None:
        self._core.handle_timer(now)


def _describe(direction: str, data: bytes, at: float) -> dict[str, Any]:
    """One log entry: the header, the options as text, the payload's size."""
    try:
        message = Message.decode(data)
    except ValueError as exc:  # MessageFormatError: logged as what it is
        return {"time": at, "direction": direction, "size": len(data), "error": str(exc)[:200]}
    return {
        "time": at,
        "direction": direction,
        "type": Type(message.type).name,
        "code": _code(message.code),
        "mid": message.message_id,
        "token": message.token.hex(),
        "options": [_option(number, value) for number, value in message.options][:24],
        "payload": len(message.payload),
    }


def _code(code: Code) -> str:
    if code.is_request:
        return code.name
    return code.dotted if code else "Empty"


def _option(number: int, value: bytes) -> str:
    name = _NAMES.get(OptionNumber(number), f"Option {number}")
    spec = OPTION_SPECS.get(number)
    if number in {OptionNumber.BLOCK1, OptionNumber.BLOCK2} and len(value) <= 3:
        block = Block.from_uint(int.from_bytes(value, "big"))
        text = f"{block.num}/{int(block.more)}/{block.size}"
    elif spec is not None and spec.format is OptionFormat.UINT:
        text = str(int.from_bytes(value, "big"))
    elif spec is not None and spec.format is OptionFormat.STRING:
        text = value.decode("utf-8", "replace")
    else:
        text = value.hex()
    return f"{name}: {text[:_OPTION_TEXT]}"


class InspectionApi:
    """The façade's operator views (:class:`~lwm2m.server.server.LwM2MServer` inherits them)."""

    _core: ServerCore
    message_log: MessageLog

    def session_view(self, ep: str) -> SessionView:
        """``ep``'s observations, awake time left and queued requests; UnknownEndpointError.
        Needs the running loop: the core's ``now`` is the loop's clock."""
        view = self._core.session_view(ep, asyncio.get_running_loop().time())
        if view is None:
            raise UnknownEndpointError(f"no registration for endpoint {ep!r:.80}")
        return view
