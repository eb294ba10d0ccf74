"""Per-endpoint bootstrap configurations: the JSON form (docs/bootstrap.md), checks, and the
store the bootstrap server and its REST API share.

Keys are write-only: :meth:`BootstrapConfig.to_json` says whether an account has one and never
what it is, and no ``repr`` shows it, so neither the API nor a log line can leak it.  The
default entry ``"*"`` may not carry keys: one key shared by every device is no secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlsplit

from lwm2m.model import Path, PathError
from lwm2m.operations import MAX_LIFETIME, OperationError
from lwm2m.operations.registration import parse_endpoint

DEFAULT_ENDPOINT = "*"
"""The configuration of endpoints that have none of their own."""

MAX_SHORT_SERVER_ID = 65534
MAX_KEY_BYTES = 64
MAX_IDENTITY_BYTES = 128
MAX_CIPHER_SUITES = 32
_BINDING = re.compile(r"[UTSN]{1,4}Q?")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field (``servers[0].key``)."""


class SecurityMode(Enum):
    NOSEC = "nosec"
    PSK = "psk"


_SCHEMES = {SecurityMode.NOSEC: ("coap", "coap+tcp"), SecurityMode.PSK: ("coaps", "coaps+tcp")}


@dataclass(frozen=True, slots=True)
class Oscore:
    """An OSCORE context for one account (object 21, strings as object 21 v1.0 types them)."""

    master_secret: str = field(repr=False)
    sender_id: str
    recipient_id: str
    aead_algorithm: int | None = None
    hkdf_algorithm: int | None = None
    master_salt: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Account:
    """One LwM2M server account to write: a Security and a Server instance."""

    short_server_id: int
    uri: str
    security_mode: SecurityMode = SecurityMode.NOSEC
    identity: str | None = None
    key: bytes = field(default=b"", repr=False)
    lifetime: int = 86400
    binding: str = "U"
    oscore: Oscore | None = None
    cipher_suites: tuple[int, ...] = ()
    """DTLS/TLS cipher suites to write to /0/x/16 (optional resource); empty: not written."""


@dataclass(frozen=True, slots=True)
class AccessControl:
    """One Access Control instance to write: who may do what on ``/object_id/instance_id``."""

    object_id: int
    instance_id: int
    owner: int
    acl: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BootstrapConfig:
    """What the bootstrap server does to one endpoint, in this order: Bootstrap-Discover of
    ``/`` (if ``discover``), Bootstrap-Read of ``read``, Bootstrap-Delete of ``delete``, the
    accounts' Security, OSCORE and Server instances, the Access Control instances, Finish."""

    servers: tuple[Account, ...]
    delete: tuple[Path, ...] = ()
    read: tuple[Path, ...] = ()
    discover: bool = True
    access_control: tuple[AccessControl, ...] = ()

    @classmethod
    def from_json(cls, data: object, *, default: bool = False) -> BootstrapConfig:
        """Check and read one endpoint's entry; ConfigError names what is wrong."""
        obj = _object(data, "", {"servers", "delete", "read", "discover", "accessControl"})
        servers = obj.get("servers", [])
        if not isinstance(servers, list) or not servers:
            raise ConfigError("servers: a non-empty list of accounts is required")
        accounts = tuple(_account(item, f"servers[{n}]") for n, item in enumerate(servers))
        ssids = [account.short_server_id for account in accounts]
        if len(set(ssids)) != len(ssids):
            raise ConfigError("servers: two accounts with the same shortServerId")
        if default and any(account.key or account.oscore for account in accounts):
            raise ConfigError(
                f"{DEFAULT_ENDPOINT!r} may not carry keys: every device would share them"
            )
        acl = obj.get("accessControl", [])
        if not isinstance(acl, list):
            raise ConfigError("accessControl: a list is required")
        discover = obj.get("discover", True)
        if not isinstance(discover, bool):
            raise ConfigError("discover: true or false")
        return cls(
            accounts,
            _paths(obj.get("delete", []), "delete", max_depth=2),
            _paths(obj.get("read", []), "read", max_depth=2, objects=(1, 2)),
            discover,
            tuple(_access(item, f"accessControl[{n}]") for n, item in enumerate(acl)),
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as the API shows it: every field but keys (``"hasKey"`` says if one is set)."""
        servers = []
        for account in self.servers:
            item: dict[str, Any] = {
                "shortServerId": account.short_server_id,
                "uri": account.uri,
                "securityMode": account.security_mode.value,
                "lifetime": account.lifetime,
                "binding": account.binding,
            }
            if account.security_mode is SecurityMode.PSK:
                item |= {"identity": account.identity, "hasKey": bool(account.key)}
            if account.cipher_suites:
                item["cipherSuites"] = list(account.cipher_suites)
            if account.oscore is not None:
                item["oscore"] = {
                    "senderId": account.oscore.sender_id,
                    "recipientId": account.oscore.recipient_id,
                    "hasMasterSecret": True,
                }
            servers.append(item)
        return {
            "servers": servers,
            "delete": [str(p) for p in self.delete],
            "read": [str(p) for p in self.read],
            "discover": self.discover,
            "accessControl": [
                {
                    "objectId": ac.object_id,
                    "instanceId": ac.instance_id,
                    "owner": ac.owner,
                    "acl": {str(ssid): bits for ssid, bits in ac.acl.items()},
                }
                for ac in self.access_control
            ],
        }


class ConfigStore:
    """Configurations by endpoint name, with the ``"*"`` fallback."""

    def __init__(self, configs: Mapping[str, BootstrapConfig] | None = None) -> None:
        self._configs: dict[str, BootstrapConfig] = dict(configs or {})

    def lookup(self, endpoint: str) -> BootstrapConfig | None:
        """The endpoint's configuration, else the default one, else None."""
        return self._configs.get(endpoint) or self._configs.get(DEFAULT_ENDPOINT)

    def get(self, endpoint: str) -> BootstrapConfig | None:
        """Exactly this entry (``"*"`` is the default's name)."""
        return self._configs.get(endpoint)

    def put(self, endpoint: str, config: BootstrapConfig) -> bool:
        """Add or replace; True when it is new."""
        new = endpoint not in self._configs
        self._configs[endpoint] = config
        return new

    def delete(self, endpoint: str) -> bool:
        return self._configs.pop(endpoint, None) is not None

    def __iter__(self) -> Iterator[tuple[str, BootstrapConfig]]:
        return iter(sorted(self._configs.items()))

    def __len__(self) -> int:
        return len(self._configs)

    @classmethod
    def from_json(cls, data: object) -> ConfigStore:
        """``{"endpoint name": entry, "*": entry}``; ConfigError names the entry and field."""
        if not isinstance(data, dict):
            raise ConfigError("a JSON object from endpoint name to configuration is required")
        return cls({name: parse_entry(name, entry) for name, entry in data.items()})

    @classmethod
    def load(cls, file: str | FilePath) -> ConfigStore:
        try:
            data = json.loads(FilePath(file).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {file}: {exc}") from None
        try:
            return cls.from_json(data)
        except ConfigError as exc:
            raise ConfigError(f"{file}: {exc}") from None


def parse_entry(endpoint: str, data: object) -> BootstrapConfig:
    """One entry under its endpoint name; ConfigError prefixed with the name."""
    try:
        if endpoint != DEFAULT_ENDPOINT:
            parse_endpoint(endpoint)
        return BootstrapConfig.from_json(data, default=endpoint == DEFAULT_ENDPOINT)
    except OperationError as exc:
        raise ConfigError(f"{endpoint!r:.80}: {exc.message}") from None
    except ConfigError as exc:
        raise ConfigError(f"{endpoint!r:.80}: {exc}") from None


# -- field checks ----------------------------------------------------------------------------


def _object(data: object, where: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'entry'}: a JSON object is required")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where or 'entry'}: unknown field {unknown[0]!r:.40}")
    return data


def _int(data: dict[str, Any], name: str, where: str, low: int, high: int) -> int:
    value = data.get(name)
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(f"{where}.{name}: an integer {low}..{high} is required")
    return value


def _str(data: dict[str, Any], name: str, where: str, limit: int = 255) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value.encode()) > limit:
        raise ConfigError(f"{where}.{name}: a string of 1..{limit} bytes is required")
    return value


def _hex(data: dict[str, Any], name: str, where: str) -> bytes:
    value = data.get(name)
    try:
        key = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        key = b""
    if not key or len(key) > MAX_KEY_BYTES:
        # Never echo the value: it is a secret, possibly mistyped by one character.
        raise ConfigError(f"{where}.{name}: 1..{MAX_KEY_BYTES} bytes as hex are required")
    return key


def _account(data: object, where: str) -> Account:
    fields = {"shortServerId", "uri", "securityMode", "identity", "key", "lifetime", "binding"}
    obj = _object(data, where, fields | {"oscore", "cipherSuites"})
    ssid = _int(obj, "shortServerId", where, 1, MAX_SHORT_SERVER_ID)
    try:
        mode = SecurityMode(obj.get("securityMode", "nosec"))
    except ValueError:
        raise ConfigError(f"{where}.securityMode: 'nosec' or 'psk'") from None
    uri = _str(obj, "uri", where)
    parts = urlsplit(uri)
    if parts.scheme not in _SCHEMES[mode] or not parts.hostname:
        schemes = " or ".join(f"{s}://" for s in _SCHEMES[mode])
        raise ConfigError(f"{where}.uri: {mode.value} needs a {schemes}HOST[:PORT] URI")
    identity, key = None, b""
    if mode is SecurityMode.PSK:
        identity = _str(obj, "identity", where, MAX_IDENTITY_BYTES)
        key = _hex(obj, "key", where)
    elif "identity" in obj or "key" in obj:
        raise ConfigError(f"{where}: nosec takes no identity or key")
    lifetime = _int(obj, "lifetime", where, 1, MAX_LIFETIME) if "lifetime" in obj else 86400
    binding = obj.get("binding", "U")
    if not isinstance(binding, str) or not _BINDING.fullmatch(binding):
        raise ConfigError(f"{where}.binding: transports U, T, S, N with an optional Q")
    oscore = _oscore(obj["oscore"], f"{where}.oscore") if "oscore" in obj else None
    suites = _cipher_suites(obj, where) if "cipherSuites" in obj else ()
    if suites and mode is not SecurityMode.PSK:
        raise ConfigError(f"{where}.cipherSuites: only for securityMode 'psk'")
    return Account(ssid, uri, mode, identity, key, lifetime, binding, oscore, suites)


def _cipher_suites(data: dict[str, Any], where: str) -> tuple[int, ...]:
    suites = data["cipherSuites"]
    if (
        not isinstance(suites, list)
        or not 1 <= len(suites) <= MAX_CIPHER_SUITES
        or not all(type(suite) is int and 0 <= suite <= 0xFFFF for suite in suites)
    ):
        raise ConfigError(
            f"{where}.cipherSuites: a list of 1..{MAX_CIPHER_SUITES} IANA TLS cipher suite"
            " numbers (0..65535) is required"
        )
    return tuple(suites)


def _oscore(data: object, where: str) -> Oscore:
    fields = {"masterSecret", "senderId", "recipientId", "aeadAlgorithm", "hkdfAlgorithm"}
    obj = _object(data, where, fields | {"masterSalt"})
    return Oscore(
        _str(obj, "masterSecret", where),
        _str(obj, "senderId", where),
        _str(obj, "recipientId", where),
        _int(obj, "aeadAlgorithm", where, 0, 65535) if "aeadAlgorithm" in obj else None,
        _int(obj, "hkdfAlgorithm", where, -65535, 65535) if "hkdfAlgorithm" in obj else None,
        _str(obj, "masterSalt", where) if "masterSalt" in obj else None,
    )


def _access(data: object, where: str) -> AccessControl:
    obj = _object(data, where, {"objectId", "instanceId", "owner", "acl"})
    acl = obj.get("acl", {})
    if not isinstance(acl, dict):
        raise ConfigError(f"{where}.acl: an object from Short Server ID to rights is required")
    rights = {}
    for ssid, bits in acl.items():
        if not (ssid.isascii() and ssid.isdigit() and int(ssid) <= MAX_SHORT_SERVER_ID):
            raise ConfigError(f"{where}.acl: {ssid!r:.20} is not a Short Server ID")
        if type(bits) is not int or not 0 <= bits <= 31:
            raise ConfigError(f"{where}.acl.{ssid}: rights are bits 0..31 (R W E D C)")
        rights[int(ssid)] = bits
    return AccessControl(
        _int(obj, "objectId", where, 0, 65534),
        _int(obj, "instanceId", where, 0, 65535),
        _int(obj, "owner", where, 1, 65535),
        rights,
    )


def _paths(
    data: object, where: str, *, max_depth: int, objects: tuple[int, ...] | None = None
) -> tuple[Path, ...]:
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ConfigError(f"{where}: a list of paths is required")
    paths = []
    for text in data:
        try:
            path = Path.parse(text)
        except PathError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if path.depth > max_depth or (
            objects is not None and (path.is_root or path.ids[0] not in objects)
        ):
            allowed = "" if objects is None else f" of objects {', '.join(map(str, objects))}"
            raise ConfigError(f"{where}: {text!r:.40} is not /, /o or /o/i{allowed}")
        paths.append(path)
    return tuple(paths)
