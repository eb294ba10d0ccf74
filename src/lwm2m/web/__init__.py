"""The REST API and live events over an :class:`~lwm2m.server.LwM2MServer` (Starlette)."""

from lwm2m.web.app import create_app
from lwm2m.web.events import EventHub

__all__ = ["EventHub", "create_app"]
