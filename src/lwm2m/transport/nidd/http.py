"""JSON over HTTP/1.1 for T8, on aiohttp's pool of kept-alive connections.

Every NIDD downlink is a T8 request and every uplink a callback, so the client's CPU per
request is the NIDD path's: httpx's pool costs 1.4-2.5 ms per request with 64 in flight (it
checks the socket of every idle connection on each request), httpx over aiohttp's pool about
0.3-0.5 ms, aiohttp alone about 0.15 ms.  :class:`JsonHttp` uses aiohttp alone; given an
``httpx.AsyncClient`` (tests hook and validate requests there) it goes through that instead.
Network errors are ``httpx.HTTPError`` either way, the type callers catch.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

CONNECTIONS = 32
"""Kept-alive connections to one host: enough for a burst of downlink deliveries."""
POOL_WAIT = 300.0
"""Seconds a request may wait for one of the connections (a fleet's configurations, 3 requests
a device, queue there): ``timeout`` bounds the peer's answer, not our own queue."""
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    reason: str
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.content)


class JsonHttp:
    def __init__(
        self,
        timeout: float,
        *,
        connections: int = CONNECTIONS,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout = timeout
        self._connections = connections
        self._httpx = client
        self._session: aiohttp.ClientSession | None = None
        """Opened on the first request, inside the running loop."""

    async def request(
        self, method: str, url: str, body: object = None, headers: dict[str, str] | None = None
    ) -> HttpAnswer:
        """``body`` (None: no body) as JSON; the answer read whole."""
        if self._httpx is not None:
            response = await self._httpx.request(method, url, json=body, headers=headers)
            return HttpAnswer(response.status_code, response.reason_phrase, response.content)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=aiohttp.ClientTimeout(
                    connect=POOL_WAIT, sock_connect=self._timeout, sock_read=self._timeout
                ),
                auto_decompress=False,
            )
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers = _JSON if headers is None else {**headers, **_JSON}
        try:
            async with self._session.request(method, url, data=data, headers=headers) as answer:
                return HttpAnswer(answer.status, answer.reason or "", await answer.read())
        except TimeoutError as exc:
            raise httpx.TimeoutException(f"{method} {url}: no answer in time") from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise httpx.TransportError(f"{method} {url}: {exc}") from exc

    async def aclose(self) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
