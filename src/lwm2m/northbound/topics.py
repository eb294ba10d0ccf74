"""The topic scheme shared by MQTT and NATS (docs/northbound.md) ◆.

A topic is a tuple of levels under ``lwm2m``; MQTT joins them with ``/``, NATS with ``.``.
The endpoint name is one level, so a character that is a separator or a wildcard in either
broker (``/ + # . * >``), whitespace, ``%`` itself and anything outside
``A-Z a-z 0-9 - _ : @ ~`` is percent-encoded from its UTF-8 bytes, uppercase hex.  One rule for
both brokers: a consumer computes the same token for MQTT and NATS, and
``urllib.parse.unquote`` reverses it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from lwm2m.model import Path

ROOT = "lwm2m"
COMPOSITE = "composite"
"""The level after ``notify`` for an Observe-Composite (never a path segment: those are digits)."""

REQUEST = "req"
RESPONSE = "res"

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-:@~]")


def escape_endpoint(endpoint: str) -> str:
    """The endpoint name as one topic level (see the module docstring)."""
    return _UNSAFE.sub(_percent, endpoint)


def unescape_endpoint(level: str) -> str:
    """The endpoint name a level stands for; ValueError if it is not one :func:`escape_endpoint`
    made (not canonical: another spelling would bypass a per-endpoint allow-list)."""
    endpoint = unquote(level, errors="strict")
    if escape_endpoint(endpoint) != level:
        raise ValueError(f"{level!r:.80} is not an escaped endpoint name")
    return endpoint


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogatepass"))


def topic_levels(endpoint: str, *levels: str) -> tuple[str, ...]:
    return (ROOT, escape_endpoint(endpoint), *levels)


def notify_levels(endpoint: str, target: Path | tuple[Path, ...]) -> tuple[str, ...]:
    """``lwm2m/{ep}/notify/3303/0/5700`` for one path, ``.../notify/composite`` for several."""
    if isinstance(target, Path):
        return topic_levels(endpoint, "notify", *(str(i) for i in target.ids))
    return topic_levels(endpoint, "notify", COMPOSITE)


def request_levels(endpoint: str, operation: str) -> tuple[str, ...]:
    return topic_levels(endpoint, REQUEST, operation)


def response_levels(endpoint: str, operation: str) -> tuple[str, ...]:
    return topic_levels(endpoint, RESPONSE, operation)


def parse_request(levels: tuple[str, ...]) -> tuple[str, str]:
    """``(endpoint, operation)`` of a request topic ``lwm2m/{ep}/req/{op}``; ValueError for
    anything else."""
    if len(levels) != 4 or levels[0] != ROOT or levels[2] != REQUEST:
        raise ValueError("not a request topic: lwm2m/{endpoint}/req/{operation}")
    return unescape_endpoint(levels[1]), levels[3]
