"""How the server uses a T8 SCEF (sans-I/O: part of the server's configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.transport.nidd.peer import PDN_OPTIONS


@dataclass(frozen=True, slots=True)
class NiddSettings:
    """``url``: the SCEF's T8 API root; ``callback_url``: where the SCEF reaches our
    notification routes (``.../t8`` on the server's HTTP port); ``token``: the shared secret
    in those routes' path (docs/nidd.md)."""

    url: str
    callback_url: str
    token: str
    scs_as_id: str = "lwm2m"
    #: Bearer token the SCEF wants on T8 requests, if any.
    t8_token: str | None = None
    #: Seconds each NIDD configuration and monitoring subscription is asked for; they are
    #: renewed when 80 % of it has passed.
    duration: float = 86_400.0
    pdn_establishment_option: str = "WAIT_FOR_UE"
    #: ``priority`` of downlink data, when the SCEF supports it (None: not sent).
    priority: int | None = None
    #: Seconds one T8 request may take.
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"the SCEF URL must be http(s)://..., not {self.url!r}")
        if not self.callback_url.startswith(("http://", "https://")):
            raise ValueError(f"the callback URL must be http(s)://..., not {self.callback_url!r}")
        if len(self.token) < 16 or "/" in self.token:
            raise ValueError("the callback token needs 16 or more characters and no '/'")
        if self.duration < 60 or self.request_timeout <= 0:
            raise ValueError("duration must be >= 60 s and request_timeout > 0")
        if self.pdn_establishment_option not in PDN_OPTIONS:
            raise ValueError(f"pdnEstablishmentOption must be one of {', '.join(PDN_OPTIONS)}")

    @property
    def notification_url(self) -> str:
        return f"{self.callback_url.rstrip('/')}/{self.token}/nidd"

    @property
    def monitoring_url(self) -> str:
        return f"{self.callback_url.rstrip('/')}/{self.token}/monitoring"
