"""examples/temperature_sensor.py, run as a user would, against a server in this process: the
server's Python API (wait_registered, values from responses, a single-path write, an async
event subscriber) and the README's create example over the REST API, for object 3303, which
the server knows from the OMA registry shipped with the package."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lwm2m.model import Path as ModelPath
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.events import Deregistered, NotificationReceived, ServerEvent
from lwm2m.web import create_app

pytestmark = pytest.mark.timeout(60)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "temperature_sensor.py"
EP = "urn:dev:temperature-test"


@pytest.fixture
async def server() -> AsyncIterator[LwM2MServer]:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_the_example_device_serves_the_server_and_rest_api(server: LwM2MServer) -> None:
    uri = f"coap://127.0.0.1:{server.coap_address[1]}"
    device = await asyncio.create_subprocess_exec(
        *(sys.executable, str(EXAMPLE), "--server", uri, "--endpoint", EP, "--period", "0.2"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    events: list[ServerEvent] = []
    notified = asyncio.Event()

    async def on_event(event: ServerEvent) -> None:  # scheduled as a task by the server
        events.append(event)
        if isinstance(event, NotificationReceived) and event.endpoint == EP:
            notified.set()

    server.subscribe(on_event)
    try:
        registration = await server.wait_registered(EP, timeout=20)
        assert "</3303/0>" in str(registration.object_links[-1]) or any(
            str(link.target) == "/3303/0" for link in registration.object_links
        )

        units = await server.read(EP, "/3303/0/5701")
        assert units.ok and units.value == "Cel"
        instance = (await server.read(EP, "/3303/0")).raise_for_status()
        assert isinstance(instance.values[ModelPath((3303, 0, 5700))], float)

        written = await server.write(EP, "/3303/0/5750", "living room")  # one resource
        assert written.ok
        assert (await server.read(EP, "/3303/0/5750")).value == "living room"
        refused = await server.write(EP, "/3303/0/5700", 99.0)  # read-only
        assert not refused.ok and refused.raise_for_status  # an ErrorResponse, not an exception

        assert (await server.observe(EP, "/3303/0/5700")).ok
        await asyncio.wait_for(notified.wait(), 10)
        assert (await server.execute(EP, "/3303/0/5605")).ok

        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(server)), base_url="http://localhost"
        )
        async with http:
            # README: curl -X POST localhost:8080/api/clients/$EP/3303 -d '{"values": ...}'
            created = await http.post(
                f"/api/clients/{EP}/3303", json={"values": {"/3303/1/5700": 21.5}}
            )
            assert created.json()["status"] == "2.01", created.text
            read = await http.get(f"/api/clients/{EP}/3303/1")
            assert read.json()["values"]["/3303/1/5700"] == 21.5
            deleted = await http.delete(f"/api/clients/{EP}/3303/1")
            assert deleted.json()["status"] == "2.02"
            model = (await http.get("/api/models/3303")).json()
            assert model["name"] == "Temperature"
    finally:
        if device.returncode is None:
            device.send_signal(signal.SIGINT)  # Ctrl-C: the example de-registers
        output, _ = await asyncio.wait_for(device.communicate(), 20)
    assert device.returncode == 0, output.decode()
    assert b"registering with" in output
    await asyncio.sleep(0)  # the subscriber tasks of the last events
    assert any(isinstance(event, Deregistered) for event in events), output.decode()
