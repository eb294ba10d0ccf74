"""UdpTransport's timer keeping and socket options, against a scripted core on loopback, and
the server's receive buffer."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from lwm2m.coap.events import Peer
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.transport.udp import open_udp

pytestmark = pytest.mark.timeout(10)


class TimerCore:
    """A DatagramCore whose next timer the test sets; records when it was run."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.ran: list[tuple[float, float]] = []  # (deadline, now)

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        pass

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        return []

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        assert self.deadline is not None
        self.ran.append((self.deadline, now))
        self.deadline = None


async def test_the_timer_runs_when_due_and_never_before() -> None:
    core = TimerCore()
    udp = await open_udp(core, lambda: None)
    try:
        start = udp.now()
        core.deadline = start + 0.05
        udp.pump()
        core.deadline = start + 0.2  # later: the armed timer fires first, finds nothing due
        udp.pump()
        await asyncio.sleep(0.1)
        assert core.ran == []
        await asyncio.sleep(0.2)
        assert len(core.ran) == 1
        deadline, ran_at = core.ran[0]
        assert deadline == start + 0.2 and ran_at >= deadline
    finally:
        udp.close()


async def test_an_earlier_deadline_rearms() -> None:
    core = TimerCore()
    udp = await open_udp(core, lambda: None)
    try:
        core.deadline = udp.now() + 5.0
        udp.pump()
        core.deadline = udp.now() + 0.05
        udp.pump()
        await asyncio.sleep(0.2)
        assert [deadline for deadline, _ in core.ran] == [core.ran[0][0]]
        assert core.ran[0][1] >= core.ran[0][0]
    finally:
        udp.close()


async def test_the_receive_buffer_is_asked_for() -> None:
    wanted = 1 << 20
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    udp = await open_udp(TimerCore(), lambda: None, receive_buffer=wanted)
    try:
        assert udp._transport is not None
        sock = udp._transport.get_extra_info("socket")
        # Linux doubles what it grants, for its bookkeeping, and caps it at rmem_max.
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= min(wanted, rmem_max)
    finally:
        udp.close()


async def test_the_server_asks_for_its_configured_receive_buffer() -> None:
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    default = ServerConfig(host="127.0.0.1", coap_port=0)
    assert default.receive_buffer == 4 << 20
    for wanted in (1 << 20, default.receive_buffer):
        server = LwM2MServer(replace(default, receive_buffer=wanted))
        await server.start()
        try:
            assert server._net is not None and server._net.plain._transport is not None
            sock = server._net.plain._transport.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= min(wanted, rmem_max)
        finally:
            await server.stop()
    with pytest.raises(ValueError, match="receive_buffer"):
        ServerConfig(receive_buffer=0)
