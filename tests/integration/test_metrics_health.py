"""``/metrics``, ``/health`` and ``/ready`` of a real server under traffic: a device registers,
updates and de-registers over loopback UDP, the API reads it; prometheus_client's own parser
reads the text and the counters move."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.web.serving import WebServer

pytestmark = pytest.mark.timeout(60)

EP = "urn:imei:356938035643801"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def eventually(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def test_counters_move_under_traffic_and_probes_answer() -> None:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, coaps_port=None))
    await server.start()
    web = WebServer(server, host="127.0.0.1", port=0, auth="secret-token")
    await web.start()
    host, port = server.coap_address
    account = ServerAccount(short_server_id=1, uri=f"coap://{host}:{port}", lifetime=60)
    tree = telekom_device(EP, seed=3, now=time.time(), servers=[account])
    client = LwM2MClient(tree, EP, local_address=("127.0.0.1", 0), config=ClientConfig())
    token = {"Authorization": "Bearer secret-token"}
    try:
        async with httpx.AsyncClient(base_url=web.url) as http:
            before = samples((await http.get("/metrics", headers=token)).text)
            assert before[("lwm2m_registers_total", ())] == 0
            await client.start()
            await eventually(lambda: server.registrations.get(EP) is not None)
            answer = await http.get(f"/api/clients/{EP}/3/0/0", headers=token)
            assert answer.json()["status"] == "2.05"
            missing = await http.get(f"/api/clients/{EP}/3/0/99", headers=token)
            assert missing.json()["status"] == "4.04"

            after = samples((await http.get("/metrics", headers=token)).text)
            assert after[("lwm2m_registers_total", ())] == 1
            assert after[("lwm2m_registrations", ())] == 1
            kind = (("binding", "U"), ("version", "1.1"))
            assert after[("lwm2m_registrations_by_binding", kind)] == 1
            read_ok = (("operation", "Read"), ("result", "2.05"))
            assert after[("lwm2m_requests_total", read_ok)] == 1
            read_missing = (("operation", "Read"), ("result", "4.04"))
            assert after[("lwm2m_requests_total", read_missing)] == 1
            reads = (("operation", "Read"),)
            assert after[("lwm2m_request_duration_seconds_count", reads)] == 2
            assert after[("lwm2m_request_duration_seconds_sum", reads)] > 0
            assert after[("lwm2m_queued_requests", ())] == 0

            # Probes need neither the token nor an allowed Host.
            assert (await http.get("/health", headers={"Host": "10.1.2.3"})).status_code == 200
            ready = await http.get("/ready")
            assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
            assert (await http.get("/metrics")).status_code == 401

            await client.stop()  # de-registers
            await eventually(lambda: server.registrations.get(EP) is None)
            final = samples((await http.get("/metrics", headers=token)).text)
            assert final[("lwm2m_deregistrations_total", ())] == 1
            assert final[("lwm2m_registrations", ())] == 0

            await server.stop()
            not_ready = await http.get("/ready")
            assert not_ready.status_code == 503
            assert not_ready.json()["reasons"] == ["the CoAP listeners are not bound"]
    finally:
        await client.stop()
        await web.stop()
        await server.stop()
