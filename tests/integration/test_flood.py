"""A registration flood against a real LwM2MServer on loopback: while new devices send far more
Registers than the server processes, its registered devices' Reads all succeed, new devices
still get registered within the budget, and some Registers are refused with 5.03 and Max-Age.

Behaviour only: how fast is docs/benchmarks.md's business (``lwm2m bench --flood 10``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator

import pytest

from lwm2m.coap.codes import Code
from lwm2m.coap.message import Message
from lwm2m.coap.options import OptionNumber
from lwm2m.loadtest.device import BATTERY, Fleet, endpoint_name
from lwm2m.loadtest.flood import RegisterTemplate
from lwm2m.operations import ErrorResponse
from lwm2m.server import LwM2MServer, ServerConfig

pytestmark = pytest.mark.timeout(90)

DEVICES = 4
READS = 200
FLOOD_SOURCES = 16
FLOOD_MAX = 400_000  # Registers at most, whatever happens
WAIT = 30.0


class Device(asyncio.DatagramProtocol):
    """A registered device: the bench fleet's sans-I/O device on its own socket."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.fleet.receive(self.index, data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply)


class Flood(threading.Thread):
    """Registers of ever new devices from ``FLOOD_SOURCES`` sockets, as fast as they go, until
    stopped; keeps the answers."""

    def __init__(self, server: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.refused = threading.Event()
        self.answers: list[bytes] = []
        self.sent = 0
        self.sockets = []
        for _ in range(FLOOD_SOURCES):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.connect(server)
            sock.setblocking(False)
            self.sockets.append(sock)

    def run(self) -> None:
        template = RegisterTemplate(lifetime=300)
        sockets = self.sockets
        while not self.stop.is_set() and self.sent < FLOOD_MAX:
            for _ in range(256):
                number = self.sent
                with contextlib.suppress(OSError):
                    sockets[number % FLOOD_SOURCES].send(template.make(number, number))
                self.sent += 1
            self._collect()
        self._collect()

    def _collect(self) -> None:
        for sock in self.sockets:
            while True:
                try:
                    data = sock.recv(2048)
                except OSError:
                    break
                self.answers.append(data)
                if data[1] == Code.SERVICE_UNAVAILABLE:
                    self.refused.set()

    def close(self) -> None:
        self.stop.set()
        self.join(WAIT)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await server.start()
    yield server
    await server.stop()


async def registered_devices(server: LwM2MServer) -> list[asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    fleet = Fleet(0, DEVICES, lifetime=300)
    transports = []
    for i in range(DEVICES):
        transport, _ = await loop.create_datagram_endpoint(
            lambda i=i: Device(fleet, i),  # type: ignore[misc]
            local_addr=("127.0.0.1", 0),
            remote_addr=server.coap_address,
        )
        transports.append(transport)
        transport.sendto(fleet.register(i))
    for _ in range(int(WAIT / 0.01)):
        if fleet.registered == DEVICES:
            return transports
        await asyncio.sleep(0.01)
    raise AssertionError(f"{fleet.registered} of {DEVICES} devices registered")


async def test_registered_devices_are_served_through_a_registration_flood(
    server: LwM2MServer,
) -> None:
    devices = await registered_devices(server)
    flood = Flood(server.coap_address)
    flood.start()
    try:
        # The server is overloaded before the first Read: it has refused a Register.
        assert await asyncio.get_running_loop().run_in_executor(None, flood.refused.wait, WAIT)
        outcomes = []

        async def reader(index: int) -> None:
            for _ in range(READS // DEVICES):
                outcomes.append(await server.read(endpoint_name(index), BATTERY, timeout=WAIT))

        await asyncio.gather(*(reader(index) for index in range(DEVICES)))
    finally:
        flood.close()
        for transport in devices:
            transport.close()
    assert len(outcomes) == READS
    assert not [outcome for outcome in outcomes if isinstance(outcome, ErrorResponse)]
    created = [data for data in flood.answers if data[1] == Code.CREATED]
    refused = [
        Message.decode(data) for data in flood.answers if data[1] == Code.SERVICE_UNAVAILABLE
    ]
    assert created, "new devices are still registered, within the budget"
    assert refused
    assert all(answer.options.get(OptionNumber.MAX_AGE) is not None for answer in refused)
    assert len(created) + len(refused) < flood.sent  # the rest was dropped, unanswered
