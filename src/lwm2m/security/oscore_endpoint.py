"""OSCORE (RFC 8613) under the LwM2M engines: a datagram endpoint that protects and unprotects.

:class:`OscoreEndpoint` is an :class:`~lwm2m.coap.endpoint.Endpoint` with the same API, so the
server core and the client engine do not know OSCORE exists. Requests to a peer that has a
security context in :class:`OscoreContexts` are protected before the endpoint sees them, and
their responses and notifications unprotected before the application does; incoming requests
that carry the OSCORE option are unprotected (refusals answered with the error's ``reply``,
§8.2) and their responses and notifications protected with the request's binding. Everything
else, NoSec traffic included, passes through unchanged: the server decides whether a peer may
act unprotected (:meth:`OscoreEndpoint.verified_context`).

Retransmission, deduplication and block-wise work on the outer (protected) messages, in the
base class (outer block-wise, §4.1.3.4.2). A protected 4.01 with Echo (RFC 9175, a peer that
restarted) is answered once, transparently, by the same request protected afresh with that
Echo; the application's handle stays the same.

Limits: a server's Block2 cache is keyed by Uri-Path, which protected requests hide, so two
concurrent large protected responses to one peer share it; observations restored after a
restart have no binding, so their notifications cannot be unprotected (re-observe instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.endpoint_records import DatagramObservation
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    NotificationReceived,
    ObservationCancelled,
    ObservationEnded,
    ObservationKey,
    Peer,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.security.credentials import OscoreCredential
from lwm2m.security.oscore import (
    ContextRegistry,
    MemorySequenceStore,
    OscoreError,
    OscoreUsageError,
    RequestBinding,
    SecurityContext,
    SequenceStore,
    UnprotectedResponseError,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)


class OscoreContexts:
    """The contexts an :class:`OscoreEndpoint` uses: incoming requests find theirs by kid
    (``registry``), outgoing requests by peer (``peers``: configured with :meth:`require` for a
    client's servers, and learnt from each peer's last request that a context verified).
    A configured peer's unprotected requests are refused (4.01): a device takes orders from
    its OSCORE server only under OSCORE."""

    def __init__(self) -> None:
        self.registry = ContextRegistry()
        self.peers: dict[Peer, SecurityContext] = {}
        self.required: set[Peer] = set()

    def add(self, context: SecurityContext) -> None:
        self.registry.add(context)

    def require(self, peer: Peer, context: SecurityContext) -> None:
        """Speak OSCORE with ``peer`` through ``context`` (one of the registry's), and only."""
        self.peers[peer] = context
        self.required.add(peer)

    def remove(self, context: SecurityContext) -> None:
        self.registry.remove(context)
        for peer in [peer for peer, known in self.peers.items() if known is context]:
            del self.peers[peer]
            self.required.discard(peer)


class _Protected:
    """A protected request of ours: what to send again with Echo, and its binding."""

    __slots__ = ("binding", "dead", "echoed", "handle", "peer", "request")

    def __init__(self, handle: int, peer: Peer, request: Message, binding: RequestBinding):
        self.handle = handle  # the application's, the endpoint's first
        self.peer = peer
        self.request = request
        self.binding = binding
        self.echoed = False
        self.dead = False  # refused a forged answer: swallow the events still to come


@dataclass(frozen=True, slots=True)
class _Incoming:
    binding: RequestBinding
    registers: bool  # a GET/FETCH with Observe=0: a success answer is a notification


class OscoreEndpoint(Endpoint):
    """An endpoint that speaks OSCORE with the peers ``contexts`` knows (module docstring).

    ``rejected`` counts protected messages refused (forged, replayed, unknown context).
    """

    def __init__(
        self,
        config: EndpointConfig = DEFAULT,
        rng: random.Random | None = None,
        contexts: OscoreContexts | None = None,
    ) -> None:
        super().__init__(config, rng)
        self.contexts = contexts if contexts is not None else OscoreContexts()
        self.rejected = 0
        self._now = 0.0
        self._outgoing: dict[int, _Protected] = {}  # by the endpoint's handle
        self._aliases: dict[int, int] = {}  # application handle -> endpoint handle, after Echo
        self._incoming: dict[ExchangeKey, _Incoming] = {}
        self._notifying: dict[ObservationKey, RequestBinding] = {}
        self._verified: dict[Peer, SecurityContext | None] = {}

    def verified_context(self, peer: Peer) -> SecurityContext | None:
        """The context that verified ``peer``'s latest request; None if it came unprotected.
        Valid while that request's event is handled (how a server binds endpoints)."""
        return self._verified.get(peer)

    # -- driving -----------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        self._now = now
        super().receive(data, peer, now)

    def handle_timer(self, now: float) -> None:
        self._now = now
        super().handle_timer(now)

    def next_event(self) -> Event | None:
        # Lazily, so that verified_context() describes the request being handled.
        while (event := super().next_event()) is not None:
            translated = self._translate(event)
            if translated is not None:
                return translated
        return None

    # -- client API --------------------------------------------------------------------------

    def send_request(
        self,
        peer: Peer,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = True,
        now: float,
    ) -> int:
        context = self.contexts.peers.get(peer)
        if context is None:
            return super().send_request(
                peer, code, options=options, payload=payload, confirmable=confirmable, now=now
            )
        self._now = now
        type_ = Type.CON if confirmable else Type.NON
        request = Message(type_, Code(code), 0, b"", options, payload)
        protected, binding = protect_request(context, request)
        handle = self._send_outer(peer, protected, now)
        self._outgoing[handle] = _Protected(handle, peer, request, binding)
        return handle

    def cancel(self, handle: int, now: float) -> None:
        super().cancel(self._aliases.get(handle, handle), now)

    def cancel_observation(self, handle: int, now: float) -> None:
        inner = self._aliases.get(handle, handle)
        record = self._outgoing.get(inner)
        if record is not None:
            # The stored outer request cannot be sent again (a replay): protect a fresh
            # GET/FETCH with Observe=1 and let the base send it as the deregistration.
            plain = record.request
            request = Message(
                plain.type, plain.code, 0, b"", plain.options.replace(observe=1), plain.payload
            )
            protected, record.binding = protect_request(record.binding.context, request)
            exchange = self._client(inner)
            exchange.options, exchange.body = protected.options, protected.payload
        super().cancel_observation(inner, now)

    def observation_key(self, handle: int) -> ObservationKey:
        return super().observation_key(self._aliases.get(handle, handle))

    # -- server API --------------------------------------------------------------------------

    def respond(
        self,
        exchange: ExchangeKey,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        now: float,
        observe: bool = True,
    ) -> ObservationKey | None:
        incoming = self._incoming.pop(exchange, None)
        if incoming is None:
            return super().respond(
                exchange, code, options=options, payload=payload, now=now, observe=observe
            )
        code = Code(code)
        # The outer code is 2.05 whatever the inner one: only an inner success registers.
        observe = observe and incoming.registers and code.is_success
        if observe:
            options = options.replace(observe=0)  # the base sets the outer number
        outer = protect_response(
            incoming.binding, Message(Type.ACK, code, 0, b"", options, payload)
        )
        key = super().respond(
            exchange,
            outer.code,
            options=outer.options,
            payload=outer.payload,
            now=now,
            observe=observe,
        )
        if key is not None:
            self._notifying[key] = incoming.binding
        return key

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        now: float,
        confirmable: bool = False,
    ) -> None:
        binding = self._notifying.get(observation)
        if binding is None:
            super().notify(
                observation,
                code,
                options=options,
                payload=payload,
                now=now,
                confirmable=confirmable,
            )
            return
        code = Code(code)
        if code.is_success:
            options = options.replace(observe=0)
        else:
            del self._notifying[observation]
        outer = protect_response(binding, Message(Type.ACK, code, 0, b"", options, payload))
        super().notify(
            observation,
            outer.code,
            options=outer.options,
            payload=outer.payload,
            now=now,
            confirmable=confirmable,
        )

    def _notification_options(
        self, obs: DatagramObservation, code: Code, options: Options, now: float
    ) -> Options:
        if options.oscore is not None and options.observe is None:
            # A protected error notification (outer 2.05, no Observe) ends the observation.
            self._drop_observation(obs, None, now)
            return options
        return super()._notification_options(obs, code, options, now)

    def forget_peer(self, peer: Peer) -> None:
        self._verified.pop(peer, None)
        super().forget_peer(peer)

    # -- internals ---------------------------------------------------------------------------

    def _send_outer(self, peer: Peer, protected: Message, now: float) -> int:
        return super().send_request(
            peer,
            protected.code,
            options=protected.options,
            payload=protected.payload,
            confirmable=protected.type is Type.CON,
            now=now,
        )

    def _translate(self, event: Event) -> Event | None:
        if isinstance(event, RequestReceived):
            return self._on_request_event(event)
        if isinstance(event, ObservationCancelled):
            self._notifying.pop(event.observation, None)
            return event
        if not isinstance(
            event, ResponseReceived | NotificationReceived | ObservationEnded | RequestFailed
        ):
            return event  # a pong
        handle = event.handle
        record = self._outgoing.get(handle)
        if record is None:
            return event
        if isinstance(event, ResponseReceived):
            return self._on_response_event(record, handle, event.response)
        if isinstance(event, NotificationReceived):
            if record.dead:
                return None
            try:
                plain = unprotect_response(record.binding, event.notification)
            except OscoreError:
                self.rejected += 1
                return None
            return NotificationReceived(record.handle, plain)
        self._close(handle)
        if record.dead:
            return None
        if isinstance(event, ObservationEnded):
            return ObservationEnded(record.handle, self._final(record, event.response))
        return RequestFailed(record.handle, event.reason)

    def _on_request_event(self, event: RequestReceived) -> Event | None:
        request, peer = event.request, event.exchange.peer
        if request.options.oscore is None:
            if peer in self.contexts.required:
                self.rejected += 1
                super().respond(
                    event.exchange,
                    Code.UNAUTHORIZED,
                    payload=b"OSCORE required",
                    now=self._now,
                    observe=False,
                )
                return None
            self._verified[peer] = None
            return event
        try:
            plain, binding = unprotect_request(self.contexts.registry, request)
        except OscoreError as error:
            self.rejected += 1
            reply = error.reply(request)
            super().respond(
                event.exchange,
                reply.code,
                options=reply.options,
                payload=reply.payload,
                now=self._now,
                observe=False,
            )
            return None
        self._verified[peer] = self.contexts.peers[peer] = binding.context
        registers = plain.code in (Code.GET, Code.FETCH) and plain.options.observe == 0
        self._incoming[event.exchange] = _Incoming(binding, registers)
        return RequestReceived(event.exchange, plain)

    def _on_response_event(
        self, record: _Protected, handle: int, response: Message
    ) -> Event | None:
        observing = response.code.is_success and response.options.observe is not None
        if record.dead:
            return None
        try:
            plain = unprotect_response(record.binding, response)
        except UnprotectedResponseError as error:
            plain = error.response  # the peer refused the request, e.g. 4.01 "Decryption failed"
        except OscoreError:
            self.rejected += 1
            if observing:  # the base holds an observation: end it, swallowing its events
                record.dead = True
                super().cancel(handle, self._now)
            else:
                self._close(handle)
            return RequestFailed(record.handle, FailureReason.PROTOCOL)
        echo = plain.options.echo
        if plain.code is Code.UNAUTHORIZED and echo is not None and not record.echoed:
            # The peer restarted (Appendix B.1.2): prove freshness once, with its Echo.
            record.echoed = True
            self._close(handle)
            request = record.request
            request = Message(
                request.type,
                request.code,
                0,
                b"",
                request.options.replace(echo=echo),
                request.payload,
            )
            protected, record.binding = protect_request(record.binding.context, request)
            new = self._send_outer(record.peer, protected, self._now)
            self._outgoing[new] = record
            self._aliases[record.handle] = new
            return None
        if not observing:
            self._close(handle)
        return ResponseReceived(record.handle, plain)

    def _final(self, record: _Protected, response: Message | None) -> Message | None:
        if response is None or response.options.oscore is None:
            return response
        try:
            return unprotect_response(record.binding, response)
        except OscoreError:
            self.rejected += 1
            return None

    def _close(self, handle: int) -> None:
        record = self._outgoing.pop(handle, None)
        if record is not None and self._aliases.get(record.handle) == handle:
            del self._aliases[record.handle]


class FileSequenceStore:
    """A :class:`~lwm2m.security.oscore.SequenceStore` in a small JSON file, replaced
    atomically and synced before :meth:`save` returns, so a crash never loses a reservation."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> int:
        try:
            value = json.loads(self.path.read_text())["next"]
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError) as exc:
            # Guessing a number could reuse a nonce: refuse to start instead.
            raise ValueError(f"{self.path}: unreadable OSCORE sequence number: {exc}") from None
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{self.path}: bad OSCORE sequence number")
        return value

    def save(self, limit: int) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w") as file:
            json.dump({"next": limit}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)


SequenceStores = Callable[[OscoreCredential], SequenceStore]


def restored_context(
    master_secret: bytes,
    sender_id: bytes,
    recipient_id: bytes,
    *,
    master_salt: bytes = b"",
    id_context: bytes | None = None,
    sequence_store: SequenceStore,
) -> SecurityContext:
    """A context whose numbers continue from ``sequence_store``; one that was used before has
    lost its replay window, so it proves freshness with Echo first (Appendix B.1.2)."""
    return SecurityContext(
        master_secret,
        sender_id,
        recipient_id,
        master_salt=master_salt,
        id_context=id_context,
        sequence_store=sequence_store,
        replay_synchronized=sequence_store.load() == 0,
    )


class OscoreServerContexts(OscoreContexts):
    """A server's OSCORE credentials (one per endpoint), their contexts, and the rule that
    binds them: a request verified by endpoint X's context may act only for X, and an
    endpoint with a credential only with its context.

    ``sequences`` gives each credential's :class:`SequenceStore`; the in-memory default
    reuses nonces after a restart unless every credential is renewed, so give a durable one.
    """

    def __init__(
        self, credentials: Iterable[OscoreCredential] = (), sequences: SequenceStores | None = None
    ) -> None:
        super().__init__()
        self._sequences = sequences
        self._credentials: dict[str, tuple[OscoreCredential, SecurityContext]] = {}
        self._owners: dict[SecurityContext, str] = {}
        for credential in credentials:
            self.set(credential)

    def set(self, credential: OscoreCredential) -> bool:
        """Add or replace the endpoint's credential (a new context, even if unchanged); True
        if it is new. ValueError if its Recipient ID is another endpoint's."""
        store = MemorySequenceStore() if self._sequences is None else self._sequences(credential)
        context = restored_context(
            credential.master_secret.reveal(),
            credential.sender_id,
            credential.recipient_id,
            master_salt=credential.master_salt,
            id_context=credential.id_context,
            sequence_store=store,
        )
        old = self._pop(credential.endpoint)
        try:
            self._insert(credential, context)
        except OscoreUsageError:
            if old is not None:
                self._insert(*old)
            raise ValueError("recipientId already belongs to another endpoint") from None
        return old is None

    def _insert(self, credential: OscoreCredential, context: SecurityContext) -> None:
        self.add(context)
        self._credentials[credential.endpoint] = (credential, context)
        self._owners[context] = credential.endpoint

    def remove_endpoint(self, endpoint: str) -> bool:
        return self._pop(endpoint) is not None

    def _pop(self, endpoint: str) -> tuple[OscoreCredential, SecurityContext] | None:
        """Take the endpoint's entry out (:meth:`set` puts it back if the new one is refused;
        a subclass that persists sees only the public :meth:`set` and :meth:`remove_endpoint`)."""
        entry = self._credentials.pop(endpoint, None)
        if entry is not None:
            self.remove(entry[1])
            del self._owners[entry[1]]
        return entry

    def get(self, endpoint: str) -> OscoreCredential | None:
        entry = self._credentials.get(endpoint)
        return None if entry is None else entry[0]

    def __len__(self) -> int:
        return len(self._credentials)

    def __iter__(self) -> Iterator[OscoreCredential]:
        return iter([credential for credential, _ in self._credentials.values()])

    def refusal(self, endpoint: str, verified: SecurityContext | None) -> str | None:
        """Why a request verified by ``verified`` (None: unprotected) may not act for
        ``endpoint``; None when it may."""
        if verified is not None:
            owner = self._owners.get(verified)
            return None if owner == endpoint else f"its OSCORE context is bound to {owner!r}"
        if endpoint in self._credentials:
            return "it has an OSCORE context, so it must use OSCORE"
        return None


def file_sequences(directory: str | os.PathLike[str]) -> SequenceStores:
    """Each credential's :class:`FileSequenceStore` in ``directory`` (created), named by a
    hash of its endpoint (endpoint names are not file names)."""
    folder = Path(directory)

    def store(credential: OscoreCredential) -> SequenceStore:
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(credential.endpoint.encode()).hexdigest()[:32]
        return FileSequenceStore(folder / f"{name}.json")

    return store
