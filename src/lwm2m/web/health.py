"""``GET /health`` and ``GET /ready``: probes for an orchestrator or a load balancer.

``/health`` (liveness) answers 200 whenever the event loop runs the HTTP server: a process that
no longer answers it should be restarted.  ``/ready`` (readiness) answers 200 only when the
server can do its job: its CoAP listeners are bound and its store takes writes (connected, for
Redis, and no change waiting longer than :data:`MAX_WRITE_LAG`); otherwise 503 with the reasons,
so that traffic goes elsewhere until it recovers.  Neither needs the API token (a probe has
none) nor an allowed ``Host`` (a probe addresses the pod or machine by its IP), and neither
says more than that.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lwm2m.server import LwM2MServer
from lwm2m.web.auth import PROBE_PATHS

HEALTH_PATH, READY_PATH = PROBE_PATHS

MAX_WRITE_LAG = 10.0
"""Seconds a change may wait for the store before the server stops calling itself ready: a
store that far behind loses that much on a crash, and strict durability holds answers back."""


def health_routes(server: LwM2MServer, store: object | None) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        reasons = not_ready_reasons(server, store)
        if reasons:
            return JSONResponse({"status": "unavailable", "reasons": reasons}, 503)
        return JSONResponse({"status": "ok"})

    return [
        Route(HEALTH_PATH, health, methods=["GET"]),
        Route(READY_PATH, ready, methods=["GET"]),
    ]


def not_ready_reasons(server: LwM2MServer, store: object | None) -> list[str]:
    """Why the server cannot serve now, one sentence each; empty when it can."""
    reasons = []
    if not _listening(server):
        reasons.append("the CoAP listeners are not bound")
    stats = getattr(store, "stats", None)
    if callable(stats):
        figures = stats()
        if not getattr(figures, "connected", True):
            reasons.append("the store does not take writes (disconnected, retrying)")
        lag = getattr(figures, "write_lag_seconds", 0.0)
        if lag > MAX_WRITE_LAG:
            reasons.append(f"the store is {lag:.1f} s behind (more than {MAX_WRITE_LAG:.0f} s)")
    return reasons


def _listening(server: LwM2MServer) -> bool:
    try:
        return bool(server.coap_address)
    except RuntimeError:  # not started, or stopped
        return False
