"""Hundreds of event streams that are open and never read do not hold up the CoAP side: real
sockets, a real server, devices registering while every stream's socket is full."""

from __future__ import annotations

import asyncio
import socket

import pytest

from lwm2m.coap import Code, Message
from lwm2m.coap.message import Type
from lwm2m.coap.options import Options
from lwm2m.codec import ContentFormat
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.web import EventHub
from lwm2m.web.serving import WebServer

pytestmark = pytest.mark.timeout(90)

STREAMS = 250
DEVICES = 2000
WINDOW = 100  # Registers in flight at once
BACKLOG = 64


class Registrar(asyncio.DatagramProtocol):
    """Sends Registers and collects the message IDs answered with 2.01."""

    def __init__(self) -> None:
        self.created: set[int] = set()
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        message = Message.decode(data)
        if message.code == Code.CREATED:
            self.created.add(message.message_id)
            self.arrived.set()


def register(number: int) -> bytes:
    options = Options.build(
        uri_path=("rd",),
        content_format=ContentFormat.LINK,
        uri_query=(f"ep=urn:dev:sse-{number}", "lt=300"),
    )
    token = number.to_bytes(2, "big")
    return Message(Type.CON, Code.POST, number, token, options, b"</3/0>").encode()


async def register_all(address: tuple[str, int]) -> set[int]:
    """Every device registers, WINDOW at a time, sent again until answered."""
    loop = asyncio.get_running_loop()
    transport, registrar = await loop.create_datagram_endpoint(
        Registrar, remote_addr=address, family=socket.AF_INET
    )
    try:
        for start in range(0, DEVICES, WINDOW):
            window = set(range(start, start + WINDOW))
            for _ in range(20):  # bounded: a lost datagram is sent again
                for number in window - registrar.created:
                    transport.sendto(register(number))
                registrar.arrived.clear()
                while not window <= registrar.created:
                    try:
                        await asyncio.wait_for(registrar.arrived.wait(), 1.0)
                    except TimeoutError:
                        break
                    registrar.arrived.clear()
                if window <= registrar.created:
                    break
        return registrar.created
    finally:
        transport.close()


async def open_unread_stream(address: tuple[str, int]) -> socket.socket:
    """``GET /api/events`` on a socket with a tiny receive buffer that nobody reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, address)
    await loop.sock_sendall(sock, b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


async def read_until(sock: socket.socket, wanted: bytes) -> bool:
    loop, seen = asyncio.get_running_loop(), b""
    for _ in range(10_000):  # bounded: at most a few MB
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        except TimeoutError:
            return False
        seen = seen[-len(wanted) :] + data
        if wanted in seen:
            return True
    return False


async def test_devices_keep_registering_while_hundreds_of_streams_are_unread() -> None:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await server.start()
    hub = EventHub(server, max_subscribers=STREAMS, backlog=BACKLOG)
    web = WebServer(server, port=0, events=hub)
    await web.start()
    streams: list[socket.socket] = []
    try:
        for _ in range(STREAMS):
            streams.append(await open_unread_stream(web.address))
        for _ in range(100):
            if hub.subscriber_count == STREAMS:
                break
            await asyncio.sleep(0.05)
        assert hub.subscriber_count == STREAMS
        extra = await open_unread_stream(web.address)  # one past the limit
        try:
            answer = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(extra, 200), 5)
        finally:
            extra.close()
        assert answer.startswith(b"HTTP/1.1 503")

        created = await register_all(server.coap_address)

        assert len(created) == DEVICES
        assert len(server.registrations.all()) == DEVICES
        # Every stream is still open (none was cut off for being slow), and all that the
        # server holds for them is the shared ring of recent events.
        assert hub.subscriber_count == STREAMS
        assert hub.backlog == BACKLOG
        # The server had stopped writing to them (their buffers were full): a stream that is
        # read again learns that it missed events, and goes on.
        assert await read_until(streams[0], b"events dropped, they came faster")
        assert hub.dropped_events > 0
    finally:
        for sock in streams:
            sock.close()
        await asyncio.wait_for(web.stop(), 30)
        await server.stop()
