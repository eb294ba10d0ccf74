"""pyserial's blocking I/O in threads, handed to the event loop: the modem's byte pipe.

Why threads and not pyserial-asyncio(-fast): those watch ``Serial.fileno()`` with the
loop's reader callbacks, which only POSIX ports have. pyserial's URL handlers
(``socket://``, ``rfc2217://``, ``spy://``, ``loop://``, ``hwgrep://``) mostly have no file
descriptor, so pyserial-asyncio-fast bypasses pyserial for ``socket://`` (a plain asyncio
connection) and cannot drive the others; on Windows both poll. A reader thread blocked in
``Serial.read`` works the same for every handler and OS, so ``/dev/ttyUSB0`` and
``socket://host:port`` take exactly the same code path. Its costs are one thread per modem
and closing within the read timeout, both negligible at AT speeds (a 115,200 baud UART
moves ~11 kB/s; a NB-IoT modem's NAS link far less).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import serial

READ_TIMEOUT = 0.1
"""How long a blocked read waits before checking whether the link is closing."""
CHUNK = 4096


async def open_port(url: str, baudrate: int = 115_200) -> serial.Serial:
    """Open ``url`` (a device path or any pyserial URL) without blocking the loop."""
    return await asyncio.to_thread(
        serial.serial_for_url, url, baudrate=baudrate, timeout=READ_TIMEOUT
    )


class SerialLink:
    """Reads ``port`` in a thread and calls ``on_data`` on the loop; writes in order on a
    second thread. ``on_lost`` is called once, on the loop, when the port fails."""

    def __init__(
        self,
        port: serial.Serial,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[Exception], None],
    ) -> None:
        self._port = port
        self._loop = asyncio.get_running_loop()
        self._on_data = on_data
        self._on_lost = on_lost
        self._closing = threading.Event()
        self._lost = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modem-write")
        self._reader = threading.Thread(target=self._read_loop, name="modem-read", daemon=True)
        self._reader.start()

    def write(self, data: bytes) -> None:
        if data and not self._closing.is_set():
            self._writer.submit(self._write, data)

    async def close(self) -> None:
        """Stop both threads and close the port."""
        self._closing.set()
        await asyncio.to_thread(self._reader.join)
        await asyncio.to_thread(self._writer.shutdown)
        await asyncio.to_thread(self._port.close)

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as error:
            self._report_lost(error)

    def _read_loop(self) -> None:
        port = self._port
        while not self._closing.is_set():
            try:
                data = port.read(1)
                while data and len(data) < CHUNK and (waiting := port.in_waiting):
                    data += port.read(min(waiting, CHUNK - len(data)))
            except (serial.SerialException, OSError) as error:
                self._report_lost(error)
                return
            if data:
                try:
                    self._loop.call_soon_threadsafe(self._on_data, data)
                except RuntimeError:  # the loop is closed
                    return

    def _report_lost(self, error: Exception) -> None:
        if self._closing.is_set() or self._lost:
            return
        self._lost = True
        self._closing.set()
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._on_lost, error)
