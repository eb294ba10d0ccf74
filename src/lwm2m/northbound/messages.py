"""Server events as broker messages: a topic and a payload (docs/northbound.md) ◆.

Every event is published: registrations' lifecycle on ``lwm2m/{ep}/{type}`` (``registered``,
``updated``, ``deregistered``, ``expired``), notifications on ``lwm2m/{ep}/notify/{path}``,
Send on ``lwm2m/{ep}/send``, the rest (``observationCancelled``, ``requestQueued``, ...) on
``lwm2m/{ep}/{type}`` too.  The payload is the event's JSON as the REST event stream shows it
(:func:`~lwm2m.northbound.jsonview.event_json`, values keyed by path) with ``time`` (Unix
seconds, when the server saw it) added; with ``Format.SENML`` notifications and Send carry SenML
JSON (RFC 8428, LwM2M names) instead, the endpoint and event type being in the topic.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from lwm2m.codec.errors import EncodeError
from lwm2m.codec.senml_json import SenmlJsonCodec
from lwm2m.model import ModelRegistry
from lwm2m.northbound.jsonview import dumps, event_json
from lwm2m.northbound.topics import notify_levels, topic_levels
from lwm2m.server import ServerEvent
from lwm2m.server.events import (
    Deregistered,
    Expired,
    NotificationReceived,
    Registered,
    SendReceived,
    Updated,
)

logger = logging.getLogger(__name__)


class Format(enum.Enum):
    JSON = "json"
    SENML = "senml"


@dataclass(frozen=True, slots=True)
class Message:
    """What goes to the broker: topic levels (``lwm2m``, the escaped endpoint, ...) and bytes."""

    levels: tuple[str, ...]
    payload: bytes

    @property
    def topic(self) -> str:
        """The canonical form kept in the spool; NATS swaps ``/`` for ``.`` (no level holds
        either)."""
        return "/".join(self.levels)


class MessageFormatter:
    """Turns events into messages; ``models`` types values for SenML."""

    def __init__(self, fmt: Format, models: ModelRegistry) -> None:
        self._senml = SenmlJsonCodec(_no_clock) if fmt is Format.SENML else None
        self._models = models

    def message(self, event: ServerEvent, now: float) -> Message:
        if isinstance(event, NotificationReceived | SendReceived):
            senml = self._senml_payload(event)
            if senml is not None:
                return Message(_data_levels(event), senml)
        data = event_json(event)
        if isinstance(event, NotificationReceived | SendReceived):
            levels = _data_levels(event)
        else:
            kind = data["type"]
            assert isinstance(kind, str)
            levels = topic_levels(endpoint_of(event), kind)
        return Message(levels, dumps({**data, "time": now}).encode("utf-8"))

    def _senml_payload(self, event: NotificationReceived | SendReceived) -> bytes | None:
        if self._senml is None:
            return None
        try:
            if isinstance(event, NotificationReceived):
                return self._senml.encode_values(event.values, self._models)
            return self._senml.encode_timestamped(event.batches, self._models)
        except EncodeError as exc:  # NaN or infinity: SenML JSON has no spelling for them
            logger.warning("%s of %s sent as JSON: %s", type(event).__name__, event.endpoint, exc)
            return None


def content_type(payload: bytes) -> str:
    """A message's media type: SenML documents are arrays, every other payload an object."""
    return "application/senml+json" if payload.startswith(b"[") else "application/json"


def _data_levels(event: NotificationReceived | SendReceived) -> tuple[str, ...]:
    if isinstance(event, NotificationReceived):
        return notify_levels(event.endpoint, event.path)
    return topic_levels(event.endpoint, "send")


def endpoint_of(event: ServerEvent) -> str:
    if isinstance(event, Registered | Updated | Deregistered | Expired):
        return event.registration.endpoint
    return event.endpoint


def _no_clock() -> float:
    """Encoding never resolves relative times; decoding is never asked of this codec."""
    raise AssertionError("the northbound codec only encodes")
