"""Shared test configuration: Hypothesis profiles and the location of ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LWM2M_SHARED", REPO_ROOT.parent / "shared"))
OMA_REGISTRY = SHARED / "oma-registry"


@pytest.fixture(scope="session")
def oma_registry_dir() -> Path:
    if not OMA_REGISTRY.is_dir():
        pytest.fail(f"OMA registry files not found at {OMA_REGISTRY} (set LWM2M_SHARED)")
    return OMA_REGISTRY
