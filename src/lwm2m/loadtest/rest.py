"""The REST phase of ``lwm2m bench``: device Reads through the HTTP API, from another process.

The bench's server gets its REST API on a loopback port from a factory the caller passes
(``lwm2m bench``: :class:`~lwm2m.web.serving.WebServer` as ``lwm2m server`` runs it, access log
off; the web layer sits above this one); a loader process, pinned with the
fleet, keeps ``connections`` HTTP/1.1 keep-alive connections, each sending ``GET
/api/clients/{ep}/3/0/9`` and waiting for the answer before the next, round-robin over the
fleet, for ``duration`` seconds.  The loader speaks raw HTTP over asyncio streams, so that it
costs little next to what it measures.  Reported like the other phases: reads/s, p50/p99 of
each request as the loader saw it, and the server process's CPU per read, which is the figure
to compare with the Python API's reads phase.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

from lwm2m.loadtest.shards import start_deaf_to_sigint
from lwm2m.server import LwM2MServer
from lwm2m.server.runtime import event_loop_factory

READ_PATH = "3/0/9"
SUCCESS = b'"status":"2.05"'
MAX_RESPONSE = 1 << 16


class RestLoadError(Exception):
    """The loader could not run or answered nothing."""


class RestApi(Protocol):
    """An HTTP server of the REST API, bound by ``start()``."""

    @property
    def address(self) -> tuple[str, int]: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


RestApiFactory = Callable[[LwM2MServer], RestApi]


async def rest_phase(
    web: RestApi,
    endpoints: Sequence[str],
    *,
    duration: float,
    connections: int,
    pin: Callable[[BaseProcess], None],
) -> tuple[int, float, int, list[float]]:
    """``(reads, seconds, failed, sorted latencies)`` of one loader run against ``server``'s
    REST API served by ``web``; the caller measures the CPU around it."""
    await web.start()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=run_loader,
        args=(theirs, web.address[1], list(endpoints), connections, duration),
        name="rest-loader",
        daemon=True,
    )
    try:
        start_deaf_to_sigint(process)
        theirs.close()
        pin(process)
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, _receive, ours, 30.0)
        if ready != ("ready",):
            raise RestLoadError(f"the REST loader did not start: {ready!r}")
        ours.send(("go",))
        result = await loop.run_in_executor(None, _receive, ours, duration + 30.0)
        if not (isinstance(result, tuple) and result[0] == "done"):
            raise RestLoadError(f"the REST loader failed: {result!r}")
        _, count, seconds, failed, latencies = result
        return count, seconds, failed, sorted(latencies)
    finally:
        ours.close()
        if process.pid is not None:  # started
            await asyncio.get_running_loop().run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.terminate()
        await web.stop()


def _receive(pipe: Connection, timeout: float) -> object:
    if not pipe.poll(timeout):
        return ("timeout",)
    try:
        return pipe.recv()
    except EOFError:
        return ("ended",)


def run_loader(
    pipe: Connection, port: int, endpoints: list[str], connections: int, duration: float
) -> None:
    """The loader process: connect, tell ``ready``, wait for ``go``, load, send the result."""
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_load(pipe, port, endpoints, connections, duration))
    except Exception as exc:  # reported to the bench, which says what went wrong
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))


async def _load(
    pipe: Connection, port: int, endpoints: list[str], connections: int, duration: float
) -> None:
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    requests = [
        f"GET /api/clients/{endpoint}/{READ_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        for endpoint in endpoints
    ]
    pipe.send(("ready",))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    latencies: list[float] = []
    failed = 0
    start = time.perf_counter()
    until = start + duration

    async def connection(index: int) -> None:
        nonlocal failed
        reader, writer = streams[index]
        turn = index
        while (sent := time.perf_counter()) < until:
            writer.write(requests[turn % len(requests)])
            turn += connections
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200") and SUCCESS in body:
                latencies.append(time.perf_counter() - sent)
            else:
                failed += 1
        writer.close()

    await asyncio.gather(*(connection(index) for index in range(connections)))
    seconds = time.perf_counter() - start
    pipe.send(("done", len(latencies), seconds, failed, latencies))


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            if 0 <= length <= MAX_RESPONSE:
                return length
    raise RestLoadError("an answer without a usable Content-Length")
