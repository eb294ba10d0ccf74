"""Posting T8 notifications to the SCS/AS: non-blocking, bounded, retried.

Notifications are spread over the workers by destination and UE (a hash of the URL and the
body's externalId or MSISDN), so the notifications about one UE keep their order (MO data in
sequence) while many UEs' notifications are in flight at once, over a pool of kept-alive
HTTP/1.1 connections, and a slow SCS/AS does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib

import httpx

from lwm2m.network.nidd import Callback
from lwm2m.transport.nidd.http import JsonHttp

LOG = logging.getLogger(__name__)


class CallbackSender:
    def __init__(
        self,
        *,
        workers: int = 32,
        queue_limit: int = 1000,
        attempts: int = 3,
        timeout: float = 5.0,
        backoff: float = 0.5,
    ) -> None:
        self._queues: list[asyncio.Queue[Callback]] = [
            asyncio.Queue(queue_limit) for _ in range(workers)
        ]
        self._attempts = attempts
        self._timeout = timeout
        self._backoff = backoff
        self._tasks: list[asyncio.Task[None]] = []
        self._client: JsonHttp | None = None
        self.sent = self.failed = self.dropped = 0

    async def start(self) -> None:
        self._client = JsonHttp(self._timeout, connections=len(self._queues))
        self._tasks = [asyncio.create_task(self._work(queue)) for queue in self._queues]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(self, callback: Callback) -> None:
        """Queue a notification; when its worker's queue is full it is dropped and counted
        (the SCEF never waits for an SCS/AS)."""
        body = callback.body
        ue = body.get("externalId") or body.get("msisdn") or ""
        key = f"{callback.url} {ue}".encode()
        queue = self._queues[zlib.crc32(key) % len(self._queues)]
        try:
            queue.put_nowait(callback)
        except asyncio.QueueFull:
            self.dropped += 1
            LOG.warning("callback queue full, notification to %s dropped", callback.url)

    async def _work(self, queue: asyncio.Queue[Callback]) -> None:
        while True:
            callback = await queue.get()
            if await self._deliver(callback):
                self.sent += 1
            else:
                self.failed += 1
                LOG.warning("notification to %s failed %d times", callback.url, self._attempts)

    async def _deliver(self, callback: Callback) -> bool:
        assert self._client is not None
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = await self._client.request("POST", callback.url, callback.body)
            except httpx.HTTPError as exc:
                LOG.info("notification to %s: %s", callback.url, exc)
                continue
            if response.is_success:
                return True
            if response.status < 500 and response.status != 429:
                LOG.info("notification to %s refused: %d %s", callback.url, response.status,
                         response.content[:200].decode("utf-8", "replace"))  # fmt: skip
                return False  # the SCS/AS refuses it: repeating will not help
        return False

    def to_json(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped}
