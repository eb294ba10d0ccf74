"""One log format for our loggers and uvicorn's, JSON lines with the endpoint, escaped text, and
every device lifecycle event at INFO with its endpoint."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lwm2m.cli.logs import LifecycleLog, configure_logging
from lwm2m.server import Deregistered, Expired, QueueDrained, Registered, Updated
from lwm2m.server.registration import Registration

EP = "urn:imei:490154203237518"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def registration(endpoint: str = EP) -> Registration:
    return Registration(
        endpoint=endpoint,
        registration_id="r1",
        lwm2m_version="1.1",
        binding="UQ",
        lifetime=300,
        queue_mode=True,
        sms=None,
        address=("192.0.2.1", 5683),
        root_path="/",
        object_links=(),
        registered_at=1_700_000_000.0,
        last_seen=1_700_000_000.0,
    )


class FakeServer:
    def __init__(self) -> None:
        self.subscribers: list[Callable[[Any], None]] = []

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)


def test_json_lines_carry_time_level_logger_message_and_endpoint(restore_logging: None) -> None:
    out = io.StringIO()
    stop = configure_logging("info", "json", out)
    fake = FakeServer()
    LifecycleLog(fake)  # type: ignore[arg-type]
    reg = registration()
    for event in (
        Registered(reg),
        Updated(reg, reg),
        QueueDrained(EP, 2),
        Deregistered(reg),
        Expired(reg),
    ):
        fake.subscribers[0](event)
    logging.getLogger("uvicorn.error").warning("from uvicorn")
    stop()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["endpoint"] for line in lines[:5]] == [EP] * 5
    assert {line["level"] for line in lines[:5]} == {"info"}
    assert lines[0]["logger"] == "lwm2m.devices"
    assert lines[0]["message"].startswith(f"{EP} registered: LwM2M 1.1, binding UQ, lifetime 300 s")
    assert "2023-11-14T22:18:20Z" in lines[0]["message"]  # an expiry as a date, not an epoch
    assert [line["message"].split(" ", 1)[1] for line in lines[2:5]] == [
        "woke: 2 queued requests sent",
        "de-registered",
        "expired: no Update within its lifetime",
    ]
    assert lines[5] == {**lines[5], "logger": "uvicorn.error", "message": "from uvicorn"}
    assert set(lines[0]) == {"time", "level", "logger", "message", "endpoint"}
    assert lines[0]["time"].endswith("+00:00")


def test_text_lines_escape_what_could_forge_a_line(restore_logging: None) -> None:
    out = io.StringIO()
    stop = configure_logging("info", "text", out)
    logging.getLogger("lwm2m.test").info("endpoint %s", "evil\n2024 INFO forged")
    stop()
    assert out.getvalue().count("\n") == 1
    assert "evil\\n2024 INFO forged" in out.getvalue()
    assert " INFO lwm2m.test: endpoint evil" in out.getvalue()
