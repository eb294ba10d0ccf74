"""A simulated Telekom-profile device as a ready-to-start client: the object tree, the backend
that keeps its values moving, and the client that speaks for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import DEFAULT_CONFIG, ClientConfig, ClientEvent
from lwm2m.client.profile import BootstrapAccount, ServerAccount, telekom_device
from lwm2m.client.simulator import DeviceSimulator


def simulated_client(
    endpoint: str,
    *,
    seed: int,
    now: float,
    servers: Sequence[ServerAccount],
    bootstrap: BootstrapAccount | None = None,
    config: ClientConfig = DEFAULT_CONFIG,
    local_address: tuple[str, int] = ("0.0.0.0", 0),
    tick_interval: float = 10.0,
    on_event: Callable[[ClientEvent], None] | None = None,
) -> LwM2MClient:
    tree = telekom_device(endpoint, seed=seed, now=now, servers=servers, bootstrap=bootstrap)
    return LwM2MClient(
        tree,
        endpoint,
        local_address=local_address,
        config=config,
        simulator=DeviceSimulator(tree, seed=seed, now=now),
        tick_interval=tick_interval,
        seed=seed,
        on_event=on_event,
    )
