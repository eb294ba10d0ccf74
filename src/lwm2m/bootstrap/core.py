"""Sans-I/O LwM2M bootstrap server: Bootstrap-Request in, the configuration's requests out.

Driven like every core (:mod:`lwm2m.transport.udp` does it): :meth:`BootstrapCore.receive`
datagrams, :meth:`BootstrapCore.handle_timer` once :meth:`BootstrapCore.get_timer` has passed,
then drain :meth:`BootstrapCore.datagrams_to_send` and :meth:`BootstrapCore.next_event`.

A session per client: 2.04 to its Bootstrap-Request, then one request at a time, each sent when
the previous one was answered: Bootstrap-Discover of ``/`` (when the configuration asks for it;
its answer picks instance IDs and the write format), the Bootstrap-Reads, the Bootstrap-Deletes,
the Bootstrap-Writes, Bootstrap-Finish.  An error answer or no answer ends the session
(:class:`BootstrapFailed`); the client retries with a new Bootstrap-Request (server-initiated
bootstrap is the same thing, started by the DM server's Execute of /1/x/9).

``channel`` is what protects the datagrams this core gets.  Over NoSec anyone who knows an
endpoint name can ask for its configuration, so one that holds keys is refused there unless
``keys_over_nosec`` (labs and tests) says otherwise.  ``authorize(endpoint, peer)`` is the
façade's say on who may bootstrap as whom (a DTLS peer only as the endpoint its PSK identity is
bound to): refused is 4.03.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.bootstrap.config import BootstrapConfig, ConfigStore, SecurityMode
from lwm2m.bootstrap.events import (
    BootstrapDiscovered,
    BootstrapEvent,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapRead,
    BootstrapRefused,
    BootstrapStarted,
)
from lwm2m.bootstrap.plan import plan
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint import Endpoint, StaleHandleError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    Peer,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.codec import Clock, ContentFormat, default_codecs
from lwm2m.model import ModelRegistry, Path, builtin_models, node_to_values
from lwm2m.operations import (
    BootstrapFinish,
    BootstrapOperation,
    BootstrapRequest,
    Discover,
    ErrorResponse,
    Inventory,
    LinksResponse,
    NodeResponse,
    OperationError,
    Read,
    Write,
    decode_request,
    decode_response,
    encode_error,
    encode_request,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_SESSIONS = 10_000
"""Bootstraps in progress at once; beyond it a Bootstrap-Request gets 5.03 (bounded memory)."""

_WRITE_FORMATS = (
    ContentFormat.SENML_CBOR,
    ContentFormat.SENML_JSON,
    ContentFormat.TLV,
    ContentFormat.LWM2M_CBOR,
    ContentFormat.LWM2M_JSON,
)
"""Formats a client may name in ``pct`` that carry Bootstrap-Write bodies."""


@dataclass(slots=True)
class _Session:
    endpoint: str
    peer: Peer
    config: BootstrapConfig
    fmt: int | None
    """The client's preferred format (pct); None: chosen once Bootstrap-Discover says."""
    pending: deque[BootstrapOperation]
    current: BootstrapOperation | None = None
    handle: int | None = None


class BootstrapCore:
    def __init__(
        self,
        configs: ConfigStore,
        *,
        rng: random.Random,
        clock: Clock,
        channel: SecurityMode = SecurityMode.NOSEC,
        keys_over_nosec: bool = False,
        coap: EndpointConfig = DEFAULT,
        models: ModelRegistry | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        authorize: Callable[[str, Peer], bool] | None = None,
    ) -> None:
        self.configs = configs
        self._authorize = authorize
        self.channel = channel
        self.endpoint = Endpoint(coap, rng)
        self.models = models if models is not None else builtin_models()
        self.codecs = default_codecs(clock)
        self._keys_over_nosec = keys_over_nosec
        self._max_sessions = max_sessions
        self._events: deque[BootstrapEvent] = deque()
        self._sessions: dict[Peer, _Session] = {}
        self._by_handle: dict[int, _Session] = {}

    # -- driving -----------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self.endpoint.receive(data, peer, now)
        self._drain(now)

    def handle_timer(self, now: float) -> None:
        self.endpoint.handle_timer(now)
        self._drain(now)

    def get_timer(self) -> float | None:
        return self.endpoint.get_timer()

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        return self.endpoint.datagrams_to_send()

    def next_event(self) -> BootstrapEvent | None:
        return self._events.popleft() if self._events else None

    def __len__(self) -> int:
        """Sessions in progress."""
        return len(self._sessions)

    def _drain(self, now: float) -> None:
        while (event := self.endpoint.next_event()) is not None:
            self._on_coap_event(event, now)

    def _on_coap_event(self, event: Event, now: float) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event.exchange, event.request, now)
        elif isinstance(event, ResponseReceived):
            self._on_answer(event.handle, event.response, now)
        elif isinstance(event, RequestFailed):
            self._on_answer(event.handle, None, now)

    # -- Bootstrap-Request -------------------------------------------------------------------

    def _on_request(self, exchange: ExchangeKey, request: Message, now: float) -> None:
        try:
            if request.options.uri_path != ("bs",) or not request.options.uri_query:
                raise OperationError(Code.NOT_FOUND, "this bootstrap server serves POST /bs?ep=..")
            op = decode_request(request, self.codecs, self.models)
        except OperationError as exc:
            self._respond(exchange, exc.code, exc.message, now)
            return
        assert isinstance(op, BootstrapRequest), op
        self._bootstrap_request(exchange, op, now)

    def _bootstrap_request(self, exchange: ExchangeKey, op: BootstrapRequest, now: float) -> None:
        peer, endpoint = exchange.peer, op.endpoint
        config = self.configs.lookup(endpoint)
        refusal: tuple[Code, str] | None = None
        if self._authorize is not None and not self._authorize(endpoint, peer):
            refusal = Code.FORBIDDEN, "this peer may not bootstrap as this endpoint"
        elif config is None:
            refusal = Code.BAD_REQUEST, f"no bootstrap configuration for {endpoint!r} and no '*'"
        elif self.channel is SecurityMode.NOSEC and _has_keys(config) and not self._keys_over_nosec:
            refusal = Code.BAD_REQUEST, "its configuration holds keys, not sent over NoSec"
        elif peer not in self._sessions and len(self._sessions) >= self._max_sessions:
            refusal = Code.SERVICE_UNAVAILABLE, f"{self._max_sessions} bootstraps in progress"
        if refusal is not None:
            code, reason = refusal
            logger.warning(
                "Bootstrap-Request of %s from %s refused (%s): %s",
                endpoint,
                peer,
                code.dotted,
                reason,
            )
            self._events.append(BootstrapRefused(endpoint, peer, code, reason))
            self._respond(exchange, code, reason, now)
            return
        assert config is not None
        self._end(peer, now)
        fmt = op.preferred_format if op.preferred_format in _WRITE_FORMATS else None
        session = _Session(endpoint, peer, config, fmt, deque())
        self._sessions[peer] = session
        self._respond(exchange, Code.CHANGED, "", now)
        logger.info("bootstrap of %s from %s started", endpoint, peer)
        self._events.append(BootstrapStarted(endpoint, peer))
        if config.discover:
            self._send(session, Discover(Path.parse("/")), now)
        else:
            self._plan(session, Inventory())
            self._next(session, now)

    def _respond(self, exchange: ExchangeKey, code: Code, message: str, now: float) -> None:
        parts = encode_error(code, message)
        self.endpoint.respond(exchange, code, options=parts.options, payload=parts.payload, now=now)

    # -- the session -------------------------------------------------------------------------

    def _plan(self, session: _Session, inventory: Inventory) -> None:
        if session.fmt is None:
            legacy = inventory.lwm2m_version in (None, "1.0")
            session.fmt = ContentFormat.TLV if legacy else ContentFormat.SENML_CBOR
        session.pending.extend(plan(session.config, inventory, read_format=session.fmt))

    def _next(self, session: _Session, now: float) -> None:
        if session.pending:
            self._send(session, session.pending.popleft(), now)

    def _send(self, session: _Session, op: BootstrapOperation, now: float) -> None:
        parts = encode_request(op, self.codecs, self.models, fmt=session.fmt)
        session.current = op
        session.handle = self.endpoint.send_request(
            session.peer, parts.code, options=parts.options, payload=parts.payload, now=now
        )
        self._by_handle[session.handle] = session

    def _on_answer(self, handle: int, message: Message | None, now: float) -> None:
        session = self._by_handle.pop(handle, None)
        if session is None or session.current is None:
            return
        op, session.current, session.handle = session.current, None, None
        name = _name(op)
        if message is None:
            self._fail(session, name, None, "no answer", now)
            return
        try:
            response = decode_response(op, message, self.codecs, self.models)
        except OperationError as exc:
            self._fail(session, name, None, f"bad answer: {exc.message}", now)
            return
        if isinstance(response, ErrorResponse):
            if not (response.code is Code.NOT_FOUND and self._optional(op)):
                self._fail(session, name, response.code, response.message or "refused", now)
                return
            logger.info(
                "bootstrap of %s: %s answered 4.04, an optional resource the client lacks;"
                " carrying on",
                session.endpoint,
                name,
            )
        endpoint = session.endpoint
        if isinstance(op, Discover):
            assert isinstance(response, LinksResponse)
            try:
                inventory = Inventory.from_links(response.links)
            except OperationError as exc:
                self._fail(session, name, None, exc.message, now)
                return
            self._events.append(BootstrapDiscovered(endpoint, response.links))
            self._plan(session, inventory)
        elif isinstance(op, Read):
            assert isinstance(response, NodeResponse)
            self._events.append(
                BootstrapRead(endpoint, op.path, node_to_values(op.path, response.node))
            )
        if session.pending:
            self._next(session, now)
            return
        logger.info("bootstrap of %s finished", endpoint)
        del self._sessions[session.peer]
        self._events.append(BootstrapFinished(endpoint))

    def _optional(self, op: BootstrapOperation) -> bool:
        """A Bootstrap-Write of one optional resource: a client may lack it (4.04)."""
        if not isinstance(op, Write):
            return False
        resource = self.models.resource(op.path)
        return resource is not None and not resource.mandatory

    def _fail(
        self, session: _Session, operation: str, code: Code | None, reason: str, now: float
    ) -> None:
        status = "no answer" if code is None else code.dotted
        logger.warning(
            "bootstrap of %s failed at %s (%s): %s", session.endpoint, operation, status, reason
        )
        self._end(session.peer, now)
        self._events.append(BootstrapFailed(session.endpoint, operation, code, reason))

    def _end(self, peer: Peer, now: float) -> None:
        """Forget the peer's session; its request in flight is cancelled."""
        session = self._sessions.pop(peer, None)
        if session is not None and session.handle is not None:
            self._by_handle.pop(session.handle, None)
            with contextlib.suppress(StaleHandleError):
                self.endpoint.cancel(session.handle, now)


def _has_keys(config: BootstrapConfig) -> bool:
    return any(account.key or account.oscore is not None for account in config.servers)


def _name(op: BootstrapOperation) -> str:
    """``Bootstrap-Write /0``, ``Bootstrap-Finish``: what logs and events call the request."""
    if isinstance(op, BootstrapFinish):
        return "Bootstrap-Finish"
    return f"Bootstrap-{type(op).__name__} {op.path}"


__all__ = ["DEFAULT_MAX_SESSIONS", "BootstrapCore"]
