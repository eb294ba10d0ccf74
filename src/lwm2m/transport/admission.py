"""Who goes first when a server receives more than it can process (established devices first).

A registration flood (a cell coming back, a fleet rebooting, an attack) used to queue in the
socket buffer in front of everything else: a registered device's answer to a Read waited
behind seconds of Registers, or was dropped with them.  A :class:`Triage` ranks each datagram
as it is read, from what costs nothing to know:

- *established*: answers to our own requests (CoAP ACK, RST and responses, whoever sends
  them: the core drops the ones it did not ask for at the cost of a lookup) and requests from
  a peer the core knows (``knows_peer``: the address of a live registration), except Registers;
- *new*: everything else, above all Registers and requests from unknown peers.

:class:`~lwm2m.transport.udp.PrioritisedUdpTransport` reads the socket dry each loop tick,
processes every established datagram, then at most ``new_per_tick`` new ones.  New work beyond
``new_backlog`` waiting, or over its source address's budget (a token bucket per IP address,
:class:`SourceBudget`), is *shed*: a confirmable request gets 5.03 Service Unavailable with
Max-Age (the sender should come back after that many seconds), up to ``refusals_per_tick``
of them; anything else, and refusals beyond that, is dropped, and a confirmable sender
retransmits.  Answering every datagram of a flood would spend the CPU the shedding saves.

Over DTLS records are opaque until decrypted, so :class:`DtlsTriage` ranks by session: a
peer with a session (or a handshake under way) is established, a ClientHello is new work with
a per-source budget, and shed handshakes are dropped (there is nothing to answer them with
before a session exists).  A Register over an established session counts as established.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.events import Peer
from lwm2m.coap.message import MAX_TOKEN_LENGTH, Message
from lwm2m.coap.options import OptionNumber, Options
from lwm2m.security.dtls import DtlsServer, is_client_hello

Address = tuple[str, int]
"""A datagram's source as the socket gives it (host, port)."""
_POST = int(Code.POST)
_URI_PATH = int(OptionNumber.URI_PATH)
_UNAVAILABLE = Code.SERVICE_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """How much new work a server takes in while established devices are served first."""

    #: New datagrams (Registers, requests from unknown peers, ClientHellos) processed per
    #: event-loop tick, after every established one.  About 1 ms of a Register's work.
    new_per_tick: int = 16
    #: New datagrams waiting at most; what arrives beyond them is shed.  At the server's
    #: registration rate this is a fraction of a second, well inside CoAP's 2 s ACK timeout.
    new_backlog: int = 2048
    #: Shed confirmable requests answered 5.03 per tick; the others are dropped.
    refusals_per_tick: int = 32
    #: A 5.03's Max-Age is ``retry_after`` seconds plus up to as much again, at random, so
    #: that the refused do not all come back at the same moment.
    retry_after: int = 30
    #: New exchanges per second per source IP address, with bursts of ``source_burst``;
    #: None: no per-source budget.  A NAT or an APN gateway puts whole fleets behind one
    #: address, so the default lets 10,000 devices register from one address at once.
    source_rate: float | None = 1000.0
    source_burst: float = 10_000.0
    #: Source addresses whose budget is tracked at most; beyond it, full buckets (idle
    #: sources) are forgotten first, then the oldest: memory stays bounded under spoofing.
    max_sources: int = 100_000

    def __post_init__(self) -> None:
        if min(self.new_per_tick, self.new_backlog, self.max_sources) < 1:
            raise ValueError("new_per_tick, new_backlog and max_sources must be positive")
        if self.refusals_per_tick < 0 or not 0 <= self.retry_after <= 0xFFFFFFFF // 2:
            raise ValueError("refusals_per_tick and retry_after must be >= 0")
        if self.source_rate is not None and (self.source_rate <= 0 or self.source_burst < 1):
            raise ValueError("source_rate must be > 0 and source_burst >= 1")


DEFAULT_ADMISSION = AdmissionConfig()


@dataclass(slots=True)
class AdmissionStats:
    """Shed datagrams, for monitoring: a flood shows here, not in the log."""

    refused: int = 0  # answered 5.03 with Max-Age
    dropped: int = 0  # shed without an answer
    over_budget: int = 0  # of both, shed by their source's budget


class SourceBudget:
    """A token bucket per source IP address, ``rate`` tokens per second up to ``burst``."""

    __slots__ = ("_buckets", "_burst", "_limit", "_rate")

    def __init__(self, rate: float, burst: float, limit: int) -> None:
        self._rate = rate
        self._burst = burst
        self._limit = limit
        self._buckets: dict[object, list[float]] = {}  # source: [tokens, when last counted]

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, source: object, now: float) -> bool:
        """Spend one token of ``source``'s; False when it has none left."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self._limit:
                self._prune(now)
            self._buckets[source] = [self._burst - 1.0, now]
            return True
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _prune(self, now: float) -> None:
        """Forget the sources whose bucket has refilled (as good as new); if that frees less
        than half, the oldest half too.  Amortised O(1) per new source."""
        rate, burst = self._rate, self._burst
        buckets = {
            source: bucket
            for source, bucket in self._buckets.items()
            if bucket[0] + (now - bucket[1]) * rate < burst
        }
        if len(buckets) > self._limit // 2:
            buckets = dict(list(buckets.items())[len(buckets) - self._limit // 2 :])
        self._buckets = buckets


class Triage(ABC):
    """Ranks datagrams and sheds new work for one socket (see the module docstring); one
    :class:`Admission` shares its stats and source budget among a server's sockets."""

    def __init__(self, admission: Admission) -> None:
        config = admission.config
        self.new_per_tick = config.new_per_tick
        self.new_backlog = config.new_backlog
        self.refusals_per_tick = config.refusals_per_tick
        self.stats = admission.stats
        self._budget = admission.budget

    @abstractmethod
    def is_established(self, data: bytes, peer: Address) -> bool:
        """Whether ``data`` goes ahead of new work; runs for every datagram, so it is cheap."""

    def within_budget(self, peer: Address, now: float) -> bool:
        """Charge one new exchange to ``peer``'s source address."""
        budget = self._budget
        return budget is None or budget.take(peer[0], now)

    def refusal(self, data: bytes) -> bytes | None:
        """The answer to a shed datagram, if it gets one."""
        return None


class CoapTriage(Triage):
    """For a NoSec CoAP socket: the header's type and code, then the core's ``knows_peer``."""

    def __init__(
        self, admission: Admission, knows_peer: Callable[[Peer], bool], rng: random.Random
    ) -> None:
        super().__init__(admission)
        self._knows_peer = knows_peer
        self._retry_after = admission.config.retry_after
        self._rng = rng

    def is_established(self, data: bytes, peer: Address) -> bool:
        if len(data) < 4 or data[0] & 0xC0 != 0x40:  # not CoAP version 1: the core drops it
            return False
        if data[0] & 0x20 or 0x40 <= data[1] < 0xC0:  # ACK or RST; a 2.xx-5.xx response
            return True
        return self._knows_peer(peer) and not (data[1] == _POST and _is_register(data))

    def refusal(self, data: bytes) -> bytes | None:
        """5.03 with Max-Age, piggybacked, for a confirmable request; None for the rest.  Only
        the header and token are read: a shed datagram's options are never looked at."""
        if len(data) < 4 or data[0] & 0xF0 != 0x40 or not 0 < data[1] < 0x20:
            return None  # not a confirmable CoAP 1 request
        token_end = 4 + (data[0] & 0x0F)
        if token_end > 4 + MAX_TOKEN_LENGTH or len(data) < token_end:
            return None
        message_id = int.from_bytes(data[2:4], "big")
        retry_after = self._retry_after + self._rng.randint(0, self._retry_after)
        options = Options.build(max_age=retry_after)
        answer = Message(Type.ACK, _UNAVAILABLE, message_id, data[4:token_end], options)
        return answer.encode()


def _is_register(data: bytes) -> bool:
    """Whether a POST is a Register: its Uri-Path is ``rd`` alone (an Update is ``rd/{id}``).
    Reads the option headers up to Uri-Path instead of decoding the message (a known peer's
    POST is ranked before it is processed, and a flood may come from a known address);
    option headers it cannot read up to Uri-Path make it no Register (the core answers it)."""
    at, end = 4 + (data[0] & 0x0F), len(data)
    number = segments = 0
    try:
        while at < end and data[at] != 0xFF:  # the payload marker ends the options
            delta, length = data[at] >> 4, data[at] & 0x0F
            at += 1
            if delta >= 13:
                delta, at = _extended(data, at, delta)
            if length >= 13:
                length, at = _extended(data, at, length)
            number += delta
            if number > _URI_PATH:
                break
            if number == _URI_PATH:
                if segments or data[at : at + length] != b"rd":
                    return False
                segments += 1
            at += length
    except (IndexError, ValueError):
        return False
    return segments == 1


def _extended(data: bytes, at: int, nibble: int) -> tuple[int, int]:
    """An option delta or length of 13 or 14 and its extension bytes (RFC 7252 §3.1)."""
    if nibble == 13:
        return data[at] + 13, at + 1
    if nibble == 14:
        return int.from_bytes(data[at : at + 2], "big") + 269, at + 2
    raise ValueError("reserved option nibble 15")


class DtlsTriage(Triage):
    """For a DTLS server's socket: a ClientHello is new work, a peer with a session (or a
    handshake under way) established, a record from anyone else new (the session layer
    drops it)."""

    def __init__(self, admission: Admission, dtls: DtlsServer) -> None:
        super().__init__(admission)
        self._state = dtls.state

    def is_established(self, data: bytes, peer: Address) -> bool:
        return not is_client_hello(data) and self._state(peer) is not None


class Admission:
    """A server's admission policy for its NoSec and DTLS sockets: one config, one source
    budget, one set of stats.  ``knows_peer`` is the core's (a cheap lookup: it runs for
    every datagram); ``rng`` jitters Max-Age."""

    def __init__(
        self,
        config: AdmissionConfig,
        knows_peer: Callable[[Peer], bool],
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.stats = AdmissionStats()
        rate = config.source_rate
        self.budget = (
            None if rate is None else SourceBudget(rate, config.source_burst, config.max_sources)
        )
        self.coap = CoapTriage(self, knows_peer, rng if rng is not None else random.Random())

    def dtls(self, server: DtlsServer) -> DtlsTriage:
        return DtlsTriage(self, server)
