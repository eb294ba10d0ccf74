"""How values the database has no type for are kept: peers, CoAP requests, typed values,
bootstrap configurations.  Serializing runs on the writer thread, never on the event loop."""

from __future__ import annotations

import math
from typing import Any, TypeAlias

from lwm2m.bootstrap.config import BootstrapConfig
from lwm2m.coap.codes import Type
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.model import ObjectLink, Value
from lwm2m.operations.mapping import CoapParts
from lwm2m.transport.dtls import DtlsPeer
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.tcp import StreamPeer


def encode_peer(peer: Peer) -> str:
    """A peer as text: ``udp HOST PORT``, ``dtls HOST PORT``, ``tcp HOST PORT``, ``tls HOST
    PORT IDENTITY`` or ``nidd ADDRESS`` (a peer of another transport is kept as ``other
    REPR``, which no restart can use)."""
    if isinstance(peer, DtlsPeer):
        host, port = peer.address
        return f"dtls {host} {port}"
    if isinstance(peer, StreamPeer):
        host, port = peer.address
        return (
            f"tcp {host} {port}" if peer.identity is None else f"tls {host} {port} {peer.identity}"
        )
    if isinstance(peer, tuple) and len(peer) == 2:
        return f"udp {peer[0]} {peer[1]}"
    if isinstance(peer, NiddPeer):
        return f"nidd {peer}"
    return f"other {peer!r}"


def decode_peer(text: str) -> Peer:
    """ValueError for a peer with no usable stored form.  A TCP or TLS peer comes back as a
    connection that no longer exists (id 0): requests to it fail until the client reconnects
    and its Update re-points the registration."""
    if text.startswith("nidd "):
        return NiddPeer.parse(text[5:])
    kind, host, port, *identity = text.split(" ", 3)
    address = (host, int(port))
    if kind == "tcp" and not identity:
        return StreamPeer(0, address)
    if kind == "tls" and identity:
        return StreamPeer(0, address, identity[0])
    if kind not in ("udp", "dtls") or identity:
        raise ValueError(f"no transport for peer {text!r:.60}")
    return DtlsPeer(address) if kind == "dtls" else address


def encode_parts(parts: CoapParts) -> bytes:
    """A request as CoAP bytes (no message ID or token: those belong to one exchange)."""
    return Message(Type.CON, parts.code, 0, b"", parts.options, parts.payload).encode()


def decode_parts(data: bytes) -> CoapParts:
    message = Message.decode(data)
    return CoapParts(message.code, message.options, message.payload)


_PLAIN, _BOOL, _OBJLNK, _NAN, _BIG_INT, _RAW_TEXT = range(6)
"""How a history value is kept: as SQLite stores it, or in a form that carries the type or
the range SQLite has not (kinds are stored, so their numbers never change)."""

_Stored: TypeAlias = int | float | str | bytes | None

_INT64 = range(-(2**63), 2**63)


def encode_value(value: Value) -> tuple[int, _Stored]:
    """Every value the model holds, exactly: an unsigned integer past 2^63 - 1 (SQLite's
    INTEGER is signed 64-bit) goes as decimal text, a string that is not valid Unicode (a
    lone surrogate) as its code points' UTF-8 bytes with the surrogates kept."""
    if isinstance(value, bool):
        return _BOOL, int(value)
    if isinstance(value, int):
        return (_PLAIN, value) if value in _INT64 else (_BIG_INT, str(value))
    if isinstance(value, str):
        if value.isascii():
            return _PLAIN, value
        try:
            value.encode()
        except UnicodeEncodeError:
            return _RAW_TEXT, value.encode("utf-8", "surrogatepass")
        return _PLAIN, value
    if isinstance(value, ObjectLink):
        return _OBJLNK, str(value)
    if isinstance(value, float) and math.isnan(value):
        return _NAN, None  # SQLite stores NaN as NULL
    return _PLAIN, value


def decode_value(kind: int, stored: _Stored) -> Value:
    if kind == _BOOL:
        return bool(stored)
    if kind == _OBJLNK:
        return ObjectLink.parse(str(stored))
    if kind == _NAN:
        return math.nan
    if kind == _BIG_INT:
        return int(str(stored))
    if kind == _RAW_TEXT:
        assert isinstance(stored, bytes)
        return stored.decode("utf-8", "surrogatepass")
    assert stored is not None
    return stored


def config_to_json(config: BootstrapConfig) -> dict[str, Any]:
    """The entry as :func:`parse_entry` reads it, keys included (the API's form hides them)."""
    data = config.to_json()
    for item, account in zip(data["servers"], config.servers, strict=True):
        item.pop("hasKey", None)
        if account.key:
            item["key"] = account.key.hex()
        oscore = account.oscore
        if oscore is not None:
            fields = {
                "masterSecret": oscore.master_secret,
                "senderId": oscore.sender_id,
                "recipientId": oscore.recipient_id,
                "aeadAlgorithm": oscore.aead_algorithm,
                "hkdfAlgorithm": oscore.hkdf_algorithm,
                "masterSalt": oscore.master_salt,
            }
            item["oscore"] = {name: value for name, value in fields.items() if value is not None}
    return data
