"""Block2 download over CoAP (``coap://``, ``coaps://``, ``coap+tcp://``, ``coaps+tcp://``).

Each block is its own GET (RFC 7959 §2.4 random access, ``deliver_blocks``), through the
project's endpoints and transports: :class:`~lwm2m.coap.endpoint.Endpoint` over UDP or DTLS,
:class:`~lwm2m.coap.stream.StreamEndpoint` over TCP or TLS.  The first block asks for Size2,
and every block's ETag and Size2 must match what the slot was filled from: a changed package
restarts at block 0.  A block the server makes smaller (a smaller SZX) is taken, and so is a
server that answers without Block2 at all (the whole package in one response), within RAM.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any, Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from lwm2m.client.firmware.pull import PullSettings, TransientError, with_retries
from lwm2m.client.firmware.staging import DownloadError, Slot
from lwm2m.client.standard.firmware import UpdateResult
from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import Event, Peer
from lwm2m.coap.message import Message
from lwm2m.coap.options import Block, Options
from lwm2m.coap.stream import StreamConfig, StreamEndpoint
from lwm2m.security.dtls import DtlsClient, DtlsEvent, EndReason, SessionEnded
from lwm2m.transport.awaited import AwaitedRequests, RequestError
from lwm2m.transport.dtls import DtlsCore, open_dtls
from lwm2m.transport.tcp import Psk as TlsPsk
from lwm2m.transport.tcp import StreamEndpointTransport, StreamPeer
from lwm2m.transport.udp import UdpEndpoint, UdpTransport, open_udp_endpoint

DEFAULT_PORTS = {"coap": 5683, "coaps": 5684, "coap+tcp": 5683, "coaps+tcp": 5684}


class _Link(Protocol):
    async def get(self, options: Options) -> Message:
        """One block; raises :class:`TransientError` when no answer comes."""


class _BlockEndpoint(Protocol):
    def send_request(self, peer: Peer, code: Code, *, options: Options, now: float) -> int: ...

    def deliver_blocks(self, handle: int) -> None: ...


def _request_block(
    endpoint: _BlockEndpoint,
    requests: AwaitedRequests[Any],
    peer: Peer,
    options: Options,
    now: float,
) -> tuple[int, asyncio.Future[Message]]:
    """Send one block's GET, its Block2 answer delivered as it is (random access)."""
    handle = endpoint.send_request(peer, Code.GET, options=options, now=now)
    endpoint.deliver_blocks(handle)
    return handle, requests.expect(handle)


async def _answer(waiting: asyncio.Future[Message], address: tuple[str, int]) -> Message:
    try:
        return await waiting
    except RequestError as error:
        raise TransientError(f"no answer from {address}: {error.event}") from None


async def coap_download(uri: str, slot: Slot, settings: PullSettings) -> None:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    assert parts.hostname is not None
    address = (parts.hostname, parts.port or DEFAULT_PORTS[scheme])
    request = Options.build(uri_path=_segments(parts), uri_query=_query(parts))
    block_size = min(16 << settings.coap.preferred_block_szx, _floor_pow2(slot.limits.ram_size))
    async with _open(scheme, address, settings) as link:
        offset = slot.begin(uri)

        async def attempt() -> bool:
            nonlocal offset
            offset = slot.received
            szx = _szx_for(offset, block_size)
            options = request.replace(
                block2=Block(offset // (16 << szx), False, szx), size2=0 if offset == 0 else None
            )
            response = await link.get(options)
            return _take(response, slot, offset, szx)

        await with_retries(settings, slot, attempt)


def _take(response: Message, slot: Slot, offset: int, szx: int) -> bool:
    """Put a block in the slot; True once the package is complete."""
    code = response.code
    if code.is_error and code >= Code.INTERNAL_SERVER_ERROR:
        raise TransientError(f"server answered {code}")
    if code is not Code.CONTENT:
        raise DownloadError(UpdateResult.INVALID_URI, f"server answered {code}")
    options = response.options
    etag = options.etags[0] if options.etags else None
    block2 = options.block2
    if block2 is None:  # the whole package in one answer
        slot.restart()
        slot.identify(etag, len(response.payload))
        slot.write(0, response.payload)
        return True
    if block2.offset != offset or block2.szx > szx:
        raise TransientError(f"asked for the block at {offset}, got block {block2.num}")
    if not slot.identify(etag, options.size2):
        return False  # changed under us: start over at block 0
    slot.write(offset, response.payload)
    return not block2.more


def _szx_for(offset: int, block_size: int) -> int:
    """The largest SZX up to ``block_size`` that ``offset`` is a block boundary of."""
    szx = block_size.bit_length() - 5
    while szx > 0 and offset % (16 << szx):
        szx -= 1
    return szx


def _floor_pow2(value: int) -> int:
    return 1 << (value.bit_length() - 1)


def _segments(parts: SplitResult) -> tuple[str, ...]:
    return tuple(unquote(s) for s in parts.path.split("/") if s)


def _query(parts: SplitResult) -> tuple[str, ...]:
    return tuple(unquote(q) for q in parts.query.split("&")) if parts.query else ()


@contextlib.asynccontextmanager
async def _open(
    scheme: str, address: tuple[str, int], settings: PullSettings
) -> AsyncIterator[_Link]:
    secure = scheme.startswith("coaps")
    if secure and settings.psk is None:
        raise DownloadError(UpdateResult.UNSUPPORTED_PROTOCOL, f"no credentials for {scheme}")
    if scheme.endswith("+tcp"):
        link: _UdpLink | _DtlsLink | _StreamLink = _StreamLink(address, settings, secure)
    elif secure:
        link = await _DtlsLink.open(address, settings)
    else:
        link = await _UdpLink.open(address, settings)
    try:
        yield link
    finally:
        link.close()


class _UdpLink:
    def __init__(self, address: tuple[str, int], transport: UdpEndpoint) -> None:
        self._address = address
        self._transport = transport

    @classmethod
    async def open(cls, address: tuple[str, int], settings: PullSettings) -> _UdpLink:
        endpoint = Endpoint(settings.coap, random.Random())
        return cls(address, await open_udp_endpoint(endpoint, ("0.0.0.0", 0)))

    async def get(self, options: Options) -> Message:
        transport = self._transport
        _, waiting = _request_block(
            transport.endpoint, transport.requests, self._address, options, transport.now()
        )
        transport.pump()
        return await _answer(waiting, self._address)

    def close(self) -> None:
        self._transport.close()


class _DtlsLink:
    """CoAP over DTLS with the device's PSK; a handshake that fails fails the block."""

    def __init__(self, address: tuple[str, int], endpoint: Endpoint) -> None:
        self._address = address
        self._endpoint = endpoint
        self._requests: AwaitedRequests[Event] = AwaitedRequests(None)
        self._waiting: asyncio.Future[Message] | None = None
        self._transport: UdpTransport[DtlsCore[Endpoint]] | None = None

    @classmethod
    async def open(cls, address: tuple[str, int], settings: PullSettings) -> _DtlsLink:
        assert settings.psk is not None
        link = cls(address, Endpoint(settings.coap, random.Random()))
        dtls = DtlsClient(None)
        dtls.use_psk(address, settings.psk)
        link._transport = await open_dtls(
            link._endpoint,
            link._drain,
            dtls,
            local_address=("0.0.0.0", 0),
            on_session=link._on_session,
        )
        return link

    def _drain(self) -> None:
        while (event := self._endpoint.next_event()) is not None:
            self._requests.dispatch(event)

    def _on_session(self, event: DtlsEvent) -> None:
        failed = isinstance(event, SessionEnded) and event.reason in (
            EndReason.FAILED,
            EndReason.TIMEOUT,
        )
        if failed and self._waiting is not None and not self._waiting.done():
            failure = TransientError(f"DTLS handshake with {self._address} failed")
            self._waiting.set_exception(failure)

    async def get(self, options: Options) -> Message:
        transport, endpoint = self._transport, self._endpoint
        assert transport is not None
        handle, self._waiting = _request_block(
            endpoint, self._requests, self._address, options, transport.now()
        )
        transport.pump()
        try:
            return await _answer(self._waiting, self._address)
        except TransientError:
            with contextlib.suppress(StaleHandleError):
                endpoint.cancel(handle, transport.now())
            raise

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _StreamLink:
    """CoAP over TCP or TLS-PSK; a lost connection is opened again for the next block."""

    def __init__(self, address: tuple[str, int], settings: PullSettings, secure: bool) -> None:
        self._address = address
        self._settings = settings
        psk = settings.psk
        self._psk = (
            TlsPsk(psk.identity.decode("utf-8"), psk.key.reveal())
            if secure and psk is not None
            else None
        )
        self._transport = StreamEndpointTransport(StreamEndpoint(StreamConfig(), random.Random()))
        self._peer: StreamPeer | None = None

    async def get(self, options: Options) -> Message:
        transport = self._transport
        if self._peer not in transport.peers:
            try:
                self._peer = await transport.connect(
                    self._address, self._psk, timeout=self._settings.timeout
                )
            except (OSError, TimeoutError) as error:
                raise TransientError(f"cannot connect to {self._address}: {error}") from None
        assert self._peer is not None
        _, waiting = _request_block(
            transport.endpoint, transport.requests, self._peer, options, transport.now()
        )
        transport.pump()
        return await _answer(waiting, self._address)

    def close(self) -> None:
        self._transport.close()
