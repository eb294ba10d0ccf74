"""The Telekom profile data against its sources: the seed's summary table, the OMA registry's
object definitions, and the device-profile test's own reading of the seed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lwm2m.compliance.profile import (
    OBJECTS,
    ObjectRequirement,
    Obligation,
    object_profile,
    object_requirement,
)
from lwm2m.model.ddf import load_ddf
from lwm2m.model.objects import ObjectModel
from tests.conftest import SHARED
from tests.unit.test_client_profile import TELEKOM_REQUIRED

SEED = SHARED / "seeds" / "000_ecccf4fbf193dc30.txt"
SEED_VERSUS_REGISTRY = {
    (3, 4): "the seed has Reboot OMA-optional; the registry has it mandatory",
    (15, 6): "the seed has opDisable multiple; the registry has it single",
}
"""Where the seed's tables disagree with the OMA registry: the profile keeps the seed's word."""


def summary() -> dict[int, ObjectRequirement]:
    """The seed's SUMMARY rows "Name /id/ REQUIREMENT" (the year of a roadmap item dropped)."""
    if not SEED.is_file():
        pytest.fail(f"seed not found at {SEED} (set LWM2M_SHARED)")
    text = SEED.read_text()
    section = text[text.index("SUMMARY") : text.index("IoT Logging objects")]
    rows = re.findall(r"^.+ /(\d+)/ (MANDATORY|OPTIONAL|Not Required)", section, re.MULTILINE)
    return {int(oid): ObjectRequirement(req.lower()) for oid, req in rows}


def registry_model(directory: Path, object_id: int) -> ObjectModel:
    (model,) = load_ddf(str(directory / f"{object_id}.xml"))
    return model


def test_every_summary_row_is_in_the_profile() -> None:
    rows = summary()
    assert len(rows) == 23
    assert {oid: object_requirement(oid) for oid in rows} == rows
    assert sorted(rows) == sorted(obj.object_id for obj in OBJECTS if obj.object_id < 3351)


def test_the_iot_logging_range_is_optional() -> None:
    assert object_requirement(3351) is ObjectRequirement.OPTIONAL
    assert object_requirement(3386) is ObjectRequirement.OPTIONAL
    assert object_requirement(3387) is None
    assert object_requirement(3303) is None


def test_objects_with_tables_have_resources_and_the_rest_none() -> None:
    with_tables = {obj.object_id for obj in OBJECTS if obj.resources}
    assert with_tables == {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 13, 15, 19, 21, 3353, 3370, 3371, 3372}
    not_required = {o.object_id for o in OBJECTS if o.telekom is ObjectRequirement.NOT_REQUIRED}
    assert not_required.isdisjoint(with_tables)


def test_resources_agree_with_the_oma_registry(oma_registry_dir: Path) -> None:
    for obj in OBJECTS:
        if not obj.resources:
            continue
        model = registry_model(oma_registry_dir, obj.object_id)
        if obj.oma is not None:
            assert (obj.oma is ObjectRequirement.MANDATORY) == model.mandatory, obj.object_id
        for resource in obj.resources:
            where = (obj.object_id, resource.resource_id)
            found = model.resources.get(resource.resource_id)
            assert found is not None, where
            assert found.name.replace(" ", "").lower() == resource.name.replace(" ", "").lower()
            if where in SEED_VERSUS_REGISTRY:
                continue
            assert found.multiple == resource.multiple, where
            if resource.operations is not None:
                assert found.operations.value == resource.operations, where
            if resource.oma in (Obligation.MANDATORY, Obligation.OPTIONAL):
                assert found.mandatory == (resource.oma is Obligation.MANDATORY), where


def test_the_seed_deviations_are_real(oma_registry_dir: Path) -> None:
    reboot = registry_model(oma_registry_dir, 3).resources[4]
    assert reboot.mandatory
    profile = object_profile(3)
    assert profile is not None
    row = profile.resource(4)
    assert row is not None and row.oma is Obligation.OPTIONAL
    assert not registry_model(oma_registry_dir, 15).resources[6].multiple


def test_required_resources_match_the_device_profile_test() -> None:
    """An independent reading of the seed (``test_client_profile``) finds the same set."""
    for object_id, resource_ids in TELEKOM_REQUIRED.items():
        profile = object_profile(object_id)
        assert profile is not None
        required = {
            r.resource_id for r in profile.resources if r.telekom is not Obligation.OPTIONAL
        }
        assert required == set(resource_ids), object_id


def test_device_values_must_be_filled_in_and_nothing_else() -> None:
    for obj in OBJECTS:
        for resource in obj.resources:
            assert resource.value_required == (obj.object_id == 3 and resource.readable)
