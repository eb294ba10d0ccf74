"""JSON for HTTP answers: the northbound JSON view (:mod:`lwm2m.northbound.jsonview`, shared with
the event stream, MQTT and NATS) as a Starlette response."""

from __future__ import annotations

from starlette.responses import JSONResponse

from lwm2m.northbound.jsonview import (
    answer_json,
    describe_peer,
    dumps,
    event_json,
    jsonable,
    registration_json,
)

__all__ = [
    "JsonResponse",
    "answer_json",
    "describe_peer",
    "dumps",
    "event_json",
    "jsonable",
    "registration_json",
]


class JsonResponse(JSONResponse):
    """Starlette's JSONResponse through :func:`dumps`: no value makes it fail."""

    def render(self, content: object) -> bytes:
        return dumps(content).encode("utf-8")
