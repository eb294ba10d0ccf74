"""PrioritisedUdpTransport on loopback, against a core that records what it was fed per tick:
established work first, new work within its budget per tick, the rest shed (5.03 with
Max-Age or dropped), per-source budgets; the plain transport stays plain."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport import udp as udp_module
from lwm2m.transport.admission import Admission, AdmissionConfig
from lwm2m.transport.udp import PrioritisedUdpTransport, UdpTransport, open_udp

pytestmark = pytest.mark.timeout(10)


class RecordingCore:
    """A DatagramCore that keeps what it receives, one batch per pump (one per tick)."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = [[]]

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self.batches[-1].append(data)

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        return []

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def pumped(self) -> None:
        if self.batches[-1]:
            self.batches.append([])

    @property
    def received(self) -> list[bytes]:
        return [data for batch in self.batches for data in batch]


def register(message_id: int) -> bytes:
    options = Options.build(uri_path=("rd",), uri_query=(f"ep=dev-{message_id}",))
    return Message(Type.CON, Code.POST, message_id, b"r", options).encode()


def read_request(message_id: int) -> bytes:
    return Message(Type.CON, Code.GET, message_id, b"g", Options.build(uri_path=("3",))).encode()


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A known device's socket and a stranger's, blocking with a short timeout."""
    pair = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2.0)
        pair.append(sock)
    yield pair[0], pair[1]
    for sock in pair:
        sock.close()


async def serve(
    config: AdmissionConfig, known: socket.socket
) -> tuple[RecordingCore, UdpTransport[RecordingCore], Admission]:
    core = RecordingCore()
    known_address = known.getsockname()
    policy = Admission(config, lambda peer: peer == known_address)
    udp = await open_udp(core, core.pumped, triage=policy.coap)
    return core, udp, policy


async def until(condition: Callable[[], bool], rounds: int = 200) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_established_first_then_new_within_the_tick_budget(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    known, stranger = sockets
    core, udp, _ = await serve(AdmissionConfig(new_per_tick=2, source_rate=None), known)
    try:
        assert isinstance(udp, PrioritisedUdpTransport)
        for n in range(6):  # all in the socket buffer before the loop looks
            stranger.sendto(register(n), udp.local_address)
        known.sendto(read_request(100), udp.local_address)
        await until(lambda: len(core.received) == 7)
        batches = [batch for batch in core.batches if batch]
        assert batches == [
            [read_request(100), register(0), register(1)],
            [register(2), register(3)],
            [register(4), register(5)],
        ]
    finally:
        udp.close()


async def test_new_work_beyond_the_backlog_is_refused_then_dropped(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    known, stranger = sockets
    config = AdmissionConfig(
        new_per_tick=1, new_backlog=3, refusals_per_tick=2, retry_after=10, source_rate=None
    )
    core, udp, policy = await serve(config, known)
    try:
        for n in range(8):
            stranger.sendto(register(n), udp.local_address)
        known.sendto(read_request(100), udp.local_address)  # still served
        await until(lambda: len(core.received) == 4)
        answers = [Message.decode(stranger.recv(2048)) for _ in range(2)]
        assert [(a.type, a.code, a.message_id) for a in answers] == [
            (Type.ACK, Code.SERVICE_UNAVAILABLE, 3),
            (Type.ACK, Code.SERVICE_UNAVAILABLE, 4),
        ]
        assert all(10 <= answer.options.max_age <= 20 for answer in answers)
        assert sorted(core.received) == sorted([read_request(100), *map(register, range(3))])
        assert (policy.stats.refused, policy.stats.dropped, policy.stats.over_budget) == (2, 3, 0)
        stranger.settimeout(0.2)
        with pytest.raises(TimeoutError):  # the dropped ones get nothing
            stranger.recv(2048)
    finally:
        udp.close()


async def test_a_source_over_its_budget_is_shed_and_others_are_not(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    known, stranger = sockets
    config = AdmissionConfig(source_rate=0.001, source_burst=2)
    core, udp, policy = await serve(config, known)
    try:
        for n in range(4):
            stranger.sendto(register(n), udp.local_address)
        for n in range(5):
            known.sendto(read_request(100 + n), udp.local_address)
        await until(lambda: len(core.received) == 7)
        assert [data for data in core.received if data in map(register, range(4))] == [
            register(0),
            register(1),
        ]
        refused = [Message.decode(stranger.recv(2048)) for _ in range(2)]
        assert {answer.code for answer in refused} == {Code.SERVICE_UNAVAILABLE}
        assert (policy.stats.refused, policy.stats.over_budget) == (2, 2)
    finally:
        udp.close()


async def test_without_triage_the_transport_is_the_plain_one() -> None:
    core = RecordingCore()
    udp = await open_udp(core, core.pumped)
    try:
        assert type(udp) is UdpTransport
    finally:
        udp.close()


async def test_a_tick_that_reads_its_fill_is_behind_and_takes_one_new_datagram(
    sockets: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading catches up first; established work is never held back."""
    monkeypatch.setattr(udp_module, "READ_PER_TICK", 4)
    known, stranger = sockets
    config = AdmissionConfig(new_per_tick=3, refusals_per_tick=2, source_rate=None)
    core, udp, policy = await serve(config, known)
    try:
        for n in range(9):
            stranger.sendto(register(n), udp.local_address)
        known.sendto(read_request(100), udp.local_address)
        await until(lambda: len(core.received) == 10)
        batches = [batch for batch in core.batches if batch]
        registers = [[data for data in batch if data != read_request(100)] for batch in batches]
        # The loop hands over a datagram now and then between ticks; each tick reads 4 more.
        assert registers[:2] == [[register(0)], [register(1)]]  # behind: one new one a tick
        assert read_request(100) in batches[0] + batches[1] + batches[2]  # never held back
        assert [data for batch in registers for data in batch] == list(map(register, range(9)))
        assert max(map(len, registers)) == 3  # caught up: the full budget again
        assert policy.stats.refused == policy.stats.dropped == 0
    finally:
        udp.close()
