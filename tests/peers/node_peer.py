"""Drive lwm2m-node-lib (an independent LwM2M 1.0 client and server, npm) from asyncio tests.

``tests/peers/node/client.js`` and ``server.js`` wrap the library; ``make peers`` installs it with
``npm ci``. Both speak JSON lines: commands on stdin, events on stdout (protocol in the scripts'
headers). Every command gets an ``id`` and is answered by one ``result`` or ``error`` event.

    async with start_node_server() as server:            # free UDP port on 127.0.0.1
        async with start_node_client(port=server.port, endpoint="ep") as client:
            await server.wait_for("registration", endpoint="ep")
            assert await server.read("ep", "/3/0/0") == "node-peer"

Every wait is bounded; leaving the ``async with`` ends the process (quit, then SIGTERM, then
SIGKILL), and the scripts exit by themselves when their stdin closes, so a killed test run leaves
no node process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Self

NODE_DIR = Path(__file__).resolve().parent / "node"
LIBRARY = NODE_DIR / "node_modules" / "lwm2m-node-lib" / "package.json"

DEFAULT_TIMEOUT = 5.0
START_TIMEOUT = 15.0
STOP_TIMEOUT = 3.0

Event = dict[str, Any]


class NodePeerError(Exception):
    """The peer could not be started, answered with an error, exited, or did not answer in time."""


def node_executable() -> str:
    """Path of ``node``; raises (never skips) when it or the installed library is missing."""
    node = shutil.which("node")
    if node is None:
        raise NodePeerError("node is not on PATH: the lwm2m-node-lib peer needs Node.js")
    if not LIBRARY.is_file():
        raise NodePeerError(f"{LIBRARY} is missing: run `make peers` (npm ci in {NODE_DIR})")
    return node


class NodePeer:
    """One node script as a subprocess: send JSON-line commands, await JSON-line events."""

    def __init__(self, script: str, args: Sequence[str], *, env: dict[str, str] | None = None):
        self.script = script
        self.args = list(args)
        self.env = env
        self.events: list[Event] = []  # every event received, in order
        self.stderr: deque[str] = deque(maxlen=200)
        self._pending: list[Event] = []  # events not yet taken by wait_for()
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._eof = False

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self, first_event: str, *, timeout: float = START_TIMEOUT) -> Event:
        """Spawn the script and wait for its first event (``ready`` or ``listening``)."""
        node = node_executable()
        env = {**os.environ, **(self.env or {})}
        self._process = await asyncio.create_subprocess_exec(
            node,
            "--no-warnings",
            str(NODE_DIR / self.script),
            *self.args,
            cwd=NODE_DIR,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read_events(self._process.stdout)),
            asyncio.create_task(self._read_stderr(self._process.stderr)),
        ]
        try:
            return await self.wait_for(first_event, timeout=timeout)
        except BaseException:
            await self.close()
            raise

    async def _read_events(self, stream: asyncio.StreamReader) -> None:
        try:
            while line := await stream.readline():
                text = line.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    event = json.loads(text)
                except ValueError:
                    self.stderr.append(f"[stdout, not JSON] {text}")
                    continue
                async with self._changed:
                    self.events.append(event)
                    self._pending.append(event)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._eof = True
                self._changed.notify_all()

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def _describe(self) -> str:
        recent = "\n  ".join(json.dumps(event) for event in self.events[-10:]) or "(none)"
        errors = "\n  ".join(self.stderr) or "(none)"
        return f"{self.script} events:\n  {recent}\n{self.script} stderr:\n  {errors}"

    def send(self, command: Event) -> int:
        """Write one command (an ``id`` is added when absent) and return its id."""
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise NodePeerError(f"{self.script} is not running\n{self._describe()}")
        command = dict(command)
        command.setdefault("id", next(self._ids))
        process.stdin.write((json.dumps(command) + "\n").encode())
        return int(command["id"])

    async def wait_for(
        self,
        event: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        match: Callable[[Event], bool] | None = None,
        **fields: Any,
    ) -> Event:
        """Take the oldest event not yet taken that is named ``event`` and has these ``fields``."""

        def wanted(candidate: Event) -> bool:
            if event is not None and candidate.get("event") != event:
                return False
            if any(candidate.get(key) != value for key, value in fields.items()):
                return False
            return match is None or match(candidate)

        async def take() -> Event:
            async with self._changed:
                while True:
                    for index, candidate in enumerate(self._pending):
                        if wanted(candidate):
                            del self._pending[index]
                            return candidate
                    if self._eof:
                        raise NodePeerError(
                            f"{self.script} exited (code {self.returncode}) while waiting for "
                            f"{event} {fields}\n{self._describe()}"
                        )
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(take(), timeout)
        except TimeoutError:
            raise NodePeerError(
                f"no {event or 'event'} {fields} from {self.script} within {timeout} s\n"
                f"{self._describe()}"
            ) from None

    async def request(self, command: Event, *, timeout: float = DEFAULT_TIMEOUT) -> Event:
        """Send a command and return its ``result`` event; an ``error`` event raises."""
        command_id = self.send(command)
        reply = await self.wait_for(
            timeout=timeout,
            match=lambda e: e.get("id") == command_id and e.get("event") in ("result", "error"),
        )
        if reply["event"] == "error":
            raise NodePeerError(
                f"{self.script} {command.get('cmd')} failed: {reply.get('message')} "
                f"(code {reply.get('code')})"
            )
        return reply

    def uncaught_errors(self) -> list[Event]:
        """Exceptions that escaped the library (the scripts report them and go on)."""
        return [e for e in self.events if e.get("event") == "error" and e.get("uncaught")]

    def kill(self) -> None:
        """SIGKILL: the peer ends at once, its sockets reset (a crash, not a shutdown)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    async def close(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the script to quit, then SIGTERM, then SIGKILL; reap it and its pipe readers."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(NodePeerError, OSError):
                self.send({"cmd": "quit"})
            if process.stdin is not None:
                process.stdin.close()
            for stop in (None, process.terminate, process.kill):
                if stop is not None:
                    with contextlib.suppress(ProcessLookupError):
                        stop()
                try:
                    await asyncio.wait_for(process.wait(), timeout)
                    break
                except TimeoutError:
                    continue
        for reader in self._readers:
            try:
                await asyncio.wait_for(reader, timeout)
            except TimeoutError:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        await process.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class NodeServer(NodePeer):
    """lwm2m-node-lib's server (in-memory registry) on 127.0.0.1; ``port`` is set once started."""

    port: int

    async def read(self, endpoint: str, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
        reply = await self.request(
            {"cmd": "read", "endpoint": endpoint, "path": path}, timeout=timeout
        )
        return str(reply["value"])

    async def write(
        self, endpoint: str, path: str, value: str, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        await self.request(
            {"cmd": "write", "endpoint": endpoint, "path": path, "value": value}, timeout=timeout
        )

    async def execute(
        self, endpoint: str, path: str, args: str = "", *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        await self.request(
            {"cmd": "execute", "endpoint": endpoint, "path": path, "args": args}, timeout=timeout
        )

    async def discover(self, endpoint: str, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
        reply = await self.request(
            {"cmd": "discover", "endpoint": endpoint, "path": path}, timeout=timeout
        )
        return str(reply["value"])

    async def observe(self, endpoint: str, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Start observing; returns the first value, later ones arrive as ``notify`` events."""
        reply = await self.request(
            {"cmd": "observe", "endpoint": endpoint, "path": path}, timeout=timeout
        )
        return str(reply["value"])

    async def cancel(self, endpoint: str, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        await self.request({"cmd": "cancel", "endpoint": endpoint, "path": path}, timeout=timeout)

    async def devices(self, *, timeout: float = DEFAULT_TIMEOUT) -> list[Event]:
        reply = await self.request({"cmd": "list"}, timeout=timeout)
        return list(reply["devices"])


class NodeClient(NodePeer):
    """lwm2m-node-lib's client with /3/0, /3303/0 and /1234/0 preset (see client.js)."""

    async def set(self, path: str, value: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        await self.request({"cmd": "set", "path": path, "value": value}, timeout=timeout)

    async def get(self, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
        reply = await self.request({"cmd": "get", "path": path}, timeout=timeout)
        return str(reply["value"])

    async def register(self, *, timeout: float = DEFAULT_TIMEOUT) -> Event:
        return await self.request({"cmd": "register"}, timeout=timeout)

    async def update(self, *, timeout: float = DEFAULT_TIMEOUT) -> Event:
        return await self.request({"cmd": "update"}, timeout=timeout)

    async def deregister(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        await self.request({"cmd": "deregister"}, timeout=timeout)


def _timing_args(ack_timeout: float | None, max_retransmit: int | None) -> list[str]:
    args = []
    if ack_timeout is not None:
        args += ["--ack-timeout", str(ack_timeout)]
    if max_retransmit is not None:
        args += ["--max-retransmit", str(max_retransmit)]
    return args


@contextlib.asynccontextmanager
async def start_node_server(
    port: int = 0,
    *,
    accept: str = "text/plain",
    write_format: str = "text/plain",
    lifetime_check_ms: int = 1000,
    ack_timeout: float | None = None,
    max_retransmit: int | None = None,
    timeout: float = START_TIMEOUT,
) -> AsyncIterator[NodeServer]:
    """Run server.js on 127.0.0.1:``port`` (0: a free port, then in ``server.port``)."""
    args = [
        f"--port={port}",
        f"--accept={accept}",
        f"--write-format={write_format}",
        f"--lifetime-check={lifetime_check_ms}",
        *_timing_args(ack_timeout, max_retransmit),
    ]
    server = NodeServer("server.js", args)
    try:
        listening = await server.start("listening", timeout=timeout)
        server.port = int(listening["port"])
        yield server
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def start_node_client(
    *,
    port: int,
    endpoint: str,
    host: str = "127.0.0.1",
    lifetime: int = 60,
    lwm2m: str = "1.0",
    register: bool = True,
    url: str = "",
    ack_timeout: float | None = None,
    max_retransmit: int | None = None,
    timeout: float = START_TIMEOUT,
) -> AsyncIterator[NodeClient]:
    """Run client.js; it registers to ``host:port`` at once unless ``register`` is false.

    Yields once the client is ``ready`` (objects preset): wait for the ``registered`` event.
    """
    args = [
        f"--host={host}",
        f"--port={port}",
        f"--endpoint={endpoint}",
        f"--lifetime={lifetime}",
        f"--lwm2m={lwm2m}",
        f"--url={url}",
        *_timing_args(ack_timeout, max_retransmit),
    ]
    if not register:
        args.append("--no-register")
    client = NodeClient("client.js", args)
    try:
        await client.start("ready", timeout=timeout)
        yield client
    finally:
        await client.close()
