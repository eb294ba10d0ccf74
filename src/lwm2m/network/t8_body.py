"""Reading T8 request bodies and writing T8 answers (TS 29.122 data types).

Every check names the offending attribute as a JSON pointer, and all of a body's problems are
reported together, in the ``invalidParams`` of one ``ProblemDetails`` (TS 29.122 5.2.7).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lwm2m.network.sims import EXTERNAL_ID, MSISDN

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer of the T8 API, independent of the web framework."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON


class T8Error(Exception):
    """A request the SCEF refuses: becomes a ``ProblemDetails`` reply."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        detail: str | None = None,
        cause: str | None = None,
        invalid: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.cause = cause
        self.invalid = invalid

    def problem(self) -> dict[str, Any]:
        problem: dict[str, Any] = {"title": self.title, "status": self.status}
        for key, value in (("detail", self.detail), ("cause", self.cause)):
            if value is not None:
                problem[key] = value
        if self.invalid:
            problem["invalidParams"] = self.invalid
        return problem

    def reply(self) -> Reply:
        return Reply(self.status, self.problem(), media_type=PROBLEM_JSON)


def not_found(what: str) -> T8Error:
    return T8Error(404, "Not Found", detail=f"no such {what}")


def iso_time(seconds: float) -> str:
    """A TS 29.122 DateTime (RFC 3339, UTC)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Body:
    """Typed reads of one JSON request body; problems collect until :meth:`check`."""

    def __init__(self, raw: object, *, prefix: str = "") -> None:
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        self.prefix = prefix
        self.invalid: list[dict[str, str]] = []
        if not isinstance(raw, dict):
            self.problem("", "must be a JSON object")

    def problem(self, name: str, reason: str) -> None:
        self.invalid.append({"param": f"{self.prefix}/{name}", "reason": reason})

    def check(self) -> None:
        if self.invalid:
            raise T8Error(400, "Bad Request", cause="INVALID_PARAMETERS", invalid=self.invalid)

    def has(self, name: str) -> bool:
        return name in self.raw and self.raw[name] is not None

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
        what: str = "a string",
    ) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.problem(name, "is required")
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            self.problem(name, f"must be {what}")
            return None
        return value

    def integer(
        self, name: str, *, required: bool = False, minimum: int = 0, maximum: int | None = None
    ) -> int | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.problem(name, "is required")
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            upper = "" if maximum is None else f" and at most {maximum}"
            self.problem(name, f"must be an integer of at least {minimum}{upper}")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is not None and not isinstance(value, bool):
            self.problem(name, "must be true or false")
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is not None and value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)} here")
            return None
        return value

    def link(self, name: str, *, required: bool = False) -> str | None:
        return self.string(
            name,
            required=required,
            pattern=re.compile(r"https?://[^\s]+"),
            what="an http(s) URI",
        )

    def time(self, name: str) -> float | None:
        value = self.string(name, what="an RFC 3339 date-time")
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.problem(name, "must be an RFC 3339 date-time")
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    def data(self, name: str, *, required: bool = False) -> bytes | None:
        value = self.string(name, required=required, what="base64 (format byte)")
        if value is None:
            return None
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.problem(name, "must be base64 (format byte)")
            return None

    def refuse(self, name: str, reason: str, *, unless: object = None) -> None:
        """An attribute this SCEF does not support (unless it has the harmless value)."""
        if self.has(name) and self.raw[name] != unless:
            self.problem(name, reason)

    def identity(self, *, groups: bool = True) -> tuple[str, str] | None:
        """Exactly one of externalId / msisdn (externalGroupId: groups are not supported)."""
        external_id = self.string("externalId", pattern=EXTERNAL_ID, what="local@domain")
        msisdn = self.string("msisdn", pattern=MSISDN, what="an MSISDN of 5 to 15 digits")
        if groups:
            self.refuse("externalGroupId", "group operations are not supported")
        if external_id is not None and msisdn is not None:
            self.problem("msisdn", "give externalId or msisdn, not both")
        elif external_id is not None:
            return ("externalId", external_id)
        elif msisdn is not None:
            return ("msisdn", msisdn)
        elif not self.invalid:
            self.problem("externalId", "externalId or msisdn is required")
        return None
