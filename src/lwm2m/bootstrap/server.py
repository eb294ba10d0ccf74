"""The asyncio façade of the bootstrap server: one :class:`BootstrapCore` per listening port.

A port's security mode is a parameter of its listener (the core refuses to hand keys to a NoSec
channel).  The NoSec UDP port is here today; the DTLS port is a ``DtlsCore`` around a core with
``channel=SecurityMode.PSK``, once a store of bootstrap PSK identities bound to endpoint names
exists.  Configurations live in one :class:`ConfigStore` shared by every port and the REST API.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.bootstrap.config import ConfigStore, SecurityMode
from lwm2m.bootstrap.core import DEFAULT_MAX_SESSIONS, BootstrapCore
from lwm2m.bootstrap.events import BootstrapEvent
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.transport.udp import UdpTransport, open_udp

Subscriber = Callable[[BootstrapEvent], None]


class TransportUnavailableError(RuntimeError):
    """A port was asked for whose transport this build does not have (DTLS, for now)."""


@dataclass(frozen=True, slots=True)
class BootstrapServerConfig:
    host: str = "0.0.0.0"
    coap_port: int = 5783
    """NoSec UDP; 0: any free port."""
    coaps_port: int | None = None
    """DTLS with PSK; None: not listened on."""
    coap: EndpointConfig = DEFAULT
    keys_over_nosec: bool = False
    """Send PSK keys and OSCORE secrets over the NoSec port too (labs and tests only: anyone
    who knows an endpoint name could fetch its keys)."""
    max_sessions: int = DEFAULT_MAX_SESSIONS


class BootstrapServer:
    def __init__(
        self,
        config: BootstrapServerConfig | None = None,
        *,
        configs: ConfigStore | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``rng`` defaults to the system's: tokens must be unguessable."""
        self.config = config if config is not None else BootstrapServerConfig()
        self.configs = configs if configs is not None else ConfigStore()
        self._rng = rng if rng is not None else random.SystemRandom()
        self._subscribers: list[Subscriber] = []
        self._udp: UdpTransport[BootstrapCore] | None = None

    async def start(self) -> None:
        """Listen; OSError when a port is taken, TransportUnavailableError for DTLS."""
        if self._udp is not None:
            raise RuntimeError("the bootstrap server is already started")
        if self.config.coaps_port is not None:
            raise TransportUnavailableError(
                "DTLS not available yet for the bootstrap server (no bootstrap PSK store or "
                "identity binding): it listens on NoSec UDP only"
            )
        core = BootstrapCore(
            self.configs,
            rng=random.Random(self._rng.getrandbits(64)),
            clock=time.time,
            channel=SecurityMode.NOSEC,
            keys_over_nosec=self.config.keys_over_nosec,
            coap=self.config.coap,
            max_sessions=self.config.max_sessions,
        )
        self._udp = await open_udp(core, self._drain, (self.config.host, self.config.coap_port))

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    @property
    def coap_address(self) -> tuple[str, int]:
        if self._udp is None:
            raise RuntimeError("the bootstrap server is not started")
        return self._udp.local_address

    @property
    def sessions(self) -> int:
        """Bootstraps in progress."""
        return 0 if self._udp is None else len(self._udp.core)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every bootstrap event; returns the function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _drain(self) -> None:
        assert self._udp is not None
        while (event := self._udp.core.next_event()) is not None:
            for subscriber in list(self._subscribers):
                subscriber(event)
