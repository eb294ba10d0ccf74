"""What the datagram :class:`~lwm2m.coap.endpoint.Endpoint` keeps per message: the records of
its exchanges, observers and deduplication entries, and the per-peer message IDs, NSTART
accounting and CON retransmission (RFC 7252 §4.2, §4.7). Split from
:mod:`lwm2m.coap.endpoint`, which holds the message layer over them."""

from __future__ import annotations

import random
import struct
from abc import ABC, abstractmethod
from collections import deque
from functools import partial

from lwm2m.coap.codes import Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.events import Peer
from lwm2m.coap.exchange_records import ClientExchange, Observation, ServerExchange
from lwm2m.coap.timers import Timer, TimerQueue

_EMPTY_HEADER = struct.Struct("!BBH")


def empty_message(type_: Type, message_id: int) -> bytes:
    """An Empty message (ACK, RST or ping) with no token, encoded."""
    return _EMPTY_HEADER.pack(0x40 | type_ << 4, 0, message_id)


class PeerState:
    """Per-peer message IDs, NSTART accounting and server-side observers (created lazily)."""

    __slots__ = ("next_mid", "observations", "outstanding", "queue")

    def __init__(self, first_mid: int) -> None:
        self.next_mid = first_mid
        self.outstanding = 0
        self.queue: deque[Transmission] | None = None
        self.observations: dict[bytes, DatagramObservation] | None = None


class Transmission:
    """One CON message until it is ACKed, RST or given up (RFC 7252 §4.2)."""

    __slots__ = (
        "data",
        "done",
        "message_id",
        "owner",
        "peer",
        "peer_state",
        "retries",
        "started",
        "timeout",
        "timer",
    )

    def __init__(
        self,
        peer: Peer,
        peer_state: PeerState,
        message_id: int,
        data: bytes,
        owner: DatagramClientExchange | DatagramObservation | None,
    ) -> None:
        self.peer = peer
        self.peer_state = peer_state
        self.message_id = message_id
        self.data = data
        self.owner = owner
        self.retries = 0
        self.timeout = 0.0
        self.timer: Timer | None = None
        self.started = False
        self.done = False


class DatagramClientExchange(ClientExchange):
    """A request of ours over datagrams: CON or NON, its transmission, Observe freshness.

    The fields are set by :meth:`Endpoint._new_exchange`: no ``__init__`` of its own saves a
    call per request on the server's hot path.
    """

    __slots__ = ("confirmable", "obs_seq", "obs_time", "tx")

    confirmable: bool
    tx: Transmission | None
    obs_seq: int
    obs_time: float


class Received:
    """Deduplication entry for one received message ID: the reply to replay, if any."""

    __slots__ = ("exchange", "reply")

    def __init__(self) -> None:
        self.reply: bytes | None = None
        self.exchange: DatagramServerExchange | None = None


class DatagramServerExchange(ServerExchange):
    """An incoming request over datagrams, with its deduplication entry (set free on answer);
    the fields are set by :meth:`Endpoint._on_request`."""

    __slots__ = ("acked", "entry", "timer")

    entry: Received
    acked: bool
    timer: Timer | None


class DatagramObservation(Observation):
    """An observer over datagrams: its CON notification in transit, its last NON one (to
    match an RST to it); the fields are set by :meth:`Endpoint._new_observation`."""

    __slots__ = ("last_mid", "tx")

    last_mid: int
    tx: Transmission | None


class Retransmissions(ABC):
    """Message IDs per peer and CON transmissions: NSTART queueing, exponential back-off and
    giving up after MAX_RETRANSMIT. A base of :class:`~lwm2m.coap.endpoint.Endpoint` (not a
    member object) so the per-message calls stay direct; the endpoint sets the fields and
    decides what a transmission given up means for its owner."""

    config: EndpointConfig
    _rng: random.Random
    _timers: TimerQueue
    _out: list[tuple[bytes, Peer]]
    _peers: dict[Peer, PeerState]
    _by_mid: dict[tuple[Peer, int], Transmission]

    @abstractmethod
    def _give_up(self, tx: Transmission, now: float) -> None:
        """The peer never acknowledged ``tx``: fail its owner."""

    def _peer(self, peer: Peer) -> PeerState:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = PeerState(self._rng.getrandbits(16))
        return state

    @staticmethod
    def _next_mid(peer_state: PeerState) -> int:
        mid = peer_state.next_mid
        peer_state.next_mid = (mid + 1) & 0xFFFF
        return mid

    def _transmit(
        self,
        peer_state: PeerState,
        peer: Peer,
        mid: int,
        data: bytes,
        *,
        owner: DatagramClientExchange | DatagramObservation | None,
        now: float,
    ) -> Transmission:
        tx = Transmission(peer, peer_state, mid, data, owner)
        self._by_mid[peer, mid] = tx
        if peer_state.outstanding < self.config.nstart:
            self._start(tx, now)
        else:
            if peer_state.queue is None:
                peer_state.queue = deque()
            peer_state.queue.append(tx)
        return tx

    def _start(self, tx: Transmission, now: float) -> None:
        config = self.config
        tx.started = True
        tx.peer_state.outstanding += 1
        tx.timeout = self._rng.uniform(
            config.ack_timeout, config.ack_timeout * config.ack_random_factor
        )
        tx.timer = self._timers.schedule(now + tx.timeout, partial(self._on_ack_timeout, tx))
        self._out.append((tx.data, tx.peer))

    def _on_ack_timeout(self, tx: Transmission, now: float) -> None:
        if tx.retries < self.config.max_retransmit:
            tx.retries += 1
            tx.timeout *= 2
            tx.timer = self._timers.schedule(now + tx.timeout, partial(self._on_ack_timeout, tx))
            self._out.append((tx.data, tx.peer))
            return
        tx.timer = None
        self._end_transmission(tx, now)
        self._give_up(tx, now)

    def _end_transmission(self, tx: Transmission, now: float) -> None:
        if tx.done:
            return
        tx.done = True
        self._by_mid.pop((tx.peer, tx.message_id), None)
        self._timers.cancel(tx.timer)
        if not tx.started:
            return  # still queued: skipped when its turn comes
        peer_state = tx.peer_state
        peer_state.outstanding -= 1
        queue = peer_state.queue
        while queue and peer_state.outstanding < self.config.nstart:
            waiting = queue.popleft()
            if not waiting.done:
                self._start(waiting, now)
