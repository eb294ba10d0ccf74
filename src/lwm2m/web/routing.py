"""Cheap route matching for a long route table.

Starlette tries each route in turn with a regular expression; a device Read, the most common
request, comes after twenty routes that cannot match it (``/wake-policy``, ``.../discover``...)
and paid about 2 µs for each refusal.  :class:`ScreenedRoute` first compares what a path
template fixes (the number of ``/``, the literal text before the first and after the last
parameter) and runs the expression only for paths that pass: the same routes match, in the
same order, and refusing one costs a few string operations.  :meth:`ScreenedRoute.takes_slashes`
lets a caller index routes by the number of ``/`` in a path (:mod:`lwm2m.web.fast_read`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

_PARAMETER = re.compile(r"{[^}]*}")


class ScreenedRoute(Route):
    """A :class:`Route` that refuses paths its template cannot match without a regex."""

    def __init__(self, route: Route) -> None:
        super().__init__(
            route.path,
            route.endpoint,
            methods=None if route.methods is None else list(route.methods),
            name=route.name,
            include_in_schema=route.include_in_schema,
        )
        template = route.path
        pieces = _PARAMETER.split(template)
        self._prefix, self._suffix = pieces[0], pieces[-1] if len(pieces) > 1 else ""
        self._exact = template if len(pieces) == 1 else None
        self.slashes = template.count("/")
        # a ``:path`` parameter may hold slashes: then the count is a minimum
        self._wide = ":path}" in template

    def takes_slashes(self, slashes: int) -> bool:
        """Whether a path with this many ``/`` can match."""
        return slashes >= self.slashes if self._wide else slashes == self.slashes

    def screens_out(self, path: str) -> bool:
        """Whether the template's fixed text rules ``path`` (with no root path) out."""
        if self._exact is not None:
            return path != self._exact
        return (
            not self.takes_slashes(path.count("/"))
            or not path.startswith(self._prefix)
            or not path.endswith(self._suffix)
        )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] == "http"
            and not scope.get("root_path")
            and self.screens_out(scope["path"])
        ):
            return Match.NONE, {}
        return super().matches(scope)


def screened(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """``routes`` with each plain :class:`Route` screened (mounts and others as they are)."""
    return [ScreenedRoute(route) if type(route) is Route else route for route in routes]
