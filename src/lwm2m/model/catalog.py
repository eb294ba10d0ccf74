"""Object definitions beyond the built-in ones: the OMA LwM2M registry shipped with the package,
and DDF files a user gives (``lwm2m server --models DIR``).

The registry holds over 300 objects (about 3 MB of XML) of which a server usually meets a few,
so nothing is parsed up front: ``registry/index.json``, written with the files by
``tools/refresh_oma_registry.py``, maps each object ID to its file and summary (what
``/api/models`` lists), and a file is parsed the first time its object is looked up.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path as FilePath
from typing import TypedDict

from lwm2m.model.builtin import BUILTIN_OBJECTS
from lwm2m.model.ddf import DdfError, load_ddf
from lwm2m.model.objects import ModelRegistry, ObjectModel, ObjectSummary

logger = logging.getLogger(__name__)

INDEX = "index.json"


class IndexEntry(TypedDict):
    """One object of ``index.json``: its file and the fields of its :class:`ObjectSummary`."""

    id: int
    file: str
    name: str
    multiple: bool
    mandatory: bool
    version: str
    lwm2mVersion: str
    urn: str


class DdfCatalog:
    """DDF files by object ID (one object per file), parsed on first :meth:`load`."""

    __slots__ = ("_files", "_loaded", "_root", "_summaries")

    def __init__(self, root: Traversable, entries: Iterable[IndexEntry]) -> None:
        self._root = root
        self._files: dict[int, str] = {}
        self._summaries: dict[int, ObjectSummary] = {}
        for entry in entries:
            summary = ObjectSummary(
                id=entry["id"],
                name=entry["name"],
                multiple=entry["multiple"],
                mandatory=entry["mandatory"],
                version=entry["version"],
                lwm2m_version=entry["lwm2mVersion"],
                urn=entry["urn"],
            )
            self._files[summary.id] = entry["file"]
            self._summaries[summary.id] = summary
        self._loaded: dict[int, ObjectModel] = {}

    @classmethod
    def open(cls, root: Traversable) -> DdfCatalog:
        """The catalog of a folder holding DDF files and their ``index.json`` (ours)."""
        entries: list[IndexEntry] = json.loads((root / INDEX).read_bytes())
        return cls(root, entries)

    def __contains__(self, object_id: int) -> bool:
        return object_id in self._files

    def load(self, object_id: int) -> ObjectModel | None:
        model = self._loaded.get(object_id)
        if model is None:
            file = self._files.get(object_id)
            if file is None:
                return None
            models = load_ddf((self._root / file).read_bytes())
            if [found.id for found in models] != [object_id]:
                raise DdfError(file, "<LWM2M>", f"the index says it defines object {object_id}")
            model = self._loaded[object_id] = models[0]
        return model

    def summaries(self) -> Iterable[ObjectSummary]:
        return self._summaries.values()


def index_of(directory: FilePath) -> list[IndexEntry]:
    """The ``index.json`` of a folder of DDF files named ``<ObjectID>.xml``."""
    return [
        IndexEntry(
            id=model.id,
            file=file.name,
            name=model.name,
            multiple=model.multiple,
            mandatory=model.mandatory,
            version=model.version,
            lwm2mVersion=model.lwm2m_version,
            urn=model.urn,
        )
        for file, model in _numbered_files(directory)
    ]


def _numbered_files(directory: FilePath) -> Iterator[tuple[FilePath, ObjectModel]]:
    files = [file for file in directory.glob("*.xml") if file.stem.isdigit()]
    for file in sorted(files, key=lambda file: int(file.stem)):
        models = load_ddf(file)
        if [model.id for model in models] != [int(file.stem)]:
            raise DdfError(str(file), "<LWM2M>", "does not define exactly the object it is named")
        yield file, models[0]


@functools.cache
def oma_registry() -> DdfCatalog:
    """The OMA registry's objects shipped in ``lwm2m/model/registry`` (one per process)."""
    return DdfCatalog.open(resources.files("lwm2m.model").joinpath("registry"))


def default_models() -> ModelRegistry:
    """The built-in objects, then every other object of the OMA registry, each loaded when
    first looked up; a new registry per call, so callers may add their own."""
    return ModelRegistry(BUILTIN_OBJECTS, fallback=oma_registry())


def add_ddf_files(models: ModelRegistry, source: str | os.PathLike[str]) -> list[ObjectModel]:
    """Add the objects of a DDF file, or of every ``*.xml`` in a folder in name order; a
    definition replaces the one known before (a log line says which).  DdfError or OSError
    for a file that is not a DDF or cannot be read."""
    path = FilePath(source)
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise DdfError(str(path), "folder", "no *.xml DDF file in it")
    added: list[ObjectModel] = []
    for file in files:
        for model in load_ddf(file):
            previous = models.get(model.id)
            if previous is not None:
                logger.info(
                    "%s: object %d %r %s replaces %r %s",
                    file,
                    model.id,
                    model.name,
                    model.version,
                    previous.name,
                    previous.version,
                )
            models.add(model)
            added.append(model)
    return added
