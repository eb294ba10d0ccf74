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
# clients: 1.5 s pauses, measured by `lwm2m bench`), so full passes come only every 100
# million net allocations (10,000 x 10 x 1,000).  A middle-generation pass walks everything
# the young passes since the last one kept: a registration flood keeps most of it, so that
# is at most 100,000 objects here (about 50 ms of CPU) where (50,000, 20, 100) let it reach a
# million (220-250 ms).  Figures: docs/benchmarks.md#garbage-collection-pauses.
GC_THRESHOLDS = (10_000, 10, 1_000)


def tune_garbage_collector() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (a dependency everywhere but Windows), else asyncio's."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop
