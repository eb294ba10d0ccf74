"""Object and resource definitions (what a DDF file describes) and a registry of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

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


class ModelRegistry:
    """Object models by ID (one version per object: the one this device or server speaks)."""

    __slots__ = ("_objects",)

    def __init__(self, models: Iterable[ObjectModel] = ()) -> None:
        self._objects: dict[int, ObjectModel] = {}
        for model in models:
            self.add(model)

    def add(self, model: ObjectModel) -> None:
        self._objects[model.id] = model

    def get(self, object_id: int) -> ObjectModel | None:
        return self._objects.get(object_id)

    def resource(self, path: Path) -> ResourceModel | None:
        """The resource model for a resource or resource-instance path, if known."""
        if path.depth < 3:
            return None
        obj = self._objects.get(path.ids[0])
        return obj.resources.get(path.ids[2]) if obj is not None else None

    def is_multiple(self, object_id: int, resource_id: int) -> bool:
        obj = self._objects.get(object_id)
        resource = obj.resources.get(resource_id) if obj is not None else None
        return resource is not None and resource.multiple

    def __contains__(self, object_id: int) -> bool:
        return object_id in self._objects

    def __iter__(self) -> Iterator[ObjectModel]:
        return iter(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)
