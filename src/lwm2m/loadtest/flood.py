"""A registration flood: one process sending Registers of ever new devices at a fixed rate.

``lwm2m bench --flood N`` runs it while the server reads the registered fleet, to see whether
established devices are still served when new ones arrive at N times the rate the server can
register them (:mod:`lwm2m.transport.admission`).  The flood's devices are fire-and-forget:
each Register names a new endpoint (``urn:imei:<FLOOD_IMEI_BASE + n>``), none is retransmitted,
and the answers are only counted: 2.01 Created (accepted), 5.03 Service Unavailable (refused;
with or without Max-Age), none (dropped, or not answered before the end).

The Registers leave from ``sources`` sockets on as many addresses (``127.78.x.y``), so that the
per-source budget, generous for one address, does not decide the outcome alone.  The process
runs at a lower priority (``nice``) than the fleet shard that answers the server's Reads on
the same CPUs: the bench measures the server, not the fleet's scheduling.

:func:`flood_phase` is the bench's side: it starts the process, lets it flood for
``FLOOD_RAMP`` seconds, times the fleet's reads meanwhile and collects the counts.

Pipe protocol: the process answers ``("ready",)`` once its sockets are bound, starts on
``("flood",)``, and on ``("stop",)`` answers ``("flooded", sent, created, refused,
refused_without_max_age, seconds)`` and ends; it also ends when the pipe closes or after
``max_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import select
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from lwm2m.client.profile import telekom_device
from lwm2m.coap.codes import Code, Type
from lwm2m.coap.errors import MessageFormatError
from lwm2m.coap.message import Message
from lwm2m.coap.options import OptionNumber, Options
from lwm2m.codec import ContentFormat
from lwm2m.loadtest.device import IMEI_BASE, endpoint_name
from lwm2m.loadtest.fleet import open_sockets
from lwm2m.loadtest.shards import start_deaf_to_sigint

if TYPE_CHECKING:
    from lwm2m.loadtest.runner import Load

FLOOD_IMEI_BASE = IMEI_BASE + 10_000_000
"""Flood device ``n`` is ``urn:imei:<FLOOD_IMEI_BASE + n>``: never one of the fleet's."""
BURST = 64
"""Registers sent at most between two looks at the answers."""
FLOOD_READ_P99 = 0.050
"""Issue 8: the registered fleet's read latency p99 (s) under a flood at 10x capacity."""
FLOOD_RAMP = 0.5
"""Seconds of flood before the reads are timed: the server's backlog is full by then."""
_CREATED, _UNAVAILABLE = int(Code.CREATED), int(Code.SERVICE_UNAVAILABLE)


class FloodError(Exception):
    """The flood process failed or did not answer."""


@dataclass(frozen=True, slots=True)
class FloodSpec:
    server: tuple[str, int]
    rate: float  # Registers per second
    sources: int
    max_seconds: float
    lifetime: int = 86400


@dataclass(frozen=True, slots=True)
class FloodResult:
    """What the flood sent and what came back (see the module docstring)."""

    target_rate: float
    sent: int
    created: int
    refused: int
    refused_without_max_age: int
    seconds: float

    @property
    def offered_rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def unanswered(self) -> int:
        return max(0, self.sent - self.created - self.refused)

    def to_json(self) -> dict[str, object]:
        return {
            "targetPerSecond": round(self.target_rate, 1),
            "offeredPerSecond": round(self.offered_rate, 1),
            "seconds": round(self.seconds, 3),
            "sent": self.sent,
            "created": self.created,
            "refused": self.refused,
            "refusedWithoutMaxAge": self.refused_without_max_age,
            "unanswered": self.unanswered,
        }


@dataclass(frozen=True, slots=True)
class FloodReport:
    """The registered fleet's reads during the flood, and the flood's outcome."""

    multiple: float  # asked for, of ``capacity``
    capacity: float  # registrations/s measured before
    reads: Load
    flood: FloodResult
    server_drops: int | None  # datagrams the kernel dropped meanwhile at the server's socket

    @property
    def offered_multiple(self) -> float:
        return self.flood.offered_rate / self.capacity if self.capacity > 0 else 0.0

    def meets_target(self) -> bool:
        return self.reads.p99 is not None and self.reads.p99 < FLOOD_READ_P99

    def to_json(self) -> dict[str, object]:
        return {
            "multiple": self.multiple,
            "capacityPerSecond": round(self.capacity, 1),
            "offeredMultiple": round(self.offered_multiple, 2),
            "reads": self.reads.to_json(),
            "registers": self.flood.to_json(),
            "serverSocketDrops": self.server_drops,
            "readP99TargetMs": FLOOD_READ_P99 * 1e3,
            "meetsTarget": self.meets_target(),
        }


async def flood_phase(
    spec: FloodSpec,
    capacity: float,
    pin: Callable[[BaseProcess], None],
    reads: Callable[[], Awaitable[Load]],
) -> FloodReport:
    """Flood the server as ``spec`` says while ``reads()`` runs; ``pin`` puts the flood
    process on the fleet's CPUs."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=run_flood, args=(theirs, spec), name="flood", daemon=True)
    start_deaf_to_sigint(process)
    theirs.close()
    try:
        pin(process)
        await _answer(ours, "ready", 60)
        ours.send(("flood",))
        await asyncio.sleep(FLOOD_RAMP)
        before = socket_drops(spec.server)
        timed = await reads()
        after = socket_drops(spec.server)
        ours.send(("stop",))
        counts = await _answer(ours, "flooded", 10)
    finally:
        ours.close()
        await asyncio.get_running_loop().run_in_executor(None, process.join, 5)
        if process.is_alive():
            process.terminate()
    sent, created, refused, without_max_age = (int(count) for count in counts[:4])
    result = FloodResult(spec.rate, sent, created, refused, without_max_age, float(counts[4]))
    drops = None if before is None or after is None else after - before
    return FloodReport(
        spec.rate / capacity if capacity > 0 else 0.0, capacity, timed, result, drops
    )


def socket_drops(address: tuple[str, int]) -> int | None:
    """Datagrams Linux dropped at the IPv4 UDP socket bound to ``address`` (its receive buffer
    was full: the ``drops`` column of /proc/net/udp); None where that cannot be read.  The
    kernel drops without looking: a registered device's answer among them costs its Read a
    CoAP retransmission, 2 to 3 s later."""
    host, port = address
    try:
        wanted = f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"
        with open("/proc/net/udp", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if fields[1] == wanted:
                    return int(fields[-1])
    except (OSError, ValueError, IndexError):
        return None
    return None


async def _answer(pipe: Connection, kind: str, timeout: float) -> tuple[float, ...]:
    """The numbers of the next ``kind`` message on ``pipe``."""
    if not await asyncio.get_running_loop().run_in_executor(None, pipe.poll, timeout):
        raise FloodError(f"the flood process did not answer {kind!r} in {timeout:.0f} s")
    try:
        message = pipe.recv()
    except (EOFError, OSError):
        raise FloodError("the flood process ended unexpectedly") from None
    if message[0] != kind:
        raise FloodError(str(message[1]) if message[0] == "error" else f"flood: {message!r}")
    return tuple(message[1:])


def source_address(index: int) -> str:
    return f"127.78.{index // 250}.{index % 250 + 1}"


class RegisterTemplate:
    """Register datagrams that differ in message ID and endpoint name only: one encoding,
    two patches per datagram (the flood must outrun the server it floods)."""

    def __init__(self, lifetime: int) -> None:
        placeholder = endpoint_name(FLOOD_IMEI_BASE - IMEI_BASE)
        objects = telekom_device(placeholder, seed=0, now=0.0).object_links().encode()
        options = Options.build(
            uri_path=("rd",),
            content_format=ContentFormat.LINK,
            uri_query=(f"ep={placeholder}", f"lt={lifetime}", "lwm2m=1.1", "b=U"),
        )
        self._datagram = bytearray(
            Message(Type.CON, Code.POST, 0, b"fl", options, objects).encode()
        )
        digits = str(FLOOD_IMEI_BASE).encode()
        self._at = self._datagram.index(digits)
        self._width = len(digits)

    def make(self, number: int, message_id: int) -> bytes:
        datagram = self._datagram
        datagram[2:4] = (message_id & 0xFFFF).to_bytes(2, "big")
        datagram[self._at : self._at + self._width] = str(FLOOD_IMEI_BASE + number).encode()
        return bytes(datagram)


def run_flood(conn: Connection, spec: FloodSpec) -> None:
    """The flood process's main function."""
    with contextlib.suppress(OSError):
        os.nice(10)
    try:
        sockets = open_sockets(map(source_address, range(spec.sources)), spec.server)
    except OSError as exc:
        conn.send(("error", f"flood: {exc}"))
        return
    try:
        conn.send(("ready",))
        _Flood(conn, spec, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


class _Flood:
    def __init__(self, conn: Connection, spec: FloodSpec, sockets: list[socket.socket]) -> None:
        self.conn = conn
        self.spec = spec
        self.sockets = sockets
        self.template = RegisterTemplate(spec.lifetime)
        self.poller = select.epoll(sizehint=len(sockets) + 1)
        self.sent = self.created = self.refused = self.refused_without_max_age = 0

    def run(self) -> None:
        conn, poller, sockets = self.conn, self.poller, self.sockets
        pipe = conn.fileno()
        poller.register(pipe, select.EPOLLIN)
        by_fd = {sock.fileno(): sock for sock in sockets}
        for fd in by_fd:
            poller.register(fd, select.EPOLLIN)
        give_up = time.monotonic() + self.spec.max_seconds
        start: float | None = None
        while (now := time.monotonic()) < give_up:
            timeout = 0.05 if start is None else self._send(now - start)
            for fd, _ in poller.poll(timeout):
                if fd != pipe:
                    self._answers(by_fd[fd])
                    continue
                try:
                    command = conn.recv()[0]
                except (EOFError, OSError):  # the bench is gone
                    return
                if command == "flood":
                    start = time.monotonic()
                elif command == "stop":
                    seconds = 0.0 if start is None else time.monotonic() - start
                    counts = (self.sent, self.created, self.refused, self.refused_without_max_age)
                    conn.send(("flooded", *counts, seconds))
                    return

    def _send(self, elapsed: float) -> float:
        """Send the Registers due by ``elapsed`` (at most a burst); how long poll may wait."""
        due = int(elapsed * self.spec.rate) - self.sent
        if due <= 0:
            return min(0.01, (self.sent + 1) / self.spec.rate - elapsed)
        sockets, count, make = self.sockets, len(self.sockets), self.template.make
        for _ in range(min(due, BURST)):
            number = self.sent
            with contextlib.suppress(OSError):  # a full buffer: that one is lost, as on a link
                sockets[number % count].send(make(number, number // count))
            self.sent += 1
        return 0.0

    def _answers(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(2048)
            except OSError:
                return
            if len(data) < 4:
                continue
            if data[1] == _CREATED:
                self.created += 1
            elif data[1] == _UNAVAILABLE:
                self.refused += 1
                try:
                    max_age = Message.decode(data).options.get(OptionNumber.MAX_AGE)
                except MessageFormatError:
                    max_age = None
                self.refused_without_max_age += max_age is None
