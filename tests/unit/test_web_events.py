"""``GET /api/events``: SSE framing, keep-alives, and dropping a consumer that falls behind."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx
import pytest

from lwm2m.web import EventHub
from lwm2m.web.events import CLOSED, DROPPED, KEEPALIVE, sse_frame
from lwm2m.web.serving import WebServer
from tests.unit.test_web_api import FakeServer


@dataclass
class Event:
    endpoint: str
    extra: object = None

    def to_json(self) -> dict[str, object]:
        return {"type": "registered", "endpoint": self.endpoint, "extra": self.extra}


def test_a_frame_is_one_data_line_of_compact_json() -> None:
    frame = sse_frame({"type": "updated", "endpoint": "zähler\n1", "lifetime": 300})
    assert frame == 'data: {"type":"updated","endpoint":"zähler\\n1","lifetime":300}\n\n'


async def test_every_stream_gets_every_event_in_order() -> None:
    fake = FakeServer()
    hub = EventHub(fake)  # type: ignore[arg-type]
    first, second = hub.open(), hub.open()
    for name in ("a", "b"):
        fake.emit(Event(name))
    for stream in (first, second):
        assert [json.loads((await anext(stream))[6:])["endpoint"] for _ in range(2)] == ["a", "b"]


async def test_an_idle_stream_gets_keepalive_comments() -> None:
    hub = EventHub(FakeServer(), keepalive=0.01)  # type: ignore[arg-type]
    stream = hub.open()
    assert await asyncio.wait_for(anext(stream), 1) == KEEPALIVE


async def test_a_slow_consumer_is_dropped_and_the_others_keep_going() -> None:
    fake = FakeServer()
    hub = EventHub(fake, queue_size=2)  # type: ignore[arg-type]
    slow, fast = hub.open(), hub.open()
    for name in ("a", "b"):
        fake.emit(Event(name))
        await anext(fast)
    fake.emit(Event("c"))  # the slow stream's queue already holds a and b
    assert hub.subscriber_count == 1
    assert [frame async for frame in slow] == [DROPPED]
    assert '"c"' in await anext(fast)


async def test_an_event_that_is_not_json_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeServer()
    hub = EventHub(fake)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(Event("bad", extra=float("nan")))
    fake.emit(Event("good"))
    assert '"good"' in await anext(stream)
    assert "cannot serialize Event" in caplog.text


async def test_close_ends_every_stream_and_unsubscribes() -> None:
    fake = FakeServer()
    hub = EventHub(fake)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(Event("a"))
    hub.close()
    assert fake.subscribers == []
    assert [frame async for frame in stream] == [CLOSED]


async def test_a_stream_closed_by_its_reader_leaves_the_hub() -> None:
    hub = EventHub(FakeServer(), keepalive=0.01)  # type: ignore[arg-type]
    stream = hub.open()
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert hub.subscriber_count == 0


async def test_events_over_http_with_a_real_uvicorn() -> None:
    fake = FakeServer()
    web = WebServer(fake, port=0)  # type: ignore[arg-type]
    await web.start()
    try:
        async with (
            httpx.AsyncClient(base_url=web.url, timeout=5) as http,
            http.stream("GET", "/api/events") as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            fake.emit(Event("urn:imei:1"))
            lines = response.aiter_lines()
            assert json.loads((await anext(lines)).removeprefix("data: ")) == {
                "type": "registered",
                "endpoint": "urn:imei:1",
                "extra": None,
            }
            assert await anext(lines) == ""
    finally:
        await asyncio.wait_for(web.stop(), 10)


async def test_stopping_the_web_server_ends_open_event_streams() -> None:
    fake = FakeServer()
    web = WebServer(fake, port=0)  # type: ignore[arg-type]
    await web.start()
    async with (
        httpx.AsyncClient(base_url=web.url, timeout=5) as http,
        http.stream("GET", "/api/events") as response,
    ):
        stopping = asyncio.create_task(web.stop())
        body = [line async for line in response.aiter_lines()]
        assert body == [CLOSED.strip(), ""]
        await asyncio.wait_for(stopping, 5)
