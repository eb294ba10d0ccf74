"""The CoAP endpoints under the server engine, behind one interface keyed by peer.

The engine's parts never pick an endpoint: they send, answer and cancel through
:class:`ServerWire`, which routes a peer to the datagram endpoint (UDP, DTLS, OSCORE) or to the
stream endpoint (CoAP over TCP and TLS) and gives every exchange one handle space (stream
handles are kept negated, so they never meet the datagram endpoint's).  Carriers that are not
sockets have an endpoint each, because their CoAP transmission parameters are their own: NIDD
(3GPP T8) peers :attr:`ServerWire.nidd` (``ServerConfig.nidd_coap``: NB-IoT control-plane
latencies of seconds), SMS peers :attr:`ServerWire.sms` (``ServerConfig.sms_coap``: no
retransmission, the SMSC stores and forwards); their handles are offset by
:data:`NIDD_HANDLES` and :data:`SMS_HANDLES`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import replace

from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import Event, ExchangeKey, ObservationKey, Peer
from lwm2m.coap.stream import (
    ConnectionClosed,
    CsmReceived,
    ReleaseReceived,
    StreamEndpoint,
)
from lwm2m.operations.mapping import CoapParts
from lwm2m.security.oscore_endpoint import OscoreContexts, OscoreEndpoint
from lwm2m.server.config import ServerConfig

NIDD_HANDLES = 1 << 48
"""The NIDD endpoint's handles start here: the datagram endpoint's count up from 1 and never
reach it, the stream endpoint's are negative."""
SMS_HANDLES = 2 << 48
"""The SMS endpoint's handles start here, as far above the NIDD endpoint's."""

PeerTest = Callable[[Peer], bool]


class _Carrier:
    """A carrier's endpoint, the peers it owns and its handle offset."""

    __slots__ = ("endpoint", "offset", "owns")

    def __init__(self, owns: PeerTest, endpoint: Endpoint, offset: int) -> None:
        self.owns = owns
        self.endpoint = endpoint
        self.offset = offset


class ServerWire:
    """The datagram endpoint (:attr:`endpoint`), the stream one (:attr:`stream`) and the
    carriers' (:attr:`nidd`, :attr:`sms`); ``is_stream`` tells the peers of CoAP over TCP/TLS
    connections, ``is_nidd`` NIDD peers and ``is_sms`` SMS peers from datagram peers (without
    them every peer is a datagram one)."""

    __slots__ = ("_carriers", "_is_stream", "endpoint", "nidd", "sms", "stream")

    def __init__(
        self,
        config: ServerConfig,
        rng: random.Random,
        *,
        is_stream: PeerTest | None,
        oscore: OscoreContexts | None,
        is_nidd: PeerTest | None = None,
        is_sms: PeerTest | None = None,
    ) -> None:
        # OSCORE (RFC 8613) lives in the endpoint: the engine sees plain requests and responses.
        self.endpoint = (
            Endpoint(config.coap, rng)
            if oscore is None
            else OscoreEndpoint(config.coap, rng, oscore)
        )
        self.stream = StreamEndpoint(config.stream, random.Random(rng.getrandbits(64)))
        self._is_stream = is_stream
        self.nidd = Endpoint(config.nidd_coap, random.Random(rng.getrandbits(64)))
        self.sms = Endpoint(config.sms_coap, random.Random(rng.getrandbits(64)))
        self._carriers = tuple(
            _Carrier(owns, endpoint, offset)
            for owns, endpoint, offset in (
                (is_nidd, self.nidd, NIDD_HANDLES),
                (is_sms, self.sms, SMS_HANDLES),
            )
            if owns is not None
        )

    def over_stream(self, peer: Peer) -> bool:
        return self._is_stream is not None and self._is_stream(peer)

    def datagram_endpoint(self, peer: Peer) -> Endpoint:
        """The carrier's endpoint for a NIDD or SMS peer, the datagram endpoint for any other."""
        for carrier in self._carriers:
            if carrier.owns(peer):
                return carrier.endpoint
        return self.endpoint

    def _offset(self, endpoint: Endpoint) -> int:
        for carrier in self._carriers:
            if carrier.endpoint is endpoint:
                return carrier.offset
        return 0

    def _of_handle(self, handle: int) -> tuple[Endpoint, int]:
        """The datagram or carrier endpoint a non-negative handle belongs to, and its own
        handle there."""
        for carrier in reversed(self._carriers):  # highest offset first
            if handle >= carrier.offset:
                return carrier.endpoint, handle - carrier.offset
        return self.endpoint, handle

    # -- driving -----------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        self.endpoint.handle_timer(now)
        if len(self.stream):
            self.stream.handle_timer(now)
        for carrier in self._carriers:
            carrier.endpoint.handle_timer(now)

    def get_timer(self) -> float | None:
        timers = [self.endpoint.get_timer(), self.stream.get_timer()]
        timers += [carrier.endpoint.get_timer() for carrier in self._carriers]
        return min((timer for timer in timers if timer is not None), default=None)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        """What the datagram endpoint and the carriers' queued, in that order."""
        datagrams = self.endpoint.datagrams_to_send()
        for carrier in self._carriers:
            more = carrier.endpoint.datagrams_to_send()
            if more:
                datagrams += more
        return datagrams

    def events(self) -> Iterator[Event | ConnectionClosed]:
        """Every endpoint's pending events, stream handles negated and carrier handles offset;
        a closed connection is passed on (its client is unreachable until it reconnects),
        other stream signalling is the stream endpoint's own business."""
        endpoint, stream = self.endpoint, self.stream
        while (event := endpoint.next_event()) is not None:
            yield event
        for carrier in self._carriers:
            while (event := carrier.endpoint.next_event()) is not None:
                handle = getattr(event, "handle", None)
                yield event if handle is None else replace(event, handle=handle + carrier.offset)
        while (stream_event := stream.next_event()) is not None:
            if isinstance(stream_event, ConnectionClosed):
                yield stream_event
                continue
            if isinstance(stream_event, CsmReceived | ReleaseReceived):
                continue
            handle = getattr(stream_event, "handle", None)
            yield stream_event if handle is None else replace(stream_event, handle=-handle)

    # -- exchanges ---------------------------------------------------------------------------

    def send_request(self, peer: Peer, parts: CoapParts, now: float) -> int:
        """The handle of a new request to ``peer``; StaleHandleError when a stream peer has no
        connection."""
        if self.over_stream(peer):
            return -self.stream.send_request(
                peer, parts.code, options=parts.options, payload=parts.payload, now=now
            )
        endpoint = self.datagram_endpoint(peer)
        handle = endpoint.send_request(
            peer, parts.code, options=parts.options, payload=parts.payload, now=now
        )
        return handle + self._offset(endpoint)

    def respond(self, exchange: ExchangeKey, parts: CoapParts, now: float) -> None:
        # StaleHandleError: answered already (we failed after responding), or expired.
        peer = exchange.peer
        endpoint = self.stream if self.over_stream(peer) else self.datagram_endpoint(peer)
        with contextlib.suppress(StaleHandleError):
            endpoint.respond(
                exchange, parts.code, options=parts.options, payload=parts.payload, now=now
            )

    def cancel(self, handle: int, now: float) -> None:
        """Stop a request or forget an observation (passive: RST ends it at the client)."""
        # StaleHandleError: the endpoint closed it already; its event is on the way, ignored.
        with contextlib.suppress(StaleHandleError):
            if handle < 0:
                self.stream.cancel(-handle, now)
            else:
                endpoint, own = self._of_handle(handle)
                endpoint.cancel(own, now)

    def cancel_observation(self, handle: int, now: float) -> None:
        """Cancel an observation actively (the request again, with Observe=1)."""
        with contextlib.suppress(StaleHandleError):  # a closed connection ended it
            if handle < 0:
                self.stream.cancel_observation(-handle, now)
            else:
                endpoint, own = self._of_handle(handle)
                endpoint.cancel_observation(own, now)

    def observation_key(self, handle: int) -> ObservationKey | None:
        """What a restarted server needs to adopt an observation again; None for one that
        ends with its connection (over TCP), which a restart cannot keep."""
        if handle < 0:
            return None
        endpoint, own = self._of_handle(handle)
        return endpoint.observation_key(own)

    def restore_observation(self, key: ObservationKey, parts: CoapParts) -> int:
        """Adopt a stored observation; ValueError when its token is taken already."""
        endpoint = self.datagram_endpoint(key.peer)
        handle = endpoint.restore_observation(
            key, parts.code, options=parts.options, payload=parts.payload
        )
        return handle + self._offset(endpoint)

    def forget_peer(self, peer: Peer) -> None:
        """Free what the datagram endpoint keeps about an address nobody uses any more."""
        self.datagram_endpoint(peer).forget_peer(peer)
