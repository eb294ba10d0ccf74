"""Coverage-guided fuzzing of the targets in :data:`tests.fuzz.targets.TARGETS` with atheris.

``python -m tests.fuzz.atheris_main [--work DIR] [--jobs N] TARGET... -- [libFuzzer options]``
(``all`` for every target).  The lwm2m package is instrumented once (that takes seconds), then
each target runs in a forked child with the corpora ``DIR/corpus/TARGET`` (where libFuzzer
adds what it finds) and ``tests/fuzz/corpus/TARGET`` (the committed seeds, only read), crash
inputs in ``DIR/artifacts/`` and libFuzzer's log in ``DIR/logs/TARGET.log``.  Pass
``-runs=N`` for a bounded run or ``-max_total_time=S`` for a long one (``make fuzz``).

A crash input reproduces with ``python -m tests.fuzz.atheris_main TARGET -- CRASH_FILE`` or,
uninstrumented, ``TARGETS[name](data)``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["lwm2m"]):
    from tests.fuzz import oracles
    from tests.fuzz.targets import TARGETS

SEEDS = Path(__file__).parent / "corpus"
_DONE = re.compile(rb"Done (\d+) runs in (\d+) second")
_COVERAGE = re.compile(rb"cov: (\d+) ft: (\d+)")


def _child(name: str, work: Path, options: list[str]) -> None:
    """Runs in the forked child: libFuzzer never returns (it exits the process)."""
    log = os.open(work / "logs" / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 2)
    corpus = work / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    inputs = [arg for arg in options if not arg.startswith("-")]
    flags = [arg for arg in options if arg.startswith("-")]
    dirs = [] if inputs else [str(corpus), str(SEEDS / name)]
    argv = [
        sys.argv[0],
        f"-artifact_prefix={work / 'artifacts'}/{name}-",
        *flags,
        *dirs,
        *inputs,
    ]
    atheris.Setup(argv, TARGETS[name])
    atheris.Fuzz()


def _report(name: str, work: Path, status: int, seconds: float) -> str:
    text = (work / "logs" / f"{name}.log").read_bytes()
    done = _DONE.findall(text)
    coverage = _COVERAGE.findall(text)
    runs = int(done[-1][0]) if done else 0
    cov = coverage[-1][0].decode() if coverage else "?"
    verdict = "ok" if status == 0 else f"FAILED (exit {status}, see {work}/logs/{name}.log)"
    rate = runs / seconds if seconds > 0 else 0.0
    return f"{name:18} {runs:9} runs {rate:8.0f} exec/s  cov {cov:>5}  {verdict}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("var/fuzz"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("targets", nargs="+")
    own = sys.argv[1:]
    libfuzzer: list[str] = []
    if "--" in own:
        split = own.index("--")
        own, libfuzzer = own[:split], own[split + 1 :]
    args = parser.parse_args(own)
    names = list(TARGETS) if args.targets == ["all"] else args.targets
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {' '.join(TARGETS)}")
    work: Path = args.work
    for sub in ("logs", "artifacts", "corpus"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    options = libfuzzer
    running: dict[int, tuple[str, float]] = {}
    failed = 0
    pending = list(names)
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            name = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(name, work, options)
                os._exit(0)  # not reached: libFuzzer exits
            running[pid] = (name, time.monotonic())
        pid, status = os.wait()
        name, started = running.pop(pid)
        shutil.rmtree(oracles.store_directory(pid), ignore_errors=True)
        code = os.waitstatus_to_exitcode(status)
        failed += code != 0
        print(_report(name, work, code, time.monotonic() - started), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
