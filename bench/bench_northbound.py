"""Northbound: notifications per second through the spool to a private Mosquitto and a private
NATS JetStream (acknowledged), and what the disk spool costs per message."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.northbound.conftest import Broker, free_port

from bench.common import BenchResult, ops_per_second
from lwm2m.model import Path as LwPath
from lwm2m.model import builtin_models
from lwm2m.northbound.jetstream import NatsNorthbound
from lwm2m.northbound.mqtt import MqttNorthbound
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool
from lwm2m.server.events import NotificationReceived

EVENTS = 20_000
PATH = LwPath.parse("/3303/0/5700")


class _Events:
    """The relay's view of a server: ``subscribe`` and ``models``."""

    def __init__(self) -> None:
        self.models = builtin_models()
        self.callbacks: list[Any] = []

    def subscribe(self, callback: Any) -> Any:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)


async def _rate(kind: str, port: int, spool: Spool) -> float:
    events = _Events()
    settings = BrokerSettings.parse(f"{kind}://127.0.0.1:{port}", kind)
    relay: MqttNorthbound | NatsNorthbound = (
        MqttNorthbound(events, settings, spool, client_id="bench")  # type: ignore[arg-type]
        if kind == "mqtt"
        else NatsNorthbound(events, settings, spool)  # type: ignore[arg-type]
    )
    await relay.start()
    try:
        while not relay.stats()["connected"]:
            await asyncio.sleep(0.01)
        start = time.perf_counter()
        for n in range(EVENTS):
            event = NotificationReceived(f"sensor-{n % 100}", PATH, {PATH: float(n)}, 112, n)
            for callback in events.callbacks:
                callback(event)
            if n % 200 == 0:
                await asyncio.sleep(0)  # the server's loop turns between datagram bursts
        while relay.stats()["published"] < EVENTS:
            await asyncio.sleep(0.005)
        return EVENTS / (time.perf_counter() - start)
    finally:
        await relay.stop()


def _broker(kind: str, work: Path) -> Broker:
    port = free_port()
    if kind == "mqtt":
        config = work / "mosquitto.conf"
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        return Broker(["/usr/sbin/mosquitto", "-c", str(config)], port)
    command = ["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", str(port), "-js"]
    return Broker([*command, "-sd", str(work / "js")], port)


def run() -> list[BenchResult]:
    results = []
    with tempfile.TemporaryDirectory() as work:
        spool = Spool(Path(work) / "cost.spool")
        payload = b'{"type":"notification","values":{"/3303/0/5700":21.5}}'

        def spool_round() -> None:
            seq = spool.append("lwm2m/sensor-1/notify/3303/0/5700", payload)
            assert seq is not None
            if seq % 100 == 0:  # the relay commits once per loop turn
                spool.remove_through(seq)
                spool.commit()

        results.append(
            BenchResult(
                "northbound spool append+remove (disk, WAL)",
                1e6 / ops_per_second(spool_round),
                "µs/msg",
                higher_is_better=False,
            )
        )
        spool.close()
        for kind in ("mqtt", "nats"):
            broker = _broker(kind, Path(work))
            broker.start()
            try:
                for where in ("disk", "memory"):
                    target = Path(work) / f"{kind}.spool" if where == "disk" else ":memory:"
                    rate = asyncio.run(_rate(kind, broker.port, Spool(target)))
                    results.append(
                        BenchResult(
                            f"northbound {kind.upper()} notifications acknowledged, spool in"
                            f" {where}",
                            rate,
                            "events/s",
                        )
                    )
            finally:
                broker.stop()
    return results
