"""Endpoint transmission parameters (RFC 7252 §4.8) with the derived times of §4.8.2.

NB-IoT round trips take seconds, and a radio waking up from PSM can stall for tens of seconds, so
the RFC defaults retransmit far too eagerly there: use :data:`NB_IOT` or tune your own.
"""

from __future__ import annotations

from dataclasses import dataclass


def check_transfer_limits(max_body_size: int, max_transfer_bytes: int, peer_transfers: int) -> None:
    """Refuse block-wise limits under which a body the endpoint accepts could never complete."""
    if max_body_size < 0 or peer_transfers < 1:
        raise ValueError("max_body_size must be >= 0 and max_peer_transfers >= 1")
    if max_transfer_bytes < max_body_size:
        raise ValueError("max_transfer_bytes must be at least max_body_size")


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Every knob of the endpoint; the RFC 7252 names are the lowercase field names."""

    ack_timeout: float = 2.0
    ack_random_factor: float = 1.5
    max_retransmit: int = 4
    nstart: int = 1
    default_leisure: float = 5.0
    probing_rate: float = 1.0
    max_latency: float = 100.0
    #: Block size we ask for and offer, as SZX (size = 2 ** (szx + 4)); 6 means 1024 bytes.
    preferred_block_szx: int = 6
    #: Largest reassembled body (either direction); beyond it requests get 4.13 with Size1.
    max_body_size: int = 1 << 20
    #: Received message IDs remembered for deduplication; the oldest go first beyond it.
    dedup_capacity: int = 100_000
    #: Bytes of partial Block1 bodies across all peers (and, separately, of Block2 bodies
    #: being served); a block beyond it gets 5.03 with Max-Age. 32 MiB holds thousands of the
    #: few-KiB uploads (registrations, Send) NB-IoT devices make, or 32 bodies of full size,
    #: while abandoned uploads cannot take the host's memory.
    max_transfer_bytes: int = 32 << 20
    #: Block1 bodies (and Block2 bodies being served) per peer at once; a new one beyond it
    #: gets 5.03 with Max-Age. An LwM2M device sends one body at a time (NSTART 1); the
    #: others leave room for restarts (a new Request-Tag) before the abandoned ones expire.
    max_peer_transfers: int = 4
    #: Seconds a CON request may wait for the application before an empty ACK goes out
    #: (then the response is sent separately); None leaves it to :meth:`Endpoint.accept`.
    empty_ack_delay: float | None = 1.0
    #: Seconds to wait for a separate response or a response to a NON request;
    #: None means EXCHANGE_LIFETIME.
    response_timeout: float | None = None
    token_length: int = 8
    #: Whether notifications and separate responses to CON requests are confirmable.
    confirmable_separate_responses: bool = True

    def __post_init__(self) -> None:
        if self.ack_timeout <= 0 or self.ack_random_factor < 1:
            raise ValueError("ack_timeout must be > 0 and ack_random_factor >= 1")
        if self.max_retransmit < 0 or self.nstart < 1:
            raise ValueError("max_retransmit must be >= 0 and nstart >= 1")
        if not 0 <= self.preferred_block_szx <= 6:
            raise ValueError("preferred_block_szx must be in 0..6")
        if not 0 <= self.token_length <= 8:
            raise ValueError("token_length must be in 0..8")
        check_transfer_limits(self.max_body_size, self.max_transfer_bytes, self.max_peer_transfers)
        if self.dedup_capacity < 1:
            raise ValueError("capacities must be positive")

    @property
    def max_transmit_span(self) -> float:
        """Time from the first transmission of a CON to its last retransmission."""
        return self.ack_timeout * ((1 << self.max_retransmit) - 1) * self.ack_random_factor

    @property
    def max_transmit_wait(self) -> float:
        """Time from the first transmission of a CON until the sender gives up."""
        return self.ack_timeout * ((2 << self.max_retransmit) - 1) * self.ack_random_factor

    @property
    def processing_delay(self) -> float:
        return self.ack_timeout

    @property
    def max_rtt(self) -> float:
        return 2 * self.max_latency + self.processing_delay

    @property
    def exchange_lifetime(self) -> float:
        """How long a CON message ID must not be reused, and so how long to remember it."""
        return self.max_transmit_span + 2 * self.max_latency + self.processing_delay

    @property
    def non_lifetime(self) -> float:
        """How long a NON message ID must not be reused."""
        return self.max_transmit_span + self.max_latency

    @property
    def effective_response_timeout(self) -> float:
        return self.exchange_lifetime if self.response_timeout is None else self.response_timeout


#: RFC 7252 defaults.
DEFAULT = EndpointConfig()

#: Conservative values for NB-IoT (3GPP TR 45.820 latencies, radio wake-up from PSM/eDRX):
#: first retransmission after 10-15 s, give-up after about 7 minutes, 512-byte blocks so a
#: block fits one NB-IoT transport block comfortably, and a late empty ACK because every radio
#: message costs energy.
NB_IOT = EndpointConfig(
    ack_timeout=10.0,
    ack_random_factor=1.5,
    max_retransmit=4,
    nstart=1,
    max_latency=100.0,
    preferred_block_szx=5,
    empty_ack_delay=4.0,
)

#: NIDD over a T8 SCEF (docs/nidd.md): every message crosses HTTP, the SCEF, the MME and NAS
#: signalling, and the SCEF reports what it could not deliver, so retransmissions are few and
#: late (first after 30-45 s, give-up after 315 s; that span is also the ``maximumLatency``
#: the SCEF is given).  512-byte blocks fit the common 1358-octet Non-IP MTU with room for
#: the header and options.
NIDD = EndpointConfig(
    ack_timeout=30.0,
    ack_random_factor=1.5,
    max_retransmit=2,
    nstart=1,
    max_latency=100.0,
    preferred_block_szx=5,
    empty_ack_delay=4.0,
)

#: CoAP over SMS (LwM2M Transport §6.6.2): the binding disables retransmission (the SMSC
#: stores and forwards), an answer takes tens of seconds (two SMS hops), so a request gives up
#: after 60-90 s, and 256-byte blocks travel in two or three SMS (a lost part loses the whole
#: message).  The client's and the server's (``ServerConfig.sms_coap``) default.
SMS = EndpointConfig(
    ack_timeout=60.0,
    ack_random_factor=1.5,
    max_retransmit=0,
    nstart=1,
    max_latency=100.0,
    preferred_block_szx=4,
    empty_ack_delay=4.0,
)
