"""The CoAP endpoints under the server engine, behind one interface keyed by peer.

The engine's parts never pick an endpoint: they send, answer and cancel through
:class:`ServerWire`, which routes a peer to the datagram endpoint (UDP, DTLS, OSCORE) or to the
stream endpoint (CoAP over TCP and TLS) and gives every exchange one handle space (stream
handles are kept negated, so they never meet the datagram endpoint's).  NIDD (3GPP T8) peers
have an endpoint of their own (:attr:`ServerWire.nidd`), because their CoAP transmission
parameters are their own (``ServerConfig.nidd_coap``: NB-IoT control-plane latencies of
seconds); its handles are offset by :data:`NIDD_HANDLES`.  Another carrier (SMS) joins the same way.
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


class ServerWire:
    """The datagram endpoint (:attr:`endpoint`), the stream one (:attr:`stream`) and the NIDD
    one (:attr:`nidd`); ``is_stream`` tells the peers of CoAP over TCP/TLS connections and
    ``is_nidd`` NIDD peers from datagram peers (without them every peer is a datagram one)."""

    __slots__ = ("_is_nidd", "_is_stream", "endpoint", "nidd", "stream")

    def __init__(
        self,
        config: ServerConfig,
        rng: random.Random,
        *,
        is_stream: Callable[[Peer], bool] | None,
        oscore: OscoreContexts | None,
        is_nidd: Callable[[Peer], bool] | None = None,
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
        self._is_nidd = is_nidd

    def over_stream(self, peer: Peer) -> bool:
        return self._is_stream is not None and self._is_stream(peer)

    def datagram_endpoint(self, peer: Peer) -> Endpoint:
        """The NIDD endpoint for a NIDD peer, the datagram endpoint for any other."""
        return self.nidd if self._is_nidd is not None and self._is_nidd(peer) else self.endpoint

    # -- driving -----------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        self.endpoint.handle_timer(now)
        if len(self.stream):
            self.stream.handle_timer(now)
        if self._is_nidd is not None:
            self.nidd.handle_timer(now)

    def get_timer(self) -> float | None:
        ours, theirs = self.endpoint.get_timer(), self.stream.get_timer()
        if self._is_nidd is not None:
            nidd = self.nidd.get_timer()
            if nidd is not None and (theirs is None or nidd < theirs):
                theirs = nidd
        if ours is None or (theirs is not None and theirs < ours):
            return theirs
        return ours

    def events(self) -> Iterator[Event | ConnectionClosed]:
        """Every endpoint's pending events, stream handles negated; a closed connection is
        passed on (its client is unreachable until it reconnects), other stream signalling
        is the stream endpoint's own business."""
        endpoint, stream = self.endpoint, self.stream
        while (event := endpoint.next_event()) is not None:
            yield event
        while (event := self.nidd.next_event()) is not None:
            handle = getattr(event, "handle", None)
            yield event if handle is None else replace(event, handle=handle + NIDD_HANDLES)
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
        return handle if endpoint is self.endpoint else handle + NIDD_HANDLES

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
            elif handle >= NIDD_HANDLES:
                self.nidd.cancel(handle - NIDD_HANDLES, now)
            else:
                self.endpoint.cancel(handle, now)

    def cancel_observation(self, handle: int, now: float) -> None:
        """Cancel an observation actively (the request again, with Observe=1)."""
        with contextlib.suppress(StaleHandleError):  # a closed connection ended it
            if handle < 0:
                self.stream.cancel_observation(-handle, now)
            elif handle >= NIDD_HANDLES:
                self.nidd.cancel_observation(handle - NIDD_HANDLES, now)
            else:
                self.endpoint.cancel_observation(handle, now)

    def observation_key(self, handle: int) -> ObservationKey | None:
        """What a restarted server needs to adopt an observation again; None for one that
        ends with its connection (over TCP), which a restart cannot keep."""
        if handle >= NIDD_HANDLES:
            return self.nidd.observation_key(handle - NIDD_HANDLES)
        return None if handle < 0 else self.endpoint.observation_key(handle)

    def restore_observation(self, key: ObservationKey, parts: CoapParts) -> int:
        """Adopt a stored observation; ValueError when its token is taken already."""
        endpoint = self.datagram_endpoint(key.peer)
        handle = endpoint.restore_observation(
            key, parts.code, options=parts.options, payload=parts.payload
        )
        return handle if endpoint is self.endpoint else handle + NIDD_HANDLES

    def forget_peer(self, peer: Peer) -> None:
        """Free what the datagram endpoint keeps about an address nobody uses any more."""
        self.datagram_endpoint(peer).forget_peer(peer)
