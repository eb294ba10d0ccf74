"""What every fuzz target holds its outputs to, past "no untyped exception".

A value that decodes must be one the model can hold, must show in the flat JSON view the REST
API and server-sent events use (``json.dumps(..., allow_nan=False)``, UTF-8) and come back
from it, and must survive a real :class:`~lwm2m.storage.sqlite.SqliteStore` (history ``add``,
flush, query).  Nothing may be logged with a traceback: the cores catch what they did not
expect and log it, which would otherwise hide a crash from the fuzzer.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path as FilePath

from lwm2m.codec.flat_json import values_from_json, values_to_json
from lwm2m.codec.values import infer_type
from lwm2m.model import ROOT, ModelRegistry, ObjectLink, Path, ResourceType, Value
from lwm2m.model.values import value_problem
from lwm2m.storage.sqlite import SqliteStore


class OracleError(AssertionError):
    """An oracle's verdict: the input made the code under test do something wrong."""


# -- values ------------------------------------------------------------------------------------

Canonical = tuple[str, object]


def canonical(value: Value) -> Canonical:
    """A value as something ``==`` compares faithfully (NaN equals NaN, 1 is not 1.0 or True)."""
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def canonical_values(values: Mapping[Path, Value]) -> dict[Path, Canonical]:
    return {path: canonical(value) for path, value in values.items()}


def check_model(values: Mapping[Path, Value], models: ModelRegistry) -> None:
    """Every value is one the model (or, unmodelled, its inferred type) can hold."""
    for path, value in values.items():
        resource = models.resource(path)
        resource_type = infer_type(value) if resource is None else resource.type
        problem = value_problem(resource_type, value)
        if resource_type is ResourceType.NONE or problem is not None:
            raise OracleError(f"decoded {value!r:.80} at {path}: {problem or 'no value type'}")


def _comes_back_from_json(value: Value, modelled: bool) -> bool:
    """JSON has no opaque or objlnk type and no NaN: without a model they come back as text."""
    if modelled:
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, (bytes, ObjectLink))


def check_json(values: Mapping[Path, Value], models: ModelRegistry) -> None:
    """The flat JSON view serialises as the REST and SSE layers do, and reads back equal."""
    document = values_to_json(values)
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise OracleError(f"flat JSON view cannot be sent: {exc}") from exc
    back = values_from_json(json.loads(text), models)  # a DecodeError is a finding too
    for path, value in values.items():
        if not _comes_back_from_json(value, models.resource(path) is not None):
            continue
        if canonical(back[path]) != canonical(value):
            raise OracleError(f"flat JSON turned {value!r:.60} at {path} into {back[path]!r:.60}")


def check_event_json(document: object) -> None:
    """A server event or REST body as ``sse_frame``/``JSONResponse`` serialise it."""
    try:
        json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise OracleError(f"event cannot be serialised: {exc}") from exc


# -- the store ---------------------------------------------------------------------------------


class StoreOracle:
    """One SqliteStore in a temporary directory for the whole process; every check clears the
    endpoint's history, adds the values, flushes and reads them back."""

    ENDPOINT = "fuzz"

    def __init__(self) -> None:
        self._directory = store_directory(os.getpid())
        self._directory.mkdir()
        self._store = SqliteStore(self._directory / "store.db")
        atexit.register(self.close)  # libFuzzer exits without it: atheris_main cleans up

    def close(self) -> None:
        self._store.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def check(self, batches: Iterable[tuple[float, Mapping[Path, Value]]]) -> None:
        history = self._store.history
        history.clear(self.ENDPOINT)
        added = []
        for time, values in batches:
            history.add(self.ENDPOINT, time, values)
            added.append((time, values))
        expected: dict[Path, Canonical] = {}
        for _, values in sorted(added, key=lambda batch: batch[0]):  # the store orders by time
            expected.update(canonical_values(values))
        if not expected:
            return
        self._store.flush()
        entries = history.query(self.ENDPOINT, ROOT, history.limit * len(expected))
        stored = {entry.path: canonical(entry.value) for entry in entries}  # newest last wins
        if stored != expected:
            missing = {p: v for p, v in expected.items() if stored.get(p) != v}
            raise OracleError(f"the store did not keep {str(missing)[:200]}")


def store_directory(pid: int) -> FilePath:
    """Where process ``pid`` keeps its store: tmpfs where there is one, since a commit's
    fsync would otherwise be most of an execution."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    return FilePath(base) / f"lwm2m-fuzz-{pid}"


_store: StoreOracle | None = None


def check_store(batches: Iterable[tuple[float, Mapping[Path, Value]]]) -> None:
    global _store  # noqa: PLW0603  # one store per process, opened on first use
    if _store is None:
        _store = StoreOracle()
    _store.check(batches)


def check_values(values: Mapping[Path, Value], models: ModelRegistry, *, time: float = 1.0) -> None:
    """Model, JSON and store oracles for one set of decoded values."""
    check_model(values, models)
    check_json(values, models)
    check_store([(time, values)])


# -- logged crashes ----------------------------------------------------------------------------


class _Tracebacks(logging.Handler):
    """Collects every record logged with an exception under ``lwm2m``."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


_tracebacks = _Tracebacks()
logging.getLogger("lwm2m").addHandler(_tracebacks)


def forget_logged() -> None:
    _tracebacks.records.clear()


def raise_logged() -> None:
    """An OracleError for the first exception a core logged since :func:`forget_logged`."""
    if _tracebacks.records:
        record = _tracebacks.records[0]
        _tracebacks.records.clear()
        assert record.exc_info is not None
        raise OracleError(f"logged: {record.getMessage()}") from record.exc_info[1]
