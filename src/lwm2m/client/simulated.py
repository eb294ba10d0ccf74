"""A simulated Telekom-profile device as a ready-to-start client."""

from __future__ import annotations

from collections.abc import Callable

from lwm2m.client.cellular import MODEM_FED
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import DEFAULT_CONFIG, ClientConfig, ClientEvent
from lwm2m.client.firmware.updater import FirmwareUpdater
from lwm2m.client.nidd import NiddLink
from lwm2m.client.simulator import DeviceSimulator
from lwm2m.client.sms import SmsLink
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.security.oscore import SequenceStore


def simulated_client(
    tree: ObjectTree,
    endpoint: str,
    *,
    seed: int,
    now: float,
    config: ClientConfig = DEFAULT_CONFIG,
    local_address: tuple[str, int] = ("0.0.0.0", 0),
    tick_interval: float = 10.0,
    on_event: Callable[[ClientEvent], None] | None = None,
    oscore_sequences: Callable[[int], SequenceStore] | None = None,
    coap: EndpointConfig = DEFAULT,
    nidd: NiddLink | None = None,
    sms: SmsLink | None = None,
    udp: bool | None = None,
    firmware: FirmwareUpdater | None = None,
) -> LwM2MClient:
    """The client for ``tree`` with a backend that keeps its values moving.

    ``seed`` drives the simulated values only. Message IDs and tokens come from fresh
    randomness: a restarted device that reused them would be answered from the server's
    deduplication cache with replies meant for its previous life.  With ``nidd`` the objects
    the modem fills (/4, /7, /10) are left to it; ``sms`` and ``udp`` are
    :class:`LwM2MClient`'s.  ``firmware`` (made for ``tree``) installs
    by rebooting this client.
    """
    client = LwM2MClient(
        tree,
        endpoint,
        local_address=local_address,
        config=config,
        simulator=DeviceSimulator(
            tree, seed=seed, now=now, measured=MODEM_FED if nidd is not None else ()
        ),
        tick_interval=tick_interval,
        on_event=on_event,
        oscore_sequences=oscore_sequences,
        coap=coap,
        nidd=nidd,
        sms=sms,
        udp=udp,
    )
    if firmware is not None:
        firmware.reboot = client.reboot
    return client
