"""``lwm2m bench --nidd``: a NIDD fleet through the emulated operator network and T8.

Two processes besides this one, on loopback: the emulated network (``NetworkService``: the
network core, the SCEF, the T8 API on uvicorn, the callback sender) with the fleet's devices
inside it, and ``lwm2m server --nidd`` (its T8 client and callback route on its HTTP port).
A device is the UDP bench's light model (:class:`~lwm2m.loadtest.device.Fleet`: pre-encoded
CoAP) on a modem without AT (:meth:`Network.power_on_in_process`): its datagrams go up as
MO data through the network core (``Ue.send_mo``), the SCEF's ``NiddUplinkDataNotification``
callbacks carry them to the server; the server's answers come down as T8 downlink data
deliveries into the UE.  Only the AT text is skipped.

Phases: the server is given every device (``PUT /api/nidd/devices``) and configures it at the
SCEF (untimed); registrations (at most ``window`` Registers unanswered, each timed from its MO
to the 2.01 reaching the UE); observations of ``/3/0/9`` through the REST API (untimed: they
set up the next phase); ``duration`` seconds of NON notifications (at most ``window`` between
the UE's MO and the server's answer to their callback, each timed so).  The server process's
CPU time (``/proc/PID/stat``) per message, and its VmRSS growth per device from before the
devices were given to it until they are registered.

``--udp`` runs the same with ``lwm2m server`` over UDP: the same devices, one socket each, in
the same fleet process (no network), timed the same way (a notification is CON there, its ACK
standing for the callback's answer), so the two per-message costs sit side by side.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import httpx

from lwm2m.loadtest.device import endpoint_name
from lwm2m.loadtest.nidd_fleet import NiddRadio, UdpRadio
from lwm2m.loadtest.runner import percentile

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Phase:
    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0

    def to_json(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        result: dict[str, object] = {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "perSecond": round(self.count / self.seconds, 1) if self.seconds else 0.0,
            "serverCpuUsPerMessage": round(self.server_cpu / self.count * 1e6, 1)
            if self.count
            else None,
        }
        if ordered:
            result["latencyMs"] = {
                "p50": round(percentile(ordered, 0.5) * 1e3, 2),
                "p99": round(percentile(ordered, 0.99) * 1e3, 2),
            }
        return result


@dataclass(frozen=True, slots=True)
class NiddBenchReport:
    transport: str
    clients: int
    registrations: Phase
    notifications: Phase
    rss_before: int
    rss_registered: int
    load_average: float

    def to_json(self) -> dict[str, object]:
        return {
            "transport": self.transport,
            "clients": self.clients,
            "loadAverage1m": round(self.load_average, 2),
            "registrations": self.registrations.to_json(),
            "notifications": self.notifications.to_json(),
            "bytesPerDevice": round((self.rss_registered - self.rss_before) / self.clients),
        }

    def lines(self) -> list[str]:
        def row(name: str, phase: Phase) -> str:
            figures = phase.to_json()
            latency: Any = figures.get("latencyMs", {"p50": "-", "p99": "-"})
            return (
                f"{name:<14}{figures['perSecond']:>10,}/s {phase.count:>8,} in "
                f"{phase.seconds:6.2f} s  p50 {latency['p50']} ms  p99 {latency['p99']} ms  "
                f"server CPU {figures['serverCpuUsPerMessage']} µs/message"
            )

        per_device = (self.rss_registered - self.rss_before) / self.clients
        return [
            f"{self.clients:,} devices over {self.transport}, load average {self.load_average:.2f}",
            row("registrations", self.registrations),
            row("notifications", self.notifications),
            f"server RSS per device (configured and registered) {per_device:,.0f} B",
        ]


# -- the server process ---------------------------------------------------------------------


def _free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _start_server(extra: list[str], http_port: int, coap_port: int) -> subprocess.Popen[bytes]:
    # loopback only: a free port of 127.0.0.1 may be taken on another address of the host
    command = [sys.executable, "-m", "lwm2m.cli.main", "server", "--db", ":memory:"]
    command += ["--host", "127.0.0.1"]
    command += ["--log-level", "error", "--coaps-port", "0", "--tcp-port", "0", "--tls-port", "0"]
    command += ["--coap-port", str(coap_port), "--http-port", str(http_port), *extra]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr)
    assert server.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = server.stdout.readline().decode()
        if not line:
            break
        if "REST API on" in line:
            return server
    server.kill()
    raise RuntimeError("lwm2m server did not start")


def _pin(pid: int, cpus: list[int], first_half: bool) -> None:
    """Server on the first half of the CPUs, the fleet on the rest (as `lwm2m bench`)."""
    half = max(1, len(cpus) // 2)
    chosen = cpus[:half] if first_half or len(cpus) == 1 else cpus[half:]
    os.sched_setaffinity(pid, chosen)


# -- the bench (this process) ---------------------------------------------------------------


def run_nidd_bench(
    clients: int, duration: float, *, udp: bool = False, window: int = 64
) -> NiddBenchReport:
    """The whole bench (module docstring); blocking."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    http_port = _free_port()
    coap_port = _free_port(socket.SOCK_DGRAM)
    fleet = context.Process(
        target=_fleet_main, args=(theirs, clients, udp, coap_port, window), daemon=True
    )
    fleet.start()
    server: subprocess.Popen[bytes] | None = None
    cpus = sorted(os.sched_getaffinity(0))
    try:
        t8_url = _answer(ours, 60)
        extra = [] if udp else ["--nidd", t8_url, "--nidd-callback-url"]
        extra += [] if udp else [f"http://127.0.0.1:{http_port}/t8"]
        server = _start_server(extra, http_port, coap_port)
        assert fleet.pid is not None
        _pin(server.pid, cpus, True)
        _pin(fleet.pid, cpus, False)
        api = f"http://127.0.0.1:{http_port}"
        load_average = os.getloadavg()[0]
        rss_before = _rss(server.pid)  # before the devices: their NIDD state counts too
        if not udp:
            asyncio.run(_configure(api, t8_url, clients))
        registrations = _timed(server.pid, ours, ("register",), 60 + clients / 50)
        rss_registered = _rss(server.pid)
        asyncio.run(_observe(api, clients))
        notifications = _timed(server.pid, ours, ("notify", duration), 60 + duration)
        return NiddBenchReport(
            "UDP" if udp else "NIDD",
            clients,
            registrations,
            notifications,
            rss_before,
            rss_registered,
            load_average,
        )
    finally:
        ours.send(("stop",))
        fleet.join(15)
        if fleet.is_alive():
            fleet.kill()
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def _answer(conn: Connection, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise RuntimeError("the fleet process did not answer")
    answer = conn.recv()
    if isinstance(answer, tuple) and answer and answer[0] == "error":
        raise RuntimeError(f"fleet: {answer[1]}")
    return answer


def _timed(pid: int, conn: Connection, command: tuple[Any, ...], timeout: float) -> Phase:
    cpu = _cpu_seconds(pid)
    conn.send(command)
    count, seconds, latencies = _answer(conn, timeout)
    return Phase(count, seconds, latencies, _cpu_seconds(pid) - cpu)


async def _configure(api: str, t8_url: str, clients: int) -> None:
    """Every device's NIDD configuration and subscriptions at the SCEF, 16 at a time."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        status = (await http.get(f"{t8_url}/api/network", timeout=60)).json()
        ids = [ue["sim"]["externalId"] for ue in status["ues"]][:clients]
        queue = list(ids)

        async def worker() -> None:
            while queue:
                answer = await http.put(f"/api/nidd/devices/{queue.pop()}")
                answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))
        deadline = time.monotonic() + 60 + clients / 20
        while time.monotonic() < deadline:
            listed = (await http.get("/api/nidd/devices")).json()
            if sum(device["status"] == "active" for device in listed) == clients:
                return
            await asyncio.sleep(0.5 + clients / 5000)  # a listing of 10,000 costs ~0.2 s
        raise RuntimeError("the devices were not all configured at the SCEF in time")


async def _observe(api: str, clients: int) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        queue = list(range(clients))

        async def worker() -> None:
            while queue:
                ep = endpoint_name(queue.pop())
                answer = await http.post(f"/api/clients/{ep}/3/0/9/observe")
                answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(32)))


# -- the fleet process ----------------------------------------------------------------------


def _fleet_main(conn: Connection, clients: int, udp: bool, coap_port: int, window: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_fleet(conn, clients, udp, coap_port, window))
    except Exception as exc:  # reported to the bench, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


async def _fleet(conn: Connection, clients: int, udp: bool, coap_port: int, window: int) -> None:
    loop = asyncio.get_running_loop()
    radio: NiddRadio | UdpRadio = UdpRadio(clients, coap_port) if udp else NiddRadio(clients)
    await radio.start()
    conn.send(radio.t8_url)
    try:
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command[0] == "stop":
                return
            if command[0] == "register":
                conn.send(await radio.register(window))
            elif command[0] == "notify":
                conn.send(await radio.notify(command[1], window))
    finally:
        await radio.stop()
