"""A scripted NB-IoT module on loopback TCP, for driving the asyncio adapter through
pyserial's ``socket://`` handler: V.250 framing (echo on until ATE0, CR LF around every
answer), canned answers per command, and URCs the test pushes at any time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Answer = str | Callable[[str], str]


class FakeModem:
    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        """Command line → answer text (lines joined by CR LF), or a function of the line;
        a command not listed gets ERROR; an answer of None-like '' gets no answer at all."""
        self.received: list[str] = []
        self.echo = True
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Server | None = None
        self.connected = asyncio.Event()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"socket://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def push(self, text: str) -> None:
        """Send a URC (or any raw text) now."""
        assert self._writer is not None
        self._writer.write(f"\r\n{text}\r\n".encode())

    def drop_connection(self) -> None:
        assert self._writer is not None
        self._writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.connected.set()
        try:
            while line := await reader.readuntil(b"\r"):
                self._command(line[:-1].decode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def _command(self, line: str) -> None:
        assert self._writer is not None
        self.received.append(line)
        if self.echo:
            self._writer.write(line.encode() + b"\r")
        if line.upper() == "ATE0":
            self.echo = False
        answer = self.answers.get(line, self._prefix_answer(line))
        text = answer(line) if callable(answer) else answer
        if text:
            self._writer.write(b"".join(f"\r\n{part}\r\n".encode() for part in text.split("\n")))

    def _prefix_answer(self, line: str) -> Answer:
        for key, answer in self.answers.items():
            if key.endswith("*") and line.startswith(key[:-1]):
                return answer
        return "ERROR"
