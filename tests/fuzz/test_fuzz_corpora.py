"""The fuzz targets in ``make test``: every committed corpus input replayed through the same
oracles, then a short coverage-guided atheris run of every target (a fixed number of
executions, fixed seed) in a subprocess.  Long runs: ``make fuzz FUZZ_SECONDS=...``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).parents[2]
RUNS = 300
"""Executions per target in ``make test``: each target is reached, mutated and checked."""


def _inputs(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus_replays_through_the_oracles(target: str) -> None:
    inputs = _inputs(target)
    assert inputs, f"no seeds for {target}: run python -m tests.fuzz.seeds"
    for path in inputs:
        TARGETS[target](path.read_bytes())


def test_every_target_has_its_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(TARGETS)


def test_atheris_runs_every_target(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.atheris_main",
        "--work",
        str(tmp_path),
        "--jobs",
        "2",
        "all",
        "--",
        f"-runs={RUNS}",
        "-seed=1",
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == len(TARGETS)
    assert all(f"{RUNS} runs" in line and line.endswith("ok") for line in lines), done.stdout
