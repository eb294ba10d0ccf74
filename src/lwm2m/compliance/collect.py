"""Gather a device's :class:`~lwm2m.compliance.checker.DeviceData` from a running server.

One collector, two sources: :class:`ServerSource` asks an :class:`~lwm2m.server.LwM2MServer`
in the same process, :class:`RestSource` asks one through its REST API with only the standard
library (``lwm2m check --server URL`` needs nothing else).  Per profile object the device
registered, one Discover (which resources exist, with their attributes) and one Read (their
values), one request at a time: a constrained device handles one exchange at a time anyway.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Protocol

from lwm2m.codec.errors import CodecError
from lwm2m.codec.flat_json import values_from_json
from lwm2m.codec.link import Link
from lwm2m.compliance.checker import DeviceData
from lwm2m.compliance.profile import OBJECTS, ObjectRequirement
from lwm2m.model import ModelRegistry, Path, PathError, Value, node_to_values
from lwm2m.model.builtin import builtin_models
from lwm2m.operations import ErrorResponse, LinksResponse, NodeResponse, Response
from lwm2m.server import (
    LwM2MServer,
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    TimerRuleViolated,
    UnknownEndpointError,
)

CHECKED_OBJECTS = frozenset(
    obj.object_id for obj in OBJECTS if obj.telekom is not ObjectRequirement.NOT_REQUIRED
)


class CollectError(Exception):
    """The check cannot be made: no server, no such registration; the message says which."""


class ObjectUnavailableError(Exception):
    """One Discover or Read gave no usable answer; the check goes on without it."""


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    lwm2m_version: str
    binding: str
    queue_mode: bool
    lifetime: int
    object_links: tuple[Path, ...]
    timer_violations: tuple[TimerRuleViolated, ...] = ()
    """The timer rules the server saw broken (its TimerRuleViolated events still true)."""


class Source(Protocol):
    """Where the data comes from: CollectError ends the check (no server, no registration),
    ObjectUnavailableError from discover or read only marks that object."""

    async def registration(self, endpoint: str) -> RegistrationInfo: ...

    async def discover(self, endpoint: str, object_id: int) -> list[Link]: ...

    async def read(self, endpoint: str, object_id: int) -> dict[Path, Value]: ...


async def collect(source: Source, endpoint: str) -> DeviceData:
    """Everything the checker needs; CollectError when the endpoint is not (or no longer)
    registered or the server cannot be reached."""
    reg = await source.registration(endpoint)
    links: dict[Path, Mapping[str, str | None]] = {}
    values: dict[Path, Value] = {}
    unavailable: dict[int, str] = {}
    registered = sorted({p.object_id for p in reg.object_links if p.object_id is not None})
    for object_id in (oid for oid in registered if oid in CHECKED_OBJECTS):
        problems = []
        try:
            for link in await source.discover(endpoint, object_id):
                path = _link_path(link.target)
                if path is not None:
                    links[path] = dict(link.attributes)
        except ObjectUnavailableError as exc:
            problems.append(f"Discover: {exc}")
        try:
            values |= await source.read(endpoint, object_id)
        except ObjectUnavailableError as exc:
            problems.append(f"Read: {exc}")
        if problems:
            unavailable[object_id] = "; ".join(problems)
    return DeviceData(
        endpoint=endpoint,
        lwm2m_version=reg.lwm2m_version,
        binding=reg.binding,
        queue_mode=reg.queue_mode,
        lifetime=reg.lifetime,
        object_links=reg.object_links,
        links=links,
        values=values,
        unavailable=unavailable,
        timer_violations=reg.timer_violations,
    )


def _link_path(target: str) -> Path | None:
    """An LwM2M path from a link target; None for the root link ``</>;rt=...`` and others."""
    try:
        path = Path.parse(target)
    except PathError:
        return None
    return None if path.is_root else path


class ServerSource:
    """Ask an :class:`LwM2MServer` running in this event loop."""

    def __init__(self, server: LwM2MServer, *, timeout: float | None = None) -> None:
        self._server = server
        self._timeout = timeout

    async def registration(self, endpoint: str) -> RegistrationInfo:
        reg = self._server.registrations.get(endpoint)
        if reg is None:
            raise CollectError(f"no registration for endpoint {endpoint!r}")
        paths = (_link_path(link.target) for link in reg.object_links)
        return RegistrationInfo(
            reg.lwm2m_version,
            reg.binding,
            reg.queue_mode,
            reg.lifetime,
            tuple(p for p in paths if p is not None),
            self._server.timer_violations(endpoint),
        )

    async def discover(self, endpoint: str, object_id: int) -> list[Link]:
        request = self._server.discover(endpoint, Path.of(object_id), timeout=self._timeout)
        answer = await _ask(request)
        if isinstance(answer, LinksResponse):
            return list(answer.links)
        raise ObjectUnavailableError(_refusal(answer))

    async def read(self, endpoint: str, object_id: int) -> dict[Path, Value]:
        path = Path.of(object_id)
        answer = await _ask(self._server.read(endpoint, path, timeout=self._timeout))
        if isinstance(answer, NodeResponse):
            return node_to_values(path, answer.node)
        raise ObjectUnavailableError(_refusal(answer))


async def _ask(request: Awaitable[Response]) -> Response:
    try:
        return await request
    except UnknownEndpointError as exc:
        raise CollectError(str(exc)) from None
    except RequestTimeoutError:
        raise ObjectUnavailableError("no answer") from None
    except (RequestFailedError, QueueFullError) as exc:
        raise ObjectUnavailableError(str(exc) or type(exc).__name__) from None


def _refusal(answer: Response) -> str:
    if isinstance(answer, ErrorResponse):
        return f"{answer.code.dotted} {answer.message}".strip()
    return f"unexpected answer {type(answer).__name__}"


class RestSource:
    """Ask a server through its REST API (``GET /api/clients/{ep}``, ``.../{o}/discover``,
    ``.../{o}``) with urllib, in a worker thread so the event loop stays free."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        token: str | None = None,
        models: ModelRegistry | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._models = models or builtin_models()

    async def registration(self, endpoint: str) -> RegistrationInfo:
        try:
            body = await self._get(endpoint, "")
        except ObjectUnavailableError as exc:
            raise CollectError(f"{self._base}: {exc}") from None
        try:
            links = body["objectLinks"]
            lifetime = body["lifetime"]
            if not isinstance(links, list) or not isinstance(lifetime, int):
                raise TypeError("objectLinks or lifetime of the wrong type")
            paths = (_link_path(str(link["target"])) for link in links)
            return RegistrationInfo(
                str(body["lwm2mVersion"]),
                str(body["binding"]),
                bool(body["queueMode"]),
                lifetime,
                tuple(p for p in paths if p is not None),
                _violations(body.get("timerRuleViolations", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CollectError(f"{self._base}: not an LwM2M registration ({exc})") from None

    async def discover(self, endpoint: str, object_id: int) -> list[Link]:
        body = _answer(await self._get(endpoint, f"/{object_id}/discover"), "links")
        links = body["links"]
        try:
            if not isinstance(links, list):
                raise TypeError("not a list")
            return [Link(link["target"], link["attributes"]) for link in links]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ObjectUnavailableError(f"malformed links ({exc})") from None

    async def read(self, endpoint: str, object_id: int) -> dict[Path, Value]:
        body = _answer(await self._get(endpoint, f"/{object_id}"), "values")
        try:
            return values_from_json(body["values"], self._models)
        except CodecError as exc:
            raise ObjectUnavailableError(str(exc)) from None

    async def _get(self, endpoint: str, suffix: str) -> dict[str, object]:
        url = f"{self._base}/api/clients/{urllib.parse.quote(endpoint, safe=':')}{suffix}"
        return await asyncio.to_thread(self._fetch, url, endpoint)

    def _fetch(self, url: str, endpoint: str) -> dict[str, object]:
        request = urllib.request.Request(url, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            message = _message(exc)
            if exc.code == 404:
                raise CollectError(f"no registration for endpoint {endpoint!r}") from None
            if exc.code in (401, 403):
                raise CollectError(f"{self._base}: HTTP {exc.code} {message}".strip()) from None
            raise ObjectUnavailableError(f"HTTP {exc.code} {message}".strip()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CollectError(f"cannot reach {self._base}: {reason}") from None
        except ValueError:
            raise CollectError(f"{url}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise CollectError(f"{url}: the answer is not a JSON object")
        return body


def _violations(listed: object) -> tuple[TimerRuleViolated, ...]:
    """The device JSON's ``timerRuleViolations`` (absent from servers without timer rules)."""
    if not isinstance(listed, list):
        raise TypeError("timerRuleViolations is not a list")
    return tuple(
        TimerRuleViolated(
            str(item["endpoint"]),
            int(item["rule"]),
            str(item["comparison"]),
            str(item["scope"]),
            str(item["detail"]),
        )
        for item in listed
    )


def _answer(body: dict[str, object], key: str) -> dict[str, object]:
    """A device's answer relayed by the REST API: 2.05 with ``key``, or the CoAP error."""
    if body.get("status") != "2.05" or key not in body:
        raise ObjectUnavailableError(f"{body.get('status')} {body.get('message', '')}".strip())
    return body


def _message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.load(error)
    except (ValueError, OSError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""
