"""The DDF loader: every OMA registry object file loads; hostile or malformed input is refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lwm2m.model import Operations, ResourceType
from lwm2m.model.ddf import DdfError, load_ddf

# Files in the registry folder that are provably not object definitions, with the element
# load_ddf names when it refuses them.
NOT_OBJECT_FILES = {
    # The registry index: <DDFList> of ObjectID/URN/Ver/DDF-path entries, no <Object>.
    "DDF.xml": "<DDFList>",
    # Reusable resources (<Object ObjectType="CommonResources">): items without an ObjectID.
    "Common.xml": "Object #1",
    # The SenML units registry: <units><registry><record>...
    "LWM2M_senml_units.xml": "<units>",
}


def registry_files(registry: Path) -> list[Path]:
    return sorted(registry.glob("*.xml")) + sorted(registry.glob("version_history/*.xml"))


def test_every_registry_object_file_loads(oma_registry_dir: Path) -> None:
    files = [p for p in registry_files(oma_registry_dir) if p.name not in NOT_OBJECT_FILES]
    assert len(files) > 300
    for path in files:
        (model,) = load_ddf(path)
        # Registry files are named <ObjectID>.xml or <ObjectID>-<major>_<minor>.xml.
        assert str(model.id) == path.stem.split("-")[0], path
        assert model.resources, path


@pytest.mark.parametrize(("name", "element"), NOT_OBJECT_FILES.items())
def test_non_object_files_are_refused(oma_registry_dir: Path, name: str, element: str) -> None:
    with pytest.raises(DdfError) as caught:
        load_ddf(oma_registry_dir / name)
    assert caught.value.element == element
    assert caught.value.source == str(oma_registry_dir / name)


def test_registry_index_agrees_with_loaded_ids_urns_and_versions(oma_registry_dir: Path) -> None:
    index = ET.parse(oma_registry_dir / "DDF.xml").getroot()
    checked = 0
    for entry in index.iterfind("Item"):
        path = oma_registry_dir / (entry.findtext("DDF") or "").strip()
        if not path.is_file():  # the folder holds only some editions
            continue
        (model,) = load_ddf(path)
        expected = (entry.findtext("ObjectID"), entry.findtext("URN"), entry.findtext("Ver"))
        assert (str(model.id), model.urn, model.version) == expected, path
        checked += 1
    assert checked > 300


def test_device_error_code(oma_registry_dir: Path) -> None:
    (device,) = load_ddf(oma_registry_dir / "3.xml")
    assert (device.name, device.multiple, device.mandatory) == ("Device", False, True)
    error_code = device.resources[11]
    assert error_code.name == "Error Code"
    assert error_code.operations is Operations.R
    assert error_code.type is ResourceType.INTEGER
    assert error_code.multiple and error_code.mandatory
    assert error_code.range == "0..32"


def test_executables_have_no_type(oma_registry_dir: Path) -> None:
    (device,) = load_ddf(oma_registry_dir / "3.xml")
    reboot = device.resources[4]
    assert (reboot.name, reboot.operations, reboot.type) == (
        "Reboot",
        Operations.E,
        ResourceType.NONE,
    )
    executables = [
        resource
        for path in registry_files(oma_registry_dir)
        if path.name not in NOT_OBJECT_FILES
        for model in load_ddf(path)
        for resource in model.resources.values()
        if resource.operations is Operations.E
    ]
    assert len(executables) > 300
    assert all(resource.type is ResourceType.NONE for resource in executables)


def test_registry_quirks(oma_registry_dir: Path) -> None:
    history = oma_registry_dir / "version_history"
    (security,) = load_ddf(history / "0-1_1.xml")
    assert security.resources[0].name == "LWM2M Server URI"  # "LWM2M  Server URI" in the file
    assert security.resources[0].operations is Operations.NONE
    (oscore,) = load_ddf(history / "21-1_1.xml")
    assert oscore.resources[3].name == "OSCORE AEAD Algorithm"  # trailing space in the file
    assert oscore.resources[6].name == "OSCORE ID Context"  # leading space in the file
    (device,) = load_ddf(history / "3-1_0.xml")  # no LWM2MVersion / ObjectVersion elements
    assert (device.version, device.lwm2m_version, device.urn) == (
        "1.0",
        "1.0",
        "urn:oma:lwm2m:oma:3",
    )
    (cellular,) = load_ddf(oma_registry_dir / "10.xml")
    assert cellular.resources[12].type is ResourceType.UNSIGNED_INTEGER
    (gateway,) = load_ddf(oma_registry_dir / "3410.xml")  # items without <RangeEnumeration>
    assert gateway.resources[11].range == ""


ITEM = """
      <Item ID="{id}">
        <Name>{name}</Name>
        <Operations>{ops}</Operations>
        <MultipleInstances>{multiple}</MultipleInstances>
        <Mandatory>Optional</Mandatory>
        <Type>{type}</Type>
        <RangeEnumeration>0..100</RangeEnumeration>
        <Units>%</Units>
        <Description><![CDATA[ Says why. ]]></Description>
      </Item>"""

OBJECT = """
  <Object ObjectType="MODefinition">
    <Name>{name}</Name>
    <Description1>An object.</Description1>
    <ObjectID>{id}</ObjectID>
    <ObjectURN>urn:oma:lwm2m:x:{id}:1.1</ObjectURN>
    <LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion>1.1</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>{items}
    </Resources>
    <Description2></Description2>
  </Object>"""


def item(
    rid: int = 0,
    *,
    name: str = "Level",
    ops: str = "RW",
    multiple: str = "Single",
    kind: str = "Float",
) -> str:
    return ITEM.format(id=rid, name=name, ops=ops, multiple=multiple, type=kind)


def document(*objects: str) -> bytes:
    body = "".join(objects) or OBJECT.format(name="Tank", id=32769, items=item())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<LWM2M>{body}\n</LWM2M>'.encode()


def test_minimal_document() -> None:
    (model,) = load_ddf(document())
    assert (model.id, model.name, model.multiple, model.mandatory) == (32769, "Tank", True, False)
    assert (model.version, model.lwm2m_version) == ("1.1", "1.1")
    assert (model.urn, model.description) == ("urn:oma:lwm2m:x:32769:1.1", "An object.")
    level = model.resources[0]
    assert (level.name, level.operations, level.type) == (
        "Level",
        Operations.RW,
        ResourceType.FLOAT,
    )
    assert (level.multiple, level.mandatory) == (False, False)
    assert (level.range, level.units, level.description) == ("0..100", "%", "Says why.")


def test_several_objects_in_one_file() -> None:
    models = load_ddf(
        document(
            OBJECT.format(name="A", id=32769, items=item()),
            OBJECT.format(name="B", id=32770, items=item(0) + item(1, ops="E", kind="")),
        )
    )
    assert [(m.id, m.name, sorted(m.resources)) for m in models] == [
        (32769, "A", [0]),
        (32770, "B", [0, 1]),
    ]
    assert models[1].resources[1].type is ResourceType.NONE


def test_values_ignore_case_and_whitespace() -> None:
    items = item(0, ops=" rw ", multiple=" multiple", kind="unsigned  integer") + item(
        1, name="\n  Two\n  words ", ops="e", kind=" "
    )
    (model,) = load_ddf(document(OBJECT.format(name=" Tank ", id=" 5 ", items=items)))
    assert model.name == "Tank"
    first, second = model.resources[0], model.resources[1]
    assert (first.operations, first.multiple, first.type) == (
        Operations.RW,
        True,
        ResourceType.UNSIGNED_INTEGER,
    )
    assert (second.name, second.operations, second.type) == (
        "Two words",
        Operations.E,
        ResourceType.NONE,
    )


def test_paths_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "32769.xml"
    path.write_bytes(document())
    assert load_ddf(path) == load_ddf(str(path)) == load_ddf(document())
    path.write_bytes(b"<LWM2M/>")
    with pytest.raises(DdfError, match=f"^{path}: <LWM2M>: no <Object>$"):
        load_ddf(path)


GOOD = document().decode()


@pytest.mark.parametrize(
    ("old", "new", "element", "problem"),
    [
        ("<ObjectID>32769</ObjectID>", "", "Object #1", "no <ObjectID>"),
        ("<ObjectID>32769", "<ObjectID>65536", "Object #1 <ObjectID>", "not an ID"),
        ("<ObjectID>32769", "<ObjectID>-1", "Object #1 <ObjectID>", "not an ID"),
        ("<ObjectID>32769", "<ObjectID>", "Object #1 <ObjectID>", "not an ID"),
        ('ObjectType="MODefinition"', 'ObjectType="X"', "Object #1", "not an object definition"),
        ("<Name>Tank</Name>", "", "Object 32769", "no <Name>"),
        ("<Name>Tank</Name>", "<Name> </Name>", "Object 32769 <Name>", "empty name"),
        ("<MultipleInstances>Multiple", "<MultipleInstances>Many", "Object 32769 <Multi", "'Many'"),
        ("<Mandatory>Optional</Mandatory>\n    <R", "<R", "Object 32769", "no <Mandatory>"),
        ("<ObjectVersion>1.1", "<ObjectVersion>v1", "Object 32769 <ObjectVersion>", "'v1'"),
        ("Resources>", "Resource>", "Object 32769", "no <Resources>"),
        ('Item ID="0"', "Item", "Object 32769 Item ID", "not an ID"),
        ('Item ID="0"', 'Item ID="x"', "Object 32769 Item ID", "not an ID"),
        ("<Resources>", "<Resources>" + item(), "Object 32769 Item 0", "given twice"),
        ("<Type>Float</Type>", "<Type>Double</Type>", "Object 32769 Item 0 <Type>", "'Double'"),
        ("<Type>Float</Type>", "", "Object 32769 Item 0", "no <Type>"),
        ("<Operations>RW", "<Operations>RWE", "Object 32769 Item 0 <Operations>", "'RWE'"),
        ("Single</Mult", "Once</Mult", "Object 32769 Item 0 <MultipleInstances>", "'Once'"),
        ("LWM2M>", "DDFList>", "<DDFList>", "root element is not <LWM2M>"),
        ("\n</LWM2M>", "", "document", "not well-formed"),
    ],
)
def test_malformed_ddf_is_refused(old: str, new: str, element: str, problem: str) -> None:
    assert old in GOOD
    with pytest.raises(DdfError, match=problem) as caught:
        load_ddf(GOOD.replace(old, new).encode())
    assert isinstance(caught.value, ValueError)
    assert caught.value.element.startswith(element)
    assert str(caught.value).startswith(f"<bytes>: {caught.value.element}: ")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<LWM2M><Object><Name>&lol3;</Name></Object></LWM2M>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE LWM2M [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<LWM2M><Object><Name>&secret;</Name></Object></LWM2M>"""


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        '<!DOCTYPE LWM2M SYSTEM "http://example.com/lwm2m.dtd">\n' + GOOD.split("\n", 1)[1],
        GOOD.replace("<LWM2M>", "<!DOCTYPE LWM2M>\n<LWM2M>"),
    ],
    ids=["billion-laughs", "external-entity", "external-dtd", "bare-doctype"],
)
def test_doctype_is_refused(text: str) -> None:
    with pytest.raises(DdfError, match="DTDs and entity declarations are refused") as caught:
        load_ddf(text.encode())
    assert caught.value.element == "<!DOCTYPE>"


def test_doctype_is_refused_in_any_encoding() -> None:
    """A byte search for '<!DOCTYPE' would miss a UTF-16 document; the parser does not."""
    text = EXTERNAL_ENTITY.replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(DdfError, match="refused"):
        load_ddf(text.encode("utf-16"))


def test_entity_declaration_outside_a_doctype_is_refused() -> None:
    with pytest.raises(DdfError, match="not well-formed"):
        load_ddf(GOOD.replace("<LWM2M>", '<!ENTITY x "y">\n<LWM2M>').encode())
