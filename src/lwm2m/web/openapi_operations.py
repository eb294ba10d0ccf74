"""What each REST operation takes and answers, for :mod:`lwm2m.web.openapi`.

Keyed ``"METHOD /path"`` as the route table spells the path (parameters without their
convertor).  A new route needs an entry here: ``tests/rest`` lists the routes that have none.
Schemas describe what the handlers really send (the JSON view of :mod:`lwm2m.web.jsonview`);
the schemathesis test checks every answer of a running server against them.  The schemas
themselves are in :mod:`lwm2m.web.openapi_schemas`.
"""

from __future__ import annotations

from typing import Any

from lwm2m.codec.base import FORMAT_NAMES
from lwm2m.web.inputs import ATTRIBUTE_NAMES, MAX_HISTORY, MAX_TIMEOUT
from lwm2m.web.listing import MAX_PAGE, SORT_KEYS
from lwm2m.web.openapi_schemas import ANY, OBJECT, STRING, Schema, ref

# -- parameters and responses ------------------------------------------------------------------


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


TIMEOUT = _query(
    "timeout",
    {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
    "Seconds to wait for the device (a queue-mode device's request waits in its queue).",
)
FORMAT = _query(
    "format",
    {"anyOf": [{"enum": sorted(FORMAT_NAMES)}, {"type": "string", "pattern": "^[0-9]+$"}]},
    "Content format to ask for or write in, by name or number (default: the device's).",
)
ACTIVE = _query(
    "active",
    {"enum": ["true", "false"]},
    "`false`: forget the observation here only (the next notification gets RST).",
)
DEPTH = _query("depth", {"enum": ["0", "1", "2", "3"]}, "Discover's depth.")


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(schema: Schema, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": _json(schema)}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(ref("Error"))}


def _body(schema: Schema, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": _json(schema)}


def error_responses(auth: bool) -> dict[str, Any]:
    """What the guards in front of every ``/api`` handler answer (:mod:`lwm2m.web.auth`)."""
    responses = {
        "400": _error("Bad input: a parameter or body named in the message, or a Host not served"),
        "403": _error("A request from another origin (CORS is closed)"),
    }
    if auth:
        responses["401"] = _error("No or a wrong bearer token")
    return responses


_DEVICE_ERRORS = {
    "404": _error("No registration for this endpoint"),
    "413": _error("The body is too large"),
    "502": _error("The device answered with something unusable (RST, an undecodable payload)"),
    "503": _error("The queue-mode device's queue is full"),
    "504": _error("The device did not answer in time"),
}
_NOT_FOUND = {"404": _error("Not found")}
_NO_CONTENT = {"204": {"description": "Done"}}


def _device_op(
    summary: str, *, query: tuple[Schema, ...], body: Schema | None = None, description: str = ""
) -> dict[str, Any]:
    """A LwM2M operation on a device: its answer is 200 whatever the CoAP code."""
    operation: dict[str, Any] = {
        "tags": ["devices"],
        "summary": summary,
        "description": description,
        "parameters": list(query),
        "responses": {"200": _ok(ref("DeviceAnswer"), "The device's answer"), **_DEVICE_ERRORS},
    }
    if body is not None:
        operation["requestBody"] = _body(body)
    return operation


def _op(
    tag: str,
    summary: str,
    responses: dict[str, Any],
    *,
    query: tuple[Schema, ...] = (),
    body: dict[str, Any] | None = None,
    description: str = "",
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": list(query),
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = body
    if public:
        operation["security"] = []
    return operation


_CLIENT = "/api/clients/{endpoint}"
_NODE = _CLIENT + "/{path}"
_FIRMWARE = "/api/firmware/{sha256}"
_CAMPAIGN = "GET /api/campaigns/{campaign_id}"
_STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"enum": ["ok", "unavailable"]}, "reasons": {"type": "array"}},
}
_FILE = {"200": {"description": "The file"}, "404": {"description": "No such file"}}
_PACKAGE_ANSWER = _ok(
    {
        "type": "object",
        "required": ["status"],
        "properties": {"status": STRING, "message": STRING},
    },
    "The device's answer to the write",
)
_DELIVERY = {
    "type": "object",
    "properties": {
        "endpoint": STRING,
        "scheme": STRING,
        "ttl": {"type": "number", "exclusiveMinimum": 0},
        "uses": {"type": "integer", "minimum": 1},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
    },
    "required": ["endpoint"],
}
_ANSWER_CODE_NOTE = "The device's CoAP code is in `status`; HTTP errors only for what came before."

LIST_QUERY = (
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        "Page size; without it every match is listed. The next page's link is in `Link`.",
    ),
    _query("cursor", STRING, "Opaque: the `cursor` of the `Link: rel=next` header."),
    _query(
        "binding",
        {"type": "string", "pattern": "^[UTSN]+$"},
        "Only devices whose binding holds every one of these letters (`U`, `UQ`...).",
    ),
    _query("version", STRING, "Only this LwM2M version (`1.0`, `1.1`, `1.2`)."),
    _query("queueMode", {"enum": ["true", "false"]}, "Only queue-mode devices, or only others."),
    _query("q", STRING, "Only endpoint names that contain this text (case-insensitive)."),
    _query("sort", {"enum": sorted(SORT_KEYS)}, "Order (`-` descending); `endpoint` by default."),
)

OPERATIONS: dict[str, dict[str, Any]] = {
    "GET /api/clients": _op(
        "devices",
        "Registered devices",
        {
            "200": {
                "description": "The devices, a page of them with `limit`",
                "headers": {
                    "Link": {
                        "description": 'The next page: `<URL>; rel="next"` (absent on the last)',
                        "schema": STRING,
                    },
                    "X-Total-Count": {
                        "description": "Devices that match the filters",
                        "schema": {"type": "integer"},
                    },
                },
                "content": _json({"type": "array", "items": ref("Device")}),
            }
        },
        query=LIST_QUERY,
    ),
    "GET /api/events": _op(
        "events",
        "Server events as server-sent events",
        {
            "200": {
                "description": (
                    "Frames `id: RUN-N`, `event: TYPE` (registered, updated, deregistered, "
                    "expired, notification, send, observationCancelled, requestQueued, "
                    "queueDrained, timerRuleViolated, wakeTriggered, wakeFailed, woken, "
                    "history, ...), `data: JSON`; comments say what was dropped."
                ),
                "content": {"text/event-stream": {"schema": STRING}},
            },
            "503": _error("Every event stream slot is taken"),
        },
        query=(
            _query("endpoint", STRING, "Only this device's events."),
            _query(
                "since",
                {"type": "number", "minimum": 0},
                "With `endpoint`: first the values it reported since this Unix time, from the "
                "history store (`event: history`).",
            ),
        ),
        description=(
            "Send `Last-Event-ID` to resume after that event while the server still holds it; "
            "following one `endpoint`, what the ring no longer holds is replayed from the "
            "history store (values notified and sent) as `history` events."
        ),
    ),
    "GET " + _CLIENT: _op(
        "devices", "One registered device", {"200": _ok(ref("Device")), **_NOT_FOUND}
    ),
    "GET " + _CLIENT + "/wake-policy": _op(
        "waking", "The device's wake policy and state", {"200": _ok(ref("WakeState")), **_NOT_FOUND}
    ),
    "PUT " + _CLIENT + "/wake-policy": _op(
        "waking",
        "Replace the device's wake policy (fields left out take their defaults)",
        {"200": _ok(ref("WakeState")), **_NOT_FOUND},
        body=_body(ref("WakePolicy")),
    ),
    "POST " + _CLIENT + "/wake": _op(
        "waking",
        "Send one wake trigger now",
        {
            "200": _ok(ref("WakeSent"), "What was sent"),
            **_NOT_FOUND,
            "409": _error("No trigger path, or the rate limit holds"),
            "502": _error("The SCEF refused the trigger"),
            "503": _error("The SMS queue is full"),
        },
        body=_body(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"channel": {"enum": ["sms", "t8", None]}},
            },
            required=False,
        ),
    ),
    "POST " + _CLIENT + "/transport": _op(
        "devices",
        "Move the device to another transport (Registration Update Trigger with 0='U')",
        {
            "200": _ok(
                {
                    "type": "object",
                    "required": ["transport", "address", "registration"],
                    "properties": {
                        "transport": STRING,
                        "address": STRING,
                        "registration": OBJECT,
                    },
                },
                "The device's Update came over the new transport",
            ),
            **_NOT_FOUND,
            "409": _error("The device refused (it does not hold that transport)"),
            "504": _error("The device's Update did not come in time"),
        },
        body=_body(
            {
                "type": "object",
                "required": ["transport"],
                "additionalProperties": False,
                "properties": {
                    "transport": {"enum": ["U", "T", "S", "N"]},
                    "instance": {"type": "integer"},
                    "timeout": {"type": "number", "exclusiveMinimum": 0},
                },
            }
        ),
    ),
    "POST " + _CLIENT + "/composite/read": _device_op(
        "Read-Composite", query=(FORMAT, TIMEOUT), body=ref("PathsBody")
    ),
    "POST " + _CLIENT + "/composite/write": _device_op(
        "Write-Composite", query=(FORMAT, TIMEOUT), body=ref("ValuesBody")
    ),
    "POST " + _CLIENT + "/composite/observe": _device_op(
        "Observe-Composite (the first answer; notifications are events)",
        query=(FORMAT, TIMEOUT),
        body=ref("PathsBody"),
    ),
    "DELETE " + _CLIENT + "/composite/observe": _device_op(
        "Cancel an Observe-Composite", query=(ACTIVE, TIMEOUT), body=ref("PathsBody")
    ),
    "GET " + _NODE + "/discover": _device_op("Discover", query=(DEPTH, TIMEOUT)),
    "GET " + _NODE + "/history": _op(
        "devices",
        "Values the device notified or sent at the path or below, oldest first",
        {"200": _ok(ref("History")), **_NOT_FOUND},
        query=(
            _query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY},
                "The newest this many (100)",
            ),
        ),
    ),
    "PUT " + _NODE + "/attributes": _device_op(
        "Write-Attributes: `?pmin=10&pmax=60`; a bare name (`?pmax`) removes that attribute",
        query=(
            TIMEOUT,
            *(_query(name, STRING, "Notification attribute") for name in ATTRIBUTE_NAMES),
        ),
    ),
    "POST " + _NODE + "/execute": {
        **_device_op("Execute", query=(TIMEOUT,)),
        "requestBody": _body(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"args": {"type": "string", "description": "`0='value',1`"}},
            },
            required=False,
        ),
    },
    "POST " + _NODE + "/observe": _device_op(
        "Observe (the first answer; notifications are events)", query=(FORMAT, TIMEOUT)
    ),
    "DELETE " + _NODE + "/observe": _device_op("Cancel an Observe", query=(ACTIVE, TIMEOUT)),
    "POST " + _CLIENT + "/{object_id}": _device_op(
        "Create: the values name the new instance (`/3303/1/5700`)",
        query=(FORMAT, TIMEOUT),
        body=ref("ValuesBody"),
    ),
    "GET " + _NODE: _device_op("Read", query=(FORMAT, TIMEOUT), description=_ANSWER_CODE_NOTE),
    "PUT " + _NODE: _device_op("Write (replace)", query=(FORMAT, TIMEOUT), body=ref("ValuesBody")),
    "PATCH " + _NODE: _device_op(
        "Write (partial update)", query=(FORMAT, TIMEOUT), body=ref("ValuesBody")
    ),
    "DELETE " + _NODE: _device_op("Delete an object instance", query=(TIMEOUT,)),
    "GET /api/security": _op(
        "security",
        "Credentials (keys never shown)",
        {"200": _ok({"type": "array", "items": ref("Credential")})},
    ),
    "GET /api/security/{endpoint}": _op(
        "security", "The endpoint's credential", {"200": _ok(ref("Credential")), **_NOT_FOUND}
    ),
    "PUT /api/security/{endpoint}": _op(
        "security",
        "Add or replace the endpoint's PSK or OSCORE context",
        {
            "200": _ok(ref("Credential"), "Replaced"),
            "201": _ok(ref("Credential"), "Added"),
            "409": _error("The identity or Recipient ID belongs to another endpoint"),
            "413": _error("The body is too large"),
        },
        body=_body(ref("CredentialBody")),
    ),
    "DELETE /api/security/{endpoint}": _op(
        "security", "Remove the endpoint's credentials", {**_NO_CONTENT, **_NOT_FOUND}
    ),
    "GET /api/nidd/devices": _op(
        "nidd",
        "Devices reached over NIDD (404 without NIDD)",
        {"200": _ok({"type": "array", "items": ref("NiddDevice")}), **_NOT_FOUND},
    ),
    "GET /api/nidd/devices/{address}": _op(
        "nidd", "One NIDD device", {"200": _ok(ref("NiddDevice")), **_NOT_FOUND}
    ),
    "PUT /api/nidd/devices/{address}": _op(
        "nidd",
        "Serve a device over NIDD",
        {
            "200": _ok(ref("NiddDevice"), "Served already"),
            "201": _ok(ref("NiddDevice"), "Added"),
            **_NOT_FOUND,
        },
    ),
    "DELETE /api/nidd/devices/{address}": _op(
        "nidd", "Stop serving a NIDD device", {**_NO_CONTENT, **_NOT_FOUND}
    ),
    "GET /metrics": _op(
        "operations",
        "Prometheus metrics",
        {"200": {"description": "Prometheus text", "content": {"text/plain": {"schema": STRING}}}},
    ),
    "GET /api/models": _op(
        "models",
        "The object models the server knows",
        {"200": _ok({"type": "array", "items": ref("ObjectSummary")})},
    ),
    "GET /api/models/{object_id}": _op(
        "models",
        "One object model with its resources",
        {"200": _ok(ref("ObjectModel")), **_NOT_FOUND},
    ),
    "GET /api/compliance/{endpoint}": _op(
        "devices",
        "The Telekom compliance report of a device (it is discovered and read)",
        {"200": _ok(OBJECT, "The report (docs/compliance.md)"), **_NOT_FOUND},
        query=(TIMEOUT,),
    ),
    "GET /": _op(
        "console",
        "The web console",
        {"200": {"description": "HTML", "content": {"text/html": {"schema": STRING}}}},
        public=True,
    ),
    "GET /console/{file}": _op("console", "The console's assets", _FILE, public=True),
    "GET /openapi.json": _op(
        "console", "This description", {"200": _ok(OBJECT, "OpenAPI 3.1")}, public=True
    ),
    "GET /docs": _op(
        "console",
        "Browsable API docs",
        {"200": {"description": "HTML", "content": {"text/html": {"schema": STRING}}}},
        public=True,
    ),
    "GET /docs/app/{file}": _op("console", "The docs page's own files", _FILE, public=True),
    "GET /docs/swagger-ui/{file}": _op("console", "Swagger UI's files", _FILE, public=True),
    "GET /health": _op(
        "operations",
        "Liveness: 200 while the event loop serves HTTP",
        {"200": _ok(_STATUS)},
        public=True,
    ),
    "GET /ready": _op(
        "operations",
        "Readiness: CoAP listeners bound and the store taking writes",
        {"200": _ok(_STATUS), "503": _ok(_STATUS, "Not ready, with the reasons")},
        public=True,
    ),
    "GET /api/campaigns": _op(
        "campaigns",
        "Firmware campaigns with their progress",
        {"200": _ok({"type": "array", "items": OBJECT})},
    ),
    "POST /api/campaigns": _op(
        "campaigns",
        "Start a campaign (docs/firmware.md, Campaigns)",
        {
            "201": _ok(OBJECT, "Its progress"),
            "409": _error("Another campaign holds some of these devices"),
            "413": _error("The body is too large"),
        },
        body=_body(OBJECT),
    ),
    _CAMPAIGN: _op(
        "campaigns",
        "One campaign with its devices",
        {"200": _ok(OBJECT), **_NOT_FOUND},
        query=(_query("state", STRING, "Only the devices in this state"),),
    ),
    _CAMPAIGN + "/events": _op(
        "campaigns",
        "The campaign's progress as server-sent events (campaignProgress, campaignDevice)",
        {
            "200": {"description": "SSE", "content": {"text/event-stream": {"schema": STRING}}},
            **_NOT_FOUND,
        },
    ),
    **{
        f"POST /api/campaigns/{{campaign_id}}/{action}": _op(
            "campaigns",
            f"{action.capitalize()} the campaign",
            {
                "200": _ok(OBJECT, "Its progress"),
                **_NOT_FOUND,
                "409": _error("The campaign's status does not allow it"),
            },
        )
        for action in ("pause", "resume", "cancel")
    },
    "GET /api/bootstrap": _op(
        "bootstrap",
        "Bootstrap configurations by endpoint (`*`: the default)",
        {"200": _ok({"type": "object", "additionalProperties": OBJECT})},
    ),
    "GET /api/bootstrap/{endpoint}": _op(
        "bootstrap", "One bootstrap configuration", {"200": _ok(OBJECT), **_NOT_FOUND}
    ),
    "PUT /api/bootstrap/{endpoint}": _op(
        "bootstrap",
        "Add or replace a bootstrap configuration (docs/bootstrap.md)",
        {
            "200": _ok(OBJECT, "Replaced"),
            "201": _ok(OBJECT, "Added"),
            "413": _error("The body is too large"),
        },
        body=_body(OBJECT),
    ),
    "DELETE /api/bootstrap/{endpoint}": _op(
        "bootstrap", "Remove a bootstrap configuration", {**_NO_CONTENT, **_NOT_FOUND}
    ),
    "GET /api/firmware": _op(
        "firmware",
        "Firmware packages",
        {"200": _ok({"type": "array", "items": ref("FirmwarePackage")})},
    ),
    "POST /api/firmware": _op(
        "firmware",
        "Add a package: multipart (`file`, `version`, `model`, `signature`) or the bare bytes "
        "with `?version=&model=&signature=`",
        {
            "200": _ok(ref("FirmwarePackage"), "The same package was there"),
            "201": _ok(ref("FirmwarePackage"), "Added"),
            "409": _error("The same bytes are there under other metadata"),
            "413": _error("The package is too large"),
        },
        query=(
            _query("version", STRING, "Package version (bare upload)"),
            _query("model", STRING, "Device model (bare upload)"),
            _query("signature", STRING, "Ed25519 signature, base64 (bare upload)"),
        ),
        body={
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "version", "model"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "version": STRING,
                            "model": STRING,
                            "signature": STRING,
                        },
                    }
                },
            },
        },
    ),
    "GET " + _FIRMWARE: _op(
        "firmware", "One package", {"200": _ok(ref("FirmwarePackage")), **_NOT_FOUND}
    ),
    "DELETE " + _FIRMWARE: _op("firmware", "Remove a package", {**_NO_CONTENT, **_NOT_FOUND}),
    "POST " + _FIRMWARE + "/url": _op(
        "firmware",
        "Issue a download URL for one device",
        {"201": _ok(ref("DownloadUrl")), **_NOT_FOUND},
        body=_body(_DELIVERY),
    ),
    "POST " + _FIRMWARE + "/offer": _op(
        "firmware",
        "Issue a URL and write it to the device's /5/0/1",
        {
            "200": _ok(
                {
                    "allOf": [
                        {"type": "object", "required": ["url"], "properties": {"url": STRING}},
                        ref("DeviceAnswer"),
                    ]
                }
            ),
            **_DEVICE_ERRORS,
        },
        body=_body(_DELIVERY),
    ),
    "POST " + _FIRMWARE + "/push": _op(
        "firmware",
        "Write the package to the device's /5/0/0",
        {"200": _PACKAGE_ANSWER, **_DEVICE_ERRORS},
        body=_body(_DELIVERY),
    ),
    "GET /fw/{token}": _op(
        "firmware",
        "Download a package (Range, If-Range, If-None-Match honoured)",
        {
            "200": {
                "description": "The package",
                "content": {"application/octet-stream": {"schema": STRING}},
            },
            "206": {"description": "Part of the package"},
            "304": {"description": "Not modified"},
            "404": {"description": "No such download (or not for this request)"},
            "416": {"description": "The range is outside the package"},
        },
        public=True,
    ),
    **{
        f"{method} /t8/{{rest}}": _op(
            "nidd",
            "The SCEF's T8 notifications (authorised by the token in the path)",
            {
                "204": {"description": "Taken"},
                "default": {
                    "description": "A TS 29.122 problem",
                    "content": {"application/problem+json": {"schema": OBJECT}},
                },
            },
            body={"required": False, "content": _json(ANY)} if method != "GET" else None,
            public=True,
        )
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
}
