"""The JSON schemas of what the REST API sends and takes (``components/schemas`` of
``/openapi.json``), as :mod:`lwm2m.web.jsonview` and the handlers really shape it."""

from __future__ import annotations

from typing import Any

from lwm2m.web.inputs import MAX_PATHS

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING: Schema = {"type": "string"}
ANY: Schema = {}
OBJECT: Schema = {"type": "object"}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": ["string", "null"]}},
    },
    "Address": {
        "type": "object",
        "required": ["transport", "secure", "address"],
        "properties": {
            "transport": {
                "enum": ["U", "T", "N", "S", None],
                "description": "LwM2M binding letter of the transport",
            },
            "secure": {"type": "boolean"},
            "address": {"type": "string", "description": "host:port, external ID or MSISDN"},
        },
    },
    "Link": {
        "type": "object",
        "required": ["target", "attributes"],
        "properties": {"target": STRING, "attributes": OBJECT},
    },
    "TimerRuleViolation": {
        "type": "object",
        "required": ["type", "endpoint", "rule", "comparison", "scope", "detail"],
        "properties": {
            "type": {"const": "timerRuleViolated"},
            "endpoint": STRING,
            "rule": {"type": "integer"},
            "comparison": STRING,
            "scope": STRING,
            "detail": STRING,
        },
    },
    "Device": {
        "type": "object",
        "description": "A registration, and the Telekom timer rules its device breaks now.",
        "required": [
            "endpoint",
            "registrationId",
            "lwm2mVersion",
            "binding",
            "lifetime",
            "queueMode",
            "address",
            "objectLinks",
            "registeredAt",
            "lastSeen",
            "contentFormat",
            "timerRuleViolations",
        ],
        "properties": {
            "endpoint": STRING,
            "registrationId": STRING,
            "lwm2mVersion": STRING,
            "binding": STRING,
            "lifetime": {"type": "integer"},
            "queueMode": {"type": "boolean"},
            "address": ref("Address"),
            "objectLinks": {"type": "array", "items": ref("Link")},
            "registeredAt": {"type": "number", "description": "Unix time"},
            "lastSeen": {
                "type": "number",
                "description": "Unix time of the last Register or Update",
            },
            "contentFormat": {"type": ["integer", "null"]},
            "timerRuleViolations": {"type": "array", "items": ref("TimerRuleViolation")},
        },
    },
    "Values": {
        "type": "object",
        "description": (
            'Flat values by path: `{"/3/0/0": "maker", "/3/0/9": 87}`; opaque as base64, object '
            'links as `"o:i"`, non-finite floats as `"nan"`, `"inf"`, `"-inf"`.'
        ),
        "propertyNames": {"pattern": "^/"},
        "additionalProperties": ANY,
    },
    "DeviceAnswer": {
        "type": "object",
        "description": "The device's answer: its CoAP code in `status` (`2.05`, `4.04`, ...).",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "pattern": r"^[0-9]\.[0-9]{2}$"},
            "message": {"type": ["string", "null"]},
            "contentFormat": {"type": ["integer", "null"]},
            "values": ref("Values"),
            "links": {"type": "array", "items": ref("Link")},
            "location": {"type": ["string", "null"]},
        },
    },
    "ValuesBody": {
        "type": "object",
        "required": ["values"],
        "additionalProperties": False,
        "properties": {"values": {**ref("Values"), "minProperties": 1}},
    },
    "PathsBody": {
        "type": "object",
        "required": ["paths"],
        "additionalProperties": False,
        "properties": {
            "paths": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PATHS,
                "items": {"type": "string", "pattern": "^/"},
            }
        },
    },
    "History": {
        "type": "object",
        "required": ["values"],
        "properties": {
            "values": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["time", "path", "value"],
                    "properties": {"time": {"type": "number"}, "path": STRING, "value": ANY},
                },
            }
        },
    },
    "WakePolicy": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"enum": ["trigger", "wait"]},
            "channel": {"enum": ["sms", "t8", None]},
            "maxPerHour": {"type": "integer", "minimum": 0, "maximum": 60},
            "serverInstance": {"type": ["integer", "null"]},
        },
    },
    "WakeState": {
        "type": "object",
        "required": ["mode", "channel", "maxPerHour", "serverInstance", "paths", "pending"],
        "properties": {
            "mode": {"enum": ["trigger", "wait"]},
            "channel": {"enum": ["sms", "t8", None]},
            "maxPerHour": {"type": "integer"},
            "serverInstance": {"type": ["integer", "null"]},
            "paths": {"type": "array", "items": OBJECT},
            "sentLastHour": {"type": "integer"},
            "pending": nullable(OBJECT),
        },
    },
    "WakeSent": {
        "type": "object",
        "required": ["channel", "to", "serverInstance", "payload"],
        "properties": {
            "channel": {"enum": ["sms", "t8"]},
            "to": STRING,
            "serverInstance": {"type": ["integer", "null"]},
            "payload": {"type": "string", "description": "the CoAP trigger in hex"},
            "transaction": STRING,
        },
    },
    "Credential": {
        "type": "object",
        "required": ["endpoint", "mode", "hasKey"],
        "properties": {
            "endpoint": STRING,
            "mode": {"enum": ["psk", "oscore"]},
            "identity": STRING,
            "senderId": STRING,
            "recipientId": STRING,
            "idContext": STRING,
            "hasKey": {"const": True},
        },
    },
    "CredentialBody": {
        "oneOf": [
            {
                "type": "object",
                "required": ["mode", "identity", "key"],
                "properties": {
                    "mode": {"const": "psk"},
                    "identity": STRING,
                    "key": {"type": "string", "description": "the PSK in hex"},
                },
            },
            {
                "type": "object",
                "required": ["mode", "masterSecret", "senderId", "recipientId"],
                "properties": {
                    "mode": {"const": "oscore"},
                    "masterSecret": STRING,
                    "senderId": STRING,
                    "recipientId": STRING,
                    "masterSalt": STRING,
                    "idContext": STRING,
                },
            },
        ]
    },
    "NiddDevice": {
        "type": "object",
        "required": ["address"],
        "properties": {
            "address": STRING,
            "status": ANY,
            "configuration": ANY,
            "maximumPacketSize": {"type": ["integer", "null"]},
            "held": {"type": "integer"},
            "reachability": ANY,
            "endpoint": {"type": ["string", "null"]},
        },
    },
    "ObjectSummary": {
        "type": "object",
        "required": ["id", "name", "multiple", "mandatory", "version", "lwm2mVersion", "urn"],
        "properties": {
            "id": {"type": "integer"},
            "name": STRING,
            "multiple": {"type": "boolean"},
            "mandatory": {"type": "boolean"},
            "version": STRING,
            "lwm2mVersion": STRING,
            "urn": STRING,
        },
    },
    "ObjectModel": {
        "allOf": [
            ref("ObjectSummary"),
            {
                "type": "object",
                "required": ["description", "resources"],
                "properties": {
                    "description": STRING,
                    "resources": {"type": "array", "items": OBJECT},
                },
            },
        ]
    },
    "FirmwarePackage": {
        "type": "object",
        "required": ["sha256", "size", "version", "model", "signature", "added"],
        "properties": {
            "sha256": STRING,
            "size": {"type": "integer"},
            "version": STRING,
            "model": STRING,
            "signature": {"type": ["string", "null"], "description": "base64"},
            "added": {"type": "number"},
        },
    },
    "DownloadUrl": {
        "type": "object",
        "required": ["url", "endpoint", "sha256", "expires", "usesLeft"],
        "properties": {
            "url": STRING,
            "endpoint": STRING,
            "sha256": STRING,
            "expires": {"type": "number"},
            "usesLeft": {"type": "integer"},
        },
    },
}
