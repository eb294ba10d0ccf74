"""The OMA registry shipped with the package: complete, indexed, loaded one object at a time;
user DDF files on top of it, later ones replacing earlier ones."""

from __future__ import annotations

import filecmp
import json
import logging
import shutil
from pathlib import Path

import pytest

from lwm2m.cli.payload import InputError, load_models
from lwm2m.model import ModelRegistry, ResourceType, builtin_models, default_models
from lwm2m.model import Path as ModelPath
from lwm2m.model.catalog import INDEX, DdfCatalog, add_ddf_files, index_of, oma_registry
from lwm2m.model.ddf import DdfError

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "lwm2m" / "model" / "registry"

TEMPERATURE_1_2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<LWM2M><Object ObjectType="MODefinition">
  <Name>Site Temperature</Name><ObjectID>3303</ObjectID><ObjectVersion>1.2</ObjectVersion>
  <MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
  <Resources>
    <Item ID="5700"><Name>Sensor Value</Name><Operations>R</Operations>
      <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
      <Type>Float</Type></Item>
  </Resources>
</Object></LWM2M>
"""


def test_every_registry_object_is_shipped_verbatim(oma_registry_dir: Path) -> None:
    registry = {path.name for path in oma_registry_dir.glob("*.xml") if path.stem.isdigit()}
    shipped = {path.name for path in SHIPPED.glob("*.xml")}
    assert registry == shipped
    _, mismatch, errors = filecmp.cmpfiles(oma_registry_dir, SHIPPED, sorted(shipped), False)
    assert (mismatch, errors) == ([], [])


def test_the_index_is_what_the_files_define() -> None:
    assert json.loads((SHIPPED / INDEX).read_text(encoding="utf-8")) == index_of(SHIPPED)


def test_the_shipped_files_stay_small() -> None:
    """About 2.9 MB for 327 objects today; a wheel compresses it to a fraction."""
    assert sum(path.stat().st_size for path in SHIPPED.iterdir()) < 4_000_000


def test_licence_notice_ships_with_the_files() -> None:
    notice = (SHIPPED / "README.md").read_text(encoding="utf-8")
    assert "BSD-3-Clause" in notice and "Redistributions in binary form" in notice


def test_default_models_know_every_registry_object_and_prefer_the_builtin_editions() -> None:
    models = default_models()
    assert len(models) == len(list(SHIPPED.glob("*.xml")))
    temperature = models.get(3303)
    assert temperature is not None and temperature.name == "Temperature"
    sensor_value = models.resource(ModelPath((3303, 0, 5700)))
    assert sensor_value is not None and sensor_value.type is ResourceType.FLOAT
    for builtin in builtin_models():
        assert models.get(builtin.id) is builtin  # 1.1 editions, not the registry's newest
    assert 32769 not in models and models.get(32769) is None


def test_a_new_registry_per_call_shares_the_parsed_definitions() -> None:
    first, second = default_models(), default_models()
    first.add(builtin_models().get(3) or pytest.fail("no Device"))
    assert first.get(3303) is second.get(3303)


def _catalog(tmp_path: Path, *ids: int) -> DdfCatalog:
    for object_id in ids:
        shutil.copyfile(SHIPPED / f"{object_id}.xml", tmp_path / f"{object_id}.xml")
    (tmp_path / INDEX).write_text(json.dumps(index_of(tmp_path)), encoding="utf-8")
    return DdfCatalog.open(tmp_path)


def test_a_definition_is_parsed_only_when_its_object_is_first_needed(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, 3303, 3304)
    (tmp_path / "3304.xml").write_text("not XML")  # proves 3304 is never parsed below
    models = ModelRegistry(fallback=catalog)
    assert [summary.name for summary in models.summaries()] == ["Temperature", "Humidity"]
    assert 3304 in models
    model = models.get(3303)
    assert model is not None and model.id == 3303
    (tmp_path / "3303.xml").unlink()  # kept once parsed
    assert models.get(3303) is model
    with pytest.raises(DdfError, match="not well-formed"):
        models.get(3304)


def test_an_index_that_names_the_wrong_object_is_an_error(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, 3303)
    shutil.copyfile(SHIPPED / "3304.xml", tmp_path / "3303.xml")
    with pytest.raises(DdfError, match="defines object 3303"):
        catalog.load(3303)


def test_user_files_replace_earlier_definitions_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.xml").write_bytes(TEMPERATURE_1_2)
    (tmp_path / "b.xml").write_bytes(TEMPERATURE_1_2.replace(b"Site Temperature", b"Room"))
    models = default_models()
    with caplog.at_level(logging.INFO, logger="lwm2m.model.catalog"):
        added = add_ddf_files(models, tmp_path)
    assert [model.name for model in added] == ["Site Temperature", "Room"]
    assert (models.get(3303) or pytest.fail("gone")).name == "Room"
    assert [record.getMessage().split(": ", 1)[1] for record in caplog.records] == [
        "object 3303 'Site Temperature' 1.2 replaces 'Temperature' 1.1",
        "object 3303 'Room' 1.2 replaces 'Site Temperature' 1.2",
    ]
    summary = next(s for s in models.summaries() if s.id == 3303)
    assert (summary.name, summary.version) == ("Room", "1.2")


def test_a_single_file_or_a_folder_without_ddfs(tmp_path: Path) -> None:
    file = tmp_path / "t.xml"
    file.write_bytes(TEMPERATURE_1_2)
    assert [model.id for model in add_ddf_files(default_models(), file)] == [3303]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DdfError, match=r"no \*\.xml"):
        add_ddf_files(default_models(), empty)


def test_the_cli_refuses_what_it_cannot_load_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.xml").write_text("<LWM2M/>")
    with pytest.raises(InputError, match=r"cannot load .*: .*no <Object>"):
        load_models([str(tmp_path)])
    with pytest.raises(InputError, match="cannot load"):
        load_models([str(tmp_path / "missing")])


def test_the_packaged_catalog_is_one_per_process() -> None:
    assert oma_registry() is oma_registry()
