"""Concatenated SMS (TS 23.040 §9.2.3.24.1, .8): splitting an 8-bit payload into parts and
putting the parts of received messages back together, in bounded memory, expired on ``now``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from lwm2m.transport.sms.errors import SmsEncodeError
from lwm2m.transport.sms.tpdu import MAX_USER_DATA
from lwm2m.transport.sms.udh import Concatenation, Element, Ports, UserDataHeader

MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class Part:
    """One binary SMS: its user data header (None for a message that fits alone and carries no
    ports) and the payload octets after it."""

    header: UserDataHeader | None
    payload: bytes

    @property
    def user_data(self) -> bytes:
        """TP-UD, which is also SMPP's short_message (esm_class UDHI when there is a header)."""
        return self.payload if self.header is None else self.header.encode() + self.payload


def split(
    payload: bytes, reference: int, *, wide_reference: bool = False, ports: Ports | None = None
) -> list[Part]:
    """``payload`` as one part when it fits 140 octets (less a port header), else as
    concatenated parts numbered from 1 with ``reference``; SmsEncodeError over 255 parts."""
    fixed: tuple[Element, ...] = () if ports is None else (ports,)
    alone = UserDataHeader(fixed) if fixed else None
    header_size = 0 if alone is None else len(alone.encode())
    if header_size + len(payload) <= MAX_USER_DATA:
        return [Part(alone, payload)]
    probe = Concatenation(0, 1, 1, wide=wide_reference)
    room = MAX_USER_DATA - len(UserDataHeader((*fixed, probe)).encode())
    total = -(-len(payload) // room)
    if total > MAX_PARTS:
        raise SmsEncodeError(f"{len(payload)} octets need {total} parts, over {MAX_PARTS}")
    return [
        Part(
            UserDataHeader((*fixed, Concatenation(reference, total, index + 1, wide_reference))),
            payload[index * room : (index + 1) * room],
        )
        for index in range(total)
    ]


def parts_needed(size: int, *, wide_reference: bool = False, ports: Ports | None = None) -> int:
    """How many SMS a payload of ``size`` octets takes."""
    return len(split(bytes(size), 0, wide_reference=wide_reference, ports=ports))


@dataclass(slots=True)
class ReassemblyStats:
    completed: int = 0
    expired: int = 0
    evicted: int = 0
    """Incomplete messages dropped to make room (per-sender or global caps)."""
    duplicates: int = 0


class _Pending:
    __slots__ = ("deadline", "parts", "sender", "size")

    def __init__(self, sender: Hashable, deadline: float) -> None:
        self.sender = sender
        self.deadline = deadline
        self.parts: dict[int, bytes] = {}
        self.size = 0


class Reassembler:
    """Parts by (sender, reference, total, wide, ports); a message is handed back once every
    part is in, in sequence order.

    Memory is bounded: at most ``max_messages`` incomplete messages, ``max_per_sender`` from one
    sender and ``max_bytes`` of parts held (the oldest incomplete message goes to make room:
    senders are MSISDNs the network vouches for, so one cannot crowd out others beyond its own
    cap).  An incomplete message expires ``timeout`` seconds after its first part; ``expire``
    (or :meth:`handle_timer`) drops it.  A repeated part keeps its first copy.
    """

    def __init__(
        self,
        *,
        timeout: float = 300.0,
        max_messages: int = 1024,
        max_per_sender: int = 8,
        max_bytes: int = 4 << 20,
    ) -> None:
        self.timeout = timeout
        self.max_messages = max_messages
        self.max_per_sender = max_per_sender
        self.max_bytes = max_bytes
        self.stats = ReassemblyStats()
        self._pending: OrderedDict[tuple[Hashable, ...], _Pending] = OrderedDict()
        self._per_sender: dict[Hashable, int] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def add(self, sender: Hashable, part: Part, now: float) -> bytes | None:
        """The whole payload once ``part`` completes its message, else None (held or dropped).

        A part without concatenation is a whole message by itself.
        """
        self.handle_timer(now)
        header = part.header
        concat = None if header is None else header.concatenation
        if concat is None or concat.total == 1:
            self.stats.completed += 1
            return part.payload
        ports = None if header is None else header.ports
        key = (sender, concat.reference, concat.total, concat.wide, ports)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._open(key, sender, now)
        if concat.sequence in pending.parts:
            self.stats.duplicates += 1
            return None
        pending.parts[concat.sequence] = part.payload
        pending.size += len(part.payload)
        self._bytes += len(part.payload)
        if len(pending.parts) == concat.total:
            self._drop(key)
            self.stats.completed += 1
            return b"".join(pending.parts[index] for index in range(1, concat.total + 1))
        while self._bytes > self.max_bytes and self._pending:
            self._evict_oldest(None)
        return None

    def _open(self, key: tuple[Hashable, ...], sender: Hashable, now: float) -> _Pending:
        if self._per_sender.get(sender, 0) >= self.max_per_sender:
            self._evict_oldest(sender)
        if len(self._pending) >= self.max_messages:
            self._evict_oldest(None)
        pending = self._pending[key] = _Pending(sender, now + self.timeout)
        self._per_sender[sender] = self._per_sender.get(sender, 0) + 1
        return pending

    def _evict_oldest(self, sender: Hashable | None) -> None:
        for key, pending in self._pending.items():
            if sender is None or pending.sender == sender:
                self._drop(key)
                self.stats.evicted += 1
                return

    def _drop(self, key: tuple[Hashable, ...]) -> None:
        pending = self._pending.pop(key)
        self._bytes -= pending.size
        left = self._per_sender[pending.sender] - 1
        if left:
            self._per_sender[pending.sender] = left
        else:
            del self._per_sender[pending.sender]

    def get_timer(self) -> float | None:
        """When the oldest incomplete message expires (insertion order is deadline order)."""
        for pending in self._pending.values():
            return pending.deadline
        return None

    def handle_timer(self, now: float) -> None:
        """Drop the incomplete messages whose time is up."""
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if pending.deadline > now:
                return
            self._drop(key)
            self.stats.expired += 1
