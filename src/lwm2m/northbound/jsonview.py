"""Everything the northbound interfaces send (REST, server-sent events, MQTT, NATS), as JSON
that any parser accepts.

Values come from devices, so any of them can be what JSON has no literal for, and one such
value must neither fail a REST answer nor end every open event stream.  The representation
(README, "REST API details"):

- non-finite floats: the strings ``"nan"``, ``"inf"``, ``"-inf"`` (the flat JSON view's
  spelling, :func:`lwm2m.codec.flat_json.value_to_json`), never the invalid ``NaN`` literal;
- integers: JSON numbers, exact in the text up to 2^64-1 (JavaScript's ``JSON.parse`` rounds
  those past 2^53, other parsers keep them); beyond 64 bits, which no LwM2M value reaches,
  decimal strings;
- opaque bytes: base64; object links: ``"o:i"``;
- a string holding a lone surrogate (which UTF-8 cannot carry): each one replaced by U+FFFD;
- anything else: its ``str()``.

A peer (the ``address`` of a registration) is ``{"transport": "U"|"T"|"N", "secure": bool,
"address": "host:port"}`` whatever carries it: UDP, DTLS, TCP or TLS; over NIDD the address
is the external identifier (``dev@domain``) or ``msisdn:NUMBER``, over SMS (``"S"``) the
MSISDN.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from lwm2m.coap.codes import Code
from lwm2m.coap.events import Peer
from lwm2m.codec.flat_json import values_to_json
from lwm2m.model import ObjectLink, Path, node_to_values
from lwm2m.operations import (
    CreatedResponse,
    EmptyResponse,
    ErrorResponse,
    LinksResponse,
    NodeResponse,
    Response,
    ValuesResponse,
)
from lwm2m.server import ServerEvent
from lwm2m.server.registration import Registration
from lwm2m.transport.dtls import DtlsPeer
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.sms.binding import SmsPeer
from lwm2m.transport.tcp import StreamPeer

_NON_FINITE = {math.inf: "inf", -math.inf: "-inf"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def jsonable(value: object) -> Any:
    """``value`` with every part JSON can carry as it is and the rest as the module says."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else _big(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE.get(value, "nan")
    if isinstance(value, Mapping):
        return {_key(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, ObjectLink):
        return str(value)
    return _text(str(value))


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""Built once: ``json.dumps`` with options builds an encoder per call (half its cost)."""


def dumps(value: object) -> str:
    """Compact JSON of :func:`jsonable` (one line: no raw line break survives escaping)."""
    return _ENCODER.encode(jsonable(value))


def describe_peer(peer: Peer) -> dict[str, object]:
    """One shape for a device's address over every transport (transport as the LwM2M
    binding letter)."""
    if isinstance(peer, DtlsPeer):
        return {"transport": "U", "secure": True, "address": _host_port(peer.address)}
    if isinstance(peer, StreamPeer):
        secure = peer.identity is not None  # TLS-PSK always names an identity
        return {"transport": "T", "secure": secure, "address": _host_port(peer.address)}
    if isinstance(peer, tuple) and len(peer) >= 2:
        return {"transport": "U", "secure": False, "address": _host_port(peer)}
    if isinstance(peer, NiddPeer):
        return {"transport": "N", "secure": False, "address": str(peer)}
    if isinstance(peer, SmsPeer):
        return {"transport": "S", "secure": False, "address": peer.msisdn}
    return {"transport": None, "secure": False, "address": str(peer)}


def registration_json(registration: Registration) -> dict[str, object]:
    return {**registration.to_json(), "address": describe_peer(registration.address)}


def event_json(event: ServerEvent) -> dict[str, object]:
    """The event's JSON with registrations' addresses as :func:`describe_peer` gives them."""
    data = event.to_json()
    for key in ("registration", "previous"):
        registration, shown = getattr(event, key, None), data.get(key)
        if isinstance(registration, Registration) and isinstance(shown, dict):
            data[key] = {**shown, "address": describe_peer(registration.address)}
    return data


def answer_json(
    answer: Response, path: Path | None = None, *, success: Code = Code.CHANGED
) -> dict[str, object]:
    """A device's answer, success or CoAP error, with its CoAP code in ``"status"``;
    ``success`` is the code an empty success stands for, ``path`` what a node was read at."""
    match answer:
        case ErrorResponse(code=code, message=message):
            return {"status": code.dotted, "message": message}
        case NodeResponse(node=node, content_format=content_format) if path is not None:
            return _content(content_format, values_to_json(node_to_values(path, node)))
        case ValuesResponse(values=values, content_format=content_format):
            return _content(content_format, values_to_json(values))
        case LinksResponse(links=links):
            return {"status": Code.CONTENT.dotted, "links": [link.to_json() for link in links]}
        case CreatedResponse(location=location):
            return {
                "status": Code.CREATED.dotted,
                "location": None if location is None else str(location),
            }
        case EmptyResponse():
            return {"status": success.dotted}
        case _:
            raise TypeError(f"unexpected answer {type(answer).__name__}")


def _content(content_format: int | None, values: object) -> dict[str, object]:
    return {"status": Code.CONTENT.dotted, "contentFormat": content_format, "values": values}


def _host_port(address: tuple[Any, ...]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _text(text: str) -> str:
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _big(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # past Python's 4300-digit conversion limit
        return hex(value)


def _key(key: object) -> str:
    return _text(key) if isinstance(key, str) else str(jsonable(key))
