"""``GET /api/clients`` at fleet size (pages behind a cursor, filters, order) and
``GET /api/events`` for one device (event names, ids, replay from the history store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from lwm2m.model import Path
from lwm2m.server import LwM2MServer, NotificationReceived
from lwm2m.server.registration import HistoryEntry, Registration
from lwm2m.web import EventHub
from lwm2m.web.app import create_app


def registration(n: int, *, binding: str = "U", version: str = "1.1") -> Registration:
    return Registration(
        f"urn:imei:{n:015d}",
        f"r{n}",
        version,
        binding,
        300,
        "Q" in binding,
        None,
        ("127.0.0.1", 40000 + n),
        "/",
        (),
        registered_at=1000.0 + (n * 7919) % 500,
        last_seen=2000.0 - n,
    )


@pytest.fixture
def fleet() -> LwM2MServer:
    server = LwM2MServer()
    for n in range(250):
        binding = "UQ" if n % 5 == 0 else "U"
        server.registrations.put(
            registration(n, binding=binding, version="1.0" if n % 2 else "1.1")
        )
    return server


async def pages(server: LwM2MServer, query: str) -> tuple[list[list[str]], list[int]]:
    """Every page of ``/api/clients?query``, followed through the Link header."""
    app = create_app(server)
    seen: list[list[str]] = []
    totals = []
    url: str | None = "/api/clients?" + query
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        while url is not None:
            answer = await http.get(url)
            assert answer.status_code == 200, answer.text
            seen.append([device["endpoint"] for device in answer.json()])
            totals.append(int(answer.headers["x-total-count"]))
            link = answer.headers.get("link")
            url = None if link is None else link.split(">")[0].lstrip("<")
            assert len(seen) < 100
    return seen, totals


async def test_pages_cover_the_fleet_once_in_order(fleet: LwM2MServer) -> None:
    seen, totals = await pages(fleet, "limit=100")
    assert [len(page) for page in seen] == [100, 100, 50]
    flat = [ep for page in seen for ep in page]
    assert flat == sorted(r.endpoint for r in fleet.registrations.all())
    assert totals == [250, 250, 250]


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("-endpoint", lambda r: r.endpoint),
        ("registeredAt", lambda r: (r.registered_at, r.endpoint)),
        ("-lastSeen", lambda r: (r.last_seen, r.endpoint)),
    ],
)
async def test_every_order_pages_without_gaps_or_repeats(
    fleet: LwM2MServer, sort: str, key: Callable[[Registration], Any]
) -> None:
    seen, _ = await pages(fleet, f"limit=33&sort={sort}")
    flat = [ep for page in seen for ep in page]
    expected = sorted(fleet.registrations.all(), key=key, reverse=sort.startswith("-"))
    assert flat == [r.endpoint for r in expected]


async def test_a_page_boundary_survives_devices_joining_before_it(fleet: LwM2MServer) -> None:
    app = create_app(fleet)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        first = await http.get("/api/clients?limit=10")
        fleet.registrations.put(replace(registration(0), endpoint="urn:imei:0"))  # sorts first
        link = first.headers["link"].split(">")[0].lstrip("<")
        second = await http.get(link)
    assert second.json()[0]["endpoint"] == "urn:imei:000000000000010"


async def test_filters_combine(fleet: LwM2MServer) -> None:
    seen, _ = await pages(fleet, "binding=Q&version=1.1&q=IMEI:00000000000001")
    # n % 5 == 0, n even, endpoint contains ...00001x: n in 10..19 -> 10
    assert seen == [["urn:imei:000000000000010"]]
    (queue,), _ = await pages(fleet, "queueMode=true&limit=1000")
    assert len(queue) == 50


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "sort=name", "queueMode=yes", "cursor=bad!", "limit=1&limit=2"],
)
async def test_bad_listing_queries_are_400(fleet: LwM2MServer, query: str) -> None:
    app = create_app(fleet)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        answer = await http.get("/api/clients?" + query)
    assert answer.status_code == 400
    assert answer.json()["message"]


async def test_a_cursor_of_another_order_is_refused(fleet: LwM2MServer) -> None:
    app = create_app(fleet)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        first = await http.get("/api/clients?limit=5&sort=lastSeen")
        cursor = first.headers["link"].split("cursor=")[1].split(">")[0].split("&")[0]
        answer = await http.get(f"/api/clients?limit=5&sort=endpoint&cursor={cursor}")
    assert answer.status_code == 400


class HistoryServer:
    """What EventHub needs of a server: subscribe, and the history store's query."""

    def __init__(self, history: list[HistoryEntry]) -> None:
        self.callbacks: list[Callable[[Any], None]] = []
        self.stored = history

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: None

    def emit(self, event: Any) -> None:
        for callback in self.callbacks:
            callback(event)

    def history(self, endpoint: str, path: Path, limit: int) -> list[HistoryEntry]:
        return self.stored[-limit:] if endpoint == "a" else []


def frames(chunk: str) -> list[dict[str, str]]:
    return [
        dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        for frame in chunk.split("\n\n")
        if frame and not frame.startswith(":")
    ]


def note(endpoint: str, value: int) -> NotificationReceived:
    return NotificationReceived(endpoint, Path.of(3, 0, 9), {Path.of(3, 0, 9): value}, 112, value)


async def test_a_stream_follows_one_endpoint_with_named_events() -> None:
    server = HistoryServer([])
    hub = EventHub(server, flush_interval=0)  # type: ignore[arg-type]
    stream = hub.open(endpoint="a")
    for endpoint, value in (("a", 1), ("b", 2), ("a", 3)):
        server.emit(note(endpoint, value))
    shown = frames(await anext(stream))
    assert [f["event"] for f in shown] == ["notification", "notification"]
    assert [json.loads(f["data"])["values"] for f in shown] == [{"/3/0/9": 1}, {"/3/0/9": 3}]
    _, number, millis = shown[0]["id"].split("-")
    assert number.isdigit() and millis.isdigit()


async def test_what_left_the_ring_is_replayed_from_the_history_store() -> None:
    stored = [HistoryEntry(t, Path.of(3, 0, 9), t) for t in (10.0, 20.0, 30.0)]
    server = HistoryServer(stored)
    hub = EventHub(server, backlog=2, flush_interval=0)  # type: ignore[arg-type]
    # an id of an earlier run of the server (a restart), seen at t = 15 s
    resumed = hub.open("0000-7-15000", endpoint="a")
    replay = await anext(resumed)
    shown = frames(replay)
    assert [f["event"] for f in shown] == ["history", "history"]
    assert [json.loads(f["data"])["time"] for f in shown] == [20.0, 30.0]
    since = frames(await anext(hub.open(endpoint="a", since=25.0)))
    assert [json.loads(f["data"])["value"] for f in since] == [30.0]
    # without an endpoint there is no replay: the stream says what it could not resume
    assert "cannot resume" in await anext(hub.open("0000-7-15000"))


async def test_since_needs_an_endpoint() -> None:
    app = create_app(LwM2MServer())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        answer = await http.get("/api/events?since=10")
    assert answer.status_code == 400
