"""``GET /metrics``: the server's health in the Prometheus text format.

Each app has its own :class:`CollectorRegistry` (several servers in one process, as in tests,
must not share the global one), holding one collector that reads the numbers when scraped:
nothing is counted twice and the CoAP side pays nothing between scrapes.  The store's figures
appear when it has a ``stats()`` method (the SQLite and Redis stores do).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lwm2m.server import LwM2MServer
from lwm2m.web.auth import METRICS_PATH
from lwm2m.web.events import EventHub

_STORE_GAUGES = {
    "pending_writes": "Changes submitted to the store and not committed yet",
    "write_lag_seconds": "How long the oldest uncommitted change has waited",
    "last_commit_seconds": "Duration of the last commit",
    "connected": "1 while the store's backend takes writes (Redis), 0 while they are retried",
    "pending_keys": "Distinct keys the pending changes touch (Redis: the backlog held)",
}
_STORE_COUNTERS = {
    "commits": "Commits of the store's writer",
    "commit_seconds_total": "Time spent committing",
    "failed_rows": "Rows the database refused (logged and left out)",
    "retries": "Write rounds that failed and were tried again (Redis)",
}


def metrics_route(server: LwM2MServer, hub: EventHub, store: object | None) -> Route:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_ServerCollector(server, hub, store))

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, metrics, methods=["GET"])


class _ServerCollector(Collector):
    def __init__(self, server: LwM2MServer, hub: EventHub, store: object | None) -> None:
        self._server = server
        self._hub = hub
        self._store = store

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        yield GaugeMetricFamily(
            "lwm2m_sse_subscribers", "Open event streams", value=hub.subscriber_count
        )
        yield GaugeMetricFamily(
            "lwm2m_sse_subscribers_limit", "Most event streams open at once", hub.max_subscribers
        )
        yield CounterMetricFamily(
            "lwm2m_sse_dropped_events",
            "Events a slow event stream skipped (summed over streams)",
            hub.dropped_events,
        )
        yield CounterMetricFamily(
            "lwm2m_sse_refused_subscribers",
            "Event streams refused because the limit was reached",
            hub.refused_subscribers,
        )
        yield GaugeMetricFamily(
            "lwm2m_sse_backlog_events", "Recent events held for Last-Event-ID", hub.backlog
        )
        registrations = self._server.registrations
        count = len(registrations) if isinstance(registrations, Sized) else len(registrations.all())
        yield GaugeMetricFamily("lwm2m_registrations", "Registered devices", count)
        yield from self._store_metrics()

    def _store_metrics(self) -> Iterator[Metric]:
        stats = getattr(self._store, "stats", None)
        if not callable(stats):
            return
        figures = stats()
        for name, help_text in _STORE_GAUGES.items():
            value = getattr(figures, name, None)
            if value is not None:
                yield GaugeMetricFamily(f"lwm2m_store_{name}", help_text, value)
        for name, help_text in _STORE_COUNTERS.items():
            value = getattr(figures, name, None)
            if value is not None:
                # The client library adds the _total suffix of counters itself.
                metric = f"lwm2m_store_{name.removesuffix('_total')}"
                yield CounterMetricFamily(metric, help_text, value)
