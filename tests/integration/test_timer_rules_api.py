"""The server's timer-rule watch over loopback: our Telekom-profile device registering with a
lifetime above its PSM timer is reported (event, device JSON, ``lwm2m check``), and a
Write-Attributes breaking a rule is refused by a server enforcing them (REST 400)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.profile import PSM_TIMER, ServerAccount, telekom_device
from lwm2m.compliance import RestSource, ServerSource, check, collect
from lwm2m.server import LwM2MServer, ServerConfig, ServerEvent, TimerRuleViolated
from lwm2m.web.serving import WebServer

pytestmark = pytest.mark.timeout(60)

EP = "urn:imei:490154203237518"
LIFETIME = PSM_TIMER + 3600
DETAIL = f"T3412 {PSM_TIMER} s (/10/0/4 PSM Timer) is not > lifetime {LIFETIME} s (registration)"


@dataclass
class Setup:
    server: LwM2MServer
    url: str
    events: list[ServerEvent]


async def eventually(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    config = ServerConfig(
        host="127.0.0.1", coap_port=0, read_timer_objects=True, enforce_timer_rules=True
    )
    server = LwM2MServer(config)
    events: list[ServerEvent] = []
    server.subscribe(events.append)
    await server.start()
    web = WebServer(server, host="127.0.0.1", port=0)
    await web.start()
    account = ServerAccount(1, f"coap://127.0.0.1:{server.coap_address[1]}", lifetime=LIFETIME)
    tree = telekom_device(EP, seed=5, now=time.time(), servers=[account])
    client = LwM2MClient(tree, EP, local_address=("127.0.0.1", 0))
    await client.start()
    try:
        await eventually(lambda: server.timer_violations(EP))
        yield Setup(server, web.url, events)
    finally:
        await client.stop(timeout=2)
        await web.stop()
        await server.stop()


async def test_lifetime_above_the_psm_timer_is_reported_everywhere(setup: Setup) -> None:
    (event,) = [e for e in setup.events if isinstance(e, TimerRuleViolated)]
    assert (event.rule, event.comparison, event.scope) == (1, "T3412 > lifetime", "registration")
    assert event.detail == DETAIL
    async with httpx.AsyncClient(base_url=setup.url) as http:
        device = (await http.get(f"/api/clients/{EP}")).json()
    assert device["timerRuleViolations"] == [event.to_json()]
    local = check(await collect(ServerSource(setup.server, timeout=10), EP))
    remote = check(await collect(RestSource(setup.url, timeout=10), EP))
    assert local.timer_violations == remote.timer_violations == (event,)
    assert remote.to_json()["serverTimerViolations"] == [event.to_json()]


async def test_a_breaking_write_attributes_is_refused_when_enforced(setup: Setup) -> None:
    async with httpx.AsyncClient(base_url=setup.url) as http:
        refused = await http.put(f"/api/clients/{EP}/3/0/9/attributes?pmin=1&pmax={LIFETIME}")
        assert refused.status_code == 400
        assert "timer rule 1 (lifetime > pmax)" in refused.json()["message"]
        accepted = await http.put(f"/api/clients/{EP}/3/0/9/attributes?pmin=1&pmax=600")
        assert accepted.status_code == 200, accepted.text
