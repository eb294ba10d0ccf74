"""Download over HTTP/1.1 (``http://``, ``https://``) with httpx.

A resumed download asks ``Range: bytes=<held>-`` with ``If-Range`` set to the strong entity
tag the slot was filled from (RFC 9110 §13.1.5, §14.2): 206 continues, a 200 means the
package changed (or the server ignores ranges) and restarts the slot from its first byte.
A slot filled without a strong ETag cannot be vouched for and restarts.
"""

from __future__ import annotations

import re

import httpx

from lwm2m.client.firmware.pull import PullSettings, TransientError, with_retries
from lwm2m.client.firmware.staging import DownloadError, Slot
from lwm2m.client.standard.firmware import UpdateResult

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_CHUNK = 16 << 10


async def http_download(uri: str, slot: Slot, settings: PullSettings) -> None:
    chunk_size = min(_CHUNK, slot.limits.ram_size)
    async with httpx.AsyncClient(
        timeout=settings.timeout, verify=settings.http_verify, follow_redirects=True
    ) as client:
        slot.begin(uri)

        async def attempt() -> bool:
            offset = slot.received
            headers = {}
            validator = slot.validator
            if offset and validator is not None and not validator.startswith(b"W/"):
                headers = {"Range": f"bytes={offset}-", "If-Range": validator.decode("latin-1")}
            try:
                async with client.stream("GET", uri, headers=headers) as response:
                    offset = _start(response, slot, offset if headers else 0)
                    async for chunk in response.aiter_bytes(chunk_size):
                        slot.write(offset, chunk)
                        offset += len(chunk)
            except httpx.TransportError as error:
                raise TransientError(f"{type(error).__name__}: {error}") from None
            if slot.total is not None and slot.received < slot.total:
                raise TransientError(f"connection ended at byte {slot.received} of {slot.total}")
            return True

        await with_retries(settings, slot, attempt)


def _start(response: httpx.Response, slot: Slot, asked: int) -> int:
    """Check the answer's status and identity; the offset its body starts at."""
    status = response.status_code
    if status >= 500 or status == 429:
        raise TransientError(f"server answered {status}")
    etag = response.headers.get("etag")
    validator = etag.encode("latin-1") if etag is not None else None
    if status == 206 and asked:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != asked:
            raise TransientError("206 without the range asked for")
        total = None if match.group(3) == "*" else int(match.group(3))
        if slot.identify(validator, total):
            return asked
        raise TransientError("the package changed under a range request")
    if status != 200:
        raise DownloadError(UpdateResult.INVALID_URI, f"server answered {status}")
    length = response.headers.get("content-length")
    slot.restart()  # the body starts at byte 0: whatever the slot held goes
    slot.identify(validator, int(length) if length and length.isdigit() else None)
    return 0
