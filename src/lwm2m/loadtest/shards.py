"""The bench's side of its fleet shard processes (:mod:`lwm2m.loadtest.fleet` is theirs): start
them, pin them to the fleet's CPUs, tell them what to do and collect their answers over pipes,
count their CPU time, stop them.

Every child process of the bench starts with SIGINT ignored (:func:`start_deaf_to_sigint`):
Ctrl-C reaches the whole foreground process group, and only the bench itself should act on it,
by stopping its children through their pipes, not by each dying mid-phase with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import cast

from lwm2m.loadtest.fleet import Flow, ShardSpec, run_shard


class BenchError(Exception):
    """The bench could not run to the end; the message says where it stopped."""


def start_deaf_to_sigint(process: BaseProcess) -> None:
    """Start ``process`` with SIGINT ignored (an ignored disposition survives exec, and Python
    keeps it); a SIGINT meanwhile waits, blocked, for this process's own handler."""
    blocked = {signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)


class Shards:
    """The fleet's processes and a pipe to each; messages from them arrive in one inbox."""

    def __init__(self, count: int, flow: Flow) -> None:
        self.count = count
        self.flow = flow
        self.inbox: asyncio.Queue[tuple[int, tuple[object, ...]]] = asyncio.Queue()
        self.processes: list[BaseProcess] = []
        self.pipes: list[Connection] = []
        self.fleet_cpus: list[int] | None = None

    def start(
        self,
        server: tuple[str, int],
        clients: int,
        register_window: int,
        lifetime: float,
        local_host: str | None = None,
    ) -> None:
        """``clients`` devices over :attr:`count` processes, registering with ``server``; a
        shard left behind ends itself after ``lifetime`` seconds.  ``local_host``: the address
        of every device (a server off this machine), else 127.77.x.y."""
        context = multiprocessing.get_context("spawn")
        loop = asyncio.get_running_loop()
        shards = self.count
        first = 0
        for index in range(shards):
            count = clients // shards + (index < clients % shards)
            spec = ShardSpec(
                index,
                first,
                count,
                server,
                register_window=max(1, register_window // shards),
                max_seconds=lifetime,
                local_host=local_host,
            )
            first += count
            ours, theirs = context.Pipe()
            process = context.Process(
                target=run_shard, args=(theirs, spec, self.flow), name=f"fleet-{index}", daemon=True
            )
            start_deaf_to_sigint(process)
            theirs.close()
            self.processes.append(process)
            self.pipes.append(ours)
            loop.add_reader(ours.fileno(), self._on_pipe, index)

    def separate_cpus(self, cpus: list[int]) -> None:
        """The first half of ``cpus`` for the server (this process), the rest for the fleet."""
        if len(cpus) < 2:
            return
        half = len(cpus) // 2
        self.fleet_cpus = cpus[half:]
        for process in self.processes:
            self.pin(process)
        os.sched_setaffinity(0, cpus[:half])

    def pin(self, process: BaseProcess) -> None:
        """Put ``process`` (a shard, or another of the bench's children) on the fleet's CPUs."""
        if self.fleet_cpus is not None:
            assert process.pid is not None
            os.sched_setaffinity(process.pid, self.fleet_cpus)

    def cpu_seconds(self) -> float:
        """CPU seconds the shard processes have used so far (user and system)."""
        ticks = 0
        for process in self.processes:
            try:
                with open(f"/proc/{process.pid}/stat", encoding="ascii") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:  # ended
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def _on_pipe(self, index: int) -> None:
        try:
            message = self.pipes[index].recv()
        except (EOFError, OSError):
            message = ("error", f"fleet shard {index} ended unexpectedly")
            asyncio.get_running_loop().remove_reader(self.pipes[index].fileno())
        self.inbox.put_nowait((index, message))

    def tell(self, command: str) -> None:
        for pipe in self.pipes:
            pipe.send((command,))

    async def collect(self, kind: str, timeout: float) -> list[tuple[int, ...]]:
        """The numbers of one ``kind`` message from every shard (BenchError on an error or a
        timeout)."""
        answers: dict[int, tuple[int, ...]] = {}
        deadline = time.perf_counter() + timeout
        while len(answers) < len(self.pipes):
            try:
                index, message = await asyncio.wait_for(
                    self.inbox.get(), max(0.0, deadline - time.perf_counter())
                )
            except TimeoutError:
                raise BenchError(
                    f"fleet shards did not answer {kind!r} in {timeout:.0f} s"
                ) from None
            if message[0] == "error":
                raise BenchError(str(message[1]))
            if message[0] == kind:
                answers[index] = cast(tuple[int, ...], message[1:])
        return list(answers.values())

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            loop.remove_reader(pipe.fileno())
            with contextlib.suppress(OSError):  # gone already
                pipe.send(("stop",))
        deadline = time.monotonic() + 10
        for process in self.processes:
            await loop.run_in_executor(None, process.join, max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(1)
        for pipe in self.pipes:
            pipe.close()
