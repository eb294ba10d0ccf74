"""LwM2M paths: ``/``, ``/o``, ``/o/i``, ``/o/i/r`` and ``/o/i/r/ri``."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ID = 65535
"""Object, instance, resource and resource-instance IDs are 16-bit unsigned (Core 7.1)."""

MAX_DEPTH = 4


class PathError(ValueError):
    """A path string or ID sequence that does not name an LwM2M node."""


@dataclass(frozen=True, slots=True, order=True)
class Path:
    """An LwM2M node address; ordering is tree order, so a parent sorts before its children."""

    ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.ids) > MAX_DEPTH:
            raise PathError(f"path {self.ids!r} is deeper than /o/i/r/ri")
        for node_id in self.ids:
            if not 0 <= node_id <= MAX_ID:
                raise PathError(f"path ID {node_id} is outside 0..{MAX_ID}")

    @classmethod
    def of(cls, *ids: int) -> Path:
        return cls(tuple(ids))

    @classmethod
    def parse(cls, text: str) -> Path:
        """Parse ``/3/0/1``; the root is ``/``; empty segments are refused."""
        if not text.startswith("/"):
            raise PathError(f"path {text!r} does not start with '/'")
        if text == "/":
            return ROOT
        parts = text[1:].split("/")
        ids: list[int] = []
        for part in parts:
            if not part.isdigit() or not part.isascii() or (len(part) > 1 and part[0] == "0"):
                raise PathError(f"path {text!r}: segment {part!r} is not a decimal ID")
            ids.append(int(part))
        return cls(tuple(ids))

    @classmethod
    def from_segments(cls, segments: tuple[str, ...] | list[str]) -> Path:
        """Build a path from CoAP Uri-Path segments (none: the root)."""
        return cls.parse("/" + "/".join(segments)) if segments else ROOT

    def __str__(self) -> str:
        return "/" + "/".join(str(i) for i in self.ids)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"

    @property
    def depth(self) -> int:
        return len(self.ids)

    @property
    def is_root(self) -> bool:
        return not self.ids

    @property
    def is_object(self) -> bool:
        return len(self.ids) == 1

    @property
    def is_instance(self) -> bool:
        return len(self.ids) == 2

    @property
    def is_resource(self) -> bool:
        return len(self.ids) == 3

    @property
    def is_resource_instance(self) -> bool:
        return len(self.ids) == 4

    @property
    def object_id(self) -> int | None:
        return self.ids[0] if len(self.ids) > 0 else None

    @property
    def instance_id(self) -> int | None:
        return self.ids[1] if len(self.ids) > 1 else None

    @property
    def resource_id(self) -> int | None:
        return self.ids[2] if len(self.ids) > 2 else None

    @property
    def resource_instance_id(self) -> int | None:
        return self.ids[3] if len(self.ids) > 3 else None

    @property
    def parent(self) -> Path:
        if not self.ids:
            raise PathError("the root path has no parent")
        return Path(self.ids[:-1])

    def child(self, node_id: int) -> Path:
        return Path((*self.ids, node_id))

    def startswith(self, prefix: Path) -> bool:
        """True when this path is ``prefix`` or lies under it."""
        return self.ids[: len(prefix.ids)] == prefix.ids

    @property
    def segments(self) -> tuple[str, ...]:
        """The CoAP Uri-Path segments for this path."""
        return tuple(str(i) for i in self.ids)


ROOT = Path(())
