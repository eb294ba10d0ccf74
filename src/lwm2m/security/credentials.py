"""Pre-shared key credentials and the store a DTLS server looks PSK identities up in.

Keys only ever travel wrapped in :class:`Secret`, whose ``repr`` and ``str`` are
``Secret(****)``: a credential can be logged, printed or put in an exception message without
leaking its key.  Only the DTLS backend calls :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

#: RFC 4279 §5.3: identities up to 128 bytes must be supported; longer ones are refused here.
MAX_IDENTITY_LENGTH = 128
#: mbed TLS's MBEDTLS_PSK_MAX_LEN; LwM2M keys are 16 bytes in practice.
MAX_KEY_LENGTH = 32


class Secret:
    """Key material that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    @classmethod
    def from_hex(cls, text: str) -> Secret:
        """Parse a hex key; the error never quotes the text, which is the key."""
        try:
            return cls(bytes.fromhex(text))
        except ValueError:
            raise ValueError("key is not hexadecimal") from None

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "Secret(****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        # Equal secrets must hash alike, yet the hash must say nothing about the key.
        return hash(Secret)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled")


@dataclass(frozen=True, slots=True)
class Psk:
    """A pre-shared key and the identity that names it in the handshake (RFC 4279)."""

    identity: bytes
    key: Secret

    def __post_init__(self) -> None:
        if not 0 < len(self.identity) <= MAX_IDENTITY_LENGTH:
            raise ValueError(f"PSK identity must be 1..{MAX_IDENTITY_LENGTH} bytes")
        if not 0 < len(self.key) <= MAX_KEY_LENGTH:
            raise ValueError(f"PSK key must be 1..{MAX_KEY_LENGTH} bytes")
        try:
            self.identity.decode("utf-8")
        except UnicodeDecodeError:
            # python-mbedtls passes identities to Python as str.
            raise ValueError("PSK identity must be UTF-8") from None


@dataclass(frozen=True, slots=True)
class PskIdentity:
    """Who a DTLS peer proved to be: its PSK identity and the endpoint it is bound to."""

    endpoint: str
    identity: bytes


@dataclass(frozen=True, slots=True)
class PskCredential:
    """A server-side security entry: the endpoint that owns a PSK."""

    endpoint: str
    psk: Psk

    @property
    def identity(self) -> PskIdentity:
        return PskIdentity(self.endpoint, self.psk.identity)

    @classmethod
    def parse(cls, spec: str) -> PskCredential:
        """Parse ``ENDPOINT:IDENTITY:HEXKEY`` (the endpoint may contain colons, as URNs do)."""
        parts = spec.rsplit(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ValueError("expected ENDPOINT:IDENTITY:HEXKEY")
        endpoint, identity, key = parts
        return cls(endpoint, Psk(identity.encode("utf-8"), Secret.from_hex(key)))

    @classmethod
    def from_json(cls, endpoint: str, entry: object) -> PskCredential:
        """``{"mode": "psk", "identity": "..", "key": "hex"}`` (``mode`` may be left out);
        ValueError naming the field that is wrong, never quoting the key."""
        if not isinstance(entry, dict):
            raise ValueError("a credential is a JSON object")
        if entry.get("mode", "psk") != "psk":
            raise ValueError("mode: only 'psk' is supported")
        identity, key = entry.get("identity"), entry.get("key")
        if not endpoint:
            raise ValueError("endpoint: must not be empty")
        if not isinstance(identity, str) or not identity:
            raise ValueError("identity: a non-empty string is required")
        if not isinstance(key, str):
            raise ValueError("key: a hex string is required")
        return cls(endpoint, Psk(identity.encode("utf-8"), Secret.from_hex(key)))

    def to_json(self) -> dict[str, object]:
        """What may be shown of the credential: never the key."""
        identity = self.psk.identity.decode("utf-8")
        return {"endpoint": self.endpoint, "mode": "psk", "identity": identity, "hasKey": True}


def load_psk_file(text: str) -> tuple[PskCredential, ...]:
    """A ``--psk-file``: a JSON list of ``{"endpoint", "identity", "key"}``; ValueError saying
    which entry is wrong."""
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ValueError('expected a JSON list of {"endpoint", "identity", "key"}')
    credentials = []
    for n, entry in enumerate(entries):
        endpoint = entry.get("endpoint") if isinstance(entry, dict) else None
        try:
            if not isinstance(endpoint, str):
                raise ValueError("endpoint: a string is required")
            credentials.append(PskCredential.from_json(endpoint, entry))
        except ValueError as exc:
            raise ValueError(f"entry {n}: {exc}") from None
    return tuple(credentials)


class PskStore(Protocol):
    """Where a DTLS server finds the credential behind a PSK identity."""

    def lookup(self, identity: bytes) -> PskCredential | None: ...


class CredentialStore(PskStore, Protocol):
    """A :class:`PskStore` that the server's API manages: one credential per endpoint."""

    def set(self, credential: PskCredential) -> None:
        """Add or replace; ValueError if the identity belongs to another endpoint."""

    def remove(self, endpoint: str) -> bool: ...
    def get(self, endpoint: str) -> PskCredential | None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[PskCredential]: ...


class MemoryPskStore:
    """One credential per endpoint, one endpoint per identity, in memory.

    An identity can never be shared: setting a credential whose identity already belongs to
    another endpoint raises, so no device can authenticate as another one.
    """

    def __init__(self, credentials: tuple[PskCredential, ...] = ()) -> None:
        self._by_endpoint: dict[str, PskCredential] = {}
        self._by_identity: dict[bytes, PskCredential] = {}
        for credential in credentials:
            self.set(credential)

    def set(self, credential: PskCredential) -> None:
        owner = self._by_identity.get(credential.psk.identity)
        if owner is not None and owner.endpoint != credential.endpoint:
            raise ValueError(f"PSK identity already belongs to endpoint {owner.endpoint!r}")
        self.remove(credential.endpoint)
        self._by_endpoint[credential.endpoint] = credential
        self._by_identity[credential.psk.identity] = credential

    def remove(self, endpoint: str) -> bool:
        credential = self._by_endpoint.pop(endpoint, None)
        if credential is None:
            return False
        del self._by_identity[credential.psk.identity]
        return True

    def get(self, endpoint: str) -> PskCredential | None:
        return self._by_endpoint.get(endpoint)

    def lookup(self, identity: bytes) -> PskCredential | None:
        return self._by_identity.get(identity)

    def __len__(self) -> int:
        return len(self._by_endpoint)

    def __iter__(self) -> Iterator[PskCredential]:
        return iter(tuple(self._by_endpoint.values()))


# -- OSCORE --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OscoreCredential:
    """A server-side OSCORE security context's input (RFC 8613 §3.1): the endpoint that owns
    it, the server's Sender ID (the device's Recipient ID) and the device's Sender ID."""

    endpoint: str
    master_secret: Secret
    sender_id: bytes
    recipient_id: bytes
    master_salt: bytes = b""
    id_context: bytes | None = None

    def __post_init__(self) -> None:
        if not self.endpoint:
            raise ValueError("endpoint: must not be empty")
        if not len(self.master_secret):
            raise ValueError("masterSecret: must not be empty")
        if self.sender_id == self.recipient_id:
            raise ValueError("senderId and recipientId must differ")
        if len(self.sender_id) > 7 or len(self.recipient_id) > 7:
            raise ValueError("senderId and recipientId: at most 7 bytes")

    @classmethod
    def parse(cls, spec: str) -> OscoreCredential:
        """Parse ``ENDPOINT:SENDERID:RECIPIENTID:MASTERSECRET`` (IDs and secret in hex; the
        endpoint may contain colons)."""
        parts = spec.rsplit(":", 3)
        if len(parts) != 4 or not parts[0]:
            raise ValueError("expected ENDPOINT:SENDERID:RECIPIENTID:MASTERSECRET")
        endpoint, sender, recipient, secret = parts
        return cls(
            endpoint,
            Secret.from_hex(secret),
            _hex(sender, "SENDERID"),
            _hex(recipient, "RECIPIENTID"),
        )

    @classmethod
    def from_json(cls, endpoint: str, entry: object) -> OscoreCredential:
        """``{"mode": "oscore", "masterSecret", "senderId", "recipientId", "masterSalt"?,
        "idContext"?}``, all hex; ValueError naming the wrong field, never quoting the secret."""
        if not isinstance(entry, dict) or entry.get("mode") != "oscore":
            raise ValueError("mode: 'oscore' expected")
        secret = entry.get("masterSecret")
        if not isinstance(secret, str):
            raise ValueError("masterSecret: a hex string is required")
        salt, id_context = entry.get("masterSalt", ""), entry.get("idContext")
        return cls(
            endpoint,
            Secret.from_hex(secret),
            _hex(entry.get("senderId"), "senderId"),
            _hex(entry.get("recipientId"), "recipientId"),
            _hex(salt, "masterSalt"),
            None if id_context is None else _hex(id_context, "idContext"),
        )

    def to_json(self) -> dict[str, object]:
        """What may be shown: never the master secret (nor the salt, which keys derive from)."""
        shown: dict[str, object] = {
            "endpoint": self.endpoint,
            "mode": "oscore",
            "senderId": self.sender_id.hex(),
            "recipientId": self.recipient_id.hex(),
            "hasKey": True,
        }
        if self.id_context is not None:
            shown["idContext"] = self.id_context.hex()
        return shown


def _hex(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{name}: a hex string is required")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{name}: not hexadecimal") from None
