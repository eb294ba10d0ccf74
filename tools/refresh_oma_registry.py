"""Refresh ``src/lwm2m/model/registry/`` (the OMA registry's object files the package ships).

Copies every ``<ObjectID>.xml`` of the registry folder verbatim (each keeps its licence
header), drops files the registry no longer has, checks that each one loads and defines the
object it is named after, and writes ``index.json`` (ID -> file and summary) so the package
parses a file only when its object is first needed.

Usage: ``.venv/bin/python tools/refresh_oma_registry.py [REGISTRY_DIR]`` (default
``../shared/oma-registry``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from lwm2m.model.catalog import INDEX, index_of

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "src" / "lwm2m" / "model" / "registry"


def refresh(source: Path, target: Path = TARGET) -> int:
    """Copy, check and index; the number of objects shipped."""
    wanted = {file.name for file in source.glob("*.xml") if file.stem.isdigit()}
    for stale in target.glob("*.xml"):
        if stale.name not in wanted:
            stale.unlink()
    for name in sorted(wanted):
        shutil.copyfile(source / name, target / name)
    entries = index_of(target)  # loads every file: a bad one stops the refresh here
    lines = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in entries)
    (target / INDEX).write_text(f"[\n{lines}\n]\n", encoding="utf-8")  # a line per object
    return len(entries)


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "oma-registry"
    count = refresh(source)
    size = sum(file.stat().st_size for file in TARGET.iterdir())
    print(f"{count} objects, {size / 1e6:.1f} MB in {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
