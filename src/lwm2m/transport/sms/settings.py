"""How the server reaches its SMSC over SMPP 3.4 (sans-I/O: part of the server's configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from lwm2m.security.credentials import Secret

DEFAULT_PORT = 2775
"""The port IANA registers for SMPP."""
MAX_SYSTEM_ID = 15
MAX_PASSWORD = 8
"""SMPP 3.4 §5.2: system_id is at most 16 octets and password at most 9, NUL included."""


@dataclass(frozen=True, slots=True)
class SmppSettings:
    """An ESME bound as a transceiver to ``host:port`` (``smpp://SYSTEM_ID:PASSWORD@HOST:PORT``
    through :meth:`parse`); ``source`` is the number devices see as the sender (the LwM2M
    Server SMS Number they are provisioned with, /0/x/9)."""

    host: str
    port: int
    system_id: str
    password: Secret
    source: str = ""
    system_type: str = ""
    #: Ask the SMSC for delivery receipts (registered_delivery 1): a part the network could
    #: not deliver then fails its CoAP request at once instead of at the timeout.
    receipts: bool = True
    #: Parts waiting for the SMSC's submit_sm_resp, in order; a datagram whose parts do not
    #: fit is refused (and reported failed), never one already queued.
    max_queue: int = 1024
    #: Seconds before the first reconnection; doubled (with jitter) up to ``reconnect_max``.
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    #: Seconds a submit_sm may wait for its response before the session counts as lost.
    response_timeout: float = 30.0
    #: Message IDs remembered to match delivery receipts to devices.
    max_tracked: int = 4096

    def __post_init__(self) -> None:
        if not self.host or not 0 < self.port < 65536:
            raise ValueError(f"SMSC address {self.host!r}:{self.port} is not host:1..65535")
        if not 0 < len(self.system_id) <= MAX_SYSTEM_ID:
            raise ValueError(f"system_id must have 1..{MAX_SYSTEM_ID} characters")
        if len(self.password) > MAX_PASSWORD:
            raise ValueError(f"an SMPP 3.4 password has at most {MAX_PASSWORD} characters")
        if self.source and not self.source.removeprefix("+").isdigit():
            raise ValueError(f"source {self.source!r} is not a number")
        if self.max_queue < 1 or self.max_tracked < 1:
            raise ValueError("max_queue and max_tracked must be positive")
        if not 0 < self.reconnect_min <= self.reconnect_max or self.response_timeout <= 0:
            raise ValueError("need 0 < reconnect_min <= reconnect_max and response_timeout > 0")

    @classmethod
    def parse(cls, url: str, **options: object) -> SmppSettings:
        """``smpp://SYSTEM_ID:PASSWORD@HOST[:PORT]`` (percent-escapes allowed, port 2775 by
        default); ``options`` are the other fields.  ValueError never quotes the password."""
        parts = urlsplit(url)
        if parts.scheme != "smpp":
            raise ValueError("the SMSC URL must be smpp://SYSTEM_ID:PASSWORD@HOST:PORT")
        if parts.username is None or parts.password is None or not parts.hostname:
            raise ValueError("the SMSC URL needs a system_id, a password and a host")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise ValueError("the SMSC URL's port is not a number") from None
        password = Secret(unquote(parts.password).encode())
        return cls(parts.hostname, port, unquote(parts.username), password, **options)  # type: ignore[arg-type]
