"""Commands from a broker: read, write, execute and observe on a device, through the
:class:`~lwm2m.server.LwM2MServer` API, allowed per endpoint and operation (docs/northbound.md).

A request is the JSON object on ``lwm2m/{ep}/req/{op}``::

    {"path": "/3/0/1"}                                          read, observe
    {"path": "/1/0", "values": {"/1/0/3": 60}, "partial": true}  write (partial: POST, else PUT)
    {"path": "/3/0/4", "args": "0='now'"}                        execute
    "timeout": seconds (optional, every operation)

The answer is what the REST API answers for the same request
(:func:`~lwm2m.northbound.jsonview.answer_json`: ``"status"`` is the device's CoAP code), or
``{"error": kind, "message": ...}`` when there is no answer from the device: ``forbidden``
(not on the allow-list), ``bad-request``, ``unknown-endpoint``, ``queue-full``, ``timeout``,
``failed``.  Commands are off unless an allow rule names the endpoint and the operation.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from lwm2m.codec.errors import CodecError
from lwm2m.codec.flat_json import values_from_json
from lwm2m.model import Path, Value
from lwm2m.northbound.jsonview import answer_json
from lwm2m.operations import OperationUsageError
from lwm2m.operations import Response as DeviceAnswer
from lwm2m.server import LwM2MServer
from lwm2m.server.errors import (
    QueueFullError,
    RequestFailedError,
    RequestTimeoutError,
    UnknownEndpointError,
)

logger = logging.getLogger(__name__)

OPERATIONS = ("read", "write", "execute", "observe")
MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class AllowRule:
    """Endpoints matching ``pattern`` (shell-style: ``*``, ``?``, ``[...]``) may be sent
    ``operations``."""

    pattern: str
    operations: frozenset[str]

    @classmethod
    def parse(cls, spec: str) -> AllowRule:
        """``PATTERN=OP[,OP...]`` (``*`` for every operation), e.g. ``sensor-*=read,observe``."""
        pattern, equals, names = spec.rpartition("=")
        if not equals or not pattern:
            raise ValueError(f"{spec!r:.80}: expected PATTERN=OPERATION[,OPERATION...]")
        operations = {name.strip() for name in names.split(",")}
        if operations == {"*"}:
            operations = set(OPERATIONS)
        unknown = operations - set(OPERATIONS)
        if unknown:
            raise ValueError(
                f"{spec!r:.80}: unknown operation {sorted(unknown)[0]!r}"
                f" (one of {', '.join(OPERATIONS)}, or *)"
            )
        return cls(pattern, frozenset(operations))

    def allows(self, endpoint: str, operation: str) -> bool:
        return operation in self.operations and fnmatch.fnmatchcase(endpoint, self.pattern)


class AllowList:
    """Which endpoints and operations a broker may command; empty: commands are off."""

    def __init__(self, rules: Iterable[AllowRule] = ()) -> None:
        self.rules = tuple(rules)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> AllowList:
        return cls(AllowRule.parse(spec) for spec in specs)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def allows(self, endpoint: str, operation: str) -> bool:
        return any(rule.allows(endpoint, operation) for rule in self.rules)


class CommandError(Exception):
    """A command that got no answer from the device; ``kind`` is its ``"error"``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Commands:
    """Runs commands against the server and says how each ended, as JSON."""

    def __init__(self, server: LwM2MServer, allow: AllowList) -> None:
        self._server = server
        self.allow = allow
        self.refused = 0
        self.executed = 0

    async def run(self, endpoint: str, operation: str, body: bytes) -> dict[str, object]:
        """The answer to one request (never raises for bad input or a failed request), with
        the endpoint, the operation and the request's ``correlationId``."""
        head: dict[str, object] = {"endpoint": endpoint, "operation": operation}
        try:
            request = parse_body(body)
            if "correlationId" in request:
                head["correlationId"] = request["correlationId"]
            if not self.allow.allows(endpoint, operation):
                self.refused += 1
                raise CommandError("forbidden", f"{operation} on {endpoint!r:.80} is not allowed")
            answer, path = await self._call(endpoint, operation, request)
        except CommandError as exc:
            return {**head, "error": exc.kind, "message": str(exc)}
        except (OperationUsageError, CodecError, ValueError) as exc:
            return {**head, "error": "bad-request", "message": str(exc)}
        except UnknownEndpointError as exc:
            return {**head, "error": "unknown-endpoint", "message": str(exc)}
        except QueueFullError as exc:
            return {**head, "error": "queue-full", "message": str(exc)}
        except RequestTimeoutError as exc:
            return {**head, "error": "timeout", "message": str(exc)}
        except RequestFailedError as exc:
            return {**head, "error": "failed", "message": str(exc)}
        self.executed += 1
        return {**head, **answer_json(answer, path)}

    async def _call(
        self, endpoint: str, operation: str, request: dict[str, object]
    ) -> tuple[DeviceAnswer, Path]:
        server = self._server
        path = _node_path(request.get("path"))
        timeout = _timeout(request.get("timeout"))
        if operation == "read":
            return await server.read(endpoint, path, timeout=timeout), path
        if operation == "observe":
            return await server.observe(endpoint, path, timeout=timeout), path
        if operation == "execute":
            args = request.get("args", "")
            if not isinstance(args, str):
                raise CommandError("bad-request", '"args" must be a string')
            return await server.execute(endpoint, path, args, timeout=timeout), path
        assert operation == "write"
        partial = request.get("partial", False)
        if not isinstance(partial, bool):
            raise CommandError("bad-request", '"partial" must be true or false')
        try:
            values = values_from_json(request.get("values"), server.models)
        except CodecError as exc:
            raise CommandError("bad-request", f"values: {exc.describe()}") from None
        if not values:
            raise CommandError("bad-request", '"values" must hold at least one value')
        keyed: dict[Path | str, Value] = {path: value for path, value in values.items()}
        answer = await server.write(endpoint, path, keyed, partial=partial, timeout=timeout)
        return answer, path


def parse_body(body: bytes) -> dict[str, object]:
    """A request's JSON object (empty body: ``{}``); CommandError for anything else."""
    if len(body) > MAX_REQUEST_BYTES:
        raise CommandError("bad-request", f"the request is over {MAX_REQUEST_BYTES} bytes")
    try:
        request = json.loads(body) if body else {}
    except (ValueError, RecursionError):
        raise CommandError("bad-request", "the request is not JSON") from None
    if not isinstance(request, dict):
        raise CommandError("bad-request", "the request must be a JSON object")
    return request


def _node_path(raw: object) -> Path:
    if not isinstance(raw, str):
        raise CommandError("bad-request", '"path" must be a string like "/3/0/1"')
    path = Path.parse(raw)
    if path.is_root:
        raise CommandError("bad-request", "the path must name an object, instance or resource")
    return path


def _timeout(raw: object) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 3600:
        raise CommandError("bad-request", '"timeout" must be seconds, above 0 and at most 3600')
    return float(raw)
