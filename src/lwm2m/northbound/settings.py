"""Where a broker is: ``mqtt://[USER[:PASSWORD]@]HOST[:PORT]`` (``mqtts://`` over TLS),
``nats://[USER[:PASSWORD]@]HOST[:PORT]`` (``tls://`` over TLS)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit

_SCHEMES = {
    "mqtt": ("mqtt", False, 1883),
    "mqtts": ("mqtt", True, 8883),
    "nats": ("nats", False, 4222),
    "tls": ("nats", True, 4222),
}


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    kind: str  # "mqtt" or "nats"
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, kind: str) -> BrokerSettings:
        """ValueError naming what is wrong, never quoting the password."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError(f"not a {kind} URL: {kind}://HOST:PORT") from None
        scheme = _SCHEMES.get(parts.scheme)
        if scheme is None or scheme[0] != kind:
            allowed = " or ".join(
                f"{name}://" for name, spec in _SCHEMES.items() if spec[0] == kind
            )
            raise ValueError(f"the URL must start with {allowed}")
        if not parts.hostname:
            raise ValueError("the URL names no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("the URL takes no path, query or fragment")
        _, tls, default_port = scheme
        return cls(
            kind,
            parts.hostname,
            port if port is not None else default_port,
            tls,
            None if parts.username is None else unquote(parts.username),
            None if parts.password is None else unquote(parts.password),
        )

    def with_password(self, password: str) -> BrokerSettings:
        return replace(self, password=password)

    @property
    def where(self) -> str:
        """For logs and banners: no credentials."""
        scheme = {"mqtt": ("mqtt", "mqtts"), "nats": ("nats", "tls")}[self.kind][self.tls]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"
