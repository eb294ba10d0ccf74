"""An in-memory host for the T8 app: the real SCEF on a hand-driven clock, callbacks kept."""

from __future__ import annotations

from typing import Any

from lwm2m.network.core import Network
from lwm2m.network.nidd import Callback
from lwm2m.network.scef import Scef
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.ue import NetworkConfig

START = 1_700_000_000.0


class MemoryHost:
    def __init__(self, sims: int = 3, config: NetworkConfig | None = None) -> None:
        self.network = Network(Hss(generate_sims(sims)), config or NetworkConfig())
        self.scef = Scef(self.network)
        self.time = START
        self.callbacks: list[Callback] = []

    def now(self) -> float:
        return self.time

    def pump(self) -> None:
        self.callbacks.extend(self.scef.poll(self.time))

    def advance(self, seconds: float) -> None:
        self.time += seconds
        self.pump()

    def status(self) -> dict[str, Any]:
        return self.scef.status(self.time)
