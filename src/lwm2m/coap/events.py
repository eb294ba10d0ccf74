"""What an :class:`~lwm2m.coap.endpoint.Endpoint` reports to the application.

Client side, every handle ends with exactly one terminal event: :class:`ResponseReceived`,
:class:`RequestFailed`, :class:`PongReceived` or, for an established observation,
:class:`ObservationEnded`. Server side, :class:`RequestReceived` asks for one ``respond()``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from lwm2m.coap.message import Message

#: Opaque peer address: a UDP ``(host, port)`` today, an NIDD external identifier tomorrow.
Peer: TypeAlias = Hashable


@dataclass(frozen=True, slots=True)
class ExchangeKey:
    """Names one incoming request until it is answered (message IDs are unique per peer)."""

    peer: Peer
    message_id: int


@dataclass(frozen=True, slots=True)
class ObservationKey:
    """Names one registered observer on the server side (RFC 7641 §4.1: peer and token)."""

    peer: Peer
    token: bytes


class FailureReason(Enum):
    TIMEOUT = "timeout"  # no ACK after MAX_RETRANSMIT, or no response in time
    RESET = "reset"  # the peer answered RST
    PROTOCOL = "protocol"  # the peer broke the block-wise rules (bad sequence, ETag changed)
    # A Block2 body exceeded max_body_size.
    TOO_LARGE = "too large"
    CANCELLED = "cancelled"  # the application cancelled


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request (Block1 body reassembled, block options removed); answer with ``respond()``."""

    exchange: ExchangeKey
    request: Message


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The response to a request (Block2 body reassembled, block options removed)."""

    handle: int
    response: Message


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """A fresh notification of an established observation (RFC 7641 §3.4)."""

    handle: int
    notification: Message


@dataclass(frozen=True, slots=True)
class ObservationEnded:
    """The observation is over: ``response`` is the server's last word, None if ended locally."""

    handle: int
    response: Message | None


@dataclass(frozen=True, slots=True)
class RequestFailed:
    handle: int
    reason: FailureReason


@dataclass(frozen=True, slots=True)
class PongReceived:
    """A CoAP ping (Empty CON) was answered."""

    handle: int


@dataclass(frozen=True, slots=True)
class ObservationCancelled:
    """Server side: an observer went away (RST, GET with Observe=1 or notification timeout)."""

    observation: ObservationKey
    reason: FailureReason


Event: TypeAlias = (
    RequestReceived
    | ResponseReceived
    | NotificationReceived
    | ObservationEnded
    | RequestFailed
    | PongReceived
    | ObservationCancelled
)
