"""Every fuzz target by name: ``TARGETS[name](data)`` returns, or raises what it found."""

from __future__ import annotations

from collections.abc import Callable

from tests.fuzz.codec_targets import CODEC_TARGETS
from tests.fuzz.core_targets import CORE_TARGETS

TARGETS: dict[str, Callable[[bytes], None]] = {**CODEC_TARGETS, **CORE_TARGETS}
