"""ETS int-401 and the identity binding: our LwM2MServer with a DTLS port, our LwM2MClient
over DTLS with PSK, hand-made CoAP over DTLS and NoSec for what a well-behaved client never
sends, and libcoap's coap-client-openssl as an independent DTLS client."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, TypeVar

import httpx
import pytest

from lwm2m.cli.bootstrap import add_psk_arguments, load_credentials
from lwm2m.cli.main import main
from lwm2m.cli.payload import InputError
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig, ClientEvent, RegistrationFailed
from lwm2m.client.engine import Registered as ClientRegistered
from lwm2m.client.engine import Updated as ClientUpdated
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import RequestFailed, ResponseReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.model import Path, node_to_values
from lwm2m.operations import EmptyResponse, NodeResponse
from lwm2m.security.credentials import Psk, PskCredential, Secret
from lwm2m.security.dtls import DtlsClient, DtlsConfig
from lwm2m.server import LwM2MServer, NotificationReceived, Registered, ServerConfig, ServerEvent
from lwm2m.transport.dtls import DtlsPeer, open_channels
from lwm2m.web.app import create_app
from tests.e2e.conftest import EP, FAST, WAIT, eventually

pytestmark = pytest.mark.timeout(30)
T = TypeVar("T")

KEY = b"secretPSK-0123"  # text, as libcoap takes keys
OTHER = "urn:imei:490154203237518"
FAST_DTLS = DtlsConfig(handshake_timeout_min=0.2, handshake_timeout_max=1.0, handshake_lifetime=5)
LOGGERS = ("lwm2m.server.server", "lwm2m.security.dtls", "lwm2m.web.security_api")


def psk(identity: bytes, key: bytes = KEY) -> Psk:
    return Psk(identity, Secret(key))


@dataclass
class World:
    server: LwM2MServer
    server_events: list[ServerEvent] = field(default_factory=list)
    clients: list[LwM2MClient] = field(default_factory=list)

    @property
    def coaps_uri(self) -> str:
        return "coaps://{}:{}".format(*self.server.coaps_address)

    def client(
        self, endpoint: str = EP, identity: bytes | None = b"dev-1", key: bytes = KEY, **extra: Any
    ) -> tuple[LwM2MClient, list[ClientEvent]]:
        uri = extra.pop("uri", self.coaps_uri)
        account = ServerAccount(
            1,
            uri,
            lifetime=30,
            binding="U",
            default_pmin=0,
            default_pmax=0,
            psk_identity=identity,
            psk_key=key if identity is not None else b"",
        )
        events: list[ClientEvent] = []
        client = LwM2MClient(
            telekom_device(endpoint, seed=7, now=time.time(), servers=[account]),
            endpoint,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(retry_base=0.2, retry_cap=0.5),
            coap=FAST,
            seed=7,
            on_event=events.append,
            dtls=FAST_DTLS,
        )
        self.clients.append(client)
        return client, events

    def registered(self, endpoint: str = EP) -> list[Registered]:
        return [
            e
            for e in self.server_events
            if isinstance(e, Registered) and e.registration.endpoint == endpoint
        ]


def seen(events: list[Any], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


async def wait(events: list[Any], kind: type[T], count: int = 1) -> T:
    await eventually(lambda: len(seen(events, kind)) >= count or None, WAIT)
    return seen(events, kind)[count - 1]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, coaps_port=0, coap=FAST, expiry_grace=0.5)
    )
    server.set_credential(PskCredential(EP, psk(b"dev-1")))
    server.set_credential(PskCredential(OTHER, psk(b"dev-2", b"another-key")))
    await server.start()
    setup = World(server)
    server.subscribe(setup.server_events.append)
    try:
        yield setup
    finally:
        for client in setup.clients:
            await client.stop(timeout=1.0)
        await server.stop()


class RawPeer:
    """CoAP by hand over DTLS (with ``psk``) or NoSec: what our client never sends."""

    def __init__(self) -> None:
        self.endpoint = Endpoint(FAST, random.Random(5))
        self.waiting: dict[int, asyncio.Future[Message | None]] = {}

    def drain(self) -> None:
        while (event := self.endpoint.next_event()) is not None:
            if isinstance(event, ResponseReceived | RequestFailed):
                future = self.waiting.pop(event.handle)
                future.set_result(event.response if isinstance(event, ResponseReceived) else None)

    async def request(
        self, address: tuple[str, int], code: Code, path: tuple[str, ...], *, psk: Psk | None = None
    ) -> Message:
        channels = await open_channels(
            self.endpoint, self.drain, ("127.0.0.1", 0), dtls=DtlsClient(psk, FAST_DTLS)
        )
        try:
            target = address if psk is None else DtlsPeer(address)
            options = Options().replace(uri_path=path)
            handle = self.endpoint.send_request(target, code, options=options, now=channels.now())
            future = self.waiting[handle] = asyncio.get_running_loop().create_future()
            channels.pump()
            response = await asyncio.wait_for(future, WAIT)
            assert response is not None
            return response
        finally:
            channels.close()


# -- int-401 ----------------------------------------------------------------------------------


async def test_int_401_registers_over_dtls_and_is_managed_over_it(world: World) -> None:
    client, events = world.client()
    await client.start()
    await wait(events, ClientRegistered)
    [registered] = world.registered()
    assert isinstance(registered.registration.address, DtlsPeer)
    assert registered.registration.to_json()["address"].startswith("coaps://127.0.0.1:")

    read = await world.server.read(EP, "/3/0/0")
    assert isinstance(read, NodeResponse)
    assert node_to_values(Path.parse("/3/0/0"), read.node) == {
        Path.parse("/3/0/0"): "lwm2m project"
    }
    assert await world.server.write(EP, "/1/0/3", {"/1/0/3": 60}) == EmptyResponse()
    assert client.tree.object(1).read(0, 3) == 60
    assert isinstance(await world.server.observe(EP, "/3/0/9"), NodeResponse)
    device = client.tree.object(3)
    assert isinstance(device, SimpleObject)
    device.set(0, 9, 42)
    notification = await wait(world.server_events, NotificationReceived)
    assert notification.values == {Path.parse("/3/0/9"): 42}
    assert world.server.dtls_sessions == 1


# -- refused, and nothing else disturbed -------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "key", "why"),
    [(b"dev-1", b"wrong key", "MAC"), (b"stranger", KEY, "unknown PSK identity")],
)
async def test_wrong_key_or_unknown_identity_is_refused_and_others_stay_served(
    world: World, caplog: pytest.LogCaptureFixture, identity: bytes, key: bytes, why: str
) -> None:
    good, good_events = world.client()
    await good.start()
    await wait(good_events, ClientRegistered)
    with caplog.at_level(logging.DEBUG):
        bad, bad_events = world.client(OTHER, identity, key)
        started = time.monotonic()
        await bad.start()
        failed = await wait(bad_events, RegistrationFailed)
        # The handshake failure ends the attempt at once: no CoAP retransmission, and the
        # next handshake waits for the back-off (0.2 to 0.5 s here), not a storm.
        assert failed.code is None and time.monotonic() - started < 2.0
        await asyncio.sleep(0.6)
    assert len(seen(bad_events, RegistrationFailed)) <= 4
    assert why in caplog.text and KEY.decode() not in caplog.text
    assert world.registered(OTHER) == [] and world.server.dtls_sessions == 1
    assert isinstance(await world.server.read(EP, "/3/0/0"), NodeResponse)


async def test_identity_bound_to_another_endpoint_gets_4_03_on_register(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="lwm2m.server.server"):
        client, events = world.client(OTHER, b"dev-1")  # dev-1 is bound to EP
        await client.start()
        failed = await wait(events, RegistrationFailed)
    assert failed.code == Code.FORBIDDEN
    assert world.registered(OTHER) == []
    assert f"may not act for endpoint {OTHER}:" in caplog.text
    assert f"bound to {EP!r}" in caplog.text


async def test_update_and_deregister_of_another_endpoint_get_4_03(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    client, events = world.client()
    await client.start()
    await wait(events, ClientRegistered)
    registration = world.registered()[0].registration
    location = registration.location
    coaps = world.server.coaps_address
    raw = RawPeer()
    with caplog.at_level(logging.WARNING, logger="lwm2m.server.server"):
        update = await raw.request(coaps, Code.POST, location, psk=psk(b"dev-2", b"another-key"))
        deregister = await raw.request(
            coaps, Code.DELETE, location, psk=psk(b"dev-2", b"another-key")
        )
        # The NoSec port may not act for an endpoint that has a PSK either.
        nosec = await raw.request(world.server.coap_address, Code.POST, location)
    assert (update.code, deregister.code, nosec.code) == (Code.FORBIDDEN,) * 3
    assert caplog.text.count(f"may not act for endpoint {EP}:") == 3
    assert world.server.registrations.get(EP) == registration
    client.trigger_update()  # the device itself still may
    await wait(events, ClientUpdated)
    assert isinstance(await world.server.read(EP, "/3/0/0"), NodeResponse)


async def test_psk_endpoint_on_the_nosec_port_gets_4_03(world: World) -> None:
    uri = "coap://{}:{}".format(*world.server.coap_address)
    client, events = world.client(EP, None, uri=uri)
    await client.start()
    failed = await wait(events, RegistrationFailed)
    assert failed.code == Code.FORBIDDEN
    assert world.registered() == []


async def test_session_closes_when_the_credential_changes(world: World) -> None:
    client, events = world.client()
    await client.start()
    await wait(events, ClientRegistered)
    assert world.server.dtls_sessions == 1
    world.server.set_credential(PskCredential(EP, psk(b"dev-1")))  # the same: kept
    assert world.server.dtls_sessions == 1
    world.server.set_credential(PskCredential(EP, psk(b"dev-1", b"rotated-key")))
    assert world.server.dtls_sessions == 0
    client.trigger_update()  # a new handshake, with the old key: refused
    failed = await wait(events, RegistrationFailed)
    assert failed.code is None
    assert world.server.remove_credential(EP) and not world.server.remove_credential(EP)


# -- REST API ----------------------------------------------------------------------------------


@contextlib.contextmanager
def no_keys_logged(caplog: pytest.LogCaptureFixture, *keys: str) -> Iterator[None]:
    with caplog.at_level(logging.DEBUG):
        yield
    for key in keys:
        assert key not in caplog.text


async def test_rest_security_api(world: World, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(world.server)
    key = "00112233445566778899aabbccddeeff"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        with no_keys_logged(caplog, key, KEY.hex(), KEY.decode()):
            listed = (await http.get("/api/security")).json()
            assert {item["endpoint"] for item in listed} == {EP, OTHER}
            put = await http.put(
                "/api/security/urn:dev:3", json={"mode": "psk", "identity": "dev-3", "key": key}
            )
            assert put.status_code == 201
            assert put.json() == {
                "endpoint": "urn:dev:3",
                "mode": "psk",
                "identity": "dev-3",
                "hasKey": True,
            }
            again = await http.put("/api/security/urn:dev:3", json={"identity": "d3", "key": key})
            assert again.status_code == 200
            got = await http.get("/api/security/urn:dev:3")
            assert got.json()["identity"] == "d3"
            for bad, field in [
                ({"mode": "rpk", "identity": "x", "key": key}, "mode"),
                ({"identity": "", "key": key}, "identity"),
                ({"identity": "x", "key": key[:-1] + "g"}, "key"),
                ({"identity": "x"}, "key"),
                ({"identity": "x", "key": "00" * 33}, "key"),
                ([1], "object"),
            ]:
                answer = await http.put("/api/security/urn:dev:4", json=bad)
                assert answer.status_code == 400, bad
                assert field in answer.json()["message"]
                assert key not in answer.text
            junk = await http.put("/api/security/urn:dev:4", content=b"{not json")
            assert junk.status_code == 400 and "invalid JSON" in junk.json()["message"]
            huge = await http.put("/api/security/urn:dev:4", content=b" " * 100_000)
            assert huge.status_code == 413 and "exceeds" in huge.json()["message"]
            taken = await http.put("/api/security/urn:dev:4", json={"identity": "d3", "key": key})
            assert taken.status_code == 409
            for response in [
                *(await http.get("/api/security")).json(),
                (await http.get(f"/api/security/{EP}")).json(),
            ]:
                assert set(response) == {"endpoint", "mode", "identity", "hasKey"}
            assert (await http.delete("/api/security/urn:dev:3")).status_code == 204
            assert (await http.delete("/api/security/urn:dev:3")).status_code == 404
            assert (await http.get("/api/security/urn:dev:3")).status_code == 404
    assert world.server.credentials.get("urn:dev:3") is None


# -- libcoap as the client ---------------------------------------------------------------------


async def coap_client(*args: str) -> str:
    binary = shutil.which("coap-client-openssl")
    if binary is None:
        pytest.fail("coap-client-openssl missing: `make peers` installs Debian's libcoap3-bin")
    process = await asyncio.create_subprocess_exec(
        binary,
        *("-B", "5", "-v", "6"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    return (stdout + stderr).decode(errors="replace")


@pytest.mark.parametrize(("endpoint", "code"), [(EP, "2.01"), (OTHER, "4.03")])
async def test_libcoap_hand_made_register_over_dtls(world: World, endpoint: str, code: str) -> None:
    host, port = world.server.coaps_address
    uri = f"coaps://{host}:{port}/rd?ep={endpoint}&lt=60&b=U&lwm2m=1.1"
    output = await coap_client(
        *("-m", "post", "-u", "dev-1", "-k", KEY.decode(), "-t", "40", "-e", "</1/0>,</3/0>"),
        uri,
    )
    assert f"c:{code}" in output, output
    registered = world.registered(endpoint)
    if code == "2.01":
        [event] = registered
        location = event.registration.registration_id
        assert f"Location-Path:rd, Location-Path:{location}" in output
        assert str(event.registration.address).startswith("coaps://")
    else:
        assert registered == []


# -- command line ------------------------------------------------------------------------------


async def test_cli_client_sends_over_dtls_with_psk_options(world: World) -> None:
    argv = ["client", "--endpoint", EP, "--server", world.coaps_uri, "--lifetime", "30"]
    argv += ["--psk-identity", "dev-1", "--psk-key", KEY.hex(), "--send", "/3/0/0"]
    assert await asyncio.to_thread(main, argv) == 0
    [registered] = world.registered()
    assert isinstance(registered.registration.address, DtlsPeer)


def test_cli_psk_options_and_file(tmp_path: FilePath) -> None:
    parser = argparse.ArgumentParser()
    add_psk_arguments(parser)
    good = tmp_path / "psk.json"
    good.write_text(json.dumps([{"endpoint": OTHER, "identity": "dev-2", "key": "0102"}]))
    args = parser.parse_args(["--psk", f"{EP}:dev-1:{KEY.hex()}", "--psk-file", str(good)])
    store = load_credentials(args)
    assert {c.endpoint for c in store} == {EP, OTHER}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"endpoint": OTHER, "identity": "dev-2", "key": "secret!"}]))
    with pytest.raises(InputError, match="entry 0: key is not hexadecimal") as error:
        load_credentials(parser.parse_args(["--psk-file", str(bad)]))
    assert "secret!" not in str(error.value)
    with pytest.raises(InputError, match="already belongs"):
        load_credentials(parser.parse_args(["--psk", f"a:x:{KEY.hex()}", "--psk", "b:x:01"]))
    with pytest.raises(InputError, match="ENDPOINT:IDENTITY:HEXKEY"):
        load_credentials(parser.parse_args(["--psk", "nokey"]))
