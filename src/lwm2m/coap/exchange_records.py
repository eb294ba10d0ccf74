"""What the exchange layer keeps and is configured with: the records of client and server
exchanges and observers, the block-wise transfer stores, and the event and timer queues of a
sans-I/O core. Split from :mod:`lwm2m.coap.exchange`, which holds the logic over them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, Generic, Protocol, TypeVar

from lwm2m.coap.blockwise import Assembly, Block1Key
from lwm2m.coap.cache import TransferStore
from lwm2m.coap.codes import Code
from lwm2m.coap.events import ExchangeKey, ObservationKey, Peer
from lwm2m.coap.message import Message
from lwm2m.coap.options import Block, Options
from lwm2m.coap.timers import Timer, TimerQueue

E = TypeVar("E")


class ClientState(Enum):
    REQUESTING = auto()  # request (or one of its blocks) in flight
    OBSERVING = auto()  # observation established; a Block2 fetch of a notification may run
    CANCELLING = auto()  # GET with Observe=1 in flight
    CLOSED = auto()


_CLIENT_TRANSITIONS: dict[ClientState, frozenset[ClientState]] = {
    ClientState.REQUESTING: frozenset({ClientState.OBSERVING, ClientState.CLOSED}),
    ClientState.OBSERVING: frozenset({ClientState.CANCELLING, ClientState.CLOSED}),
    ClientState.CANCELLING: frozenset({ClientState.CLOSED}),
    ClientState.CLOSED: frozenset(),
}


class ClientExchange:
    """A request of ours from send to its terminal event, through all its blocks."""

    __slots__ = (
        "b1_length",
        "b1_offset",
        "b1_szx",
        "b2",
        "body",
        "code",
        "handle",
        "options",
        "origin_token",
        "peer",
        "request_tag",
        "single_blocks",
        "state",
        "timeout",
        "timer",
        "token",
    )

    def __init__(
        self,
        handle: int,
        peer: Peer,
        code: Code,
        options: Options,
        body: bytes,
        *,
        token: bytes,
        timeout: float | None,
    ) -> None:
        self.handle = handle
        self.peer = peer
        self.code = code
        self.options = options
        self.body = body
        self.origin_token = token  # registered until the exchange closes (observations use it)
        self.token = token  # of the request in flight; Block2 follow-ups get fresh ones
        self.state = ClientState.REQUESTING
        self.timeout = timeout  # for the response to each step; None waits forever
        self.timer: Timer | None = None  # that timeout, once armed
        self.b1_szx: int | None = None  # None: the body goes in one message
        self.b1_offset = 0
        self.b1_length = 0
        self.request_tag: bytes | None = None
        self.b2: Assembly | None = None
        self.single_blocks = False  # Block2 answers go to the application block by block

    def enter(self, state: ClientState) -> None:
        if state not in _CLIENT_TRANSITIONS[self.state]:
            raise AssertionError(f"client exchange {self.state} -> {state}")
        self.state = state


class ServerExchange:
    """An incoming request the application has not answered yet."""

    __slots__ = ("block1", "key", "request")

    def __init__(self, key: ExchangeKey, request: Message) -> None:
        self.key = key
        self.request = request
        self.block1: Block | None = None  # echoed (M=0) in the final response of a Block1 body


class Observation:
    """Server side: one observer of one resource (RFC 7641 §4.1: peer and token)."""

    __slots__ = ("key", "request", "seq")

    def __init__(self, key: ObservationKey, request: Message) -> None:
        self.key = key
        self.request = request
        # RFC 7641 allows any start; node-coap (under lwm2m-node-lib) drops an Observe of 0.
        self.seq = 1


_Block2Key = tuple[Peer, tuple[str, ...], tuple[str, ...]]
_CachedResponse = tuple[Code, Options, bytes]


class CoreQueues(Generic[E]):
    """The events a sans-I/O core queued for its owner, and the timers the owner fires."""

    _events: deque[E]
    _timers: TimerQueue

    def next_event(self) -> E | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        self._timers.run_due(now)


class TransferConfig(Protocol):
    """The knobs of :class:`ExchangeLayer`, which every transport's configuration has."""

    @property
    def token_length(self) -> int: ...

    @property
    def preferred_block_szx(self) -> int:
        """Largest block we send or ask for, as SZX."""

    @property
    def max_body_size(self) -> int:
        """Largest reassembled body, either direction."""

    @property
    def max_transfer_bytes(self) -> int:
        """Bytes of partial Block1 bodies, and of Block2 bodies being served, across all peers
        (each)."""

    @property
    def max_peer_transfers(self) -> int:
        """Concurrent Block1 bodies, and Block2 bodies being served, per peer (each)."""


@dataclass(frozen=True, slots=True)
class TransferStores:
    """The block-wise state of a layer: one for a datagram endpoint, shared by the
    connections of a stream endpoint so its bounds hold across all of them."""

    block1: TransferStore[Block1Key, Assembly]
    block2: TransferStore[_Block2Key, _CachedResponse]

    @classmethod
    def create(cls, config: TransferConfig, timers: TimerQueue, lifetime: float) -> TransferStores:
        """Stores bounded by ``config`` whose entries expire ``lifetime`` after their last
        block, on ``timers`` (which the owner's ``handle_timer`` runs)."""

        def store() -> TransferStore[Any, Any]:
            return TransferStore(
                timers,
                max_bytes=config.max_transfer_bytes,
                max_per_peer=config.max_peer_transfers,
                lifetime=lifetime,
            )

        return cls(store(), store())
