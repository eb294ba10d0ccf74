"""Fuzz targets for the protocol cores, driven through their public sans-I/O interface only.

An input is a run of frames ``[control][length: 2 bytes][datagram]``: the control byte's low
two bits pick the peer (see each target) and its upper six advance the virtual clock by that
many quarter seconds, after which any due timer runs.  Each execution starts from a fresh,
deterministic core (seeded RNGs), so the tokens and message IDs of its requests are the ones
:mod:`tests.fuzz.seeds` put in the corpus.

- ``server``: a :class:`ServerCore` with a registered device (peer 0) that it observes
  (``/3/0`` and a composite) and reads from; peers 1-3 are strangers.  Register, Update, Send,
  notifications and responses all go through the endpoint's dispatch.
- ``client``: a :class:`ClientEngine` registered with its server; peers 0-2 are that server,
  peer 3 a stranger.
- ``dtls``: a :class:`DtlsCore` over a :class:`DtlsServer` in front of a server core.  If the
  first byte is odd, a real mbed TLS client first completes a PSK handshake as peer 0, and
  peer 0's frames are plaintext it encrypts; other frames are raw datagrams.

Every event goes through :mod:`tests.fuzz.oracles`; what a core sends must be valid CoAP (or,
for DTLS, whatever mbed TLS produced), and nothing may be logged with a traceback.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from lwm2m.client.engine import ClientEngine
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.coap import Code, Message, Options, Type
from lwm2m.model import Path, builtin_models, node_to_values
from lwm2m.operations import Observe, ObserveComposite, Read
from lwm2m.operations.messages import LinksResponse, NodeResponse, ValuesResponse
from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, Secret
from lwm2m.security.dtls import DtlsClient, DtlsServer
from lwm2m.server.config import ServerConfig
from lwm2m.server.core import ServerCore
from lwm2m.server.events import (
    NotificationReceived,
    RequestCompleted,
    SendReceived,
)
from lwm2m.transport.dtls import DtlsCore
from tests.fuzz.oracles import (
    OracleError,
    check_event_json,
    check_json,
    check_model,
    check_store,
    check_values,
    forget_logged,
    raise_logged,
)

T0 = 1_700_000_000.0
MODELS = builtin_models()
DEVICE = ("10.0.0.2", 56830)
STRANGERS = (("10.0.0.3", 5683), ("10.0.0.4", 40000), ("10.0.0.2", 56831))
SERVER = ("10.0.0.101", 5683)
ENDPOINT = "urn:imei:490154203237518"
REGISTER = Message(
    Type.CON,
    Code.POST,
    0x0101,
    b"\x01\x02",
    Options.build(
        uri_path=("rd",),
        uri_query=(f"ep={ENDPOINT}", "lt=300", "lwm2m=1.1", "b=U"),
        content_format=40,
    ),
    b'</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</4/0>,</5/0>,</3303/0>',
)
PSK = Psk(b"fuzz-device", Secret(bytes(range(16))))

Frame = tuple[int, bytes]


def frames(data: bytes) -> Iterator[Frame]:
    """``(control, datagram)`` pairs; a short last length takes what is left."""
    position = 0
    while position + 3 <= len(data):
        length = int.from_bytes(data[position + 1 : position + 3], "big")
        yield data[position], data[position + 3 : position + 3 + length]
        position += 3 + length


def frame(control: int, datagram: bytes) -> bytes:
    """The inverse of :func:`frames`, for seeds."""
    return bytes((control,)) + len(datagram).to_bytes(2, "big") + datagram


def _sent(datagrams: list[tuple[bytes, Any]]) -> list[tuple[bytes, Any]]:
    for datagram, peer in datagrams:
        try:
            Message.decode(datagram)
        except Exception as exc:
            raise OracleError(f"sent an invalid CoAP datagram to {peer}: {exc}") from exc
    return datagrams


# -- server ------------------------------------------------------------------------------------


class ServerRun:
    """A server core with a registered, observed device; see the module docstring."""

    def __init__(self) -> None:
        self.now = 0.0
        self.core = ServerCore(ServerConfig(), random.Random(1), lambda: T0 + self.now)
        self.paths: dict[int, Path] = {}
        self.sent: list[tuple[bytes, Any]] = []
        self.core.receive(REGISTER.encode(), DEVICE, self.now)
        self.drain()
        for op in (
            Observe(Path.of(3, 0)),
            Read(Path.of(3, 0, 0)),
            ObserveComposite((Path.of(3, 0, 9), Path.of(3303, 0, 5700))),
        ):
            target = getattr(op, "path", Path.of())
            self.paths[self.core.send(ENDPOINT, op, now=self.now)] = target
        self.drain()

    def step(self, control: int, datagram: bytes, peer: Any) -> None:
        self.now += (control >> 2) * 0.25
        self.core.receive(datagram, peer, self.now)
        self.drain()

    def drain(self) -> None:
        core = self.core
        timer = core.get_timer()
        if timer is not None and timer <= self.now:
            core.handle_timer(self.now)
        self.sent += _sent(core.datagrams_to_send())
        while (event := core.next_event()) is not None:
            self.check(event)

    def check(self, event: object) -> None:
        to_json = getattr(event, "to_json", None)
        if to_json is not None:
            check_event_json(to_json())
        if isinstance(event, NotificationReceived):
            check_values(event.values, MODELS)
        elif isinstance(event, SendReceived):
            for batch in event.batches:
                check_model(batch.values, MODELS)
                check_json(batch.values, MODELS)
            check_store((b.timestamp or T0, b.values) for b in event.batches)
        elif isinstance(event, RequestCompleted):
            response = event.response
            if isinstance(response, NodeResponse):
                path = self.paths.get(event.request_id)
                if path is not None and not path.is_root:
                    check_values(node_to_values(path, response.node), MODELS)
            elif isinstance(response, ValuesResponse):
                check_values(response.values, MODELS)
            elif isinstance(response, LinksResponse):
                check_event_json([link.to_json() for link in response.links])

    def finish(self) -> None:
        """Let every timer run out: retransmissions, queue TTLs, expiry."""
        for _ in range(3):
            self.now += 400.0
            self.core.handle_timer(self.now)
            self.drain()


def server(data: bytes) -> None:
    forget_logged()
    run = ServerRun()
    for control, datagram in frames(data):
        peer = DEVICE if control & 3 == 0 else STRANGERS[(control & 3) - 1]
        run.step(control, datagram, peer)
    run.finish()
    raise_logged()


# -- client ------------------------------------------------------------------------------------


class ClientRun:
    """A client engine registered with its one server (location ``/rd/5a3f``)."""

    def __init__(self) -> None:
        self.now = T0
        account = ServerAccount(
            1,
            "coap://{}:{}".format(*SERVER),
            lifetime=300,
            default_pmin=0,
            default_pmax=0,
            binding="U",
        )
        tree = telekom_device(ENDPOINT, seed=1, now=T0, servers=[account])
        self.engine = ClientEngine(tree, ENDPOINT, rng=random.Random(1))
        self.engine.start(self.now)
        ((register, _),) = self.drain()
        request = Message.decode(register)
        created = Message(
            Type.ACK,
            Code.CREATED,
            request.message_id,
            request.token,
            Options.build(location_path=("rd", "5a3f")),
        )
        self.engine.receive(created.encode(), SERVER, self.now)
        self.drain()

    def drain(self) -> list[tuple[bytes, Any]]:
        engine = self.engine
        timer = engine.get_timer()
        if timer is not None and timer <= self.now:
            engine.handle_timer(self.now)
        while engine.next_event() is not None:
            pass
        return _sent(engine.datagrams_to_send())

    def step(self, control: int, datagram: bytes) -> None:
        self.now += (control >> 2) * 0.25
        peer = SERVER if control & 3 != 3 else STRANGERS[0]
        self.engine.receive(datagram, peer, self.now)
        self.drain()

    def finish(self) -> None:
        for _ in range(3):
            self.now += 400.0
            self.engine.handle_timer(self.now)
            self.drain()


def client(data: bytes) -> None:
    forget_logged()
    run = ClientRun()
    for control, datagram in frames(data):
        run.step(control, datagram)
    run.finish()
    raise_logged()


# -- DTLS --------------------------------------------------------------------------------------


class DtlsRun:
    """A server core behind DtlsCore; optionally a real client with an established session."""

    def __init__(self, handshake: bool) -> None:
        self.now = 0.0
        store = MemoryPskStore((PskCredential(ENDPOINT, PSK),))
        inner = ServerCore(ServerConfig(), random.Random(1), lambda: T0 + self.now)
        self.core = DtlsCore(inner, DtlsServer(store), lambda: self.now)
        self.client: DtlsClient | None = None
        if handshake:
            self.client = DtlsClient(PSK)
            self.client.connect(SERVER, self.now)
            self.shuttle()

    def shuttle(self) -> None:
        """Carry datagrams between the client and the server until both are quiet."""
        for _ in range(16):
            moved = False
            if self.client is not None:
                for datagram, _ in self.client.datagrams_to_send():
                    self.core.receive(datagram, DEVICE, self.now)
                    moved = True
            for datagram, peer in self.core.datagrams_to_send():
                if peer == DEVICE and self.client is not None:
                    for plaintext in self.client.receive(datagram, SERVER, self.now):
                        Message.decode(plaintext)  # the server core's answer, decrypted
                moved = True
            timer = self.core.get_timer()
            if timer is not None and timer <= self.now:
                self.core.handle_timer(self.now)
            if not moved:
                return

    def step(self, control: int, datagram: bytes) -> None:
        self.now += (control >> 2) * 0.25
        if control & 3 == 0 and self.client is not None:
            self.client.send(datagram, SERVER, self.now)
        else:
            peer = DEVICE if control & 3 == 0 else STRANGERS[(control & 3) - 1]
            self.core.receive(datagram, peer, self.now)
        self.shuttle()


def dtls(data: bytes) -> None:
    if not data:
        return
    forget_logged()
    run = DtlsRun(handshake=bool(data[0] & 1))
    for control, datagram in frames(data[1:]):
        run.step(control, datagram)
    run.now += 400.0
    run.core.handle_timer(run.now)
    run.shuttle()
    raise_logged()


CORE_TARGETS: dict[str, Callable[[bytes], None]] = {
    "server": server,
    "client": client,
    "dtls": dtls,
}
