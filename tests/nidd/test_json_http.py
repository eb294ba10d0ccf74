"""JsonHttp (T8 requests and callbacks on aiohttp): JSON out and in over kept-alive
connections, and network failures as the httpx errors its callers catch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import httpx
import pytest

from lwm2m.transport.nidd.http import JsonHttp

pytestmark = pytest.mark.timeout(30)


async def test_json_both_ways_over_one_kept_alive_connection() -> None:
    connections: list[int] = []
    bodies: list[object] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while head := await reader.readuntil(b"\r\n\r\n"):  # ends when the client closes
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            bodies.append(json.loads(await reader.readexactly(length)))
            answer = b'{"deliveryStatus":"SUCCESS"}'
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
            )
            await writer.drain()

    async def serve_until_closed(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await serve(reader, writer)

    server = await asyncio.start_server(serve_until_closed, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = JsonHttp(5.0)
    try:
        for n in range(3):
            answer = await http.request("POST", f"http://127.0.0.1:{port}/x", {"n": n})
            assert (answer.status, answer.is_success) == (201, True)
            assert answer.json() == {"deliveryStatus": "SUCCESS"}
    finally:
        await http.aclose()
        server.close()
    assert bodies == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len(connections) == 1


async def test_network_failures_are_httpx_errors() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    http = JsonHttp(0.3)
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    try:
        with pytest.raises(httpx.TransportError):
            await http.request("GET", f"http://127.0.0.1:{port}/")
        silent_port = silent.sockets[0].getsockname()[1]
        with pytest.raises(httpx.TimeoutException):
            await http.request("POST", f"http://127.0.0.1:{silent_port}/", {"a": 1})
    finally:
        await http.aclose()
        silent.close()
