"""The asyncio façade and ``lwm2m client`` over real UDP, against a hand-made server."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path as FilePath

import pytest

from lwm2m.cli.main import main
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, Registered
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import Event, RequestReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport.udp import UdpEndpoint, open_udp_endpoint

EP = "urn:imei:490154203237518"


class Registrar:
    """Answers Register, Update, De-register and Send; remembers what came and from where."""

    def __init__(self) -> None:
        self.udp: UdpEndpoint | None = None
        self.requests: list[Message] = []
        self.client: tuple[str, int] | None = None
        self.arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RequestReceived) or self.udp is None:
            return
        request = event.request
        self.requests.append(request)
        self.client = event.exchange.peer  # type: ignore[assignment]
        path = request.options.uri_path
        if path == ("rd",):
            code, options = Code.CREATED, Options.build(location_path=("rd", "x1"))
        else:
            code = Code.DELETED if request.code is Code.DELETE else Code.CHANGED
            options = Options()
        loop_now = asyncio.get_running_loop().time()
        self.udp.endpoint.respond(event.exchange, code, options=options, now=loop_now)
        self.udp.pump()
        self.arrived.set()

    def paths(self) -> list[tuple[Code, tuple[str, ...]]]:
        return [(r.code, r.options.uri_path) for r in self.requests]

    async def wait_for(self, code: Code, path: tuple[str, ...], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while (code, path) not in self.paths():
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def registrar() -> AsyncIterator[tuple[Registrar, int]]:
    app = Registrar()
    app.udp = await open_udp_endpoint(Endpoint(rng=random.Random(1)), on_event=app)
    yield app, app.udp.local_address[1]
    app.udp.close()


async def test_facade_registers_serves_sends_and_deregisters(
    registrar: tuple[Registrar, int],
) -> None:
    app, port = registrar
    tree = telekom_device(
        EP, seed=1, now=0.0, servers=[ServerAccount(1, f"coap://127.0.0.1:{port}", lifetime=60)]
    )
    events: list[object] = []
    client = LwM2MClient(tree, EP, local_address=("127.0.0.1", 0), seed=1, on_event=events.append)
    await client.start()
    await app.wait_for(Code.POST, ("rd",))
    await asyncio.sleep(0.05)
    assert events[0] == Registered(1, ("rd", "x1"))
    assert app.udp is not None and app.client is not None
    response = await app.udp.request(
        app.client, Code.GET, options=Options.build(uri_path=("3", "0", "0"))
    )
    assert (response.code, response.payload) == (Code.CONTENT, b"lwm2m project")
    assert await client.send(["/3/0/9"]) == [Code.CHANGED]
    client.trigger_update()
    await app.wait_for(Code.POST, ("rd", "x1"))
    await client.stop()
    assert (Code.DELETE, ("rd", "x1")) in app.paths()


async def test_queue_mode_facade_sleeps(registrar: tuple[Registrar, int]) -> None:
    app, port = registrar
    tree = telekom_device(
        EP, seed=1, now=0.0, servers=[ServerAccount(1, f"coap://127.0.0.1:{port}", binding="UQ")]
    )
    client = LwM2MClient(
        tree, EP, local_address=("127.0.0.1", 0), config=ClientConfig(awake_window=0.2)
    )
    await client.start()
    await app.wait_for(Code.POST, ("rd",))
    await asyncio.sleep(0.4)
    assert client.engine.asleep
    await client.stop()


async def test_cli_send_once_with_state(
    registrar: tuple[Registrar, int], tmp_path: FilePath, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    app, port = registrar
    state = tmp_path / "device.json"
    argv = [
        "client",
        "--endpoint",
        EP,
        "--server",
        f"coap://127.0.0.1:{port}",
        "--lifetime",
        "120",
        "--state",
        str(state),
        "--seed",
        "7",
        "--send",
        "/3/0/9",
        "/4/0/2",
    ]
    assert await asyncio.to_thread(main, argv) == 0
    assert capsysbinary.readouterr().out == b"2.04\n"
    assert [p for _, p in app.paths()] == [("rd",), ("dp",), ("rd", "x1")]
    saved = json.loads(state.read_text())
    assert saved["endpoint"] == EP and saved["seed"] == 7
    assert saved["servers"][0]["lifetime"] == 120
    # the state file alone is enough the next time
    assert await asyncio.to_thread(main, ["client", "--state", str(state), "--send", "/3/0/0"]) == 0
    assert app.paths()[-3][1] == ("rd",)
    assert "lt=120" in app.requests[-3].options.uri_query


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "--server", "coap://127.0.0.1:1"]) == 1
    assert "--endpoint is required" in capsys.readouterr().err
    assert main(["client", "-e", "x", "--server", "http://nope", "--send", "/3/0/0"]) == 1
    assert "only coap://" in capsys.readouterr().err
