"""How a server process runs: its event loop and its garbage collector.

Shared by ``lwm2m server`` and ``lwm2m bench`` so that the bench measures the server as it is
shipped.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

# Registrations, observations and their timers live as long as the devices do: with the
# default thresholds, full collections walk every one of them again and again (at 100,000
# clients: 1.5 s pauses, measured by `lwm2m bench`). Rarer young-generation passes and far
# rarer full ones keep the pauses away; cycles are still collected.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (a dependency everywhere but Windows), else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop
