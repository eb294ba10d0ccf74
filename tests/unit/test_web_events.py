"""``GET /api/events``: SSE framing, keep-alives, resumable ids, the stream limit, and events
dropped for (only) a consumer that falls behind, without ever holding up the publisher."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx
import pytest

from lwm2m.model import ObjectLink
from lwm2m.web import EventHub
from lwm2m.web.events import (
    CLOSED,
    KEEPALIVE,
    NOT_RESUMED,
    TooManySubscribersError,
    dropped_comment,
    sse_frame,
)
from lwm2m.web.serving import WebServer
from tests.unit.test_web_api import FakeServer


@dataclass
class Event:
    endpoint: str
    extra: object = None

    def to_json(self) -> dict[str, object]:
        return {"type": "registered", "endpoint": self.endpoint, "extra": self.extra}


def test_a_frame_is_an_id_and_one_data_line_of_compact_json() -> None:
    frame = sse_frame({"type": "updated", "endpoint": "zähler\n1", "lifetime": 300}, "ab-7")
    assert frame == 'id: ab-7\ndata: {"type":"updated","endpoint":"zähler\\n1","lifetime":300}\n\n'


def parse(chunk: str) -> list[tuple[str, dict[str, object]]]:
    """The (id, data) of each event in a chunk of frames; comments are left out."""
    events = []
    for frame in chunk.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if line[:1] != ":")
        if fields:
            events.append((fields["id"], json.loads(fields["data"])))
    return events


def endpoints(chunk: str) -> list[object]:
    return [data["endpoint"] for _, data in parse(chunk)]


async def test_every_stream_gets_every_event_in_order() -> None:
    fake = FakeServer()
    hub = EventHub(fake, flush_interval=0)  # type: ignore[arg-type]
    first, second = hub.open(), hub.open()
    for name in ("a", "b"):
        fake.emit(Event(name))
    for stream in (first, second):
        assert endpoints(await anext(stream)) == ["a", "b"]


async def test_an_idle_stream_gets_keepalive_comments() -> None:
    hub = EventHub(FakeServer(), keepalive=0.01)  # type: ignore[arg-type]
    stream = hub.open()
    assert await asyncio.wait_for(anext(stream), 1) == KEEPALIVE


async def test_a_slow_consumer_loses_events_the_others_do_not() -> None:
    fake = FakeServer()
    hub = EventHub(fake, backlog=2, flush_interval=0)  # type: ignore[arg-type]
    slow, fast = hub.open(), hub.open()
    for name in ("a", "b", "c"):
        fake.emit(Event(name))
        assert endpoints(await anext(fast)) == [name]
    fake.emit(Event("d"))
    # The slow stream is still open: it learns that a and b are gone, then gets c and d.
    assert hub.subscriber_count == 2
    assert await anext(slow) == dropped_comment(2)
    assert endpoints(await anext(slow)) == ["c", "d"]
    assert endpoints(await anext(fast)) == ["d"]
    assert hub.dropped_events == 2


async def test_publishing_never_waits_for_streams_and_memory_stays_bounded() -> None:
    fake = FakeServer()
    hub = EventHub(fake, max_subscribers=2000, backlog=100)  # type: ignore[arg-type]
    idle = [hub.open() for _ in range(1000)]
    waiting = [asyncio.ensure_future(anext(stream)) for stream in idle[:500]]
    await asyncio.sleep(0)  # half of them wait for events, half were never read at all
    for n in range(20_000):
        fake.emit(Event(f"ep-{n}"))  # a plain call: nothing to await, nobody to wait for
    assert hub.backlog == 100  # the ring, shared by every stream, is all that grows
    assert not any(task.done() for task in waiting)  # nobody was woken per event
    first = await asyncio.wait_for(waiting[0], 5)
    assert first == dropped_comment(20_000 - 100)
    assert endpoints(await anext(idle[0])) == [f"ep-{n}" for n in range(19_900, 20_000)]
    hub.close()
    await asyncio.gather(*waiting)


async def test_a_stream_resumes_after_its_last_event_id() -> None:
    fake = FakeServer()
    hub = EventHub(fake, backlog=10, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open()
    for name in ("a", "b", "c"):
        fake.emit(Event(name))
    (first_id, _), *_ = parse(await anext(stream))
    resumed = hub.open(first_id)
    assert endpoints(await anext(resumed)) == ["b", "c"]
    for unknown in ("another-run-1", "garbage", first_id.split("-")[0] + "-99"):
        assert await anext(hub.open(unknown)) == NOT_RESUMED


async def test_a_resumed_stream_is_told_what_left_the_ring() -> None:
    fake = FakeServer()
    hub = EventHub(fake, backlog=2, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(Event("a"))
    [(last_id, _)] = parse(await anext(stream))
    for name in ("b", "c", "d"):
        fake.emit(Event(name))
    resumed = hub.open(last_id)
    assert await anext(resumed) == dropped_comment(1)
    assert endpoints(await anext(resumed)) == ["c", "d"]


async def test_streams_past_the_limit_are_refused_and_closed_ones_free_their_slot() -> None:
    hub = EventHub(FakeServer(), max_subscribers=2, keepalive=0.01)  # type: ignore[arg-type]
    first, _second = hub.open(), hub.open()
    with pytest.raises(TooManySubscribersError):
        hub.open()
    assert hub.refused_subscribers == 1
    await anext(first)
    await first.aclose()
    third = hub.open()
    del _second  # a stream whose response never started is freed, not leaked
    assert hub.subscriber_count == 1
    assert await anext(third) == KEEPALIVE


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"\x00\xff", "AP8="),
        (2**64 - 1, 2**64 - 1),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (ObjectLink(3, 0), "3:0"),
        ("a\udc80b", "a\ufffdb"),
        ({"nested": [float("nan")]}, {"nested": ["nan"]}),
    ],
)
async def test_any_value_is_serialized_and_the_stream_goes_on(value: object, shown: object) -> None:
    fake = FakeServer()
    hub = EventHub(fake, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(Event("poison", extra=value))
    fake.emit(Event("next"))
    chunk = await anext(stream)
    chunk.encode("utf-8")  # what the HTTP server does with it
    [(_, poison), (_, following)] = parse(chunk)
    assert poison["extra"] == shown and following["endpoint"] == "next"


async def test_an_event_whose_to_json_fails_is_a_comment(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def to_json(self) -> dict[str, object]:
            raise RuntimeError("bug")

    fake = FakeServer()
    hub = EventHub(fake, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open()
    fake.emit(Broken())
    fake.emit(Event("good"))
    chunk = await anext(stream)
    assert endpoints(chunk) == ["good"] and "could not be serialized" in chunk
    assert "cannot serialize Broken" in caplog.text


async def test_close_ends_every_stream_and_unsubscribes() -> None:
    fake = FakeServer()
    hub = EventHub(fake)  # type: ignore[arg-type]
    stream = hub.open()
    hub.close()
    fake.emit(Event("a"))  # after close: not delivered
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
            assert (await anext(lines)).startswith("id: ")
            assert await anext(lines) == "event: registered"
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
