"""Who may act for which endpoint (docs/security.md): the façade's PSK credentials, the
identity binding every Register, Update, De-register and Send passes, and the sessions a
changed credential closes.  :class:`~lwm2m.server.server.LwM2MServer` inherits
:class:`AuthenticationApi` and holds the state it reads.

Over DTLS or TLS, the endpoint acted for must be the one the peer's PSK identity is bound to;
over NoSec (UDP or TCP), it must have no credential, or it would bypass the PSK.  Then OSCORE's
verified context, when the server speaks OSCORE, and last ``config.authorize``.
"""

from __future__ import annotations

import logging
from typing import cast

from lwm2m.coap.events import Peer
from lwm2m.coap.stream import StreamCore
from lwm2m.security.credentials import CredentialStore, PskCredential, PskIdentity
from lwm2m.security.oscore_endpoint import OscoreEndpoint, OscoreServerContexts
from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.transport.dtls import Channels, DtlsPeer
from lwm2m.transport.tcp import StreamPeer, StreamTransport
from lwm2m.transport.udp import DatagramCore

logger = logging.getLogger("lwm2m.server.server")  # the façade's log, as before the split


class AuthenticationApi:
    """Credentials and the identity binding, over the façade's channels and stream listener."""

    config: ServerConfig
    oscore: OscoreServerContexts | None
    _core: ServerCore
    _credentials: CredentialStore
    _net: Channels[DatagramCore] | None
    _tcp: StreamTransport[StreamCore] | None

    @property
    def credentials(self) -> CredentialStore:
        """The PSKs (to look at; change them with :meth:`set_credential`)."""
        return self._credentials

    def set_credential(self, credential: PskCredential) -> bool:
        """Add or replace the credential of ``credential.endpoint``; True if it is new.  A
        changed credential closes the endpoint's live DTLS sessions, so the device
        authenticates again.  ValueError if the identity belongs to another endpoint."""
        old = self._credentials.get(credential.endpoint)
        self._credentials.set(credential)
        if old is not None and old != credential:
            self._close_sessions(old)
        return old is None

    def remove_credential(self, endpoint: str) -> bool:
        """Remove the endpoint's credential and close its DTLS sessions and TLS connections;
        False if it had none."""
        old = self._credentials.get(endpoint)
        if old is None or not self._credentials.remove(endpoint):
            return False
        self._close_sessions(old)
        return True

    def _close_sessions(self, old: PskCredential) -> None:
        """Close what ``old`` authenticated: DTLS sessions, and TLS connections by identity."""
        endpoint = old.endpoint
        if self._net is not None and self._net.close_endpoint(endpoint):
            logger.info("DTLS sessions of %s closed: its credential changed", endpoint)
        if self._tcp is not None:
            identity = old.psk.identity
            for peer in self._tcp.peers:
                if peer.identity is not None and peer.identity.encode("utf-8") == identity:
                    logger.info(
                        "TLS connection %s of %s closed: its credential changed", peer, endpoint
                    )
                    self._tcp.close_peer(peer)

    def _tls_key(self, identity: str) -> bytes | None:
        """The TLS listener's PSK callback: the key bound to ``identity``, if any."""
        credential = self._credentials.lookup(identity.encode("utf-8"))
        return None if credential is None else credential.psk.key.reveal()

    def _authorize(self, endpoint: str, peer: Peer) -> bool:
        """The identity binding (see the module docstring), then ``config.authorize``."""
        secured = isinstance(peer, DtlsPeer) or (
            isinstance(peer, StreamPeer) and peer.identity is not None
        )
        if secured:
            identity = self._identity(cast(DtlsPeer | StreamPeer, peer))
            refusal = (
                None
                if identity is not None and identity.endpoint == endpoint
                else f"its PSK identity is bound to {identity.endpoint if identity else None!r}"
            )
        elif self._credentials.get(endpoint) is not None:
            refusal = "it has a PSK, so it must use DTLS or TLS"
        else:
            refusal = None
        if refusal is None and self.oscore is not None:
            verified = cast(OscoreEndpoint, self._core.endpoint).verified_context(peer)
            refusal = self.oscore.refusal(endpoint, verified)
        if refusal is not None:
            logger.warning("%s may not act for endpoint %s: %s", peer, endpoint, refusal)
            return False
        authorize = self.config.authorize
        return authorize is None or authorize(endpoint, peer)

    def _identity(self, peer: DtlsPeer | StreamPeer) -> PskIdentity | None:
        """Who a secured peer authenticated as: its DTLS session's, or its TLS handshake's
        identity looked up now (the credential may have changed since)."""
        if isinstance(peer, DtlsPeer):
            return None if self._net is None else self._net.peer_identity(peer)
        assert peer.identity is not None
        credential = self._credentials.lookup(peer.identity.encode("utf-8"))
        return None if credential is None else credential.identity
