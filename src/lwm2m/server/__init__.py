"""The LwM2M server: a sans-I/O core (:class:`ServerCore`) and its asyncio façade
(:class:`LwM2MServer`, the API ``docs/server-api.md`` describes)."""

from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.errors import (
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    ServerError,
    UnknownEndpointError,
)
from lwm2m.server.events import (
    CoreEvent,
    Deregistered,
    Expired,
    NotificationReceived,
    ObservationCancelled,
    QueueDrained,
    Registered,
    RequestAborted,
    RequestCompleted,
    RequestQueued,
    SendReceived,
    ServerEvent,
    Target,
    TimerRuleViolated,
    Updated,
)
from lwm2m.server.registration import (
    HistoryEntry,
    MemoryRegistrationStore,
    MemoryStore,
    ObservationRecord,
    QueuedRecord,
    Registration,
    RegistrationStore,
    ServerStore,
)
from lwm2m.server.server import LwM2MServer

__all__ = [
    "CoreEvent",
    "Deregistered",
    "Expired",
    "HistoryEntry",
    "LwM2MServer",
    "MemoryRegistrationStore",
    "MemoryStore",
    "NotificationReceived",
    "ObservationCancelled",
    "ObservationRecord",
    "QueueDrained",
    "QueueFullError",
    "QueuedRecord",
    "Registered",
    "Registration",
    "RegistrationStore",
    "RequestAborted",
    "RequestCompleted",
    "RequestFailedError",
    "RequestQueued",
    "RequestTimeoutError",
    "SendReceived",
    "ServerConfig",
    "ServerCore",
    "ServerError",
    "ServerEvent",
    "ServerStore",
    "Target",
    "TimerRuleViolated",
    "UnknownEndpointError",
    "Updated",
]
