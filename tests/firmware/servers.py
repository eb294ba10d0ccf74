"""Independent servers for pull tests: aiocoap (Block2 with ETag, UDP and TCP), a UDP relay
that loses, reorders or blacks out datagrams, and a stdlib HTTP server with Range/If-Range."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiocoap
from aiocoap import resource

Address = tuple[str, int]


def free_port() -> int:
    """A port free for both UDP and TCP on loopback."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def etag_of(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()[:8]


class Package(resource.Resource):
    """The package at /fw/pkg; ``body`` may be swapped mid-download (a new ETag)."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.blocks: list[int] = []
        self.etag = True

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return False  # every block is rendered from the current body (no cached copy)

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        whole = aiocoap.Message(code=aiocoap.CONTENT, payload=self.body)
        if self.etag:
            whole.opt.etag = etag_of(self.body)
        block2 = request.opt.block2
        number, szx = (0, 6) if block2 is None else (block2.block_number, block2.size_exponent)
        self.blocks.append(number)
        response: aiocoap.Message = whole._extract_block(number, szx, 1024)
        response.opt.size2 = len(self.body)
        return response


@asynccontextmanager
async def aiocoap_server(body: bytes) -> AsyncIterator[tuple[int, Package]]:
    """aiocoap serving ``body`` over UDP and TCP on one port."""
    port = free_port()
    site = resource.Site()
    package = Package(body)
    site.add_resource(["fw", "pkg"], package)
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", port), transports=["udp6", "tcpserver"]
    )
    try:
        yield port, package
    finally:
        await context.shutdown()


class Relay(asyncio.DatagramProtocol):
    """UDP between the device and ``server``: drops what ``lose`` says, delays datagrams by
    up to ``reorder`` seconds (so they overtake each other), and drops all while ``dark``."""

    def __init__(self, server: Address, *, seed: int = 1) -> None:
        self.server = server
        self.rng = random.Random(seed)
        self.lose: Callable[[bytes, bool], bool] = lambda data, up: False
        self.reorder = 0.0
        self.dark = False
        self._client: Address | None = None
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None

    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Address) -> None:
                relay._pass(data, up=False)

        self._front, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self._back, _ = await loop.create_datagram_endpoint(Back, local_addr=("127.0.0.1", 0))
        address: Address = self._front.get_extra_info("sockname")[:2]
        return address

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._client = addr
        self._pass(data, up=True)

    def _pass(self, data: bytes, *, up: bool) -> None:
        if self.dark or self.lose(data, up):
            return
        delay = self.rng.uniform(0, self.reorder)
        asyncio.get_running_loop().call_later(delay, self._send, data, up)

    def _send(self, data: bytes, up: bool) -> None:
        if up and self._back is not None:
            self._back.sendto(data, self.server)
        elif not up and self._front is not None and self._client is not None:
            self._front.sendto(data, self._client)

    def close(self) -> None:
        for transport in (self._front, self._back):
            if transport is not None:
                transport.close()


class HttpPackage:
    """What the HTTP server serves, and what it saw."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None
        """Close the connection after this many body bytes (once)."""
        self.honour_ranges = True


@contextmanager
def http_server(body: bytes) -> Iterator[tuple[int, HttpPackage]]:
    state = HttpPackage(body)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/fw/pkg":
                self.send_error(404)
                return
            body = state.body
            etag = '"' + etag_of(body).hex() + '"'
            wanted = self.headers.get("Range")
            state.ranges.append(wanted)
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
            if_range = self.headers.get("If-Range")
            if match and state.honour_ranges and (if_range is None or if_range == etag):
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            chunk = body[start:]
            if state.cut_after is not None:
                chunk, state.cut_after = chunk[: state.cut_after], None
                self.wfile.write(chunk)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(chunk)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], state
    finally:
        server.shutdown()
        server.server_close()
