"""Server accounts to peers for :class:`~lwm2m.client.device.LwM2MClient`: which transports
the device holds, and the server's peer on each (a :class:`~lwm2m.client.transports.Router`).

- ``U``: the Security instance's ``coap://`` / ``coaps://`` Server URI, or the address the
  client was given for the Short Server ID (``servers=``); ``coaps://`` needs the account's
  PSK (/0/x/2 mode 0, /0/x/3, /0/x/5) and makes a :class:`~lwm2m.transport.dtls.DtlsPeer`.
- ``N``: :data:`~lwm2m.client.nidd.NIDD_SERVER`, the SCS/AS the network routes the APN's
  Non-IP data to (no DTLS over NIDD: use NoSec or OSCORE).
- ``S``: the account's LwM2M Server SMS Number (/0/x/9), as an
  :class:`~lwm2m.transport.sms.binding.SmsPeer`.
- ``T``: ``coap+tcp://`` / ``coaps+tcp://`` (a TCP client holds only TCP).

The transport of the Server URI's scheme comes first (``nidd:`` → N, ``sms:`` → S), the
others after it in U, N, S order.  OSCORE, when the account links a context, covers every
route.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from lwm2m.client.context import BOOTSTRAP_SSID, ClientError, server_address
from lwm2m.client.nidd import NIDD_SERVER
from lwm2m.client.oscore import OscoreAccounts
from lwm2m.client.standard import security as sec
from lwm2m.client.tree import SECURITY, ObjectTree
from lwm2m.coap.events import Peer
from lwm2m.security.credentials import Psk, Secret
from lwm2m.security.dtls import DtlsClient
from lwm2m.transport.dtls import DtlsPeer
from lwm2m.transport.sms.binding import SmsPeer
from lwm2m.transport.tcp import Psk as TlsPsk

TCP_SCHEMES = ("coap+tcp", "coaps+tcp")
SMS_NUMBER = 9
"""/0/x/9 LwM2M Server SMS Number."""
_SCHEME_TRANSPORT = {"coap": "U", "coaps": "U", "nidd": "N", "sms": "S"}

Address = tuple[str, int]


class ClientRouter:
    """The peers of every account over the transports in ``held`` (module docstring)."""

    def __init__(
        self,
        tree: ObjectTree,
        held: str,
        *,
        servers: Mapping[int, Address],
        dtls: DtlsClient,
        oscore: OscoreAccounts | None,
        msisdn: str | None,
    ) -> None:
        self._tree = tree
        self.held = held
        self._servers = dict(servers)
        self._dtls = dtls
        self.oscore = oscore
        self._msisdn = msisdn
        self.tls: dict[Peer, TlsPsk | None] = {}
        """CoAP over TLS: the PSK of each server address (None: plain TCP)."""

    @property
    def msisdn(self) -> str | None:
        return self._msisdn

    def resolve(self, short_server_id: int, uri: str) -> Peer:
        """The account's first route (the bootstrap server's only one)."""
        return next(iter(self.routes(short_server_id, uri).values()))

    def routes(self, short_server_id: int, uri: str) -> dict[str, Peer]:
        scheme = urlsplit(uri).scheme
        if scheme in TCP_SCHEMES:
            return {"T": self._tcp(short_server_id, uri)}
        if "T" in self.held:
            raise ClientError(f"server URI {uri!r}: a TCP client has only TCP servers")
        first = _SCHEME_TRANSPORT.get(scheme, "")
        order = ([first] if first else []) + [t for t in "UNS" if t != first]
        routes: dict[str, Peer] = {}
        reasons: list[str] = []
        for transport in order:
            if transport not in self.held:
                continue
            try:
                peer = self._route(transport, short_server_id, uri)
            except ClientError as exc:
                reasons.append(str(exc))
                continue
            if peer is not None:
                routes[transport] = peer
        if not routes:
            why = "; ".join(reasons) or "no transport this client holds reaches it"
            raise ClientError(f"server URI {uri!r}: {why}")
        if self.oscore is not None:
            for peer in routes.values():
                self.oscore.use(short_server_id, peer)
        return routes

    def _route(self, transport: str, short_server_id: int, uri: str) -> Peer | None:
        if transport == "N":
            if self.psk(short_server_id) is not None:
                raise ClientError("DTLS over NIDD is not supported: use NoSec or OSCORE")
            return NIDD_SERVER
        if transport == "S":
            number = self._security(short_server_id, SMS_NUMBER)
            return SmsPeer.parse(number) if isinstance(number, str) and number else None
        return self._udp(short_server_id, uri)

    def _udp(self, short_server_id: int, uri: str) -> Peer | None:
        address = self._servers.get(short_server_id)
        secure = urlsplit(uri).scheme == "coaps"
        if urlsplit(uri).scheme in ("coap", "coaps"):
            secure, default = server_address(uri)
            address = address or default
        if address is None:
            if urlsplit(uri).scheme not in _SCHEME_TRANSPORT:
                server_address(uri)  # says which URIs are
            return None
        psk = self.psk(short_server_id)
        if not secure:
            if psk is not None:
                raise ClientError(f"server URI {uri!r}: security mode PSK needs coaps://")
            return address
        if psk is None:
            raise ClientError(f"server URI {uri!r}: coaps:// needs security mode 0 (PSK)")
        self._dtls.use_psk(address, psk)
        return DtlsPeer(address)

    def _tcp(self, short_server_id: int, uri: str) -> Peer:
        """``coap+tcp://`` or (PSK) ``coaps+tcp://``: the engine sees the address, the stream
        links map it to the server's current connection."""
        parts = urlsplit(uri)
        if "T" not in self.held or not parts.hostname:
            raise ClientError(f"server URI {uri!r}: not a usable CoAP over TCP URI")
        secure = parts.scheme == "coaps+tcp"
        default: Address = (parts.hostname, parts.port or (5684 if secure else 5683))
        address = self._servers.get(short_server_id, default)
        psk = self.psk(short_server_id)
        if secure != (psk is not None):
            raise ClientError(f"server URI {uri!r}: coaps+tcp:// goes with security mode 0 (PSK)")
        self.tls[address] = (
            None if psk is None else TlsPsk(psk.identity.decode("utf-8"), psk.key.reveal())
        )
        return address

    def _instance(self, short_server_id: int) -> int | None:
        """The Security instance of an account (Short Server ID 0: the bootstrap server)."""
        security = self._tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            is_bootstrap = sec.BOOTSTRAP_SERVER in present and security.read(
                iid, sec.BOOTSTRAP_SERVER
            )
            ssid = (
                security.read(iid, sec.SHORT_SERVER_ID) if sec.SHORT_SERVER_ID in present else None
            )
            if (short_server_id == BOOTSTRAP_SSID) == bool(is_bootstrap) and (
                is_bootstrap or ssid == short_server_id
            ):
                return iid
        return None

    def _security(self, short_server_id: int, resource_id: int) -> object:
        iid = self._instance(short_server_id)
        security = self._tree.object(SECURITY)
        if iid is None or resource_id not in security.list_resources(iid):
            return None
        return security.read(iid, resource_id)

    def psk(self, short_server_id: int) -> Psk | None:
        """The PSK of an account's Security instance; None in NoSec mode."""
        if self._security(short_server_id, sec.SECURITY_MODE) != sec.SecurityMode.PSK:
            return None
        identity, key = (
            self._security(short_server_id, rid) or b""
            for rid in (sec.PUBLIC_KEY_OR_IDENTITY, sec.SECRET_KEY)
        )
        assert isinstance(identity, bytes) and isinstance(key, bytes)
        try:
            return Psk(identity, Secret(key))
        except ValueError as exc:
            raise ClientError(
                f"Security instance {self._instance(short_server_id)}: {exc}"
            ) from None


def uses_tcp(tree: ObjectTree) -> bool:
    """Whether the device's servers are CoAP over TCP ones (a TCP client holds only TCP)."""
    security = tree.object(SECURITY)
    for iid in security.list_instances():
        if sec.SERVER_URI in security.list_resources(iid):
            uri = security.read(iid, sec.SERVER_URI)
            if isinstance(uri, str) and urlsplit(uri).scheme in TCP_SCHEMES:
                return True
    return False
