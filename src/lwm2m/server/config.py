"""Server settings: where to listen, and the registration, queue-mode and DTLS policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from lwm2m.coap.config import DEFAULT, NIDD, SMS, EndpointConfig
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.coap.stream import DEFAULT_STREAM, StreamConfig
from lwm2m.operations.mapping import CoapParts
from lwm2m.security.dtls import DtlsConfig
from lwm2m.server.waking import WakeSettings
from lwm2m.transport.admission import DEFAULT_ADMISSION, AdmissionConfig
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.transport.sms.settings import SmppSettings

Authorize = Callable[[str, Peer], bool]
"""``(endpoint name, address) -> allowed``: a refused Register, Update, De-register or Send is
answered 4.03 Forbidden.  The server's own identity binding is checked first; a DTLS peer is a
:class:`~lwm2m.transport.dtls.DtlsPeer`."""

CoapResource = Callable[[Message, Peer, str | None, float], CoapParts]
"""``(request, peer, endpoint registered at that peer or None, now) -> answer``: a resource the
server serves beside ``/rd`` and ``/dp`` (firmware delivery's ``/fw``).  Called on the event
loop for each request, so it must answer at once, without waiting."""

Durability = Literal["strict", "relaxed"]
"""When the server answers a change its store must keep: ``strict``, once the store has
committed and synced it (an acknowledged Register survives ``kill -9`` and power loss);
``relaxed``, at once, the store committing behind (docs/storage.md says what a crash loses)."""

SERVER_DTLS = DtlsConfig(idle_timeout=2 * 86_400.0)
"""A session must outlive the registration it carries: a queue-mode device sends nothing
between Updates, and a session forgotten meanwhile costs it a handshake (seconds of NB-IoT
airtime).  Two days cover the default lifetime (one day) with room; raise it for longer
lifetimes (the server logs a warning for each registration that outlives it)."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "0.0.0.0"
    coap_port: int = 5683
    coap: EndpointConfig = field(default=DEFAULT)
    #: Seconds a queue-mode client counts as listening after its last message. The default is
    #: CoAP's MAX_TRANSMIT_WAIT, the minimum Core 6.5 asks the client to stay awake.
    awake_window: float = 93.0
    #: Requests waiting per queue-mode client; one more is refused with QueueFullError.
    queue_size: int = 16
    #: Seconds a request may wait for a queue-mode client to wake up before it times out.
    queue_ttl: float = 3600.0
    #: Seconds past the lifetime before a registration expires: an Update sent just in time
    #: may be retransmitted for a while on a cellular link.
    expiry_grace: float = 30.0
    #: Registrations held at most; Register beyond it gets 5.03 (memory is the limit).
    max_registrations: int = 1_000_000
    #: Bounds on the object list of a Register or Update (bytes of payload, then links);
    #: beyond them the server answers 4.13.  Real devices send 10 to 100 links (well under
    #: 2 KiB); 16 KiB holds about 1,200 ``</3303/1023>`` links, 800 under an alternate path.
    max_object_list_size: int = 16 * 1024
    max_object_links: int = 1024
    authorize: Authorize | None = None
    #: DTLS with PSK (``lwm2m server`` listens on 5684); None: no DTLS port.
    coaps_port: int | None = None
    dtls: DtlsConfig = SERVER_DTLS
    #: CoAP over TCP (RFC 8323, binding T; ``lwm2m server`` listens on 5683/tcp) and over TLS
    #: with PSK (5684/tcp); None: no such port.  The server reaches a TCP client over the
    #: connection it registered or last updated from.
    tcp_port: int | None = None
    tls_port: int | None = None
    stream: StreamConfig = DEFAULT_STREAM
    #: Bytes of UDP receive buffer to ask for (Linux caps it at net.core.rmem_max; raise that
    #: sysctl to get it all); None keeps the system's default, 208 KiB on Linux.  Datagrams
    #: that arrive while the server is busy wait here: a fleet answering 256 requests at once
    #: overflows 208 KiB, and each drop costs its sender a retransmission 2 to 3 s later.
    receive_buffer: int | None = 4 * 1024 * 1024
    #: SO_REUSEPORT on every listener: several processes (``lwm2m server --workers``) share
    #: the ports, each device's datagrams staying with one of them (docs/cluster.md).
    reuse_port: bool = False
    #: Established devices first on the UDP and DTLS sockets: how much new work (Registers,
    #: requests from unknown peers, DTLS handshakes) is taken in per loop tick and per source
    #: address, and how the rest is shed (see lwm2m.transport.admission).
    admission: AdmissionConfig = field(default=DEFAULT_ADMISSION)
    #: ``strict``: a Register, Update, De-register, established observation, queued request,
    #: confirmable notification or Send is answered only once its store write is committed
    #: (with a store that reports commits, such as SqliteStore); ``relaxed``: at once.
    durability: Durability = "strict"
    #: NIDD (binding N) through a 3GPP T8 SCEF/NEF (docs/nidd.md); None: no NIDD.
    nidd: NiddSettings | None = None
    #: CoAP transmission parameters towards NIDD devices (their own endpoint).
    nidd_coap: EndpointConfig = field(default=NIDD)
    #: The SMS binding (S) and SMS triggers through an SMSC over SMPP (docs/sms.md); None: no SMS.
    sms: SmppSettings | None = None
    #: CoAP transmission parameters towards SMS devices (their own endpoint).
    sms_coap: EndpointConfig = field(default=SMS)
    #: Waking sleeping queue-mode devices by SMS or T8 trigger: the default policy and the
    #: T8 transaction's fields (docs/sms.md, "Waking").
    wake: WakeSettings = field(default_factory=WakeSettings)
    #: Further CoAP resources, by the first Uri-Path segment they answer under (``("fw",
    #: handler)``); a segment not here, nor ``rd`` or ``dp``, gets 4.04.
    resources: tuple[tuple[str, CoapResource], ...] = ()

    #: The Telekom profile's timer rules (docs/compliance.md): refuse a Write-Attributes
    #: whose pmin/pmax would break one (OperationUsageError, REST 400) instead of only
    #: reporting it (a TimerRuleViolated event).
    enforce_timer_rules: bool = False
    #: Read /10 (Cellular Connectivity) and /11 (APN Connection Profile) after each Register
    #: that lists them, so the timer rules know the device's PSM, eDRX and rate control; off
    #: by default: it costs two requests per registration (values read or observed otherwise
    #: are used either way).
    read_timer_objects: bool = False

    def __post_init__(self) -> None:
        for port in (self.coap_port, self.coaps_port, self.tcp_port, self.tls_port):
            if port is not None and not 0 <= port <= 0xFFFF:
                raise ValueError(f"port {port} is not a port number")
        if self.awake_window < 0 or self.queue_ttl <= 0 or self.expiry_grace < 0:
            raise ValueError("awake_window and expiry_grace must be >= 0, queue_ttl > 0")
        if self.max_object_list_size < 1 or self.max_object_links < 1:
            raise ValueError("max_object_list_size and max_object_links must be positive")
        if self.queue_size < 1 or self.max_registrations < 1:
            raise ValueError("queue_size and max_registrations must be positive")
        if self.receive_buffer is not None and self.receive_buffer < 1:
            raise ValueError("receive_buffer must be positive (or None)")
        if self.durability not in get_args(Durability):
            raise ValueError(f"durability must be strict or relaxed, not {self.durability!r}")
        segments = [segment for segment, _ in self.resources]
        if len(set(segments)) < len(segments) or {"rd", "dp", ""} & set(segments):
            raise ValueError(f"resources need distinct segments other than rd and dp: {segments}")
