"""OSCORE interop with aiocoap (an independent implementation) over real loopback UDP.

Our side is the plain CoAP ``Endpoint`` with the OSCORE transformer called around it, as the
engines will: our client against aiocoap's OSCORE server (``OscoreSiteWrapper``), and
aiocoap's OSCORE client against our endpoint. Both share one context, aiocoap's kept in its
filesystem format. Each direction also runs the Echo recovery of a restarted server
(RFC 8613 Appendix B.1.2), with the other side answering the challenge.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiocoap
import aiocoap.oscore  # the extras it needs are in the test dependencies: fail loudly if not
import pytest
from aiocoap import credentials, resource
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.config import EndpointConfig
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.events import Event, NotificationReceived, ObservationKey, RequestReceived
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.security.oscore import (
    EchoRequiredError,
    MemorySequenceStore,
    OscoreError,
    RequestBinding,
    SecurityContext,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)
from lwm2m.transport.udp import UdpEndpoint, open_udp_endpoint

pytestmark = pytest.mark.timeout(30)

SECRET = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
SALT = bytes.fromhex("9e7ca92223786340")
OURS, THEIRS = b"\x4c", b"\x41"  # Sender IDs: "L" (lwm2m), "A" (aiocoap)
CONFIG = EndpointConfig(ack_timeout=0.5, max_latency=1.0)


def our_context(*, synchronized: bool = True) -> SecurityContext:
    return SecurityContext(
        SECRET,
        OURS,
        THEIRS,
        master_salt=SALT,
        sequence_store=MemorySequenceStore(),
        replay_synchronized=synchronized,
    )


def aiocoap_context_dir(path: Path, *, replay_known: bool = True) -> str:
    """aiocoap's FilesystemSecurityContext for the other end of :func:`our_context`;
    ``replay_known=False`` is its state after an unclean restart."""
    path.mkdir()
    settings = {
        "sender-id_hex": THEIRS.hex(),
        "recipient-id_hex": OURS.hex(),
        "secret_hex": SECRET.hex(),
        "salt_hex": SALT.hex(),
        "algorithm": "AES-CCM-16-64-128",
    }
    (path / "settings.json").write_text(json.dumps(settings))
    if not replay_known:
        (path / "sequence.json").write_text(
            json.dumps({"next-to-send": 1000, "received": "unknown"})
        )
    return str(path)


Starter = Callable[[bool], Awaitable[tuple["OurOscoreClient", "Store"]]]


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met within 5 s")


# -- our client against aiocoap's OSCORE server ----------------------------------------------


class Store(resource.ObservableResource):
    def __init__(self) -> None:
        super().__init__()
        self.value = b"0"

    def set(self, value: bytes) -> None:
        self.value = value
        self.updated_state()

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=self.value, content_format=0)

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        self.set(request.payload)
        return aiocoap.Message(code=aiocoap.CHANGED)


async def aiocoap_oscore_server(context_dir: str) -> tuple[aiocoap.Context, int, Store]:
    site = resource.Site()
    store = Store()
    site.add_resource(["store"], store)
    server_credentials = credentials.CredentialsMap()
    server_credentials.load_from_dict({":lwm2m": {"oscore": {"basedir": context_dir}}})
    context = await aiocoap.Context.create_server_context(
        OscoreSiteWrapper(site, server_credentials), bind=("127.0.0.1", 0), transports=["udp6"]
    )
    port = context.request_interfaces[0].token_interface.message_interface._local_port()
    return context, port, store


class OurOscoreClient:
    """Our endpoint with the transformer around its requests, talking to one peer; later
    events (notifications) are kept for the test."""

    def __init__(self, udp: UdpEndpoint, events: list[Event], peer: tuple[str, int]) -> None:
        self.udp, self.events, self.peer = udp, events, peer
        self.context = our_context()

    async def request(
        self, code: Code, path: str, payload: bytes = b"", **options: object
    ) -> tuple[Message, RequestBinding]:
        built = Options.build(uri_path=path.split("/"), **options)  # type: ignore[arg-type]
        plain = Message(Type.CON, code, options=built, payload=payload)
        protected, binding = protect_request(self.context, plain)
        response = await asyncio.wait_for(
            self.udp.request(
                self.peer, protected.code, options=protected.options, payload=protected.payload
            ),
            10,
        )
        return unprotect_response(binding, response), binding

    async def notification(self) -> Message:
        await until(lambda: any(isinstance(e, NotificationReceived) for e in self.events))
        (note,) = [e for e in self.events if isinstance(e, NotificationReceived)]
        self.events.clear()
        return note.notification


@pytest.fixture
async def against_aiocoap(tmp_path: Path) -> AsyncIterator[Starter]:
    """Starts aiocoap's OSCORE server (with or without its replay window) and our client."""
    servers: list[aiocoap.Context] = []
    endpoints: list[UdpEndpoint] = []

    async def start(replay_known: bool) -> tuple[OurOscoreClient, Store]:
        context_dir = aiocoap_context_dir(tmp_path / "ctx", replay_known=replay_known)
        server, port, store = await aiocoap_oscore_server(context_dir)
        servers.append(server)
        events: list[Event] = []
        udp = await open_udp_endpoint(Endpoint(CONFIG, random.Random(3)), on_event=events.append)
        endpoints.append(udp)
        return OurOscoreClient(udp, events, ("127.0.0.1", port)), store

    yield start
    for udp in endpoints:
        udp.close()
    for server in servers:
        await server.shutdown()


async def test_our_client_against_aiocoap_oscore_server(against_aiocoap: Starter) -> None:
    client, store = await against_aiocoap(True)
    response, _ = await client.request(Code.GET, "store")
    assert (response.code, response.payload) == (Code.CONTENT, b"0")
    assert response.options.content_format == 0
    response, _ = await client.request(Code.PUT, "store", b"21.5", content_format=0)
    assert response.code is Code.CHANGED and store.value == b"21.5"

    # Observe: FETCH outward, notifications with aiocoap's Partial IVs, in order.
    first, binding = await client.request(Code.GET, "store", observe=0)
    assert first.payload == b"21.5" and first.options.observe is not None
    for value in (b"1", b"2"):
        store.set(value)
        plain = unprotect_response(binding, await client.notification())
        assert (plain.code, plain.payload) == (Code.CONTENT, value)
        assert plain.options.observe is not None


async def test_our_client_answers_aiocoap_echo_after_its_restart(against_aiocoap: Starter) -> None:
    """aiocoap lost its replay window: its protected 4.01 + Echo, our retry with the Echo."""
    client, _ = await against_aiocoap(False)
    challenge, _ = await client.request(Code.GET, "store")
    assert challenge.code is Code.UNAUTHORIZED
    echo = challenge.options.echo
    assert echo is not None
    response, _ = await client.request(Code.GET, "store", echo=echo)
    assert (response.code, response.payload) == (Code.CONTENT, b"0")


# -- aiocoap's OSCORE client against our endpoint --------------------------------------------


class OurOscoreServer:
    """Our endpoint with the transformer in its request handler: /hello, /echo, /obs."""

    def __init__(self, context: SecurityContext) -> None:
        self.context = context
        self.udp: UdpEndpoint | None = None
        self.refused: list[OscoreError] = []
        self.observers: list[tuple[ObservationKey, RequestBinding]] = []

    def __call__(self, event: Event) -> None:
        assert self.udp is not None
        if not isinstance(event, RequestReceived):
            return
        try:
            plain, binding = unprotect_request(self.context, event.request)
        except OscoreError as error:
            self.refused.append(error)
            reply = error.reply(event.request)
        else:
            reply = protect_response(binding, self.handle(plain))
        key = self.udp.endpoint.respond(
            event.exchange,
            reply.code,
            options=reply.options,
            payload=reply.payload,
            now=self.udp.now(),
        )
        if key is not None:
            self.observers.append((key, binding))

    @staticmethod
    def handle(request: Message) -> Message:
        path = request.options.uri_path
        if path == ("hello",):
            return Message(Type.ACK, Code.CONTENT, options=Options.build(content_format=0),
                           payload=b"hello")  # fmt: skip
        if path == ("echo",) and request.code is Code.POST:
            return Message(Type.ACK, Code.CHANGED, payload=request.payload[::-1])
        if path == ("obs",) and request.options.observe == 0:
            return Message(Type.ACK, Code.CONTENT, options=Options.build(observe=0), payload=b"0")
        return Message(Type.ACK, Code.NOT_FOUND)

    def notify(self, payload: bytes) -> None:
        assert self.udp is not None
        for key, binding in self.observers:
            plain = Message(
                Type.CON, Code.CONTENT, options=Options.build(observe=0), payload=payload
            )
            protected = protect_response(binding, plain)
            self.udp.endpoint.notify(
                key, protected.code, options=protected.options, payload=protected.payload,
                now=self.udp.now(),
            )  # fmt: skip
        self.udp.pump()


async def served(context: SecurityContext) -> tuple[OurOscoreServer, str]:
    app = OurOscoreServer(context)
    app.udp = await open_udp_endpoint(Endpoint(CONFIG, random.Random(4)), on_event=app)
    host, port = app.udp.local_address
    return app, f"coap://{host}:{port}"


async def aiocoap_oscore_client(base: str, context_dir: str) -> aiocoap.Context:
    client = await aiocoap.Context.create_client_context()
    client.client_credentials.load_from_dict({f"{base}/*": {"oscore": {"basedir": context_dir}}})
    return client


async def test_aiocoap_oscore_client_against_our_endpoint(tmp_path: Path) -> None:
    # aiocoap is the client here: its Sender ID is ours in the shared context, and vice versa.
    app, base = await served(our_context())
    client = await aiocoap_oscore_client(base, aiocoap_context_dir(tmp_path / "ctx"))
    try:
        get = aiocoap.Message(code=aiocoap.GET, uri=f"{base}/hello")
        response = await asyncio.wait_for(client.request(get).response, 10)
        assert (response.code, response.payload) == (aiocoap.CONTENT, b"hello")
        post = aiocoap.Message(code=aiocoap.POST, uri=f"{base}/echo", payload=b"abc")
        response = await asyncio.wait_for(client.request(post).response, 10)
        assert (response.code, response.payload) == (aiocoap.CHANGED, b"cba")
        missing = aiocoap.Message(code=aiocoap.GET, uri=f"{base}/nothing")
        response = await asyncio.wait_for(client.request(missing).response, 10)
        assert response.code == aiocoap.NOT_FOUND

        observation = client.request(
            aiocoap.Message(code=aiocoap.GET, uri=f"{base}/obs", observe=0)
        )
        first = await asyncio.wait_for(observation.response, 10)
        assert first.payload == b"0"
        notifications = aiter(observation.observation)
        for value in (b"1", b"2", b"3"):
            app.notify(value)
            assert (await asyncio.wait_for(anext(notifications), 10)).payload == value
        observation.observation.cancel()
        assert app.refused == []
    finally:
        await client.shutdown()
        assert app.udp is not None
        app.udp.close()


async def test_our_restarted_endpoint_challenges_aiocoap_with_echo(tmp_path: Path) -> None:
    """Our replay window was lost: aiocoap's first request gets 4.01 + Echo, its automatic
    retry carries the Echo and is served (Appendix B.1.2)."""
    app, base = await served(our_context(synchronized=False))
    client = await aiocoap_oscore_client(base, aiocoap_context_dir(tmp_path / "ctx"))
    try:
        get = aiocoap.Message(code=aiocoap.GET, uri=f"{base}/hello")
        response = await asyncio.wait_for(client.request(get).response, 10)
        assert (response.code, response.payload) == (aiocoap.CONTENT, b"hello")
        assert [type(error) for error in app.refused] == [EchoRequiredError]
        assert app.context.replay_window.synchronized
    finally:
        await client.shutdown()
        assert app.udp is not None
        app.udp.close()
