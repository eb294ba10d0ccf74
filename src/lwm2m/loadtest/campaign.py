"""The campaign benchmark: a firmware campaign over a fleet of simulated devices that pull a
package over CoAP from the server's ``/fw`` resource (``lwm2m bench --campaign``).

The server, its :class:`~lwm2m.firmware.FirmwareDelivery` and a
:class:`~lwm2m.firmware.campaign_runner.CampaignRunner` run here; the devices are the project's
own simulated client (:func:`firmware_device`: a Telekom-profile device with a
:class:`~lwm2m.client.firmware.updater.FirmwareUpdater`), many per event loop, in worker
processes.  Measured from ``create`` to the campaign's completion: devices updated per minute
(their /3/0/3 read after they registered again) and the server process's CPU per delivered
Block2 block (everything the campaign costs the server divided by the blocks it served).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.firmware.package import build_package
from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.firmware.staging import DeviceLimits
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.simulated import simulated_client
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.firmware import FirmwareDelivery, FirmwareRepository
from lwm2m.firmware.campaign import (
    CampaignSpec,
    DeviceState,
    MemoryCampaignStore,
    Method,
    Status,
    Target,
)
from lwm2m.firmware.campaign_runner import CampaignRunner
from lwm2m.loadtest.device import IMEI_BASE
from lwm2m.operations.mapping import CoapParts
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.config import CoapResource
from lwm2m.server.runtime import event_loop_factory

MODEL = "NB-Sim 1"


def firmware_device(
    index: int,
    uri: str,
    *,
    binding: str = "U",
    psk: tuple[bytes, bytes] | None = None,
    limits: DeviceLimits | None = None,
    pull: PullSettings | None = None,
    coap: EndpointConfig = DEFAULT,
    awake_window: float | None = None,
    lifetime: int = 86400,
) -> tuple[LwM2MClient, FirmwareUpdater]:
    """Device ``index`` (``urn:imei:<IMEI_BASE + index>``) registered at ``uri`` with
    ``binding`` (``UQ``: queue mode, awake for ``awake_window`` after it speaks, which it does
    at least every ``lifetime``), pmin 0 (state changes notified at once), version 1.0.0."""
    endpoint = f"urn:imei:{IMEI_BASE + index}"
    identity, key = psk if psk is not None else (None, b"")
    account = ServerAccount(
        1,
        uri,
        lifetime=lifetime,
        default_pmin=0,
        default_pmax=0,
        binding=binding,
        psk_identity=identity,
        psk_key=key,
    )
    now = time.time()
    tree = telekom_device(endpoint, seed=index, now=now, servers=[account])
    updater = FirmwareUpdater(
        tree, limits or DeviceLimits(MODEL, min_battery=0), pull=pull or PullSettings(coap=coap)
    )
    client = simulated_client(
        tree,
        endpoint,
        seed=index,
        now=now,
        config=ClientConfig(awake_window=awake_window, retry_base=0.5, retry_cap=2.0),
        local_address=("127.0.0.1", 0),
        coap=coap,
        tick_interval=60.0,
        firmware=updater,
    )
    return client, updater


@dataclass(frozen=True, slots=True)
class CampaignBenchReport:
    devices: int
    processes: int
    package_size: int
    concurrency: int
    updated: int
    failed: int
    seconds: float
    blocks: int
    server_cpu: float

    @property
    def per_minute(self) -> float:
        return self.updated / self.seconds * 60 if self.seconds else 0.0

    @property
    def cpu_per_block(self) -> float:
        return self.server_cpu / self.blocks if self.blocks else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "devices": self.devices,
            "processes": self.processes,
            "packageBytes": self.package_size,
            "concurrency": self.concurrency,
            "updated": self.updated,
            "failed": self.failed,
            "seconds": round(self.seconds, 2),
            "updatedPerMinute": round(self.per_minute, 1),
            "blocks": self.blocks,
            "serverCpuSeconds": round(self.server_cpu, 3),
            "serverCpuUsPerBlock": round(self.cpu_per_block * 1e6, 1),
        }

    def lines(self) -> list[str]:
        return [
            f"campaign: {self.devices:,} devices in {self.processes} processes pulling "
            f"{self.package_size:,} bytes over CoAP, {self.concurrency} at once",
            f"{self.updated:,} updated, {self.failed:,} failed in {self.seconds:.1f} s: "
            f"{self.per_minute:,.0f} devices updated per minute",
            f"{self.blocks:,} blocks served, server CPU {self.server_cpu:.1f} s: "
            f"{self.cpu_per_block * 1e6:,.0f} µs per delivered block (the whole campaign's cost)",
        ]


def run_campaign_bench(
    devices: int,
    *,
    processes: int = 2,
    package_size: int = 64 << 10,
    concurrency: int = 200,
    timeout: float = 900.0,
) -> CampaignBenchReport:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(_bench(devices, processes, package_size, concurrency, timeout))


async def _bench(
    devices: int, processes: int, package_size: int, concurrency: int, timeout: float
) -> CampaignBenchReport:
    repository = FirmwareRepository.temporary()
    package, _ = repository.add_bytes(
        build_package(bytes(package_size), model=MODEL, version="2.0.0", name="bench"),
        version="2.0.0",
        model=MODEL,
    )
    delivery = FirmwareDelivery(repository)
    blocks = [0]
    segment, answer = delivery.coap_resource
    server = LwM2MServer(
        ServerConfig(
            host="127.0.0.1", coap_port=0, resources=((segment, _counting(answer, blocks)),)
        )
    )
    delivery.attach(server)
    await server.start()
    campaigns = CampaignRunner(delivery, MemoryCampaignStore())
    await campaigns.start()
    pipes, workers = [], []
    host, port = server.coap_address[:2]
    context = multiprocessing.get_context("spawn")
    try:
        for worker in range(processes):
            mine = range(worker, devices, processes)
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker, args=(theirs, list(mine), f"coap://{host}:{port}"), daemon=True
            )
            process.start()
            pipes.append(ours)
            workers.append(process)
        deadline = time.monotonic() + timeout
        while len(server.registrations.all()) < devices:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(server.registrations.all())} of {devices} registered")
            await asyncio.sleep(0.2)
        spec = CampaignSpec(
            package.sha256,
            Target(model=MODEL),
            method=Method.PULL,
            concurrency=concurrency,
            device_timeout=300.0,
        )
        cpu, started = time.process_time(), time.monotonic()
        engine = campaigns.create(spec)
        while engine.record.status is Status.RUNNING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"campaign not done: {engine.progress()['counts']}")
            await asyncio.sleep(0.1)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        counts = engine.counts
        return CampaignBenchReport(
            devices,
            processes,
            package.size,
            concurrency,
            counts[DeviceState.SUCCEEDED],
            counts[DeviceState.FAILED],
            seconds,
            blocks[0],
            cpu,
        )
    finally:
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send("stop")
        for process in workers:
            process.join(10)
            if process.is_alive():
                process.kill()
        await campaigns.stop()
        await server.stop()
        repository.close()


def _counting(answer: CoapResource, blocks: list[int]) -> CoapResource:
    """``answer``, counting the blocks it serves."""

    def counted(request: Message, peer: Peer, endpoint: str | None, now: float) -> CoapParts:
        parts = answer(request, peer, endpoint, now)
        if parts.code is Code.CONTENT:
            blocks[0] += 1
        return parts

    return counted


def _worker(conn: Connection, indexes: list[int], uri: str) -> None:
    """A fleet process: its devices on one event loop until told to stop."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(_devices(conn, indexes, uri))


async def _devices(conn: Connection, indexes: list[int], uri: str) -> None:
    clients = [firmware_device(index, uri)[0] for index in indexes]
    for start in range(0, len(clients), 50):
        await asyncio.gather(*(client.start() for client in clients[start : start + 50]))
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    await stop.wait()
    for client in clients:
        with contextlib.suppress(Exception):
            await client.stop(timeout=0.1)
