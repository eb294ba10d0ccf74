"""Download URLs that authorise one device to fetch one package, for a while, a few times.

A grant is a random token (the last segment of the URL) bound to an endpoint and a package,
with an expiry and a number of *starts*: a request for the package's first byte (CoAP block
0, an HTTP GET without a Range past byte 0) uses one; the rest of that download (later
blocks, a resumed Range) does not, until the grant expires.  A token that is unknown, expired,
used up, presented by another registered device, or whose package is gone is simply not
found: the answer is the same 4.04/404 as for a token never issued, so nothing leaks.

Sans-I/O: times are passed in, tokens come from an injected source.  Grants live in memory:
a restarted server has none (issue new URLs).
"""

from __future__ import annotations

import heapq
import secrets
from collections.abc import Callable
from dataclasses import dataclass

MAX_GRANTS = 100_000
"""Live grants at most; issuing one more drops the one that expires first."""


def new_token() -> str:
    """128 random bits, URL-safe (22 characters): unguessable, short enough for /5/0/1."""
    return secrets.token_urlsafe(16)


@dataclass(slots=True)
class DownloadGrant:
    token: str
    endpoint: str
    sha256: str
    expires: float
    uses_left: int
    started: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "sha256": self.sha256,
            "expires": self.expires,
            "usesLeft": self.uses_left,
        }


class DownloadGrants:
    """The live grants by token."""

    def __init__(
        self, *, token_source: Callable[[], str] = new_token, max_grants: int = MAX_GRANTS
    ) -> None:
        self._grants: dict[str, DownloadGrant] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap; revoked entries linger
        self._new_token = token_source
        self._max_grants = max_grants

    def __len__(self) -> int:
        return len(self._grants)

    def issue(
        self, endpoint: str, sha256: str, *, now: float, ttl: float, uses: int
    ) -> DownloadGrant:
        """A new grant valid for ``ttl`` seconds from ``now`` and ``uses`` starts."""
        if ttl <= 0 or uses < 1:
            raise ValueError("a download URL needs ttl > 0 and at least one use")
        self._drop_expired(now)
        while len(self._grants) >= self._max_grants:
            self._drop_first()
        while (token := self._new_token()) in self._grants:
            pass
        grant = self._grants[token] = DownloadGrant(token, endpoint, sha256, now + ttl, uses)
        heapq.heappush(self._expiries, (grant.expires, token))
        if len(self._expiries) > 2 * len(self._grants) + 1024:  # many revoked: rebuild
            self._expiries = [(g.expires, t) for t, g in self._grants.items()]
            heapq.heapify(self._expiries)
        return grant

    def find(self, token: str, *, now: float, endpoint: str | None) -> DownloadGrant | None:
        """The grant ``token`` names, if it is live and ``endpoint`` (the device registered at
        the requesting address, None when unknown) is not another device."""
        grant = self._grants.get(token)
        if grant is None:
            return None
        if now >= grant.expires:
            del self._grants[token]
            return None
        if endpoint is not None and endpoint != grant.endpoint:
            return None
        return grant

    def admit(self, grant: DownloadGrant, *, start: bool) -> bool:
        """Whether a request may be served: a start uses one of the grant's uses (False when
        none is left), anything else needs a start before it."""
        if not start:
            return grant.started
        if grant.uses_left < 1:
            return False
        grant.uses_left -= 1
        grant.started = True
        return True

    def revoke(
        self, *, token: str | None = None, sha256: str | None = None, endpoint: str | None = None
    ) -> int:
        """Forget a grant, or the grants of a package or of an endpoint; how many went."""
        if token is not None:
            return 0 if self._grants.pop(token, None) is None else 1
        if sha256 is None and endpoint is None:
            raise ValueError("revoke what? give a token, a package or an endpoint")
        doomed = [
            key
            for key, grant in self._grants.items()
            if (sha256 is None or grant.sha256 == sha256)
            and (endpoint is None or grant.endpoint == endpoint)
        ]
        for key in doomed:
            del self._grants[key]
        return len(doomed)

    def _drop_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            self._drop_first()

    def _drop_first(self) -> None:
        """Forget the grant that expires first (a heap entry of a revoked one is skipped)."""
        expires, token = heapq.heappop(self._expiries)
        grant = self._grants.get(token)
        if grant is not None and grant.expires == expires:
            del self._grants[token]
