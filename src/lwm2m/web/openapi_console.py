"""OpenAPI operations of the operator views (:mod:`lwm2m.web.inspection_api`,
:mod:`lwm2m.web.network_api`), merged into :data:`lwm2m.web.openapi_operations.OPERATIONS`
by :mod:`lwm2m.web.openapi`."""

from __future__ import annotations

from typing import Any

from lwm2m.web.openapi_schemas import OBJECT, STRING, Schema

_CLIENT = "/api/clients/{endpoint}"
_INT: Schema = {"type": "integer"}
_TARGET: Schema = {
    "type": "object",
    "properties": {"path": STRING, "paths": {"type": "array", "items": STRING}},
}
_STATE: Schema = {
    "type": "object",
    "required": ["observations", "queueMode", "awake", "awakeFor", "queued"],
    "properties": {
        "observations": {"type": "array", "items": _TARGET},
        "queueMode": {"type": "boolean"},
        "awake": {"type": ["boolean", "null"]},
        "awakeFor": {"type": "number"},
        "queued": _INT,
    },
}
_MESSAGE: Schema = {
    "type": "object",
    "required": ["time", "direction"],
    "properties": {
        "time": {"type": "number"},
        "direction": {"enum": ["in", "out"]},
        "type": {"enum": ["CON", "NON", "ACK", "RST"]},
        "code": STRING,
        "mid": _INT,
        "token": STRING,
        "options": {"type": "array", "items": STRING},
        "payload": _INT,
        "size": _INT,
        "error": STRING,
    },
}
_LOG: Schema = {
    "type": "object",
    "required": ["capturing", "limit", "messages"],
    "properties": {
        "capturing": {"type": "boolean"},
        "limit": _INT,
        "messages": {"type": "array", "items": _MESSAGE},
    },
}


def _answer(description: str, schema: Schema | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _answer(description, {"$ref": "#/components/schemas/Error"})


def _op(tag: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"tags": [tag], "summary": summary, "parameters": [], "responses": responses}


OPERATOR_OPERATIONS: dict[str, dict[str, Any]] = {
    "GET " + _CLIENT + "/state": _op(
        "devices",
        "The server's observations of the device, its queue-mode awake state, queued requests",
        {"200": _answer("OK", _STATE), "404": _error("No registration for this endpoint")},
    ),
    "GET " + _CLIENT + "/messages": _op(
        "devices",
        "The device's CoAP message log (empty unless it is being logged)",
        {"200": _answer("OK", _LOG)},
    ),
    "PUT " + _CLIENT + "/messages": _op(
        "devices",
        "Start logging the device's CoAP messages (bounded ring, header fields only)",
        {
            "200": _answer("Logged already", _LOG),
            "201": _answer("Logged from now on", _LOG),
            "409": _error("The log watches its maximum of devices"),
        },
    ),
    "DELETE " + _CLIENT + "/messages": _op(
        "devices",
        "Stop logging the device's CoAP messages and forget them",
        {"204": _answer("Done"), "404": _error("Its messages were not logged")},
    ),
    "GET /api/network": _op(
        "nidd",
        "The emulated operator network's status (GET /api/network of lwm2m network at --nidd)",
        {
            "200": _answer("The network's status as it reports it, plus its source URL", OBJECT),
            "404": _error("No NIDD, or the SCEF has no status API"),
            "502": _error("The network could not be reached or gave no status"),
        },
    ),
}
