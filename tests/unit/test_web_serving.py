"""HTTP writes leave in one send per turn of the event loop: the batcher over a recording
transport, and uvicorn answering through it on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Scope, Send

from lwm2m.web import serving
from lwm2m.web.serving import HttpServer


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def _turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_together_at_its_end() -> None:
    recorder = Recorder()
    batcher = serving._WriteBatcher(recorder)
    batcher.write(b"HTTP/1.1 200 OK\r\n\r\n")
    batcher.write(memoryview(b"body"))
    assert recorder.sent == []
    await _turn()
    assert recorder.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    batcher.write(b"next")
    batcher.close()  # what is held leaves first
    assert (recorder.sent[-1], recorder.closed) == (b"next", True)


async def test_a_large_write_leaves_at_once_and_nothing_after_the_close() -> None:
    recorder = Recorder()
    batcher = serving._WriteBatcher(recorder)
    batcher.write(b"x" * (serving.BATCH_LIMIT + 1))
    assert len(recorder.sent) == 1
    recorder.closed = True  # the peer went away
    batcher.write(b"late")
    await _turn()
    assert len(recorder.sent) == 1


async def test_uvicorn_answers_through_the_batcher() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    server = HttpServer(app, port=0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = await asyncio.wait_for(reader.read(65536), 5)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert first.endswith(b"\r\n\r\nhello")
        writer.close()
    finally:
        await server.stop()
