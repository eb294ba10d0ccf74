"""The asyncio façade of the bootstrap server: one :class:`BootstrapCore` per listening port.

A port's security mode is a parameter of its core (which refuses to hand keys to a NoSec
channel): the NoSec UDP port, and with ``coaps_port`` a DTLS port whose core is wrapped in a
:class:`~lwm2m.transport.dtls.DtlsCore`.  One core per port, unlike the LwM2M server, because a
bootstrap is a short conversation with no state outliving it that a device could take from one
port to the other.  PSKs come from a :class:`~lwm2m.security.credentials.CredentialStore` (the
LwM2M server's own under ``lwm2m server --bootstrap-config``), and bind identities to endpoint
names: over DTLS a device bootstraps only as the endpoint its identity is bound to, and an
endpoint with a PSK may not bootstrap over NoSec (4.03 and a log line, either way).
Configurations live in one :class:`ConfigStore` shared by every port and the REST API.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lwm2m.bootstrap.config import ConfigStore, SecurityMode
from lwm2m.bootstrap.core import DEFAULT_MAX_SESSIONS, BootstrapCore
from lwm2m.bootstrap.events import BootstrapEvent
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.events import Peer
from lwm2m.security.credentials import CredentialStore, MemoryPskStore
from lwm2m.security.dtls import DtlsConfig, DtlsServer
from lwm2m.transport.dtls import DtlsCore, open_dtls
from lwm2m.transport.udp import UdpTransport, open_udp

logger = logging.getLogger(__name__)

Subscriber = Callable[[BootstrapEvent], None]

BOOTSTRAP_DTLS = DtlsConfig(idle_timeout=300.0)
"""A bootstrap takes seconds; an idle session beyond that only holds memory."""


@dataclass(frozen=True, slots=True)
class BootstrapServerConfig:
    host: str = "0.0.0.0"
    coap_port: int = 5783
    """NoSec UDP; 0: any free port."""
    coaps_port: int | None = None
    """DTLS with PSK; None: not listened on (``lwm2m bootstrap`` listens on 5784)."""
    coap: EndpointConfig = DEFAULT
    keys_over_nosec: bool = False
    """Send PSK keys and OSCORE secrets over the NoSec port too (labs and tests only: anyone
    who knows an endpoint name could fetch its keys)."""
    max_sessions: int = DEFAULT_MAX_SESSIONS
    dtls: DtlsConfig = field(default=BOOTSTRAP_DTLS)


class BootstrapServer:
    def __init__(
        self,
        config: BootstrapServerConfig | None = None,
        *,
        configs: ConfigStore | None = None,
        credentials: CredentialStore | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``rng`` defaults to the system's: tokens must be unguessable.  ``credentials``: the
        PSKs of the DTLS port (empty by default)."""
        self.config = config if config is not None else BootstrapServerConfig()
        self.configs = configs if configs is not None else ConfigStore()
        self.credentials: CredentialStore = (
            credentials if credentials is not None else MemoryPskStore()
        )
        self._rng = rng if rng is not None else random.SystemRandom()
        self._subscribers: list[Subscriber] = []
        self._udp: UdpTransport[BootstrapCore] | None = None
        self._dtls: UdpTransport[DtlsCore[BootstrapCore]] | None = None

    async def start(self) -> None:
        """Listen; OSError when a port is taken."""
        if self._udp is not None:
            raise RuntimeError("the bootstrap server is already started")
        config = self.config
        udp = await open_udp(
            self._core(SecurityMode.NOSEC, self._nosec_allowed),
            lambda: self._drain(udp.core),
            (config.host, config.coap_port),
        )
        if config.coaps_port is not None:
            try:
                dtls = await open_dtls(
                    self._core(SecurityMode.PSK, self._identity_allowed),
                    lambda: self._drain(dtls.core.inner),
                    DtlsServer(self.credentials, config.dtls),
                    local_address=(config.host, config.coaps_port),
                )
            except OSError:
                udp.close()
                raise
            self._dtls = dtls
        self._udp = udp

    async def stop(self) -> None:
        for transport in (self._udp, self._dtls):
            if transport is not None:
                transport.close()
        self._udp = self._dtls = None

    @property
    def coap_address(self) -> tuple[str, int]:
        if self._udp is None:
            raise RuntimeError("the bootstrap server is not started")
        return self._udp.local_address

    @property
    def coaps_address(self) -> tuple[str, int]:
        if self._dtls is None:
            raise RuntimeError("the bootstrap server has no DTLS port")
        return self._dtls.local_address

    @property
    def sessions(self) -> int:
        """Bootstraps in progress."""
        udp = 0 if self._udp is None else len(self._udp.core)
        return udp + (0 if self._dtls is None else len(self._dtls.core.inner))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every bootstrap event; returns the function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _core(self, channel: SecurityMode, authorize: Callable[[str, Peer], bool]) -> BootstrapCore:
        config = self.config
        return BootstrapCore(
            self.configs,
            rng=random.Random(self._rng.getrandbits(64)),
            clock=time.time,
            channel=channel,
            keys_over_nosec=config.keys_over_nosec,
            coap=config.coap,
            max_sessions=config.max_sessions,
            authorize=authorize,
        )

    def _nosec_allowed(self, endpoint: str, peer: Peer) -> bool:
        if self.credentials.get(endpoint) is None:
            return True
        logger.warning("%s may not bootstrap %s over NoSec: it has a PSK", peer, endpoint)
        return False

    def _identity_allowed(self, endpoint: str, peer: Peer) -> bool:
        identity = None if self._dtls is None else self._dtls.core.peer_identity(peer)
        if identity is not None and identity.endpoint == endpoint:
            return True
        bound = None if identity is None else identity.endpoint
        logger.warning("%s may not bootstrap as %s: its PSK is bound to %s", peer, endpoint, bound)
        return False

    def _drain(self, core: BootstrapCore) -> None:
        while (event := core.next_event()) is not None:
            for subscriber in list(self._subscribers):
                subscriber(event)
