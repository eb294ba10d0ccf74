"""Separate hosts for a test: Linux network namespaces joined by veth pairs to a bridge that
lives in a namespace of its own, addresses in 10.200.N.0/24 used only inside them.  Nothing is
added to the test's own namespace; everything is deleted on exit, even after a failure.

A coroutine runs "on" a host in a thread of its own that entered the host's namespace
(``setns`` changes the calling thread only): the sockets it opens belong to that host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class NamespaceError(Exception):
    """Namespaces cannot be made here (no privilege, no ``ip``)."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Network:
    """``hosts`` namespaces on one bridge; host *i* has the address :meth:`address` (i)."""

    def __init__(self, hosts: Sequence[str]) -> None:
        tag = secrets.token_hex(3)
        self.subnet = f"10.200.{secrets.randbelow(256)}"
        self._switch = f"lw{tag}-switch"
        self._hosts = {name: f"lw{tag}-{name}" for name in hosts}
        self._made: list[str] = []

    def address(self, host: str) -> str:
        return f"{self.subnet}.{list(self._hosts).index(host) + 1}"

    def exec(self, host: str, command: Sequence[str]) -> list[str]:
        """``command`` as run on ``host`` (``ip netns exec`` execs it: same PID)."""
        return ["ip", "netns", "exec", self._hosts[host], *command]

    def __enter__(self) -> Network:
        try:
            for namespace in (self._switch, *self._hosts.values()):
                _ip("netns", "add", namespace)
                self._made.append(namespace)
                _ip("-n", namespace, "link", "set", "lo", "up")
        except (OSError, subprocess.SubprocessError) as exc:
            self.close()
            detail = getattr(exc, "stderr", b"") or b""
            raise NamespaceError(f"{exc} {detail.decode(errors='replace')}".strip()) from None
        switch = self._switch
        try:
            _ip("-n", switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", switch, "link", "set", "br0", "up")
            for index, (host, namespace) in enumerate(self._hosts.items()):
                port = f"v{index}"
                _ip(
                    *("-n", switch, "link", "add", port, "type", "veth"),
                    *("peer", "name", "eth0", "netns", namespace),
                )
                _ip("-n", switch, "link", "set", port, "master", "br0", "up")
                _ip("-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
                _ip("-n", namespace, "link", "set", "eth0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop what still runs in the namespaces (this test's processes: a failure or a
        timeout may have left some), then delete them (their veths go with them)."""
        while self._made:
            namespace = self._made.pop()
            pids = subprocess.run(
                ["ip", "netns", "pids", namespace], check=False, capture_output=True, timeout=10
            )
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(
                ["ip", "netns", "del", namespace], check=False, capture_output=True, timeout=10
            )

    async def run_on(self, host: str, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``work()`` on an event loop of a thread inside ``host``'s namespace."""
        path = f"/run/netns/{self._hosts[host]}"
        outcome: list[T] = []
        failure: list[BaseException] = []

        def thread() -> None:
            try:
                descriptor = os.open(path, os.O_RDONLY)
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(descriptor, CLONE_NEWNET) != 0:
                        error = ctypes.get_errno()
                        raise OSError(error, f"setns {path}: {os.strerror(error)}")
                finally:
                    os.close(descriptor)
                outcome.append(asyncio.run(work()))
            except BaseException as exc:  # handed to the caller
                failure.append(exc)

        runner = threading.Thread(target=thread, name=f"netns-{host}", daemon=True)
        runner.start()
        await asyncio.to_thread(runner.join)
        if failure:
            raise failure[0]
        return outcome[0]
