"""``GET /metrics``: Prometheus text that the client library's own parser reads, one registry
per app, the store's figures when it has ``stats()``, and the API token when one is set."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from lwm2m.web import EventHub, create_app
from tests.unit.test_web_api import FakeServer


@dataclass(frozen=True)
class Stats:
    """What SqliteStore.stats() returns (StoreStats)."""

    pending_writes: int = 3
    write_lag_seconds: float = 0.25
    commits: int = 42
    commit_seconds_total: float = 1.5
    last_commit_seconds: float = 0.01
    failed_rows: int = 1


class StoreWithStats:
    def stats(self) -> Stats:
        return Stats()


async def scrape(app: object, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        return await http.get("/metrics", headers=headers)


def samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_show_streams_registrations_and_the_store() -> None:
    fake = FakeServer()
    hub = EventHub(fake, max_subscribers=5, backlog=1, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(object())
    fake.emit(object())
    await anext(stream)  # one event left the ring before it was read: dropped
    response = await scrape(create_app(fake, events=hub, store=StoreWithStats()))  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    expected = {
        "lwm2m_sse_subscribers": 1,
        "lwm2m_sse_subscribers_limit": 5,
        "lwm2m_sse_dropped_events_total": 1,
        "lwm2m_sse_refused_subscribers_total": 0,
        "lwm2m_sse_backlog_events": 1,
        "lwm2m_registrations": 1,
        "lwm2m_store_pending_writes": 3,
        "lwm2m_store_write_lag_seconds": 0.25,
        "lwm2m_store_last_commit_seconds": 0.01,
        "lwm2m_store_commits_total": 42,
        "lwm2m_store_commit_seconds_total": 1.5,
        "lwm2m_store_failed_rows_total": 1,
    }
    assert samples(response.text).items() >= expected.items()


async def test_two_apps_in_one_process_and_a_store_without_stats() -> None:
    first, second = create_app(FakeServer()), create_app(FakeServer(), store=object())  # type: ignore[arg-type]
    for app in (first, second):
        names = samples((await scrape(app)).text)
        assert names["lwm2m_registrations"] == 1
        assert not any(name.startswith("lwm2m_store_") for name in names)


async def test_metrics_need_the_api_token_when_one_is_set() -> None:
    app = create_app(FakeServer(), auth="t0ken")  # type: ignore[arg-type]
    assert (await scrape(app)).status_code == 401
    assert (await scrape(app, Authorization="Bearer t0ken")).status_code == 200
