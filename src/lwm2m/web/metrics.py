"""``GET /metrics``: the server's health in the Prometheus text format.

Each app has its own :class:`CollectorRegistry` (several servers in one process, as in tests,
must not share the global one), holding one collector that builds every family when scraped.
What happens between scrapes is counted in plain integers by :class:`ServerMetrics`, which
subscribes to the server's events and request outcomes: an ``int`` increment per event, one
``bisect`` per finished request, no lock and no label lookup on the CoAP path.  Gauges
(registrations by binding and version, queue depth, sessions, the store's writer) are read
when scraped.  The store's figures appear when it has a ``stats()`` method (the SQLite and
Redis stores do).  The event loop's lag is sampled by a task while the HTTP server runs.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter
from collections.abc import Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lwm2m.coap.codes import Code
from lwm2m.operations import (
    CreatedResponse,
    EmptyResponse,
    ErrorResponse,
    LinksResponse,
    NodeResponse,
    ValuesResponse,
)
from lwm2m.operations import Response as DeviceAnswer
from lwm2m.server import LwM2MServer, ServerEvent
from lwm2m.server.errors import RequestTimeoutError
from lwm2m.server.events import (
    Deregistered,
    Expired,
    NotificationReceived,
    QueueDrained,
    Registered,
    SendReceived,
    Updated,
)
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
_DTLS_COUNTERS = {
    "handshakes_completed": "DTLS handshakes that established a session",
    "handshakes_failed": "DTLS handshakes that failed or timed out",
    "hello_verify_requests": "DTLS cookie exchanges (HelloVerifyRequests sent)",
    "dropped_datagrams": "DTLS datagrams dropped as undecryptable or unexpected",
    "evicted": "DTLS handshakes or sessions evicted to stay within the caps",
}
_LIFECYCLE = {
    "registers": "Registers (a new registration, or one replacing the endpoint's last)",
    "registration_updates": "Registration Updates",
    "deregistrations": "De-registers",
    "registration_expiries": "Registrations that expired (no Update within their lifetime)",
    "notifications": "Notifications received",
    "send_values": "Values received in Sends (POST /dp)",
    "drained_requests": "Queued requests sent when their queue-mode device spoke",
}

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds from a request's submission to its answer (a queue-mode device's wait included)."""
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_INTERVAL = 0.5
"""Seconds between two event-loop lag samples."""


class _Histogram:
    """Bucket counts, sum and count; what Prometheus needs, and no more work per value."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, out = 0, list[tuple[str, float]]()
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return out


class ServerMetrics:
    """Counts the server's events and requests; :meth:`route` serves them."""

    def __init__(self, server: LwM2MServer, hub: EventHub, store: object | None) -> None:
        self._server = server
        self._hub = hub
        self._store = store
        self.counts: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.latency: dict[str, _Histogram] = {}
        self.loop_lag = _Histogram(LAG_BUCKETS)
        self.last_lag = 0.0
        self._sampler: asyncio.Task[None] | None = None
        self._handlers = {
            Registered: lambda event: self._count("registers"),
            Updated: lambda event: self._count("registration_updates"),
            Deregistered: lambda event: self._count("deregistrations"),
            Expired: lambda event: self._count("registration_expiries"),
            NotificationReceived: lambda event: self._count("notifications"),
            SendReceived: self._sent,
            QueueDrained: self._drained,
        }
        self._unsubscribe = server.subscribe(self._on_event)
        self._unobserve = server.observe_requests(self._on_request)
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_ServerCollector(self))
        self._registry = registry

    def route(self) -> Route:
        async def metrics(request: Request) -> Response:
            return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)

        return Route(METRICS_PATH, metrics, methods=["GET"])

    def start(self) -> None:
        """Sample the event loop's lag until :meth:`close` (needs a running loop)."""
        if self._sampler is None:
            self._sampler = asyncio.create_task(self._sample_lag())

    def close(self) -> None:
        self._unsubscribe()
        self._unobserve()
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.last_lag = max(0.0, loop.time() - due)
            self.loop_lag.add(self.last_lag)

    # -- counting: called on the CoAP path, so cheap -------------------------------------------

    def _on_event(self, event: ServerEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _count(self, name: str) -> None:
        self.counts[name] += 1

    def _sent(self, event: SendReceived) -> None:
        self.counts["send_values"] += sum(len(batch.values) for batch in event.batches)

    def _drained(self, event: QueueDrained) -> None:
        self.counts["drained_requests"] += event.count

    def _on_request(
        self, operation: str, outcome: DeviceAnswer | BaseException, seconds: float
    ) -> None:
        self.requests[operation, result_label(operation, outcome)] += 1
        histogram = self.latency.get(operation)
        if histogram is None:
            histogram = self.latency[operation] = _Histogram(LATENCY_BUCKETS)
        histogram.add(seconds)


def result_label(operation: str, outcome: DeviceAnswer | BaseException) -> str:
    """The CoAP code a request ended with (``2.05``, ``4.04``), or ``timeout``, ``cancelled``
    (the caller gave up) or ``failed`` (no usable answer: RST, the server stopped...)."""
    kind = type(outcome)
    if kind in _CONTENT:
        return _CONTENT_LABEL
    if isinstance(outcome, ErrorResponse):
        return outcome.code.dotted
    if kind is EmptyResponse:
        return _DELETED_LABEL if operation == "Delete" else _CHANGED_LABEL
    if kind is CreatedResponse:
        return _CREATED_LABEL
    if isinstance(outcome, RequestTimeoutError):
        return "timeout"
    return "cancelled" if isinstance(outcome, asyncio.CancelledError) else "failed"


_CONTENT = frozenset({NodeResponse, ValuesResponse, LinksResponse})
_CONTENT_LABEL, _CHANGED_LABEL = Code.CONTENT.dotted, Code.CHANGED.dotted
_DELETED_LABEL, _CREATED_LABEL = Code.DELETED.dotted, Code.CREATED.dotted


class _ServerCollector(Collector):
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        yield from self._event_streams(metrics._hub)
        yield from self._registrations(metrics._server)
        for name, help_text in _LIFECYCLE.items():
            yield CounterMetricFamily(f"lwm2m_{name}", help_text, metrics.counts[name])
        yield from self._requests(metrics)
        yield from self._transports(metrics._server)
        yield GaugeMetricFamily(
            "lwm2m_event_loop_lag_seconds", "Lag of the last event-loop sample", metrics.last_lag
        )
        lag = HistogramMetricFamily(
            "lwm2m_event_loop_lag", "How late the event loop ran a timer due every 0.5 s (s)"
        )
        lag.add_metric([], metrics.loop_lag.buckets(), metrics.loop_lag.total)
        yield lag
        yield from self._store_metrics(metrics._store)

    @staticmethod
    def _event_streams(hub: EventHub) -> Iterator[Metric]:
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

    @staticmethod
    def _registrations(server: LwM2MServer) -> Iterator[Metric]:
        registrations = server.registrations.all()
        yield GaugeMetricFamily("lwm2m_registrations", "Registered devices", len(registrations))
        by_kind = Counter((r.binding, r.lwm2m_version) for r in registrations)
        family = GaugeMetricFamily(
            "lwm2m_registrations_by_binding",
            "Registered devices by binding (b=) and LwM2M version (lwm2m=)",
            labels=["binding", "version"],
        )
        for (binding, version), count in sorted(by_kind.items()):
            family.add_metric([binding, version], count)
        yield family

    @staticmethod
    def _requests(metrics: ServerMetrics) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "lwm2m_requests",
            "Server-initiated requests by operation and result (CoAP code, timeout, failed)",
            labels=["operation", "result"],
        )
        for (operation, result), count in sorted(metrics.requests.items()):
            requests.add_metric([operation, result], count)
        yield requests
        latency = HistogramMetricFamily(
            "lwm2m_request_duration_seconds",
            "Seconds from a request's submission to its end, queued time included",
            labels=["operation"],
        )
        for operation, histogram in sorted(metrics.latency.items()):
            latency.add_metric([operation], histogram.buckets(), histogram.total)
        yield latency

    @staticmethod
    def _transports(server: LwM2MServer) -> Iterator[Metric]:
        queued, dtls, connections = server.load()
        yield GaugeMetricFamily(
            "lwm2m_queued_requests", "Requests waiting for sleeping queue-mode devices", queued
        )
        yield GaugeMetricFamily(
            "lwm2m_dtls_sessions", "Established DTLS sessions", server.dtls_sessions
        )
        yield GaugeMetricFamily(
            "lwm2m_stream_connections", "Open CoAP over TCP and TLS connections", connections
        )
        oscore = server.oscore
        yield GaugeMetricFamily(
            "lwm2m_oscore_contexts",
            "OSCORE security contexts the server holds",
            0 if oscore is None else len(oscore),
        )
        if dtls is not None:
            for name, help_text in _DTLS_COUNTERS.items():
                yield CounterMetricFamily(f"lwm2m_dtls_{name}", help_text, getattr(dtls, name))

    @staticmethod
    def _store_metrics(store: object | None) -> Iterator[Metric]:
        stats = getattr(store, "stats", None)
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
