"""Who may call the API: only pages of this server's own origin, and with a bearer token if set.

CORS stays closed: no ``Access-Control-Allow-*`` header is ever sent, so a foreign page cannot
read an answer.  That alone does not stop a foreign page from *sending* a request a browser
lets through without a preflight (a form POST to ``.../execute`` reboots a device), so API
requests that a browser marks as coming from another origin are refused before any handler
runs.  The console's HTML, CSS and scripts hold no data and stay public; with a token, every
``/api`` request (the console's event stream too) and ``/metrics`` must carry
``Authorization: Bearer TOKEN``.

Before any of that, a request whose ``Host`` is not one of the configured names gets 400:
DNS rebinding points a name the attacker owns at 127.0.0.1, after which the browser treats the
attacker's page and this server as one origin (so the origin checks pass), but the ``Host``
header still carries the attacker's name.  :class:`ApiGuard` makes all these checks in one
pass over the headers (it runs on every request, a device Read's too); :class:`HostGuard`
makes only the ``Host`` check, for the bootstrap server's API.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
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

_CHECKED = frozenset((b"host", b"origin", b"sec-fetch-site", b"authorization"))
"""The request headers :class:`ApiGuard` reads."""

_API_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_CONSOLE_HEADERS = [
    *_API_HEADERS,
    (b"content-security-policy", CONSOLE_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]


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


class _AllowedHosts:
    """The ``Host`` check: any allowed name with any port, ``*`` allowing every name, and the
    probes answered whatever the name."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = normalize_hosts(names)
        self._any = ANY_HOST in self._names

    def refuse(self, path: str, host: str) -> bool:
        return not self._any and path not in PROBE_PATHS and host_name(host) not in self._names

    @staticmethod
    def refusal() -> JSONResponse:
        return JSONResponse({"message": "this host name is not served (see --allowed-hosts)"}, 400)


class HostGuard:
    """ASGI middleware: 400 for any HTTP request whose ``Host`` is not an allowed name."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str] = LOOPBACK_HOSTS) -> None:
        self._app = app
        self._hosts = _AllowedHosts(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            if self._hosts.refuse(scope["path"], host):
                await self._hosts.refusal()(scope, receive, send)
                return
        await self._app(scope, receive, send)


class ApiGuard:
    """ASGI middleware: the ``Host`` check (as :class:`HostGuard`), the same-origin rule and
    the optional token for ``/api``, and defensive headers on every answer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None = None,
        allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    ) -> None:
        if token is not None and not token:
            raise ValueError("the API token must not be empty")
        self._app = app
        self._token = None if token is None else token.encode()
        self._hosts = _AllowedHosts(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        # the first of each, as Headers.get gives it
        headers = {
            name: value.decode("latin-1")
            for name, value in reversed(scope["headers"])
            if name in _CHECKED
        }
        if self._hosts.refuse(path, headers.get(b"host", "")):
            await self._hosts.refusal()(scope, receive, send)
            return
        api = path in (API_PREFIX, METRICS_PATH) or path.startswith(API_PREFIX + "/")
        if api:
            refusal = self._refusal(headers)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        added = _API_HEADERS if api else _CONSOLE_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _replaced(message.get("headers", ()), added)
            await send(message)

        await self._app(scope, receive, send_with_headers)

    def _refusal(self, headers: Mapping[bytes, str]) -> JSONResponse | None:
        origin = headers.get(b"origin")
        foreign_origin = origin is not None and (
            urlsplit(origin).netloc.lower() != headers.get(b"host", "").lower()
        )
        if foreign_origin or headers.get(b"sec-fetch-site") in _CROSS_SITE:
            return JSONResponse(
                {"message": "requests from other origins are refused (CORS is closed)"}, 403
            )
        if self._token is not None and not self._authorized(headers.get(b"authorization", "")):
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


def _replaced(
    headers: Iterable[Sequence[bytes]], added: list[tuple[bytes, bytes]]
) -> list[Sequence[bytes]]:
    """``headers`` with ``added`` in place of any header of the same names (names lower case,
    as Starlette writes them)."""
    names = {name for name, _ in added}
    return [pair for pair in headers if pair[0] not in names] + added
