"""OSCORE (RFC 8613): end-to-end protection of CoAP messages, as a sans-I/O message transformer.

The CoAP :class:`~lwm2m.coap.endpoint.Endpoint` stays unaware of OSCORE: it carries the
*outer* message (POST/FETCH or 2.04/2.05, the OSCORE option, ciphertext payload) and does
retransmission, deduplication and outer block-wise on it. Engines call the four transformer
functions around it:

Client role (the side that sends a request)::

    protected, binding = protect_request(context, Message(Type.CON, Code.POST, options=..))
    handle = endpoint.send_request(peer, protected.code, options=protected.options,
                                   payload=protected.payload, now=now)
    # ResponseReceived / NotificationReceived for handle:
    plain = unprotect_response(binding, event.response)   # OscoreError if forged or replayed

Server role (the side that receives it; ``contexts`` is one context or a ContextRegistry)::

    try:
        plain, binding = unprotect_request(contexts, event.request)
    except OscoreError as error:
        reply = error.reply(event.request)                 # 4.01/4.02, Echo challenge
    else:
        reply = protect_response(binding, Message(Type.ACK, code, options=.., payload=..))
    key = endpoint.respond(event.exchange, reply.code, options=reply.options,
                           payload=reply.payload, now=now)

A response that carries Observe is a notification: give the plain response an Observe option
(any value; the endpoint sets the outer number) for the first answer and for every
``endpoint.notify``, each protected again with the same binding. Notifications, and any
response after the first, get a Partial IV of their own (§4.1.3.5.2, §8.3). A client that
gets a 4.01 carrying Echo sends the request again, protected afresh, with that Echo option.

Both LwM2M roles send requests (the client registers, the server reads), so each side holds
one context per peer and uses both roles. Sender Sequence Numbers are reserved in chunks
through a :class:`SequenceStore` (Appendix B.1.1), so a restart never reuses a nonce; a
context whose replay window was lost (``replay_synchronized=False``) answers its first
requests with a protected 4.01 carrying Echo (RFC 9175) and accepts the request that returns
it (Appendix B.1.2).

Only the deterministic transformer lives here: no clock, no I/O; Echo values come from the
injected random source (default :class:`secrets.SystemRandom`).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lwm2m.coap.codes import CODES, Code, Type
from lwm2m.coap.errors import BadOptionError, MessageFormatError
from lwm2m.coap.message import Message
from lwm2m.coap.options import EMPTY_OPTIONS, OptionNumber, Options, decode_options
from lwm2m.model.nodes import ObjectInstance, SingleResource

AES_CCM_16_64_128 = 10
"""The mandatory AEAD algorithm (RFC 8613 §3.2.1), COSE number 10."""
HKDF_SHA_256 = -10
MAX_SEQUENCE_NUMBER = (1 << 40) - 1
"""Partial IVs are at most 5 bytes (§6.1); the context must be renewed before this."""
DEFAULT_REPLAY_WINDOW = 32
DEFAULT_SEQUENCE_CHUNK = 64
ECHO_LENGTH = 8

_Cipher = AESCCM | AESGCM | ChaCha20Poly1305


@dataclass(frozen=True, slots=True)
class _Aead:
    make: Callable[[bytes], _Cipher]
    key_length: int
    nonce_length: int
    tag_length: int


def _ccm(tag_length: int) -> Callable[[bytes], _Cipher]:
    return lambda key: AESCCM(key, tag_length=tag_length)


_AEADS: dict[int, _Aead] = {
    # COSE algorithm numbers (RFC 9053 Tables 5, 6, 7)
    AES_CCM_16_64_128: _Aead(_ccm(8), 16, 13, 8),
    11: _Aead(_ccm(8), 32, 13, 8),  # AES-CCM-16-64-256
    30: _Aead(_ccm(16), 16, 13, 16),  # AES-CCM-16-128-128
    31: _Aead(_ccm(16), 32, 13, 16),  # AES-CCM-16-128-256
    1: _Aead(AESGCM, 16, 12, 16),  # A128GCM
    2: _Aead(AESGCM, 24, 12, 16),  # A192GCM
    3: _Aead(AESGCM, 32, 12, 16),  # A256GCM
    24: _Aead(ChaCha20Poly1305, 32, 12, 16),  # ChaCha20/Poly1305
}
_HASHES: dict[int, Callable[[], hashes.HashAlgorithm]] = {
    # HKDF algorithms (RFC 9053 Table 19), and the HMAC numbers some LwM2M servers write
    # into /21/x/4 instead (Table 9): both name the hash HKDF uses.
    HKDF_SHA_256: hashes.SHA256,
    -11: hashes.SHA512,  # HKDF SHA-512
    5: hashes.SHA256,  # HMAC 256/256
    7: hashes.SHA512,  # HMAC 512/512
}

# Class U options (§4.1.2): outer only. Everything else, unknown options included, is
# class E (§4.1: "processed as Class E"); Observe is both (§4.1.3.5); Proxy-Uri is refused.
_CLASS_U = frozenset(
    {
        OptionNumber.URI_HOST,
        OptionNumber.URI_PORT,
        OptionNumber.OSCORE,
        16,  # Hop-Limit (RFC 8768)
        OptionNumber.PROXY_URI,
        OptionNumber.PROXY_SCHEME,
    }
)
_OBSERVE = OptionNumber.OBSERVE
_OSCORE = OptionNumber.OSCORE
_ECHO = OptionNumber.ECHO

# OSCORE option flag bits (§6.1): reserved bits 0-2, h (kid context), k (kid), n (PIV size).
_FLAG_RESERVED = 0xE0
_FLAG_KID_CONTEXT = 0x10
_FLAG_KID = 0x08
_FLAG_PIV_SIZE = 0x07


# -- errors --------------------------------------------------------------------------------


class OscoreUsageError(ValueError):
    """Local misuse: an unusable context configuration, Proxy-Uri, an exhausted sequence."""


class OscoreError(Exception):
    """A protected message from the network that must be refused (§8), with the CoAP code
    to answer with.

    ``binding`` is set when the request itself decrypted: the reply is then protected with
    it (and may carry ``options``, the Echo challenge); otherwise the reply goes unprotected.
    :meth:`reply` builds the right one.
    """

    code: Code = Code.BAD_REQUEST

    def __init__(
        self,
        diagnostic: str,
        *,
        binding: RequestBinding | None = None,
        options: Options = EMPTY_OPTIONS,
    ) -> None:
        super().__init__(diagnostic)
        self.diagnostic = diagnostic
        self.binding = binding
        self.options = options

    def reply(self, request: Message) -> Message:
        """The response to send for ``request`` (for ``Endpoint.respond``)."""
        if self.binding is None:
            # §8.2: unprotected, with the RFC's short diagnostic and nothing else.
            return Message(
                Type.ACK,
                self.code,
                request.message_id,
                request.token,
                Options.build(max_age=0),
                self.diagnostic.encode(),
            )
        plain = Message(Type.ACK, self.code, request.message_id, request.token, self.options)
        return protect_response(self.binding, plain)


class OscoreFormatError(OscoreError):
    """A missing or undecodable OSCORE option or COSE object (§8.2 step 2: 4.02)."""

    code = Code.BAD_OPTION


class ContextNotFoundError(OscoreError):
    """No security context for the kid and kid context (§8.2 step 2: 4.01)."""

    code = Code.UNAUTHORIZED


class DecryptionError(OscoreError):
    """The AEAD refused the ciphertext: wrong key, tampering or a corrupt message (4.01)."""

    code = Code.UNAUTHORIZED


class ReplayError(OscoreError):
    """The Partial IV was seen already, or is older than the replay window (§7.4: 4.01)."""

    code = Code.UNAUTHORIZED


class EchoRequiredError(OscoreError):
    """The replay window is not synchronised (a restart): the request decrypted but may be
    a replay, so it is answered with a protected 4.01 carrying Echo (Appendix B.1.2)."""

    code = Code.UNAUTHORIZED


class ProtectedContentError(OscoreError):
    """The decrypted plaintext is not a CoAP message of the right kind (answered protected)."""

    code = Code.BAD_REQUEST


class ProtectedOptionError(ProtectedContentError):
    """A critical inner option is malformed or repeated (RFC 7252 §5.4.1: 4.02, protected)."""

    code = Code.BAD_OPTION


class UnprotectedResponseError(OscoreError):
    """The peer answered without OSCORE, e.g. its own 4.01 "Decryption failed"."""

    def __init__(self, response: Message) -> None:
        super().__init__(response.payload.decode(errors="replace") or "response not protected")
        self.response = response
        self.code = response.code


# -- sequence numbers and replay window ----------------------------------------------------


class SequenceStore(Protocol):
    """Where a context persists its Sender Sequence Number (Appendix B.1.1).

    ``load`` gives the first number that may be used after a (re)start: the last value saved,
    0 for a new context. ``save(limit)`` must be durable when it returns: numbers below
    ``limit`` may be in use.
    """

    def load(self) -> int: ...

    def save(self, limit: int) -> None: ...


class MemorySequenceStore:
    """A store that lives as long as the process: for tests, and for contexts that are
    re-derived with fresh keying material on every start."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def load(self) -> int:
        return self.value

    def save(self, limit: int) -> None:
        self.value = limit


class ReplayWindow:
    """The sliding window of received Partial IVs (§7.4); bit ``i`` of ``seen`` is ``top - i``.

    An unsynchronised window (after a restart that lost it) accepts nothing until
    :meth:`synchronize` sets its lower limit from a request proven fresh by Echo.
    """

    __slots__ = ("_mask", "_seen", "_top", "size", "synchronized")

    def __init__(self, size: int = DEFAULT_REPLAY_WINDOW, *, synchronized: bool = True) -> None:
        if size < 1:
            raise OscoreUsageError(f"replay window size {size} is not positive")
        self.size = size
        self.synchronized = synchronized
        self._mask = (1 << size) - 1
        self._top = -1
        self._seen = 0

    def is_fresh(self, number: int) -> bool:
        offset = self._top - number
        if offset < 0:
            return True
        return offset < self.size and not self._seen >> offset & 1

    def mark(self, number: int) -> None:
        offset = self._top - number
        if offset < 0:
            # A jump past the window forgets it all: no shifting by a peer-chosen distance.
            self._seen = (self._seen << -offset | 1) & self._mask if -offset < self.size else 1
            self._top = number
        else:
            self._seen |= 1 << offset

    def synchronize(self, number: int) -> None:
        """Accept only numbers above ``number`` from now on (Appendix B.1.2)."""
        self._top = number
        self._seen = self._mask
        self.synchronized = True


# -- the security context ------------------------------------------------------------------


class SecurityContext:
    """One OSCORE security context (§3): the Common, Sender and Recipient Contexts.

    Keys are derived at construction (§3.2). The context is mutable state: its Sender
    Sequence Number advances with every protection that needs a Partial IV, and its replay
    window with every accepted request. Without a persistent ``sequence_store`` numbers start
    at 0 on every construction, which is safe only with fresh keying material each time.
    """

    __slots__ = (
        "_aad_head",
        "_aead",
        "_common_iv",
        "_echo",
        "_iv_int",
        "_limit",
        "_next",
        "_recipient",
        "_rng",
        "_sender",
        "_sequence_chunk",
        "_store",
        "aead_algorithm",
        "id_context",
        "recipient_id",
        "recipient_key",
        "replay_window",
        "sender_id",
        "sender_key",
    )

    def __init__(
        self,
        master_secret: bytes,
        sender_id: bytes,
        recipient_id: bytes,
        *,
        master_salt: bytes = b"",
        id_context: bytes | None = None,
        aead_algorithm: int = AES_CCM_16_64_128,
        hkdf_algorithm: int = HKDF_SHA_256,
        sequence_store: SequenceStore | None = None,
        sequence_chunk: int = DEFAULT_SEQUENCE_CHUNK,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        replay_synchronized: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        aead = _AEADS.get(aead_algorithm)
        if aead is None:
            raise OscoreUsageError(f"AEAD algorithm {aead_algorithm} is not supported")
        hash_factory = _HASHES.get(hkdf_algorithm)
        if hash_factory is None:
            raise OscoreUsageError(f"HKDF algorithm {hkdf_algorithm} is not supported")
        max_id = aead.nonce_length - 6
        for name, value in (("Sender ID", sender_id), ("Recipient ID", recipient_id)):
            if len(value) > max_id:
                raise OscoreUsageError(f"{name} {value.hex()} is longer than {max_id} bytes")
        if sender_id == recipient_id:
            raise OscoreUsageError("Sender ID and Recipient ID must differ (§3.3)")
        if id_context is not None and len(id_context) > 255 - 1 - 5 - 1 - max_id:
            raise OscoreUsageError("ID Context too long for the OSCORE option")
        if sequence_chunk < 1:
            raise OscoreUsageError(f"sequence chunk {sequence_chunk} is not positive")
        self.sender_id = bytes(sender_id)
        self.recipient_id = bytes(recipient_id)
        self.id_context = None if id_context is None else bytes(id_context)
        self.aead_algorithm = aead_algorithm

        def derive(identifier: bytes | None, kind: str, length: int) -> bytes:
            info = cbor2.dumps([identifier, self.id_context, aead_algorithm, kind, length])
            hkdf = HKDF(hash_factory(), length, master_salt or None, info)
            return hkdf.derive(master_secret)

        self.sender_key = derive(self.sender_id, "Key", aead.key_length)
        self.recipient_key = derive(self.recipient_id, "Key", aead.key_length)
        self._common_iv = derive(b"", "IV", aead.nonce_length)
        self._iv_int = int.from_bytes(self._common_iv, "big")
        self._aead = aead
        self._aad_head = _aad_head(aead_algorithm)
        self._sender = aead.make(self.sender_key)
        self._recipient = aead.make(self.recipient_key)
        self._store = MemorySequenceStore() if sequence_store is None else sequence_store
        self._sequence_chunk = sequence_chunk
        self._next = self._limit = self._store.load()
        self.replay_window = ReplayWindow(replay_window, synchronized=replay_synchronized)
        self._rng = rng if rng is not None else secrets.SystemRandom()
        self._echo: bytes | None = None

    def __repr__(self) -> str:  # keys stay out of logs
        return (
            f"SecurityContext(sender_id={self.sender_id.hex()!r}, "
            f"recipient_id={self.recipient_id.hex()!r}, id_context="
            f"{None if self.id_context is None else self.id_context.hex()!r})"
        )

    @property
    def common_iv(self) -> bytes:
        return self._common_iv

    @property
    def sender_sequence_number(self) -> int:
        """The next Partial IV this context will send."""
        return self._next

    def find(self, kid: bytes, kid_context: bytes | None) -> SecurityContext | None:
        """This context, if it is the one a request with ``kid`` is meant for."""
        if kid != self.recipient_id or kid_context not in (None, self.id_context):
            return None
        return self

    def nonce(self, id_piv: bytes, partial_iv: bytes) -> bytes:
        """The AEAD nonce (§5.2) for a Partial IV generated by the endpoint ``id_piv``."""
        length = self._aead.nonce_length
        padded = (
            bytes((len(id_piv),)) + id_piv.rjust(length - 6, b"\0") + partial_iv.rjust(5, b"\0")
        )
        return (int.from_bytes(padded, "big") ^ self._iv_int).to_bytes(length, "big")

    def _new_partial_iv(self) -> bytes:
        number = self._next
        if number > MAX_SEQUENCE_NUMBER:
            raise OscoreUsageError("Sender Sequence Number exhausted: renew the context")
        if number >= self._limit:
            # Persist before use: a crash then skips numbers, never repeats them.
            self._limit = min(number + self._sequence_chunk, MAX_SEQUENCE_NUMBER + 1)
            self._store.save(self._limit)
        self._next = number + 1
        return number.to_bytes((number.bit_length() + 7) >> 3 or 1, "big")

    def _echo_value(self) -> bytes:
        if self._echo is None:
            self._echo = self._rng.randbytes(ECHO_LENGTH)
        return self._echo


class ContextLookup(Protocol):
    """Finds the context a request is for: a :class:`SecurityContext` or a registry."""

    def find(self, kid: bytes, kid_context: bytes | None) -> SecurityContext | None: ...


class ContextRegistry:
    """Server-side contexts keyed by Recipient ID and ID Context (§8.2 step 2).

    A request without kid context matches a context registered without ID Context, else the
    only context with that Recipient ID.
    """

    def __init__(self, contexts: Iterable[SecurityContext] = ()) -> None:
        self._by_key: dict[tuple[bytes, bytes | None], SecurityContext] = {}
        self._by_kid: dict[bytes, list[SecurityContext]] = {}
        for context in contexts:
            self.add(context)

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, context: SecurityContext) -> None:
        key = (context.recipient_id, context.id_context)
        if key in self._by_key:
            raise OscoreUsageError(f"a context for {context!r} is registered already")
        self._by_key[key] = context
        self._by_kid.setdefault(context.recipient_id, []).append(context)

    def remove(self, context: SecurityContext) -> None:
        key = (context.recipient_id, context.id_context)
        if self._by_key.get(key) is not context:
            raise OscoreUsageError(f"{context!r} is not registered")
        del self._by_key[key]
        siblings = self._by_kid[context.recipient_id]
        siblings.remove(context)
        if not siblings:
            del self._by_kid[context.recipient_id]

    def find(self, kid: bytes, kid_context: bytes | None) -> SecurityContext | None:
        if kid_context is not None:
            return self._by_key.get((kid, kid_context))
        context = self._by_key.get((kid, None))
        if context is None:
            siblings = self._by_kid.get(kid, ())
            if len(siblings) == 1:
                context = siblings[0]
        return context


# -- bindings between a request and its responses ------------------------------------------


class RequestBinding:
    """What a request's responses are bound to (§5.4 ``request_kid``/``request_piv``, §8.3).

    Made by :func:`protect_request` (client side) and :func:`unprotect_request` (server
    side). Mutable: it remembers whether the request nonce was used by a response already,
    and the client's Notification Number (§7.4.1).
    """

    __slots__ = ("context", "kid", "nonce", "notification_number", "observe", "piv", "reuse_nonce")

    def __init__(
        self,
        context: SecurityContext,
        kid: bytes,
        piv: bytes,
        nonce: bytes,
        *,
        observe: bool,
        reuse_nonce: bool,
    ) -> None:
        self.context = context
        self.kid = kid
        self.piv = piv
        self.nonce = nonce
        self.observe = observe
        self.reuse_nonce = reuse_nonce
        self.notification_number = -1

    def __repr__(self) -> str:
        return f"RequestBinding({self.context!r}, kid={self.kid.hex()!r}, piv={self.piv.hex()!r})"


# -- the OSCORE option (§6.1) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OscoreOption:
    """The decoded value of the OSCORE option."""

    partial_iv: bytes | None = None
    kid_context: bytes | None = None
    kid: bytes | None = None

    def encode(self) -> bytes:
        piv = self.partial_iv or b""
        flags = len(piv)
        parts = [b"", piv]
        if self.kid_context is not None:
            flags |= _FLAG_KID_CONTEXT
            parts += (bytes((len(self.kid_context),)), self.kid_context)
        if self.kid is not None:
            flags |= _FLAG_KID
            parts.append(self.kid)
        if not flags:
            return b""  # "the Option value SHALL be empty"
        parts[0] = bytes((flags,))
        return b"".join(parts)

    @classmethod
    def decode(cls, value: bytes) -> OscoreOption:
        if not value:
            return _NO_FIELDS
        flags = value[0]
        if flags & _FLAG_RESERVED:
            raise OscoreFormatError("OSCORE option uses reserved flag bits")
        if not flags:
            raise OscoreFormatError("OSCORE option with no flags must be empty")
        size = flags & _FLAG_PIV_SIZE
        if size > 5:
            raise OscoreFormatError(f"reserved Partial IV size {size}")
        pos = 1 + size
        if pos > len(value):
            raise OscoreFormatError("Partial IV runs past the OSCORE option")
        piv = value[1:pos] if size else None
        kid_context = None
        if flags & _FLAG_KID_CONTEXT:
            if pos >= len(value):
                raise OscoreFormatError("kid context length missing")
            end = pos + 1 + value[pos]
            if end > len(value):
                raise OscoreFormatError("kid context runs past the OSCORE option")
            kid_context = value[pos + 1 : end]
            pos = end
        if flags & _FLAG_KID:
            kid = value[pos:]
        elif pos != len(value):
            raise OscoreFormatError("bytes after the OSCORE option's fields")
        else:
            kid = None
        return cls(piv, kid_context, kid)


_NO_FIELDS = OscoreOption()


# -- the four transformations (§8) ---------------------------------------------------------


def protect_request(context: SecurityContext, request: Message) -> tuple[Message, RequestBinding]:
    """§8.1: the outer message to send, and the binding its responses are checked with.

    Class E options and the payload are encrypted; Uri-Host, Uri-Port, Proxy-Scheme and
    Hop-Limit stay outer; Observe is both (§4.1.3.5.1), and the outer code is FETCH with
    Observe, POST without (§4.2). The option carries the kid, and the kid context when the
    context has an ID Context (as in Appendix C.6).
    """
    if not request.code.is_request:
        raise OscoreUsageError(f"{request.code} is not a request")
    options = request.options
    if options.get(OptionNumber.PROXY_URI) is not None:
        raise OscoreUsageError("Proxy-Uri must be split into its options before OSCORE")
    outer, inner = _split(options)
    observe = options.get(_OBSERVE)
    if observe is not None:
        outer.append((_OBSERVE, observe))
    piv = context._new_partial_iv()
    sender_id = context.sender_id
    nonce = context.nonce(sender_id, piv)
    ciphertext = context._sender.encrypt(
        nonce,
        _plaintext(request.code, inner, request.payload),
        _aad(context._aad_head, sender_id, piv),
    )
    outer.append((_OSCORE, OscoreOption(piv, context.id_context, sender_id).encode()))
    binding = RequestBinding(
        context, sender_id, piv, nonce, observe=observe is not None, reuse_nonce=False
    )
    code = Code.FETCH if observe is not None else Code.POST
    return _rebuild(request, code, Options(outer), ciphertext), binding


def unprotect_request(contexts: ContextLookup, message: Message) -> tuple[Message, RequestBinding]:
    """§8.2: the plain request and the binding to protect its responses with.

    Raises an :class:`OscoreError` naming the answer: 4.02 for a bad OSCORE option, 4.01 for
    an unknown context, a failed decryption, a replay, or (protected, with Echo) a request
    that cannot be proven fresh after a restart.
    """
    value = message.options.oscore
    if value is None:
        raise OscoreFormatError("no OSCORE option")
    field = OscoreOption.decode(value)
    kid, piv = field.kid, field.partial_iv
    if kid is None or piv is None:
        raise OscoreFormatError("request without kid or Partial IV")
    context = contexts.find(kid, field.kid_context)
    if context is None:
        raise ContextNotFoundError("Security context not found")
    number = int.from_bytes(piv, "big")
    window = context.replay_window
    if window.synchronized and not window.is_fresh(number):
        raise ReplayError("Replay detected")
    nonce = context.nonce(kid, piv)
    try:
        plaintext = context._recipient.decrypt(
            nonce, message.payload, _aad(context._aad_head, kid, piv)
        )
    except InvalidTag:
        raise DecryptionError("Decryption failed") from None
    outer_observe = message.options.get(_OBSERVE)
    binding = RequestBinding(
        context,
        kid,
        piv,
        nonce,
        observe=outer_observe is not None,
        reuse_nonce=window.synchronized,
    )
    if window.synchronized:
        window.mark(number)
    code, inner, payload = _parse_plaintext(plaintext, binding, request=True)
    if not window.synchronized:
        echo = inner.get(_ECHO)
        if echo is None or echo != context._echo:
            raise EchoRequiredError(
                "Echo required", binding=binding, options=Options.build(echo=context._echo_value())
            )
        window.synchronize(number)
        context._echo = None
        binding.reuse_nonce = True
        inner = _without(inner, _ECHO)
    if outer_observe is None:
        # A proxy dropped the outer Observe: it will not relay notifications (§4.1.3.5.1).
        inner = _without(inner, _OBSERVE)
    return _rebuild(message, code, _with_outer(message.options, inner), payload), binding


def protect_response(
    binding: RequestBinding, response: Message, *, partial_iv: bool = False
) -> Message:
    """§8.3: the outer response; its code is 2.04, or 2.05 to an Observe request (§4.2).

    The first response without Observe reuses the request's nonce (no Partial IV, as in
    Appendix C.7); notifications, later responses, answers to a request that could be a
    replay, and any response when ``partial_iv`` is set get a Partial IV of their own (C.8).
    """
    if not response.code.is_response:
        raise OscoreUsageError(f"{response.code} is not a response")
    context = binding.context
    outer, inner = _split(response.options)
    observe = response.options.get(_OBSERVE)
    if observe is not None:
        # §4.1.3.5.2: the Inner Observe of a notification is empty; the outer one counts.
        inner = _replaced(inner, _OBSERVE, b"")
        outer.append((_OBSERVE, observe))
    if binding.reuse_nonce and observe is None and not partial_iv:
        binding.reuse_nonce = False
        nonce = binding.nonce
        field = b""
    else:
        binding.reuse_nonce = False
        piv = context._new_partial_iv()
        nonce = context.nonce(context.sender_id, piv)
        field = OscoreOption(piv).encode()
    ciphertext = context._sender.encrypt(
        nonce,
        _plaintext(response.code, inner, response.payload),
        _aad(context._aad_head, binding.kid, binding.piv),
    )
    outer.append((_OSCORE, field))
    code = Code.CONTENT if binding.observe else Code.CHANGED
    return _rebuild(response, code, Options(outer), ciphertext)


def unprotect_response(binding: RequestBinding, message: Message) -> Message:
    """§8.4: the plain response or notification to a request :func:`protect_request` made.

    A notification's Partial IV must exceed the previous one's (§7.4.1), so a replayed or
    reordered notification raises :class:`ReplayError`.
    """
    value = message.options.oscore
    if value is None:
        raise UnprotectedResponseError(message)
    field = OscoreOption.decode(value)
    context = binding.context
    piv = field.partial_iv
    nonce = binding.nonce if piv is None else context.nonce(context.recipient_id, piv)
    outer_observe = message.options.get(_OBSERVE)
    try:
        plaintext = context._recipient.decrypt(
            nonce, message.payload, _aad(context._aad_head, binding.kid, binding.piv)
        )
    except InvalidTag:
        raise DecryptionError("Decryption failed") from None
    if outer_observe is not None and piv is not None:
        number = int.from_bytes(piv, "big")
        if number <= binding.notification_number:
            raise ReplayError("notification older than the last one")
        binding.notification_number = number
    code, inner, payload = _parse_plaintext(plaintext, None, request=False)
    if outer_observe is None:
        inner = _without(inner, _OBSERVE)
    else:
        inner = _replaced(inner, _OBSERVE, outer_observe)
    return _rebuild(message, code, _with_outer(message.options, inner), payload)


# -- pieces --------------------------------------------------------------------------------


def _split(options: Options) -> tuple[list[tuple[int, bytes]], Options]:
    """Outer items (class U, without any OSCORE option) and the inner (class E) options;
    in the common case, no class U option, that is ``options`` with its encoded form."""
    outer: list[tuple[int, bytes]] = []
    inner: list[tuple[int, bytes]] = []
    for item in options:
        if item[0] in _CLASS_U:
            if item[0] != _OSCORE:
                outer.append(item)
        else:
            inner.append(item)
    return outer, options if len(inner) == len(options) else Options(inner)


def _without(options: Options, number: int) -> Options:
    if options.get(number) is None:
        return options
    return Options([item for item in options if item[0] != number])


def _replaced(options: Options, number: int, value: bytes) -> Options:
    """``options`` with the value of option ``number``, if present, replaced."""
    if options.get(number) is None:
        return options
    return Options([(number, value) if item[0] == number else item for item in options])


def _with_outer(outer: Options, inner: Options) -> Options:
    """The received class U options (§8.2, §8.4) joined to the decrypted ones; outer
    class E options are discarded."""
    kept = [item for item in outer if item[0] in _CLASS_U and item[0] != _OSCORE]
    return Options(kept + list(inner)) if kept else inner


def _plaintext(code: Code, inner: Options, payload: bytes) -> bytes:
    """§5.3: the code, the class E options and the payload, as CoAP encodes them."""
    head = bytes((code,))
    if payload:
        return b"".join((head, inner.encode(), b"\xff", payload))
    return head + inner.encode()


def _parse_plaintext(
    plaintext: bytes, binding: RequestBinding | None, *, request: bool
) -> tuple[Code, Options, bytes]:
    if not plaintext:
        raise ProtectedContentError("empty plaintext", binding=binding)
    code = CODES[plaintext[0]]
    if not (code.is_request if request else code.is_response):
        raise ProtectedContentError(f"inner code {code} in a protected message", binding=binding)
    try:
        options, pos = decode_options(plaintext, 1)
    except BadOptionError as error:
        raise ProtectedOptionError(f"inner option: {error}", binding=binding) from None
    except MessageFormatError as error:
        raise ProtectedContentError(f"inner message: {error}", binding=binding) from None
    payload = plaintext[pos + 1 :] if pos < len(plaintext) else b""
    return code, options, payload


def _aad(head: bytes, request_kid: bytes, request_piv: bytes) -> bytes:
    """§5.4: the Enc_structure ``["Encrypt0", h'', external_aad]`` around
    ``external_aad = bstr .cbor [1, [alg_aead], request_kid, request_piv, h'']``, whose
    first two items are ``head`` (:func:`_aad_head`).

    Built by hand: it is on every message's path and only ever holds these shapes.
    """
    # The empty bstr at the end: no class I options are defined.
    external = b"".join((head, _cbor_bytes(request_kid), _cbor_bytes(request_piv), b"\x40"))
    return b"\x83\x68Encrypt0\x40" + _cbor_bytes(external)


def _aad_head(algorithm: int) -> bytes:
    """The external_aad array's header, OSCORE version 1 and ``[alg_aead]`` (every
    supported AEAD has a number in 0..255)."""
    number = bytes((algorithm,)) if algorithm < 24 else bytes((0x18, algorithm))
    return b"\x85\x01\x81" + number


def _cbor_bytes(value: bytes) -> bytes:
    length = len(value)
    if length < 24:
        return bytes((0x40 | length,)) + value
    if length < 256:
        return bytes((0x58, length)) + value
    return bytes((0x59,)) + length.to_bytes(2, "big") + value


def _rebuild(message: Message, code: Code, options: Options, payload: bytes) -> Message:
    """``message``'s header fields around another code, options and payload."""
    return Message(message.type, code, message.message_id, message.token, options, payload)


# -- the LwM2M OSCORE object (21) ----------------------------------------------------------

_MASTER_SECRET, _SENDER_ID, _RECIPIENT_ID, _AEAD, _HMAC, _MASTER_SALT, _ID_CONTEXT = range(7)


def context_from_oscore_instance(
    instance: ObjectInstance | Mapping[int, object],
    *,
    sequence_store: SequenceStore | None = None,
    replay_synchronized: bool = True,
    rng: random.Random | None = None,
) -> SecurityContext:
    """The context an instance of the OSCORE object (/21/x) describes, from the client's view.

    Resources: 0 Master Secret, 1 Sender ID, 2 Recipient ID, 3 AEAD Algorithm (default 10),
    4 HMAC/HKDF Algorithm (default HKDF SHA-256), 5 Master Salt, 6 ID Context. Object 21 v2.0
    types the byte resources Opaque; v1.0 types them String, which are read as hex.
    """
    values = _instance_values(instance)
    aead = values.get(_AEAD, AES_CCM_16_64_128)
    hmac = values.get(_HMAC, HKDF_SHA_256)
    if not isinstance(aead, int) or not isinstance(hmac, int):
        raise OscoreUsageError("OSCORE AEAD and HMAC algorithms must be integers")
    id_context = values.get(_ID_CONTEXT)
    return SecurityContext(
        _oscore_bytes(values, _MASTER_SECRET, "Master Secret"),
        _oscore_bytes(values, _SENDER_ID, "Sender ID"),
        _oscore_bytes(values, _RECIPIENT_ID, "Recipient ID"),
        master_salt=_oscore_bytes(values, _MASTER_SALT, "Master Salt", b""),
        id_context=None if id_context is None else _oscore_bytes(values, _ID_CONTEXT, "ID Context"),
        aead_algorithm=aead,
        hkdf_algorithm=hmac,
        sequence_store=sequence_store,
        replay_synchronized=replay_synchronized,
        rng=rng,
    )


def _instance_values(instance: ObjectInstance | Mapping[int, object]) -> Mapping[int, object]:
    if not isinstance(instance, ObjectInstance):
        return instance
    return {
        rid: resource.value
        for rid, resource in instance.resources.items()
        if isinstance(resource, SingleResource)
    }


def _oscore_bytes(
    values: Mapping[int, object], rid: int, name: str, default: bytes | None = None
) -> bytes:
    value = values.get(rid, default)
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise OscoreUsageError(f"OSCORE {name} (/21/x/{rid}) is not hex") from None
    raise OscoreUsageError(f"OSCORE {name} (/21/x/{rid}) is missing or not opaque")
