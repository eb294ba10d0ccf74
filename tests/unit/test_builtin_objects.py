"""The built-in object definitions agree with the OMA registry edition they claim to be."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwm2m.model import ObjectModel, Operations
from lwm2m.model.builtin import BUILTIN_OBJECTS, DEV_CAP_MGMT, builtin_models
from lwm2m.model.ddf import load_ddf

# The object versions that go with LwM2M 1.1 (see tools/gen_builtin.py for why each).
LWM2M_1_1_EDITIONS = {
    0: "1.1",
    1: "1.1",
    2: "1.0",
    3: "1.1",
    4: "1.2",
    5: "1.0",
    6: "1.0",
    7: "1.0",
    10: "1.1",
    11: "1.1",
    13: "1.1",
    15: "1.0",
    19: "1.0",
    21: "1.0",
    3353: "1.0",
    3370: "1.0",
    3371: "1.0",
    3372: "1.0",
}

# Resources the Telekom profile names for each object (seeds/000_*.txt).
TELEKOM_RESOURCES = {
    0: {0, 1, 2, 3, 4, 5, 16},
    1: {0, 1, 2, 3, 6, 7, 8, 9, 10, 12, 13},
    2: {0, 1, 3},
    3: {0, 1, 2, 3, 4, 5, 9, 11, 16, 18, 20},
    4: {0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12},
    5: {0, 1, 2, 3, 5, 7, 9},
    6: {0, 1, 5},
    7: {6, 7},
    10: {4},
    11: {0, 1, 4},
    13: {6, 7},
    15: {0, 1, 4, 5, 6},
    19: {0},
    21: {0, 1, 2},
    3353: {2, 6030, 6031, 6033},
    3370: {6032, 6034, 6035, 6036, 6037, 6038},
    3371: {6032, 6034, 6035, 6036, 6037, 6038},
    3372: {2, 6037, 6038},
}

RESOURCE_FIELDS = ("id", "name", "operations", "multiple", "mandatory", "type", "range", "units")
OBJECT_FIELDS = ("id", "name", "multiple", "mandatory", "version", "lwm2m_version", "urn")


def registry_edition(registry: Path, object_id: int, version: str) -> ObjectModel:
    """The registry's DDF for one object version: the newest is at the top, older ones below."""
    history = registry / "version_history" / f"{object_id}-{version.replace('.', '_')}.xml"
    for path in (history, registry / f"{object_id}.xml"):
        if path.is_file():
            (model,) = load_ddf(path)
            if model.version == version:
                return model
    raise AssertionError(f"no registry DDF for object {object_id} version {version}")


def test_editions_are_the_lwm2m_1_1_ones() -> None:
    assert {model.id: model.version for model in BUILTIN_OBJECTS} == LWM2M_1_1_EDITIONS
    assert all(model.lwm2m_version in {"1.0", "1.1"} for model in BUILTIN_OBJECTS)


@pytest.mark.parametrize("builtin", BUILTIN_OBJECTS, ids=lambda model: str(model.id))
def test_builtin_matches_registry(oma_registry_dir: Path, builtin: ObjectModel) -> None:
    registry = registry_edition(oma_registry_dir, builtin.id, builtin.version)
    for name in OBJECT_FIELDS:
        assert getattr(builtin, name) == getattr(registry, name), name
    assert list(builtin.resources) == list(registry.resources)
    for rid, resource in builtin.resources.items():
        expected = registry.resources[rid]
        for name in RESOURCE_FIELDS:
            assert getattr(resource, name) == getattr(expected, name), (rid, name)
        assert resource.description
        assert " ".join(expected.description.split()).startswith(resource.description), rid
    assert builtin.description
    assert " ".join(registry.description.split()).startswith(builtin.description)


@pytest.mark.parametrize("builtin", BUILTIN_OBJECTS, ids=lambda model: str(model.id))
def test_urn_names_the_version(builtin: ObjectModel) -> None:
    kind = "oma" if builtin.id < 2048 else "ext"
    suffix = "" if builtin.version == "1.0" else f":{builtin.version}"
    assert builtin.urn == f"urn:oma:lwm2m:{kind}:{builtin.id}{suffix}"


def test_every_resource_the_telekom_profile_names_is_defined() -> None:
    models = builtin_models()
    assert {model.id for model in models} == set(TELEKOM_RESOURCES)
    for object_id, resource_ids in TELEKOM_RESOURCES.items():
        model = models.get(object_id)
        assert model is not None
        assert resource_ids <= set(model.resources), object_id


def test_devcapmgmt_opdisable_is_multiple_as_the_telekom_profile_lists_it() -> None:
    """Why DevCapMgmt is 1.0: its 2.0 makes opDisable single, an incompatible change."""
    op_disable = DEV_CAP_MGMT.resources[6]
    assert (op_disable.name, op_disable.operations, op_disable.multiple) == (
        "opDisable",
        Operations.E,
        True,
    )


def test_builtin_models_is_a_fresh_registry_per_call() -> None:
    models = builtin_models()
    assert len(models) == len(BUILTIN_OBJECTS)
    assert models.is_multiple(3, 11) and not models.is_multiple(3, 0)
    models.add(ObjectModel(id=32769, name="Vendor", multiple=False, mandatory=False))
    assert 32769 not in builtin_models()
