"""Who may call the API: only pages of this server's own origin, and with a bearer token if set.

CORS stays closed: no ``Access-Control-Allow-*`` header is ever sent, so a foreign page cannot
read an answer.  That alone does not stop a foreign page from *sending* a request a browser
lets through without a preflight (a form POST to ``.../execute`` reboots a device), so API
requests that a browser marks as coming from another origin are refused before any handler
runs.  The console's HTML, CSS and scripts hold no data and stay public; with a token, every
``/api`` request (the console's event stream too) and ``/metrics`` must carry
``Authorization: Bearer TOKEN``.

Before any of that, :class:`HostGuard` answers 400 to a request whose ``Host`` is not one of
the configured names: DNS rebinding points a name the attacker owns at 127.0.0.1, after which
the browser treats the attacker's page and this server as one origin (so the origin checks
pass), but the ``Host`` header still carries the attacker's name.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api"
METRICS_PATH = "/metrics"
PROBE_PATHS = ("/health", "/ready")
"""Liveness and readiness: no token and any ``Host`` (a probe addresses the machine by IP)."""

CONSOLE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The console loads nothing but its own files and talks only to its own server."""

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""The host names served by default: a browser on this machine, nothing that DNS can rebind."""

ANY_HOST = "*"
"""In an allowed-hosts list: every name (a reverse proxy in front checks them)."""

_CROSS_SITE = ("cross-site", "same-site")
"""``Sec-Fetch-Site`` values of requests from another origin (same-site: another port)."""


def host_name(host: str) -> str | None:
    """The name in a ``Host`` header, lower case and without its port (``[::1]`` keeps its
    brackets); None for a malformed header."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, port = host.partition("]")
        name += bracket
        if not bracket or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
        return name
    name, colon, port = host.partition(":")
    if not name or (colon and not port.isdigit()):
        return None
    return name


def normalize_hosts(names: Iterable[str]) -> frozenset[str]:
    """Allowed host names as :func:`host_name` gives them (a bare IPv6 address gets its
    brackets); ValueError for an empty name or one with a port."""
    allowed = set()
    for raw in names:
        name = raw.strip().lower()
        if name != ANY_HOST:
            if _is_ipv6(name):
                name = f"[{name}]"  # ::1 -> [::1]
            if host_name(name) != name:
                raise ValueError(f"{raw!r:.80} is not a host name without a port")
        allowed.add(name)
    if not allowed:
        raise ValueError("at least one allowed host name is needed")
    return frozenset(allowed)


def _is_ipv6(name: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(name), ipaddress.IPv6Address)
    except ValueError:
        return False


class HostGuard:
    """ASGI middleware: 400 for any HTTP request whose ``Host`` is not an allowed name (any
    port), ``*`` allowing every name."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str] = LOOPBACK_HOSTS) -> None:
        self._app = app
        self._allowed = normalize_hosts(allowed)
        self._any = ANY_HOST in self._allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._any and scope["path"] not in PROBE_PATHS:
            name = host_name(Headers(scope=scope).get("host", ""))
            if name not in self._allowed:
                refusal = JSONResponse(
                    {"message": "this host name is not served (see --allowed-hosts)"}, 400
                )
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


class ApiGuard:
    """ASGI middleware: the same-origin rule and the optional token for ``/api``, and
    defensive headers on every answer."""

    def __init__(self, app: ASGIApp, *, token: str | None = None) -> None:
        if token is not None and not token:
            raise ValueError("the API token must not be empty")
        self._app = app
        self._token = None if token is None else token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path in (API_PREFIX, METRICS_PATH) or path.startswith(API_PREFIX + "/")
        if api:
            refusal = self._refusal(Headers(scope=scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if not api:
                    headers["Content-Security-Policy"] = CONSOLE_POLICY
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self._app(scope, receive, send_with_headers)

    def _refusal(self, headers: Headers) -> JSONResponse | None:
        origin = headers.get("origin")
        foreign_origin = origin is not None and (
            urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
        )
        if foreign_origin or headers.get("sec-fetch-site") in _CROSS_SITE:
            return JSONResponse(
                {"message": "requests from other origins are refused (CORS is closed)"}, 403
            )
        if self._token is not None and not self._authorized(headers.get("authorization", "")):
            return JSONResponse(
                {"message": "this server needs an API token: Authorization: Bearer TOKEN"},
                401,
                headers={"WWW-Authenticate": 'Bearer realm="lwm2m"'},
            )
        return None

    def _authorized(self, authorization: str) -> bool:
        assert self._token is not None
        scheme, _, credentials = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self._token
        )
