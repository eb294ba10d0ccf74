"""A fleet shard: one process driving a :class:`~lwm2m.loadtest.device.Fleet` over UDP sockets.

The server keys registrations by address, so every device has its own socket, bound to
``127.77.x.y`` (10,000 devices per address, ephemeral ports) and connected to the server; one
epoll waits on all of them and on the pipe to the process that runs the server.  Commands on the
pipe move the shard between phases:

``("register",)``  Register every device, at most ``register_window`` unanswered at once,
                    retransmitting after 2 s (4 tries); answers ``("registered",
                    retransmissions, given_up, latencies)`` once every device is registered or
                    given up on (latencies: seconds from a device's first Register to its ACK).
``("notify",)``     Send NON notifications from every observed device, round after round,
                    while the fleet's notifications in flight (shared counters, :class:`Flow`)
                    stay under ``Flow.window``; ``("quiet",)`` ends it: ``("notified", sent)``.
``("stop",)``       Close the sockets and end.

Reads and Observes are answered in every phase.  The shard also ends when the pipe closes or
after ``max_seconds``, so it never outlives a crashed bench.
"""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import RawArray, RawValue
from typing import Any

from lwm2m.loadtest.device import Fleet

DEVICES_PER_ADDRESS = 10_000
"""Well inside the 28,232 ephemeral ports Linux gives each local address by default."""
FD_RESERVE = 64
"""Descriptors a shard keeps for itself (epoll, pipe, imports)."""
RETRY_AFTER = 2.0
TRIES = 4


def raise_fd_limit() -> int:
    """Raise this process's soft descriptor limit to its hard limit; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def device_address(index: int) -> str:
    """The local address of device ``index`` (of the whole fleet)."""
    block = index // DEVICES_PER_ADDRESS
    return f"127.77.{block // 250}.{block % 250 + 1}"


class Flow:
    """Counters shared by the bench and its shards: notifications sent (one slot per shard),
    received by the server, and written off as lost (both written by the bench only)."""

    def __init__(self, shards: int, window: int) -> None:
        self.window = window
        self.sent: Any = RawArray("q", shards)
        self.received: Any = RawValue("q", 0)
        self.lost: Any = RawValue("q", 0)

    def in_flight(self) -> int:
        return int(sum(self.sent) - self.received.value - self.lost.value)


@dataclass(frozen=True, slots=True)
class ShardSpec:
    index: int
    first: int  # fleet index of the shard's first device
    count: int
    server: tuple[str, int]
    register_window: int
    max_seconds: float
    lifetime: int = 86400
    local_host: str | None = None  # every device on this address; None: 127.77.x.y (loopback)


def open_sockets(addresses: Iterable[str], server: tuple[str, int]) -> list[socket.socket]:
    """Non-blocking UDP sockets, one bound to each address (any port) and connected to
    ``server``; on failure those opened are closed and the OSError says which one failed."""
    sockets: list[socket.socket] = []
    try:
        for address in addresses:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.setblocking(False)
            sock.bind((address, 0))
            sock.connect(server)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise OSError(f"socket {len(sockets)}: {exc}") from exc
    return sockets


def run_shard(conn: Connection, spec: ShardSpec, flow: Flow) -> None:
    """The shard process's main function."""
    raise_fd_limit()
    addresses = (spec.local_host or device_address(spec.first + i) for i in range(spec.count))
    try:
        sockets = open_sockets(addresses, spec.server)
    except OSError as exc:
        conn.send(("error", f"fleet shard {spec.index}: {exc}"))
        return
    try:
        conn.send(("ready", spec.count))
        _Shard(conn, spec, flow, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


class _Shard:
    def __init__(
        self, conn: Connection, spec: ShardSpec, flow: Flow, sockets: list[socket.socket]
    ) -> None:
        self.conn = conn
        self.spec = spec
        self.flow = flow
        self.sockets = sockets
        self.fleet = Fleet(spec.first, spec.count, lifetime=spec.lifetime)
        self.by_fd = {sock.fileno(): i for i, sock in enumerate(sockets)}
        self.poller = select.epoll(sizehint=len(sockets) + 1)
        self.phase = "idle"
        self.next_register = 0  # devices whose Register went out
        self.retries: deque[tuple[float, int, int]] = deque()  # (when, device, tries so far)
        self.retransmissions = 0
        self.failed = 0
        self.first_sent = [0.0] * spec.count  # when each device's first Register went out
        self.latencies: list[float] = []
        # Next device to notify from; at the end, so that the first pass starts a round: a
        # notification is fresh only after the round its observation was answered in.
        self.cursor = spec.count
        self.sent = 0

    def run(self) -> None:
        poller, conn, by_fd, sockets, fleet = (
            self.poller,
            self.conn,
            self.by_fd,
            self.sockets,
            self.fleet,
        )
        pipe = conn.fileno()
        poller.register(pipe, select.EPOLLIN)
        for fd in by_fd:
            poller.register(fd, select.EPOLLIN)
        deadline = time.monotonic() + self.spec.max_seconds
        while self.phase != "stopped" and (now := time.monotonic()) < deadline:
            timeout = self._work(now)
            for fd, _ in poller.poll(timeout):
                if fd == pipe:
                    self._command(conn)
                    continue
                i = by_fd[fd]
                sock = sockets[i]
                try:
                    registered = fleet.registered
                    reply = fleet.receive(i, sock.recv(2048))
                    if fleet.registered != registered:
                        self.latencies.append(time.monotonic() - self.first_sent[i])
                    if reply is not None:
                        sock.send(reply)
                except OSError:  # nothing after all, or ICMP from a server that went away
                    continue

    def _command(self, conn: Connection) -> None:
        try:
            command = conn.recv()[0]
        except (EOFError, OSError):  # the bench is gone
            self.phase = "stopped"
            return
        if command == "quiet":
            conn.send(("notified", self.sent))
            command = "idle"
        self.phase = "stopped" if command == "stop" else command

    def _work(self, now: float) -> float:
        """Do the phase's sending; returns how long poll may wait."""
        if self.phase == "register":
            return self._register(now)
        if self.phase == "notify":
            return self._notify()
        return 0.05

    def _register(self, now: float) -> float:
        fleet, retries = self.fleet, self.retries
        while retries and retries[0][0] <= now:
            _, i, tries = retries.popleft()
            if fleet.is_registered(i):
                continue
            if tries == TRIES:
                self.failed += 1
                continue
            self.retransmissions += 1
            self._send_register(i, now, tries + 1)
        window = self.spec.register_window
        while self.next_register < fleet.count and (
            self.next_register - fleet.registered - self.failed < window
        ):
            self.first_sent[self.next_register] = now
            self._send_register(self.next_register, now, 1)
            self.next_register += 1
        if fleet.registered + self.failed == fleet.count:
            self.conn.send(("registered", self.retransmissions, self.failed, self.latencies))
            self.phase = "idle"
            retries.clear()
        return min(0.05, max(0.0, retries[0][0] - now)) if retries else 0.05

    def _send_register(self, i: int, now: float, tries: int) -> None:
        with contextlib.suppress(OSError):  # retried like a lost datagram
            self.sockets[i].send(self.fleet.register(i))
        self.retries.append((now + RETRY_AFTER, i, tries))

    def _notify(self) -> float:
        flow, fleet, sockets = self.flow, self.fleet, self.sockets
        room = (flow.window - flow.in_flight()) // len(flow.sent)
        if room <= 0 or not fleet.observed:
            return 0.001
        cursor, count, sent = self.cursor, fleet.count, 0
        for _ in range(count):  # at most one pass looking for observed devices
            if cursor == count:
                cursor = 0
                fleet.next_round()
            data = fleet.notification(cursor)
            if data is not None:
                try:
                    sockets[cursor].send(data)
                    sent += 1
                except OSError:
                    pass
            cursor += 1
            if sent == room:
                break
        self.cursor = cursor
        self.sent += sent
        flow.sent[self.spec.index] = self.sent
        return 0.0
