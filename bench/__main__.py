"""Run every benchmark module and print one line per figure (``--json`` for machines)."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
from pathlib import Path

from bench.common import BenchResult


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("only", nargs="*", help="module names (e.g. bench_coap)")
    args = parser.parse_args()
    results: list[BenchResult] = []
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    for name in names:
        if args.only and name not in args.only:
            continue
        module = importlib.import_module(f"bench.{name}")
        results.extend(module.run())
    if args.json:
        json.dump([_asdict(r) for r in results], sys.stdout, indent=2)
        print()
        return 0
    print(f"# python {platform.python_version()} on {platform.machine()}")
    for r in results:
        verdict = {None: "", True: "  ok", False: "  BELOW TARGET"}[r.meets_target]
        target = (
            f" (target {'>=' if r.higher_is_better else '<='} {r.target:,.0f})" if r.target else ""
        )
        print(f"{r.name:<58} {r.value:>14,.0f} {r.unit}{target}{verdict}")
    return 0


def _asdict(result: BenchResult) -> dict[str, object]:
    return {f: getattr(result, f) for f in result.__slots__}


if __name__ == "__main__":
    sys.exit(main())
