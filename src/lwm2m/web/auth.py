"""Who may call the API: only pages of this server's own origin, and with a bearer token if set.

CORS stays closed: no ``Access-Control-Allow-*`` header is ever sent, so a foreign page cannot
read an answer.  That alone does not stop a foreign page from *sending* a request a browser
lets through without a preflight (a form POST to ``.../execute`` reboots a device), so API
requests that a browser marks as coming from another origin are refused before any handler
runs.  The console's HTML, CSS and scripts hold no data and stay public; with a token, every
``/api`` request (the console's event stream too) must carry ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api"

CONSOLE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""The console loads nothing but its own files and talks only to its own server."""

_CROSS_SITE = ("cross-site", "same-site")
"""``Sec-Fetch-Site`` values of requests from another origin (same-site: another port)."""


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
        api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
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
