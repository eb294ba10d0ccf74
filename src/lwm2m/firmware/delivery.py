"""Getting a package from the repository onto a device: pull from the server's own CoAP(S)
and HTTP ports with a per-device URL, or push with a Write to /5/0/0 (docs/firmware.md).

:class:`FirmwareDelivery` is wired in two steps, because the server's CoAP resources are part
of its configuration and a push needs the running server::

    delivery = FirmwareDelivery(repository)
    server = LwM2MServer(delivery.serving(ServerConfig(...)))
    delivery.attach(server)

Pull over CoAP: ``GET /fw/{token}`` is answered block by block (Block2, RFC 7959) straight
from the package file, with the package's ETag and Size2 in every block; nothing is cached
per device, so a fleet downloading at once costs no memory.  Over HTTP the web layer serves
``GET /fw/{token}`` (Range, If-Range, ETag) after :meth:`FirmwareDelivery.authorize`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from lwm2m.coap.codes import Code
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Block, Options
from lwm2m.codec import ContentFormat
from lwm2m.firmware.grants import DownloadGrant, DownloadGrants
from lwm2m.firmware.package import FirmwarePackage
from lwm2m.firmware.repository import FirmwareRepository
from lwm2m.operations import ErrorResponse, Response
from lwm2m.operations.mapping import CoapParts
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.config import CoapResource

SEGMENT = "fw"
"""The first path segment of download URLs, on the CoAP ports and the HTTP port alike."""

PACKAGE = "/5/0/0"
PACKAGE_URI = "/5/0/1"

_LISTENERS = {
    "coap": "coap_address",
    "coaps": "coaps_address",
    "coap+tcp": "tcp_address",
    "coaps+tcp": "tls_address",
}
SCHEMES = (*_LISTENERS, "http", "https")

_NOT_FOUND = CoapParts(Code.NOT_FOUND, EMPTY_OPTIONS)


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    #: How long a download URL works (seconds) and how many downloads it may start.
    url_ttl: float = 24 * 3600.0
    url_uses: int = 3
    #: The host name or address devices reach the CoAP ports at; None: the address the
    #: server is bound to (refused when that is a wildcard).
    public_host: str | None = None
    #: Where devices reach the HTTP port (``http://HOST:PORT`` or an HTTPS proxy in front);
    #: None: no http/https download URLs.
    http_url: str | None = None
    #: Largest Block2 block served (SZX, 6 = 1024 bytes): a device may ask for smaller.
    block_szx: int = 6

    def __post_init__(self) -> None:
        if self.url_ttl <= 0 or self.url_uses < 1:
            raise ValueError("url_ttl must be > 0 and url_uses >= 1")
        if not 0 <= self.block_szx <= 6:
            raise ValueError("block_szx must be in 0..6")
        if self.http_url is not None:
            parts = urlsplit(self.http_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise ValueError(
                    f"http_url must be http(s)://HOST[:PORT][/PATH], not {self.http_url!r:.80}"
                )


@dataclass(frozen=True, slots=True)
class Download:
    """An authorised HTTP download: the package and its file."""

    package: FirmwarePackage
    path: str


class FirmwareDelivery:
    """Download URLs, the CoAP download resource, and push, over ``repository``."""

    def __init__(
        self,
        repository: FirmwareRepository,
        config: FirmwareConfig | None = None,
        *,
        grants: DownloadGrants | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repository = repository
        self.config = config if config is not None else FirmwareConfig()
        self.grants = grants if grants is not None else DownloadGrants()
        self._clock = clock
        self._server: LwM2MServer | None = None
        repository.on_delete.append(lambda sha256: self.grants.revoke(sha256=sha256))

    # -- wiring ------------------------------------------------------------------------------

    @property
    def coap_resource(self) -> tuple[str, CoapResource]:
        return SEGMENT, self._answer_coap

    def serving(self, config: ServerConfig) -> ServerConfig:
        """``config`` with the download resource added."""
        return replace(config, resources=(*config.resources, self.coap_resource))

    def attach(self, server: LwM2MServer) -> None:
        """The server URLs point at and pushes go through."""
        self._server = server

    @property
    def server(self) -> LwM2MServer:
        if self._server is None:
            raise RuntimeError("no server attached (FirmwareDelivery.attach)")
        return self._server

    # -- URLs --------------------------------------------------------------------------------

    def url(
        self,
        endpoint: str,
        sha256: str,
        scheme: str = "coap",
        *,
        ttl: float | None = None,
        uses: int | None = None,
    ) -> tuple[str, DownloadGrant]:
        """A download URL of package ``sha256`` for ``endpoint`` alone, and its grant.
        UnknownPackageError; ValueError for a scheme the server does not serve."""
        self.repository.package(sha256)
        base = self._base(scheme)
        config = self.config
        grant = self.grants.issue(
            endpoint,
            sha256,
            now=self._clock(),
            ttl=config.url_ttl if ttl is None else ttl,
            uses=config.url_uses if uses is None else uses,
        )
        return f"{base}/{SEGMENT}/{grant.token}", grant

    def _base(self, scheme: str) -> str:
        if scheme in ("http", "https"):
            http_url = self.config.http_url
            if http_url is None or urlsplit(http_url).scheme != scheme:
                raise ValueError(
                    f"no {scheme} download URLs: FirmwareConfig.http_url is {http_url!r}"
                )
            return http_url.rstrip("/")
        listener = _LISTENERS.get(scheme)
        if listener is None:
            raise ValueError(f"unknown scheme {scheme!r:.20}; one of {', '.join(SCHEMES)}")
        try:
            host, port = getattr(self.server, listener)[:2]
        except RuntimeError:
            raise ValueError(f"the server has no {scheme} listener") from None
        host = self.config.public_host or host
        if host in ("0.0.0.0", "::"):
            raise ValueError(
                "the server listens on a wildcard address: set "
                "FirmwareConfig.public_host to the name devices reach it at"
            )
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    # -- push and pull -----------------------------------------------------------------------

    async def push(self, endpoint: str, sha256: str, *, timeout: float | None = None) -> Response:
        """Write the package to the device's /5/0/0 (application/octet-stream; block-wise
        with Request-Tag, smaller blocks if the device answers 4.13); the device's answer."""
        data = self.repository.content(sha256)
        return await self.server.write(
            endpoint, PACKAGE, {PACKAGE: data}, fmt=ContentFormat.OPAQUE, timeout=timeout
        )

    async def offer(
        self,
        endpoint: str,
        sha256: str,
        scheme: str = "coap",
        *,
        ttl: float | None = None,
        uses: int | None = None,
        timeout: float | None = None,
    ) -> tuple[str, Response]:
        """Write a fresh download URL to the device's /5/0/1 as text/plain (it pulls the
        package); the URL and the device's answer.  A refused Write revokes the URL."""
        url, grant = self.url(endpoint, sha256, scheme, ttl=ttl, uses=uses)
        try:
            answer = await self.server.write(  # plain text: what every client takes
                endpoint, PACKAGE_URI, {PACKAGE_URI: url}, fmt=ContentFormat.TEXT, timeout=timeout
            )
        except BaseException:
            self.grants.revoke(token=grant.token)
            raise
        if isinstance(answer, ErrorResponse):
            self.grants.revoke(token=grant.token)
        return url, answer

    # -- serving downloads -------------------------------------------------------------------

    def authorize(
        self, token: str, *, range_start: int | None, if_range: str | None, if_none_match: str
    ) -> Download | FirmwarePackage | None:
        """Whether an HTTP request for ``/fw/{token}`` may be served: None (404); the package
        alone when ``If-None-Match`` names its ETag (304, no use spent); else the download.
        A request for byte 0 (no Range, a Range from 0, or an If-Range that no longer holds)
        starts a download and uses one of the grant's uses."""
        grant = self.grants.find(token, now=self._clock(), endpoint=None)
        package = None if grant is None else self.repository.get(grant.sha256)
        if grant is None or package is None:
            return None
        etag = package.http_etag
        matches = {tag.strip() for tag in if_none_match.split(",")}
        if etag in matches or "*" in matches:
            return package
        start = range_start in (None, 0) or (if_range is not None and if_range.strip() != etag)
        if not self.grants.admit(grant, start=start):
            return None
        return Download(package, self.repository.path(package.sha256))

    def _answer_coap(
        self, request: Message, peer: Peer, endpoint: str | None, now: float
    ) -> CoapParts:
        """``GET /fw/{token}``: a Block2 block of the package, or 2.03 when the request's
        ETag is the package's.  4.04 for any token that does not authorise this device."""
        options = request.options
        path = options.uri_path
        if len(path) != 2:
            return _NOT_FOUND
        if request.code is not Code.GET:
            return CoapParts(Code.METHOD_NOT_ALLOWED, EMPTY_OPTIONS)
        grant = self.grants.find(path[1], now=self._clock(), endpoint=endpoint)
        package = None if grant is None else self.repository.get(grant.sha256)
        if grant is None or package is None:
            return _NOT_FOUND
        etag = package.etag
        wanted = options.block2
        offset = 0 if wanted is None else wanted.offset
        if offset == 0 and etag in options.etags:
            return CoapParts(Code.VALID, Options.build(etags=(etag,)))
        if offset >= package.size:
            return CoapParts(Code.BAD_OPTION, EMPTY_OPTIONS, b"block out of range")
        if not self.grants.admit(grant, start=offset == 0):
            return _NOT_FOUND
        szx = self.config.block_szx if wanted is None else min(wanted.szx, 6, self.config.block_szx)
        size = 16 << szx
        chunk = self.repository.read(package.sha256, offset, size)
        more = offset + len(chunk) < package.size
        block = None if wanted is None and not more else Block(offset // size, more, szx)
        return CoapParts(
            Code.CONTENT,
            Options.build(
                content_format=ContentFormat.OPAQUE,
                etags=(etag,),
                block2=block,
                size2=package.size,
            ),
            chunk,
        )
