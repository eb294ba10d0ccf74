"""The Redis key layout and the records kept under it (CBOR, so bytes, big integers, NaN and
the like need no text escaping).

Every key of one endpoint carries the endpoint as its Redis Cluster hash tag,
``PREFIX:{ENDPOINT}:KIND``, so one device's keys share a slot: a change never spans slots, and a
node that is down costs only its own devices their writes.  Kinds:

=============  ======  ==============================================================
kind           type    content
=============  ======  ==============================================================
``reg``        string  the registration
``obs``        hash    token → [peer, the Observe request as CoAP bytes]
``queue``      hash    request ID → [the request as CoAP bytes, expiry]
``hist``       hash    ``PATH|SLOT`` → [seq, time, kind, value]: ``limit`` slots per path
``psk``        string  [identity, key]
``oscore``     string  [master secret, sender ID, recipient ID, salt, ID context]
``oscore-seq`` string  the OSCORE sequence number reserved so far (decimal)
``bootstrap``  string  the bootstrap configuration as JSON, keys included
``owner``      string  the cluster node that serves the device (:mod:`lwm2m.cluster`)
=============  ======  ==============================================================

NIDD devices are ``PREFIX:nidd:{ADDRESS}`` (a string); ``PREFIX:version`` holds the layout's
version and ``PREFIX:marker`` tells a Redis that kept its data from one that came back empty.
A cluster adds ``PREFIX:node:{NODE}`` (a node's heartbeat, with a TTL), ``PREFIX:inbox:{NODE}``
(a stream: requests routed to the node and answers to its own), ``PREFIX:changes`` (a stream:
each round's writes, which the other nodes apply to their views) and ``PREFIX:events`` (a
stream: every node's server events).  There is no index: a start finds the keys with ``SCAN``
(on every primary of a cluster), so nothing can disagree with an index after a crash and no
single key is hot.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cbor2

from lwm2m.codec.link import format_links
from lwm2m.model import Path, Value
from lwm2m.security.credentials import OscoreCredential, Psk, PskCredential, Secret
from lwm2m.server.registration import ObjectList, ObservationRecord, QueuedRecord, Registration
from lwm2m.storage.rows import (
    decode_parts,
    decode_peer,
    decode_value,
    encode_parts,
    encode_peer,
    encode_value,
)

LAYOUT_VERSION = 1
"""Stored in ``PREFIX:version``; a Redis written by a newer layout is refused."""

REGISTRATION = b"reg"
OBSERVATIONS = b"obs"
QUEUE = b"queue"
HISTORY = b"hist"
PSK = b"psk"
OSCORE = b"oscore"
OSCORE_SEQUENCE = b"oscore-seq"
BOOTSTRAP = b"bootstrap"
OWNER = b"owner"
KINDS = (
    REGISTRATION,
    OBSERVATIONS,
    QUEUE,
    HISTORY,
    PSK,
    OSCORE,
    OSCORE_SEQUENCE,
    BOOTSTRAP,
    OWNER,
)

_GLOB_SPECIAL = frozenset(b"*?[]\\")


def _name(text: str) -> bytes:
    """Any Python string as key bytes: lone surrogates (which no UTF-8 has) survive too."""
    return text.encode("utf-8", "surrogatepass")


def _text(name: bytes) -> str:
    return name.decode("utf-8", "surrogatepass")


class Keys:
    """The keys under ``prefix`` (several servers or tests can share one Redis)."""

    __slots__ = ("_head", "_nidd", "changes", "events", "marker", "prefix", "version")

    def __init__(self, prefix: str) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError("a Redis key prefix must be non-empty, without { or }")
        self.prefix = prefix
        self._head = _name(prefix) + b":{"
        self._nidd = _name(prefix) + b":nidd:{"
        self.version = _name(prefix) + b":version"
        self.marker = _name(prefix) + b":marker"
        self.changes = _name(prefix) + b":changes"
        self.events = _name(prefix) + b":events"

    def of(self, endpoint: str, kind: bytes) -> bytes:
        return self._head + _name(endpoint) + b"}:" + kind

    def nidd(self, address: str) -> bytes:
        return self._nidd + _name(address) + b"}"

    def node(self, node: str) -> bytes:
        """A cluster node's heartbeat (it expires when the node stops renewing it)."""
        return _name(self.prefix) + b":node:{" + _name(node) + b"}"

    def nodes(self) -> bytes:
        """What ``SCAN MATCH`` finds every node's heartbeat with."""
        return self.pattern()[:-1] + b"node:\\{*"

    def inbox(self, node: str) -> bytes:
        """A cluster node's stream of routed requests and of answers to its own."""
        return _name(self.prefix) + b":inbox:{" + _name(node) + b"}"

    def node_of(self, key: bytes) -> str | None:
        """The node a heartbeat key names (None for other keys)."""
        head = _name(self.prefix) + b":node:{"
        if key.startswith(head) and key.endswith(b"}"):
            return _text(key[len(head) : -1])
        return None

    def pattern(self) -> bytes:
        """What ``SCAN MATCH`` finds every key of this prefix with (the prefix escaped)."""
        escaped = b"".join(
            b"\\" + bytes([c]) if c in _GLOB_SPECIAL else bytes([c]) for c in _name(self.prefix)
        )
        return escaped + b":*"

    def parse(self, key: bytes) -> tuple[bytes, str] | None:
        """``(kind, endpoint)`` (kind ``b"nidd"`` with the address); None for other keys."""
        if key.startswith(self._nidd) and key.endswith(b"}"):
            return b"nidd", _text(key[len(self._nidd) : -1])
        if not key.startswith(self._head):
            return None
        for kind in KINDS:
            tail = b"}:" + kind
            if key.endswith(tail) and len(key) > len(self._head) + len(tail):
                return kind, _text(key[len(self._head) : -len(tail)])
        return None


def _dumps(item: object) -> bytes:
    return cbor2.dumps(item)


def _loads(data: bytes) -> Any:
    return cbor2.loads(data)


# -- records ----------------------------------------------------------------------------------


def encode_registration(r: Registration) -> bytes:
    links = r.object_links
    text = links.text if isinstance(links, ObjectList) else format_links(links)
    return _dumps(
        [
            *(r.registration_id, r.lwm2m_version, r.binding, r.lifetime, r.queue_mode, r.sms),
            *(encode_peer(r.address), r.root_path, text, r.registered_at, r.last_seen),
            r.content_format,
        ]
    )


def decode_registration(endpoint: str, data: bytes) -> Registration:
    """ValueError (or a CBOR error) for a record no restart can use."""
    rid, version, binding, lifetime, queue_mode, sms, peer, root, links, at, seen, ct = _loads(data)
    return Registration(
        endpoint=endpoint,
        registration_id=rid,
        lwm2m_version=version,
        binding=binding,
        lifetime=lifetime,
        queue_mode=bool(queue_mode),
        sms=sms,
        address=decode_peer(peer),
        root_path=root,
        object_links=ObjectList(links),
        registered_at=at,
        last_seen=seen,
        content_format=ct,
    )


def encode_observation(record: ObservationRecord) -> bytes:
    return _dumps([encode_peer(record.peer), encode_parts(record.request)])


def decode_observation(endpoint: str, token: bytes, data: bytes) -> ObservationRecord:
    peer, request = _loads(data)
    return ObservationRecord(endpoint, token, decode_peer(peer), decode_parts(request))


def encode_queued(record: QueuedRecord) -> bytes:
    return _dumps([encode_parts(record.request), record.expires_at])


def decode_queued(endpoint: str, request_id: bytes, data: bytes) -> QueuedRecord:
    request, expires_at = _loads(data)
    return QueuedRecord(int(request_id), endpoint, decode_parts(request), expires_at)


def history_field(path: Path, slot: int) -> bytes:
    return _path_field(path) + str(slot).encode()


@lru_cache(maxsize=4096)
def _path_field(path: Path) -> bytes:
    """``PATH|`` (a fleet reports few distinct paths; formatting one costs microseconds)."""
    return f"{path}|".encode()


def encode_history(seq: int, time: float, value: Value) -> bytes:
    return _dumps([seq, time, *encode_value(value)])


def decode_history(field: bytes, data: bytes) -> tuple[Path, int, float, Value]:
    """``(path, seq, time, value)`` of one history slot."""
    path = Path.parse(field.decode().rsplit("|", 1)[0])
    seq, time, kind, stored = _loads(data)
    return path, seq, time, decode_value(kind, stored)


def encode_psk(credential: PskCredential) -> bytes:
    return _dumps([credential.psk.identity, credential.psk.key.reveal()])


def decode_psk(endpoint: str, data: bytes) -> PskCredential:
    identity, key = _loads(data)
    return PskCredential(endpoint, Psk(identity, Secret(key)))


def encode_oscore(c: OscoreCredential) -> bytes:
    secret = c.master_secret.reveal()
    return _dumps([secret, c.sender_id, c.recipient_id, c.master_salt, c.id_context])


def decode_oscore(endpoint: str, data: bytes) -> OscoreCredential:
    secret, sender, recipient, salt, id_context = _loads(data)
    return OscoreCredential(endpoint, Secret(secret), sender, recipient, salt, id_context)
