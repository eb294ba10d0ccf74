"""The LwM2M bootstrap server: per-endpoint configurations delivered over the Bootstrap
interface (Core 1.1 §5.2.7), a sans-I/O core and its asyncio façade (the REST API for the
configurations is :mod:`lwm2m.web.bootstrap_api`)."""

from lwm2m.bootstrap.config import (
    DEFAULT_ENDPOINT,
    AccessControl,
    Account,
    BootstrapConfig,
    ConfigError,
    ConfigStore,
    Oscore,
    SecurityMode,
)
from lwm2m.bootstrap.core import BootstrapCore
from lwm2m.bootstrap.events import (
    BootstrapDiscovered,
    BootstrapEvent,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapRead,
    BootstrapRefused,
    BootstrapStarted,
)
from lwm2m.bootstrap.server import BootstrapServer, BootstrapServerConfig

__all__ = [
    "DEFAULT_ENDPOINT",
    "AccessControl",
    "Account",
    "BootstrapConfig",
    "BootstrapCore",
    "BootstrapDiscovered",
    "BootstrapEvent",
    "BootstrapFailed",
    "BootstrapFinished",
    "BootstrapRead",
    "BootstrapRefused",
    "BootstrapServer",
    "BootstrapServerConfig",
    "BootstrapStarted",
    "ConfigError",
    "ConfigStore",
    "Oscore",
    "SecurityMode",
]
