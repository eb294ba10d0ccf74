"""``GET /api/clients`` at fleet size: filters, an order, and pages behind an opaque cursor.

A cursor is the sort key of the last device of a page, so the next page starts right after it
even when devices register or leave in between (no offset that shifts).  One page costs one
pass over the registrations and a heap of ``limit`` entries: no sorted copy of the fleet.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from lwm2m.server.registration import Registration
from lwm2m.web.inputs import bad_request

MAX_PAGE = 1000
"""Largest ``limit``."""

QUERY_NAMES = ("limit", "cursor", "binding", "version", "queueMode", "q", "sort")

_KEYS: dict[str, Callable[[Registration], str | float]] = {
    "endpoint": lambda r: r.endpoint,
    "registeredAt": lambda r: r.registered_at,
    "lastSeen": lambda r: r.last_seen,
}
SORT_KEYS = frozenset([*_KEYS, *(f"-{name}" for name in _KEYS)])
"""``sort`` values: a field, ``-`` before it for descending order."""

SortKey = tuple[str | float, str]


@dataclass(frozen=True, slots=True)
class ClientQuery:
    """What one listing asks for (already checked)."""

    limit: int | None = None
    after: SortKey | None = None
    binding: str | None = None
    version: str | None = None
    queue_mode: bool | None = None
    text: str | None = None
    sort: str = "endpoint"

    @classmethod
    def parse(cls, params: QueryParams) -> ClientQuery:
        """The query parameters (each at most once, see :class:`lwm2m.web.inputs.Query`)."""
        sort = params.get("sort", "endpoint")
        if sort not in SORT_KEYS:
            raise bad_request(f"sort must be one of {', '.join(sorted(SORT_KEYS))}")
        limit = params.get("limit")
        if limit is not None and not (
            limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_PAGE
        ):
            raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE}")
        queue_mode = params.get("queueMode")
        if queue_mode not in (None, "true", "false"):
            raise bad_request("queueMode must be true or false")
        cursor = params.get("cursor")
        return cls(
            limit=None if limit is None else int(limit),
            after=None if cursor is None else _decode_cursor(cursor, sort),
            binding=params.get("binding"),
            version=params.get("version"),
            queue_mode=None if queue_mode is None else queue_mode == "true",
            text=None if params.get("q") is None else params["q"].casefold(),
            sort=sort,
        )

    def matches(self, registration: Registration) -> bool:
        return (
            (self.binding is None or all(c in registration.binding for c in self.binding))
            and (self.version is None or registration.lwm2m_version == self.version)
            and (self.queue_mode is None or registration.queue_mode == self.queue_mode)
            and (self.text is None or self.text in registration.endpoint.casefold())
        )


@dataclass(frozen=True, slots=True)
class Page:
    devices: list[Registration]
    total: int  # devices matching the filters, on every page
    cursor: str | None  # of the next page; None on the last


def list_page(registrations: Iterable[Registration], query: ClientQuery) -> Page:
    descending = query.sort.startswith("-")
    field = _KEYS[query.sort.lstrip("-")]

    def key(registration: Registration) -> SortKey:
        return field(registration), registration.endpoint

    matching = [r for r in registrations if query.matches(r)]
    after = query.after
    rest = matching
    if after is not None:
        rest = [r for r in matching if (key(r) < after if descending else key(r) > after)]
    if query.limit is None:
        return Page(sorted(rest, key=key, reverse=descending), len(matching), None)
    pick = heapq.nlargest if descending else heapq.nsmallest
    chosen = pick(query.limit + 1, rest, key=key)
    if len(chosen) <= query.limit:
        return Page(chosen, len(matching), None)
    del chosen[query.limit :]
    return Page(chosen, len(matching), _encode_cursor(query.sort, key(chosen[-1])))


def _encode_cursor(sort: str, key: SortKey) -> str:
    text = json.dumps([sort, *key], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> SortKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad_request("cursor: not a cursor this server gave") from None
    if not (isinstance(decoded, list) and len(decoded) == 3 and decoded[0] == sort):
        raise bad_request("cursor: not a cursor of this sort order")
    _, value, endpoint = decoded
    kind = str if sort.lstrip("-") == "endpoint" else (int, float)
    if not isinstance(endpoint, str) or not isinstance(value, kind) or isinstance(value, bool):
        raise bad_request("cursor: not a cursor this server gave")
    return value, endpoint
