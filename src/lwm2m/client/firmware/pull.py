"""Pulling a package from its URI: the retry policy every scheme shares, and dispatch by scheme.

A download asks for what the slot lacks; a lost answer, a dropped connection or a server
error is retried, from the same block or byte, after a back-off that doubles up to
``retry_cap``, until ``retry_window`` has passed without progress: then the Update Result is 4
(connection lost), and the slot keeps what it has for when the server asks again.  An answer
saying the URI names nothing (4.04, 404, ...) is Update Result 7.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lwm2m.client.firmware.staging import DownloadError, Slot
from lwm2m.client.standard.firmware import UpdateResult
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.security.credentials import Psk


@dataclass(frozen=True, slots=True)
class PullSettings:
    """How the device downloads."""

    coap: EndpointConfig = DEFAULT
    """CoAP transmission parameters; ``preferred_block_szx`` is the block size asked for
    (smaller when the device's RAM is)."""
    psk: Psk | None = None
    """Credentials for ``coaps://`` and ``coaps+tcp://`` servers; without them the device
    does not list those protocols in /5/0/8."""
    http_verify: bool | str = True
    """TLS verification for ``https://``: True (system CAs), a CA bundle path, or False."""
    timeout: float = 30.0
    """Seconds to wait for an HTTP connection or data, or a TCP/TLS connection."""
    retry_base: float = 2.0
    retry_cap: float = 60.0
    retry_window: float = 600.0
    clock: Callable[[], float] = field(default=time.monotonic)


class TransientError(Exception):
    """A failure worth retrying from where the slot is."""


async def with_retries(
    settings: PullSettings, slot: Slot, attempt: Callable[[], Awaitable[bool]]
) -> None:
    """Run ``attempt`` until it reports the package complete (True).

    ``attempt`` raises :class:`TransientError` for what a retry may cure and returns False when it
    made progress but is not done.  The retry window restarts with every byte gained."""
    failures = 0
    last_progress = settings.clock()
    while True:
        before = slot.received
        try:
            if await attempt():
                return
        except TransientError as error:
            if slot.received != before:
                failures, last_progress = 0, settings.clock()
            delay = min(settings.retry_cap, settings.retry_base * (1 << min(failures, 16)))
            failures += 1
            if settings.clock() + delay - last_progress > settings.retry_window:
                raise DownloadError(UpdateResult.CONNECTION_LOST, str(error)) from None
            await asyncio.sleep(delay)
            continue
        failures, last_progress = 0, settings.clock()
