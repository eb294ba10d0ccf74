"""Object and resource definitions (what a DDF file describes) and a registry of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from lwm2m.model.path import Path
from lwm2m.model.values import ResourceType


class Operations(Enum):
    """Operations a resource allows; NONE is what the Security and OSCORE objects declare."""

    NONE = ""
    R = "R"
    W = "W"
    RW = "RW"
    E = "E"

    @property
    def readable(self) -> bool:
        return "R" in self.value

    @property
    def writable(self) -> bool:
        return "W" in self.value

    @property
    def executable(self) -> bool:
        return self is Operations.E


@dataclass(frozen=True, slots=True)
class ResourceModel:
    id: int
    name: str
    operations: Operations
    multiple: bool
    mandatory: bool
    type: ResourceType
    range: str = ""
    units: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class ObjectModel:
    id: int
    name: str
    multiple: bool
    mandatory: bool
    resources: Mapping[int, ResourceModel] = field(default_factory=dict)
    version: str = "1.0"
    lwm2m_version: str = "1.0"
    urn: str = ""
    description: str = ""

    def resource(self, resource_id: int) -> ResourceModel | None:
        return self.resources.get(resource_id)


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """What lists of objects show, known without parsing an object's definition."""

    id: int
    name: str
    multiple: bool
    mandatory: bool
    version: str = "1.0"
    lwm2m_version: str = "1.0"
    urn: str = ""

    @classmethod
    def of(cls, model: ObjectModel) -> ObjectSummary:
        return cls(
            model.id,
            model.name,
            model.multiple,
            model.mandatory,
            model.version,
            model.lwm2m_version,
            model.urn,
        )


class ModelSource(Protocol):
    """Definitions a registry falls back on, loaded only when an object is first asked for."""

    def __contains__(self, object_id: int) -> bool: ...

    def load(self, object_id: int) -> ObjectModel | None: ...

    def summaries(self) -> Iterable[ObjectSummary]: ...


class ModelRegistry:
    """Object models by ID (one version per object: the one this device or server speaks).

    Models added win over the ``fallback`` (e.g. the OMA registry shipped with the package,
    :func:`lwm2m.model.catalog.default_models`), whose definitions are loaded, and then kept,
    the first time an object ID is looked up.
    """

    __slots__ = ("_fallback", "_objects")

    def __init__(
        self, models: Iterable[ObjectModel] = (), *, fallback: ModelSource | None = None
    ) -> None:
        self._objects: dict[int, ObjectModel] = {}
        self._fallback = fallback
        for model in models:
            self.add(model)

    def add(self, model: ObjectModel) -> None:
        """Add or replace the model of ``model.id`` (the fallback's too)."""
        self._objects[model.id] = model

    def get(self, object_id: int) -> ObjectModel | None:
        model = self._objects.get(object_id)
        if model is None and self._fallback is not None:
            model = self._fallback.load(object_id)
            if model is not None:
                self._objects[object_id] = model
        return model

    def resource(self, path: Path) -> ResourceModel | None:
        """The resource model for a resource or resource-instance path, if known."""
        if path.depth < 3:
            return None
        obj = self.get(path.ids[0])
        return obj.resources.get(path.ids[2]) if obj is not None else None

    def is_multiple(self, object_id: int, resource_id: int) -> bool:
        obj = self.get(object_id)
        resource = obj.resources.get(resource_id) if obj is not None else None
        return resource is not None and resource.multiple

    def summaries(self) -> list[ObjectSummary]:
        """Every object known, by ID, without loading the fallback's definitions."""
        known = {model.id: ObjectSummary.of(model) for model in self._objects.values()}
        if self._fallback is not None:
            for summary in self._fallback.summaries():
                known.setdefault(summary.id, summary)
        return [known[object_id] for object_id in sorted(known)]

    def __contains__(self, object_id: int) -> bool:
        return object_id in self._objects or (
            self._fallback is not None and object_id in self._fallback
        )

    def __iter__(self) -> Iterator[ObjectModel]:
        """Every model, the fallback's included (which loads them all)."""
        for summary in self.summaries():
            model = self.get(summary.id)
            if model is not None:
                yield model

    def __len__(self) -> int:
        if self._fallback is None:
            return len(self._objects)
        return len(self._objects.keys() | {summary.id for summary in self._fallback.summaries()})
