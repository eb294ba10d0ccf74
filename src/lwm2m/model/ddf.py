"""Loader for OMA object definition files (DDF XML, schemas ``LWM2M.xsd`` and ``LWM2M-v1_1.xsd``).

DDFs may come from users, so a document with a DOCTYPE (the carrier of entity-expansion and
external-entity attacks) is refused before anything in it is used.  Element names are matched
as the schemas spell them; values are matched ignoring case and stray whitespace, because
registry files are hand-edited (``"LWM2M  Server URI"``, ``"OSCORE AEAD Algorithm "``); names
have their whitespace collapsed, other text is only stripped.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import NoReturn, TypeVar
from xml.parsers import expat

from lwm2m.model.objects import ObjectModel, Operations, ResourceModel
from lwm2m.model.path import MAX_ID
from lwm2m.model.values import ResourceType

_T = TypeVar("_T")


class DdfError(ValueError):
    """A DDF document that does not define LwM2M objects; names the file and the element."""

    def __init__(self, source: str, element: str, problem: str) -> None:
        super().__init__(f"{source}: {element}: {problem}")
        self.source = source
        self.element = element
        self.problem = problem


def load_ddf(source: bytes | str | os.PathLike[str]) -> list[ObjectModel]:
    """Load every ``<Object>`` of a DDF: ``bytes`` are the document itself, ``str`` a path."""
    if isinstance(source, bytes):
        name, data = "<bytes>", source
    else:
        name = os.fspath(source)
        with open(name, "rb") as file:
            data = file.read()
    root = _parse(data, name)
    if root.tag != "LWM2M":
        raise DdfError(name, f"<{root.tag}>", "root element is not <LWM2M>")
    objects = root.findall("Object")
    if not objects:
        raise DdfError(name, "<LWM2M>", "no <Object>")
    return [_object(element, index, name) for index, element in enumerate(objects, 1)]


def _parse(data: bytes, source: str) -> ET.Element:
    # expat itself, not ET.fromstring: only it offers a DOCTYPE hook, and it decodes any
    # declared encoding, so a UTF-16 DOCTYPE cannot slip past a byte search.
    def refuse_doctype(*_: object) -> NoReturn:
        raise DdfError(source, "<!DOCTYPE>", "DTDs and entity declarations are refused")

    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DdfError(source, "document", f"not well-formed XML: {exc}") from exc
    return builder.close()


_MULTIPLE = {"multiple": True, "single": False}
_MANDATORY = {"mandatory": True, "optional": False}
_OPERATIONS = {op.value.lower(): op for op in Operations}
# Executables (and a few odd readables) declare an empty type.
_TYPES = {("" if t is ResourceType.NONE else t.value.replace(" ", "")): t for t in ResourceType}
_VERSION = re.compile(r"[0-9]+\.[0-9]+")


def _object(element: ET.Element, index: int, source: str) -> ObjectModel:
    where = f"Object #{index}"
    kind = element.get("ObjectType", "MODefinition")
    if kind.strip().lower() != "modefinition":
        raise DdfError(source, where, f"ObjectType {kind!r} is not an object definition")
    object_id = _id(_required(element, "ObjectID", source, where), source, f"{where} <ObjectID>")
    where = f"Object {object_id}"
    container = element.find("Resources")
    if container is None:
        raise DdfError(source, where, "no <Resources>")
    resources: dict[int, ResourceModel] = {}
    for item in container.iterfind("Item"):
        resource = _resource(item, source, where)
        if resource.id in resources:
            raise DdfError(source, f"{where} Item {resource.id}", "resource ID given twice")
        resources[resource.id] = resource
    return ObjectModel(
        id=object_id,
        name=_name(element, source, where),
        multiple=_choice(element, "MultipleInstances", _MULTIPLE, source, where),
        mandatory=_choice(element, "Mandatory", _MANDATORY, source, where),
        resources=resources,
        version=_version(element, "ObjectVersion", source, where),
        lwm2m_version=_version(element, "LWM2MVersion", source, where),
        urn=_optional(element, "ObjectURN"),
        description=_optional(element, "Description1"),
    )


def _resource(item: ET.Element, source: str, where: str) -> ResourceModel:
    resource_id = _id(item.get("ID"), source, f"{where} Item ID")
    where = f"{where} Item {resource_id}"
    return ResourceModel(
        id=resource_id,
        name=_name(item, source, where),
        operations=_choice(item, "Operations", _OPERATIONS, source, where),
        multiple=_choice(item, "MultipleInstances", _MULTIPLE, source, where),
        mandatory=_choice(item, "Mandatory", _MANDATORY, source, where),
        type=_choice(item, "Type", _TYPES, source, where),
        range=_optional(item, "RangeEnumeration"),
        units=_optional(item, "Units"),
        description=_optional(item, "Description"),
    )


def _id(text: str | None, source: str, where: str) -> int:
    digits = (text or "").strip()
    if not (digits.isascii() and digits.isdigit() and int(digits) <= MAX_ID):
        raise DdfError(source, where, f"{text!r} is not an ID in 0..{MAX_ID}")
    return int(digits)


def _name(element: ET.Element, source: str, where: str) -> str:
    name = " ".join(_required(element, "Name", source, where).split())
    if not name:
        raise DdfError(source, f"{where} <Name>", "empty name")
    return name


def _version(element: ET.Element, tag: str, source: str, where: str) -> str:
    version = _optional(element, tag) or "1.0"
    if not _VERSION.fullmatch(version):
        raise DdfError(source, f"{where} <{tag}>", f"{version!r} is not a version 'major.minor'")
    return version


def _choice(element: ET.Element, tag: str, choices: dict[str, _T], source: str, where: str) -> _T:
    text = _required(element, tag, source, where)
    try:
        return choices["".join(text.split()).lower()]
    except KeyError:
        allowed = ", ".join(repr(key) for key in choices)
        raise DdfError(source, f"{where} <{tag}>", f"{text!r} is not one of {allowed}") from None


def _required(element: ET.Element, tag: str, source: str, where: str) -> str:
    child = element.find(tag)
    if child is None:
        raise DdfError(source, where, f"no <{tag}>")
    return "".join(child.itertext())


def _optional(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return "".join(child.itertext()).strip() if child is not None else ""
