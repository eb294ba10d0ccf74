"""Configuration and connection events of CoAP over reliable transports (RFC 8323), split
from :mod:`lwm2m.coap.stream` (which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from lwm2m.coap.config import check_transfer_limits
from lwm2m.coap.events import Event, Peer
from lwm2m.coap.tcp import Release

# A 16-byte block with a few options still fits.
_MIN_MESSAGE_SIZE = 64


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Knobs of one connection; times in seconds on the caller's ``now`` scale."""

    #: Largest frame we accept, announced in our CSM (RFC 8323 §5.3.1); frames up to 1152
    #: bytes are still taken, as the peer may send them before our CSM reaches it.
    max_message_size: int = 1 << 16
    #: Announce Block-Wise-Transfer: the peer may then send us BERT blocks (RFC 8323 §6).
    block_wise_transfer: bool = True
    #: Largest block we send, as SZX; smaller when the peer's Max-Message-Size needs it.
    preferred_block_szx: int = 6
    #: Largest reassembled body (either direction); beyond it requests get 4.13 with Size1.
    max_body_size: int = 1 << 20
    #: Bytes of partial Block1 bodies (and, separately, of Block2 bodies being served) across
    #: all connections of a :class:`StreamEndpoint`; beyond it blocks get 5.03 with Max-Age.
    max_transfer_bytes: int = 32 << 20
    #: Block1 bodies (and Block2 bodies being served) per connection at once.
    max_peer_transfers: int = 4
    #: How long a partial Block1 body or a cached Block2 body is kept after its last block
    #: (EXCHANGE_LIFETIME of the RFC 7252 defaults).
    transfer_lifetime: float = 247.0
    #: Time for a response (each block of a block-wise exchange); None waits forever.
    request_timeout: float | None = 120.0
    #: Send a keep-alive Ping when nothing was received for this long; None never does.
    ping_interval: float | None = None
    #: Time for a Ping's answer: a keep-alive unanswered closes the connection.
    pong_timeout: float = 30.0
    #: Time for the peer's CSM before we abort; None waits forever.
    csm_timeout: float | None = 30.0
    #: Time for the peer to close after our Release before we close ourselves.
    release_timeout: float = 30.0
    token_length: int = 8

    def __post_init__(self) -> None:
        if self.max_message_size < _MIN_MESSAGE_SIZE:
            raise ValueError(f"max_message_size must be >= {_MIN_MESSAGE_SIZE}")
        if not 0 <= self.preferred_block_szx <= 6:
            raise ValueError("preferred_block_szx must be in 0..6")
        if not 1 <= self.token_length <= 8:
            raise ValueError("token_length must be in 1..8")
        check_transfer_limits(self.max_body_size, self.max_transfer_bytes, self.max_peer_transfers)


DEFAULT_STREAM = StreamConfig()


# -- connection events (the exchange events are those of lwm2m.coap.events) -------------------


class CloseReason(Enum):
    RELEASED = "released"  # orderly, after a Release from either side
    ABORTED = "aborted"  # we aborted: the peer broke the protocol (or we were told to)
    PEER_ABORTED = "peer aborted"  # the peer sent 7.05 Abort
    TIMEOUT = "timeout"  # no CSM, or a keep-alive Ping unanswered
    LOST = "lost"  # the transport closed under us


@dataclass(frozen=True, slots=True)
class CsmReceived:
    """The peer's settings now in force (its first CSM, or a later update)."""

    peer: Peer
    max_message_size: int
    block_wise_transfer: bool


@dataclass(frozen=True, slots=True)
class ReleaseReceived:
    """The peer wants this connection gone, maybe reopened elsewhere or after a pause; the
    core closes it once the peer's requests are answered and ours are over."""

    peer: Peer
    release: Release


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection's last event; every exchange on it has ended before it."""

    peer: Peer
    reason: CloseReason
    detail: str = ""


StreamEvent: TypeAlias = Event | CsmReceived | ReleaseReceived | ConnectionClosed
