"""Security object (/0): server URIs and credentials, reachable by the bootstrap server only."""

from __future__ import annotations

from enum import IntEnum

from lwm2m.client.objects import ResourceValue

SERVER_URI = 0
BOOTSTRAP_SERVER = 1
SECURITY_MODE = 2
PUBLIC_KEY_OR_IDENTITY = 3
SERVER_PUBLIC_KEY = 4
SECRET_KEY = 5
SHORT_SERVER_ID = 10
CLIENT_HOLD_OFF_TIME = 11
DTLS_CIPHERSUITE = 16
OSCORE_SECURITY_MODE = 17

PSK_CIPHERSUITES = (0xC0A8, 0x00AE)
"""TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256, the PSK suites LwM2M
clients must offer in PSK mode (LwM2M Transport spec)."""


class SecurityMode(IntEnum):
    PSK = 0
    RPK = 1
    CERTIFICATE = 2
    NO_SEC = 3
    EST = 4


def security_instance(
    uri: str,
    *,
    bootstrap: bool,
    short_server_id: int | None = None,
    psk_identity: bytes | None = None,
    psk_key: bytes = b"",
    hold_off: int | None = None,
) -> dict[int, ResourceValue]:
    """One account's Security instance: PSK mode when an identity is given, else NoSec.

    The ciphersuite list is always present (the Telekom profile recommends it), empty for NoSec.
    """
    ciphersuites = () if psk_identity is None else PSK_CIPHERSUITES
    values: dict[int, ResourceValue] = {
        SERVER_URI: uri,
        BOOTSTRAP_SERVER: bootstrap,
        SECURITY_MODE: int(SecurityMode.NO_SEC if psk_identity is None else SecurityMode.PSK),
        PUBLIC_KEY_OR_IDENTITY: psk_identity or b"",
        SERVER_PUBLIC_KEY: b"",
        SECRET_KEY: psk_key,
        DTLS_CIPHERSUITE: dict(enumerate(ciphersuites)),
    }
    if short_server_id is not None:
        values[SHORT_SERVER_ID] = short_server_id
    if hold_off is not None:
        values[CLIENT_HOLD_OFF_TIME] = hold_off
    return values
