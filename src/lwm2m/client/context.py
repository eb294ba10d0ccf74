"""What the client's interfaces share: configuration, the CoAP endpoint, timers and events.

The registration, bootstrap, device-management and reporting interfaces of
:class:`~lwm2m.client.engine.ClientEngine` each keep their own state and reach the network
only through :class:`EngineContext.endpoint`, a :class:`CoapEndpoint` naming servers by opaque
peers.  A transport (UDP, DTLS, TCP, OSCORE today; NIDD or SMS later) is an implementation of
that protocol, or sits behind one, so adding one never touches the interfaces.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from lwm2m.client.events import ClientEvent
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.events import Event, ExchangeKey, ObservationKey, Peer
from lwm2m.coap.options import Options
from lwm2m.coap.timers import TimerQueue
from lwm2m.codec import ContentFormat, default_codecs
from lwm2m.model import Node, ResourceInstance, SingleResource
from lwm2m.operations import CoapParts

Resolver = Callable[[int, str], Peer]
"""``resolve(short_server_id, server_uri)``: the peer address of a server account (Short Server
ID 0: the bootstrap server); ClientError for a URI the client cannot reach."""

BOOTSTRAP_SSID = 0
"""What the resolver is told for the bootstrap server, which has no Short Server ID."""


class ClientError(Exception):
    """Local misuse of the client: nothing was sent (not registered, Send muted, bad path)."""


def server_address(uri: str) -> tuple[bool, tuple[str, int]]:
    """``coap[s]://host[:port]`` to (secure, ``(host, port)``); names are left to the caller
    to resolve."""
    parts = urlsplit(uri)
    if parts.scheme not in ("coap", "coaps") or not parts.hostname:
        raise ClientError(f"server URI {uri!r}: only coap:// and coaps://host[:port] are supported")
    secure = parts.scheme == "coaps"
    return secure, (parts.hostname, parts.port or (5684 if secure else 5683))


def udp_peer(short_server_id: int, uri: str) -> tuple[str, int]:
    """The resolver of a client without DTLS: ``coap://host:port`` to ``(host, port)``."""
    secure, address = server_address(uri)
    if secure:
        raise ClientError(f"server URI {uri!r}: this client reaches coap:// only (no DTLS)")
    return address


class CoapEndpoint(Protocol):
    """What the engine needs of its CoAP endpoint: :class:`~lwm2m.coap.endpoint.Endpoint`'s
    API (``config`` supplies the timing Updates and queue mode are planned with)."""

    @property
    def config(self) -> EndpointConfig: ...

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Event | None: ...

    def send_request(
        self, peer: Peer, code: Code, *, now: float, options: Options, payload: bytes
    ) -> int: ...

    def cancel(self, handle: int, now: float) -> None: ...

    def respond(
        self, exchange: ExchangeKey, code: Code, *, now: float, options: Options, payload: bytes
    ) -> ObservationKey | None: ...

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        now: float,
        options: Options = ...,
        payload: bytes = ...,
        confirmable: bool = ...,
    ) -> None: ...


REGISTER_FORMATS: dict[str, frozenset[int]] = {
    "1.0": frozenset({ContentFormat.LWM2M_JSON}),
    "1.1": frozenset(
        {
            ContentFormat.SENML_JSON,
            ContentFormat.SENML_CBOR,
            ContentFormat.TLV,
            ContentFormat.LWM2M_JSON,
        }
    ),
}
"""The Content-Formats a Register of each version may announce with ``ct=``: 1.0 knows only
LwM2M JSON there (TLV is implied); 1.1 the multi-value formats it defines (LwM2M CBOR, 11544,
is LwM2M 1.2)."""
DEFAULT_REGISTER_FORMAT: dict[str, int | None] = {"1.0": None, "1.1": ContentFormat.SENML_CBOR}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    lwm2m_version: str = "1.1"
    """The version registered with (``lwm2m=``): 1.0 or 1.1."""
    content_format: int | None = None
    """``ct=`` on the root link of Register: the one Content-Format announced (strict servers
    refuse a list); None is the version's default, SenML CBOR for 1.1 and none for 1.0."""
    awake_window: float | None = None
    """Queue mode: seconds to listen after the last datagram; None is MAX_TRANSMIT_WAIT, the
    minimum Core §6.5 allows."""
    confirmable_interval: float = 86400.0
    """A notification is confirmable when the last confirmable one of its observation is this
    old, so a server that went away is noticed (RFC 7641 §4.5) while most stay NON."""
    retry_base: float = 60.0
    retry_cap: float = 3600.0
    """Back-off after failed registrations: d = min(cap, base * 2**n), waited in [d/2, d]."""
    max_stored_notifications: int = 256
    """Notifications kept while asleep; beyond it the oldest go."""
    bootstrap_after: int = 5
    """Failed Register attempts to one server before falling back to bootstrap (when the
    server's /1/x/16 allows it); /1/x/17 Communication Retry Count overrides it."""
    bootstrap_timeout: float | None = None
    """Seconds the bootstrap server may stay silent before Bootstrap-Finish; None is
    EXCHANGE_LIFETIME."""

    def __post_init__(self) -> None:
        allowed = REGISTER_FORMATS.get(self.lwm2m_version)
        if allowed is None:
            raise ValueError(f"LwM2M version {self.lwm2m_version!r}: this client speaks 1.0 or 1.1")
        if self.content_format is not None and self.content_format not in allowed:
            names = ", ".join(str(cf) for cf in sorted(allowed))
            raise ValueError(
                f"content format {self.content_format} cannot be announced in an LwM2M"
                f" {self.lwm2m_version} Register (allowed: {names})"
            )

    @property
    def register_format(self) -> int | None:
        """The Content-Format the Register announces (``ct=``), None for none."""
        if self.content_format is not None:
            return self.content_format
        return DEFAULT_REGISTER_FORMAT[self.lwm2m_version]


DEFAULT_CONFIG = ClientConfig()


class EngineContext:
    """The state every interface of one client engine shares (the engine owns it)."""

    __slots__ = (
        "asleep",
        "codecs",
        "config",
        "endpoint",
        "endpoint_name",
        "events",
        "now",
        "resolve",
        "rng",
        "timers",
        "tree",
    )

    def __init__(
        self,
        tree: ObjectTree,
        endpoint_name: str,
        *,
        config: ClientConfig,
        endpoint: CoapEndpoint,
        rng: random.Random,
        resolve: Resolver,
    ) -> None:
        self.tree = tree
        self.endpoint_name = endpoint_name
        self.config = config
        self.endpoint = endpoint
        self.rng = rng
        self.resolve = resolve
        self.now = 0.0
        """The time of the latest input (SenML relative times resolve against it)."""
        self.codecs = default_codecs(lambda: self.now)
        self.timers = TimerQueue()
        self.events: deque[ClientEvent] = deque()
        self.asleep = False
        """Queue mode: the radio is off; what arrives is dropped, notifications are stored."""

    def respond(self, exchange: ExchangeKey, parts: CoapParts, now: float) -> ObservationKey | None:
        return self.endpoint.respond(
            exchange, parts.code, options=parts.options, payload=parts.payload, now=now
        )

    def node_format(self, node: Node) -> int:
        """Without Accept: plain text for one value (what 1.0 servers expect), else TLV for a
        1.0 client and SenML CBOR for 1.1."""
        if isinstance(node, SingleResource | ResourceInstance):
            return ContentFormat.TEXT
        if self.config.lwm2m_version == "1.0":
            return ContentFormat.TLV
        return ContentFormat.SENML_CBOR
