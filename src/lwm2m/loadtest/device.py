"""The CoAP side of a fleet of simulated devices, sans-I/O: datagrams in and out, by index.

Each device is an LwM2M 1.1 client with the Telekom profile's object list, one resource
(``/3/0/9``, battery level) that it serves to Read and Observe, and nothing else: no objects, no
engine, a few bytes of state.  Datagrams are assembled from pre-encoded parts, since the fleet
must outrun the server it measures on the same machine.
"""

from __future__ import annotations

import struct

from lwm2m.client.profile import telekom_device
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.errors import MessageFormatError
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.model import Path, builtin_models, values_to_node

BATTERY = Path.of(3, 0, 9)
"""The one resource devices serve; the bench reads and observes it."""
IMEI_BASE = 350_000_000_000_000
"""Device ``i`` is ``urn:imei:<IMEI_BASE + i>``."""

_HEADER = struct.Struct("!BBH")
_SEGMENTS = tuple(str(i) for i in BATTERY.ids)
_NON, _ACK = 0x40 | Type.NON << 4, 0x40 | Type.ACK << 4
_REGISTER_MID = 0
_REGISTER_TOKEN = b"rg"


def endpoint_name(index: int) -> str:
    return f"urn:imei:{IMEI_BASE + index}"


def _battery_payloads() -> tuple[bytes, ...]:
    """SenML CBOR of ``/3/0/9`` for every level 0..100."""
    models = builtin_models()
    codec = default_codecs(lambda: 0.0).get(ContentFormat.SENML_CBOR)
    return tuple(
        codec.encode(BATTERY, values_to_node(BATTERY, {BATTERY: level}, models.is_multiple), models)
        for level in range(101)
    )


class Fleet:
    """Devices ``first .. first + count - 1``; each one talks only to the server.

    ``register(i)`` is device ``i``'s Register (the same bytes again to retransmit it);
    ``receive(i, data)`` takes what the server sent it and returns the answer, if any;
    ``notification(i)`` is its next NON notification while the server observes it.  Call
    :meth:`next_round` between passes over the devices: it advances the Observe sequence
    number and the message ID of every device at once (one counter for all of them).
    """

    def __init__(
        self, first: int, count: int, *, lifetime: int = 86400, binding: str = "U"
    ) -> None:
        self.first = first
        self.count = count
        self.registered = 0
        self.observed = 0
        self._is_registered = bytearray(count)
        self._tokens: list[bytes | None] = [None] * count  # of each device's observation
        self._round = 1
        self._lifetime = lifetime
        self._binding = binding
        self._objects = telekom_device(endpoint_name(0), seed=0, now=0.0).object_links().encode()
        content = Options.build(content_format=ContentFormat.SENML_CBOR).encode()
        self._payloads = tuple(b"\xff" + payload for payload in _battery_payloads())
        self._contents = tuple(content + payload for payload in self._payloads)
        self._notify_options = b""
        self.next_round()

    def register(self, i: int) -> bytes:
        options = Options.build(
            uri_path=("rd",),
            content_format=ContentFormat.LINK,
            uri_query=(
                f"ep={endpoint_name(self.first + i)}",
                f"lt={self._lifetime}",
                "lwm2m=1.1",
                f"b={self._binding}",
            ),
        )
        message = Message(
            Type.CON, Code.POST, _REGISTER_MID, _REGISTER_TOKEN, options, self._objects
        )
        return message.encode()

    def is_registered(self, i: int) -> bool:
        return bool(self._is_registered[i])

    def next_round(self) -> None:
        self._round += 1
        sequence = self._round & 0xFFFFFF
        self._notify_options = Options.build(
            observe=sequence, content_format=ContentFormat.SENML_CBOR
        ).encode()

    def notification(self, i: int) -> bytes | None:
        token = self._tokens[i]
        if token is None:
            return None
        head = _HEADER.pack(_NON | len(token), Code.CONTENT, self._round & 0xFFFF)
        return head + token + self._notify_options + self._payloads[(i + self._round) % 101]

    def receive(self, i: int, data: bytes) -> bytes | None:
        """Device ``i``'s answer to ``data``: Register's ACK, a Read or (de)Observe, an RST."""
        try:
            message = Message.decode(data)
        except MessageFormatError:
            return None
        type_, code = message.type, message.code
        if type_ is Type.ACK and code is Code.CREATED:
            if message.message_id == _REGISTER_MID and not self._is_registered[i]:
                self._is_registered[i] = 1
                self.registered += 1
            return None
        if type_ is Type.RST:  # a notification nobody wants any more
            self._forget(i)
            return None
        if type_ is not Type.CON or code is not Code.GET:
            return None
        options = message.options
        if options.uri_path != _SEGMENTS:
            return _ack(message, Code.NOT_FOUND)
        if options.accept not in (None, ContentFormat.SENML_CBOR):
            return _ack(message, Code.NOT_ACCEPTABLE)
        level = (i + self._round) % 101
        if options.observe == 0:
            if self._tokens[i] is None:
                self.observed += 1
            self._tokens[i] = message.token
            return _ack(message, Code.CONTENT, self._notify_options + self._payloads[level])
        if options.observe == 1:
            self._forget(i)
        return _ack(message, Code.CONTENT, self._contents[level])

    def _forget(self, i: int) -> None:
        if self._tokens[i] is not None:
            self._tokens[i] = None
            self.observed -= 1


def _ack(request: Message, code: Code, tail: bytes = b"") -> bytes:
    """The piggybacked response to ``request``; ``tail`` is its encoded options and payload."""
    token = request.token
    return _HEADER.pack(_ACK | len(token), code, request.message_id) + token + tail
