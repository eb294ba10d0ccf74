"""The T8 OpenAPI files of ../shared/3gpp as self-contained documents for the tests.

The 3GPP files reference each other and further files that are not in shared/ (TS 29.572,
29.515, ...). This loads them read-only and bundles each API with the definitions it reaches:
TS 29.122 CommonData schemas become ``C_<name>``, TS 29.571 ones ``N_<name>``, and references
into files that are absent become ``{}`` (any value: none of them is used by this SCEF).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
import yaml

from tests.conftest import SHARED

SPEC_DIR = SHARED / "3gpp"
PREFIXES = {"TS29122_CommonData.yaml": "C_", "TS29571_CommonData.yaml": "N_"}
API_FILES = {
    "nidd": "TS29122_NIDD.yaml",
    "triggering": "TS29122_DeviceTriggering.yaml",
    "monitoring": "TS29122_MonitoringEvent.yaml",
}


def _callback_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """``GET /<Schema>`` answering 200 with that schema, for each body schema a callback of
    the API may carry: notifications are checked as responses, where readOnly attributes
    (DeliveryStatus, NiddStatus) belong, and against their own member of the oneOf (which
    is ambiguous in the files: every NiddUplinkDataNotification is a ManagePortNotification)."""
    found = {}
    for path_item in paths.values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for callback in operation.get("callbacks", {}).values():
                for item in callback.values():
                    schema = item["post"]["requestBody"]["content"]["application/json"]["schema"]
                    for member in schema.get("oneOf", [schema]):
                        name = member["$ref"].rsplit("/", 1)[1]
                        content = {"application/json": {"schema": member}}
                        answer = {"200": {"description": name, "content": content}}
                        found[f"/{name}"] = {"get": {"responses": answer}}
    return found


@functools.cache
def load(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    if not path.is_file():
        pytest.fail(f"T8 OpenAPI file not found: {path} (set LWM2M_SHARED)")
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


@functools.cache
def bundled(api: str, *, callbacks: bool = False) -> dict[str, Any]:
    """One API's document with every reachable reference local (a fresh copy per API).
    ``callbacks``: instead of the API's paths, those of :func:`_callback_paths`."""
    main_file = API_FILES[api]
    document = copy.deepcopy(load(main_file))
    if callbacks:
        document["paths"] = _callback_paths(document["paths"])
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    responses = components.setdefault("responses", {})
    pending: list[tuple[str, str, str]] = []

    def rewrite(node: Any, current: str) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                file, _, pointer = ref.partition("#")
                file = file or current
                if file != main_file and file not in PREFIXES:
                    return {}
                kind, name = pointer.split("/")[-2:]
                if file == main_file:
                    return {"$ref": f"#/components/{kind}/{name}"}
                local = PREFIXES[file] + name
                pending.append((file, kind, name))
                return {"$ref": f"#/components/{kind}/{local}"}
            return {key: rewrite(value, current) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item, current) for item in node]
        return node

    for name, path_item in document["paths"].items():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.pop("callbacks", None)  # checked by hand in test_t8_callbacks
        document["paths"][name] = rewrite(path_item, main_file)
    components["schemas"] = {k: rewrite(v, main_file) for k, v in schemas.items()}
    components["responses"] = {k: rewrite(v, main_file) for k, v in responses.items()}
    seen: set[tuple[str, str, str]] = set()
    while pending:
        file, kind, name = item = pending.pop()
        if item in seen:
            continue
        seen.add(item)
        source = load(file)["components"][kind][name]
        components.setdefault(kind, {})[PREFIXES[file] + name] = rewrite(source, file)
    document.pop("security", None)
    components.pop("securitySchemes", None)
    base = "/" if callbacks else document["servers"][0]["url"].replace("{apiRoot}", "")
    document["servers"] = [{"url": base}]
    return document
