"""``lwm2m network`` as a running service: the emulated clock, the modems' TCP port, the T8
HTTP port, the SMSC's SMPP port and the callback sender, around the sans-I/O
:class:`~lwm2m.network.scef.Scef`.

Emulated time runs ``time_scale`` times faster than the wall clock (it starts at the wall
clock's time), so that hours of PSM pass in seconds; every T8 date-time is on that clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from lwm2m.network.at_syntax import MAX_LINE
from lwm2m.network.callbacks import CallbackSender
from lwm2m.network.core import Network, NoFreeSimError
from lwm2m.network.scef import Scef
from lwm2m.network.sims import Hss
from lwm2m.network.smpp_pdu import MAX_PDU
from lwm2m.network.smsc import SmscConfig
from lwm2m.network.t8_app import create_t8_app
from lwm2m.network.ue import NetworkConfig

LOG = logging.getLogger(__name__)
ESC = b"\x1b"
"""Ends (and cancels) a PDU after AT+CMGS's prompt; Ctrl-Z (0x1A) ends and sends it."""


class EmulatedClock:
    """Seconds since the epoch, running ``scale`` times faster than real time."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._wall = time.time()
        self._mono = time.monotonic()

    def now(self) -> float:
        return self._wall + (time.monotonic() - self._mono) * self.scale

    def real_seconds(self, emulated: float) -> float:
        return max(0.0, emulated / self.scale)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    at_port: int = 5000
    t8_port: int = 8091
    t8_token: str | None = None
    smpp_port: int | None = None
    """The SMSC's SMPP 3.4 port (None: no SMPP face; device triggers are SMS all the same)."""
    time_scale: float = 1.0
    log_level: str = "warning"
    access_log: bool = False
    """One log line per T8 request, through the process's logging like every other line."""


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the owner of the loop handles SIGINT and SIGTERM


class NetworkService:
    """Everything ``lwm2m network`` runs, in the current event loop."""

    def __init__(
        self,
        hss: Hss,
        network_config: NetworkConfig,
        config: ServiceConfig,
        sms: SmscConfig | None = None,
    ) -> None:
        self.config = config
        self.clock = EmulatedClock(config.time_scale)
        self.network = Network(hss, network_config)
        self.scef = Scef(self.network, sms)
        self.callbacks = CallbackSender()
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._esmes: dict[int, asyncio.StreamWriter] = {}
        self._smpp_server: asyncio.Server | None = None
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._at_server: asyncio.Server | None = None
        self._http: _Uvicorn | None = None
        self._http_socket: socket.socket | None = None
        self._flush_pending = False

    # -- T8Host ---------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def pump(self) -> None:
        """Flush once at the end of this turn of the loop: a burst of requests, AT lines or
        MO packets costs one poll of the SCEF, not one each."""
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_pending = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send the callbacks and URCs that are due, and re-arm the timers."""
        self._flush_pending = False
        for callback in self.scef.poll(self.now()):
            self.callbacks.submit(callback)
        for modem_id, writer in self._writers.items():
            urcs = self.network.take_urcs(modem_id)
            if urcs:
                writer.write(urcs.encode("latin-1"))
        for session_id, esme in self._esmes.items():
            esme.write(self.scef.smsc.output(session_id))
        self._wakeup.set()

    def status(self) -> dict[str, Any]:
        return {
            **self.scef.status(self.now()),
            "timeScale": self.clock.scale,
            "callbacks": self.callbacks.to_json(),
        }

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def at_address(self) -> tuple[str, int]:
        assert self._at_server is not None, "start() first"
        host, port = self._at_server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def smpp_address(self) -> tuple[str, int]:
        assert self._smpp_server is not None, "start() with an smpp_port first"
        host, port = self._smpp_server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def t8_url(self) -> str:
        assert self._http_socket is not None, "start() first"
        host, port = self._http_socket.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await self.callbacks.start()
        self._at_server = await asyncio.start_server(
            self._serve_modem, self.config.host, self.config.at_port, limit=MAX_LINE * 2
        )
        if self.config.smpp_port is not None:
            self._smpp_server = await asyncio.start_server(
                self._serve_esme, self.config.host, self.config.smpp_port, limit=MAX_PDU
            )
        app = create_t8_app(self, token=self.config.t8_token)
        self._http = _Uvicorn(
            uvicorn.Config(
                app,
                log_level=self.config.log_level,
                log_config=None,  # no handlers of uvicorn's own: the process's format
                access_log=self.config.access_log,
                lifespan="off",
            )
        )
        self._http_socket = socket.create_server((self.config.host, self.config.t8_port))
        self._tasks = [
            asyncio.create_task(self._http.serve(sockets=[self._http_socket])),
            asyncio.create_task(self._run_timers()),
        ]

    async def stop(self) -> None:
        if self._http is not None:
            self._http.should_exit = True
        for server in (self._at_server, self._smpp_server):
            if server is not None:
                server.close()
        for writer in [*self._writers.values(), *self._esmes.values()]:
            writer.close()
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.callbacks.stop()

    async def _run_timers(self) -> None:
        while True:
            now = self.now()
            deadline = self.scef.next_deadline(now)
            timeout = None if deadline is None else self.clock.real_seconds(deadline - now)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the
            # cancellation of stop() when the event is set at the same moment
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            self._wakeup.clear()
            self.flush()
            self._wakeup.clear()

    # -- modems ---------------------------------------------------------------------------
    async def _serve_modem(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One TCP connection is one modem; closing it is the modem losing power."""
        try:
            modem_id = self.network.connect_modem()
        except NoFreeSimError as exc:
            LOG.warning("modem refused: %s", exc)
            writer.close()
            return
        self._writers[modem_id] = writer
        pending = b""
        try:
            while chunk := await reader.read(4096):
                pending = self._consume(modem_id, writer, pending + chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            del self._writers[modem_id]
            self.network.disconnect_modem(modem_id)
            self.pump()
            writer.close()

    def _consume(self, modem_id: int, writer: asyncio.StreamWriter, pending: bytes) -> bytes:
        """Answer every command line (ended by CR or LF) and every PDU after AT+CMGS's prompt
        (ended by Ctrl-Z, or ESC to cancel) in ``pending``; what is left is incomplete."""
        while True:
            awaiting_pdu = self.network.awaiting_pdu(modem_id)
            end = _first(pending, b"\x1a\x1b" if awaiting_pdu else b"\r\n")
            if end < 0:
                if len(pending) <= MAX_LINE:
                    return pending
                end = len(pending)  # too long: answered as an error, then dropped
            raw, terminator, pending = pending[:end], pending[end : end + 1], pending[end + 1 :]
            if awaiting_pdu:
                text = self.network.at_pdu(
                    modem_id, raw.decode("latin-1"), self.now(), cancel=terminator == ESC
                )
                writer.write(text.encode("latin-1"))
                self.pump()
            else:
                self._answer(modem_id, writer, raw)

    def _answer(self, modem_id: int, writer: asyncio.StreamWriter, raw: bytes) -> None:
        if not raw.strip():
            return
        if len(raw) > MAX_LINE:
            writer.write(b"\r\nERROR\r\n")
            return
        text = self.network.at_line(modem_id, raw.decode("latin-1"), self.now())
        writer.write(text.encode("latin-1"))
        self.pump()

    # -- ESMEs ----------------------------------------------------------------------------
    async def _serve_esme(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One TCP connection is one SMPP session of the SMSC."""
        smsc = self.scef.smsc
        session_id = smsc.open_session()
        self._esmes[session_id] = writer
        try:
            while chunk := await reader.read(MAX_PDU):
                smsc.receive(session_id, chunk, self.now())
                self.pump()
                if smsc.sessions[session_id].closed:
                    break  # unbound, or a stream that cannot be framed
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            del self._esmes[session_id]
            writer.write(smsc.output(session_id))
            smsc.close_session(session_id, self.now())
            self.pump()
            writer.close()


def _first(data: bytes, terminators: bytes) -> int:
    """Index of the first of ``terminators`` in ``data``, -1 if none."""
    found = [index for byte in terminators if (index := data.find(bytes((byte,)))) >= 0]
    return min(found, default=-1)
