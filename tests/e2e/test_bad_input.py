"""Bad input end to end: malformed registrations, updates for registrations that do not exist
and garbage datagrams over real UDP, and bad REST requests.  Each gets the right 4.xx, the
server keeps serving, and the registered device is left alone."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from lwm2m.coap import Code, Message, Options, Type
from lwm2m.coap.endpoint import Endpoint
from lwm2m.codec import ContentFormat
from lwm2m.model import SingleResource
from lwm2m.operations import NodeResponse
from lwm2m.server import Registered, Updated
from lwm2m.transport.udp import UdpEndpoint, open_udp_endpoint
from tests.e2e.conftest import EP, FAST, WAIT, Device

pytestmark = pytest.mark.timeout(30)

LINKS = b'</>;rt="oma.lwm2m",</1/0>,</3/0>'


@pytest.fixture
async def attacker() -> AsyncIterator[UdpEndpoint]:
    """A CoAP endpoint of our own, to send hand-made requests from another address."""
    udp = await open_udp_endpoint(Endpoint(FAST, random.Random(5)))
    yield udp
    udp.close()


async def post(
    udp: UdpEndpoint,
    device: Device,
    path: tuple[str, ...],
    *,
    query: tuple[str, ...] = (),
    payload: bytes = LINKS,
    code: Code = Code.POST,
) -> Message:
    options = Options.build(uri_path=path, uri_query=query, content_format=ContentFormat.LINK)
    request = udp.request(device.server.coap_address, code, options=options, payload=payload)
    return await asyncio.wait_for(request, WAIT)


async def still_serving(device: Device, registration_id: str) -> None:
    """The device is registered as before and the server still reads from it."""
    registration = device.server.registrations.get(EP)
    assert registration is not None and registration.registration_id == registration_id
    assert [r.endpoint for r in device.server.registrations.all()] == [EP]
    response = await device.server.read(EP, "/3/0/0", fmt=ContentFormat.TEXT)
    assert response == NodeResponse(SingleResource(0, "lwm2m project"), ContentFormat.TEXT)


def registration_id(device: Device) -> str:
    registration = device.server.registrations.get(EP)
    assert registration is not None
    return registration.registration_id


MANY_LINKS = b",".join(b"</%d>" % (i % 60000) for i in range(10_000))


@pytest.mark.parametrize(
    ("query", "payload", "expected"),
    [
        pytest.param(("ep=bad-links", "lt=60"), b"</3/0", Code.BAD_REQUEST, id="bad_link_format"),
        pytest.param(("ep=bad-utf8",), b"</3/\xff>", Code.BAD_REQUEST, id="links_not_utf8"),
        pytest.param(("lt=60", "lwm2m=1.1"), LINKS, Code.BAD_REQUEST, id="no_ep"),
        pytest.param(("ep=",), LINKS, Code.BAD_REQUEST, id="empty_ep"),
        pytest.param(("ep=a\x01b",), LINKS, Code.BAD_REQUEST, id="control_chars_in_ep"),
        pytest.param(("ep=zero", "lt=0"), LINKS, Code.BAD_REQUEST, id="lifetime_0"),
        pytest.param(("ep=huge", "lt=99999999999"), LINKS, Code.BAD_REQUEST, id="lifetime_absurd"),
        pytest.param(("ep=neg", "lt=-5"), LINKS, Code.BAD_REQUEST, id="lifetime_negative"),
        pytest.param(("ep=word", "lt=soon"), LINKS, Code.BAD_REQUEST, id="lifetime_text"),
        pytest.param(("ep=twice", "lt=5", "lt=6"), LINKS, Code.BAD_REQUEST, id="lifetime_twice"),
        pytest.param(("ep=v9", "lwm2m=9.9"), LINKS, Code.PRECONDITION_FAILED, id="version"),
        pytest.param(("ep=vx", "lwm2m=one"), LINKS, Code.BAD_REQUEST, id="version_text"),
        pytest.param(("ep=links",), MANY_LINKS, Code.REQUEST_ENTITY_TOO_LARGE, id="10000_links"),
        pytest.param(
            ("ep=big",), b"</3/0>," * 20_000, Code.REQUEST_ENTITY_TOO_LARGE, id="huge_payload"
        ),
    ],
)
async def test_malformed_registrations_are_refused(
    device: Device,
    attacker: UdpEndpoint,
    query: tuple[str, ...],
    payload: bytes,
    expected: Code,
) -> None:
    before = registration_id(device)
    response = await post(attacker, device, ("rd",), query=query, payload=payload)
    assert response.code is expected, response.payload
    assert response.payload  # a diagnostic says what was wrong
    await still_serving(device, before)
    assert len(device.server_seen(Registered)) == 1


async def test_updates_and_deregistrations_for_unknown_registrations_are_404(
    device: Device, attacker: UdpEndpoint
) -> None:
    before = registration_id(device)
    for path, code, expected in [
        (("rd", "nobody"), Code.POST, Code.NOT_FOUND),
        (("rd", "nobody"), Code.DELETE, Code.NOT_FOUND),
        (("rd", before[:-1]), Code.POST, Code.NOT_FOUND),
        (("rd", before, "extra"), Code.POST, Code.NOT_FOUND),
        (("rd",), Code.DELETE, Code.METHOD_NOT_ALLOWED),
    ]:
        response = await post(attacker, device, path, query=("lt=5",), payload=b"", code=code)
        assert response.code is expected, (path, code, response)
    bad = await post(attacker, device, ("rd", before), query=("lt=0",), payload=b"")
    assert bad.code is Code.BAD_REQUEST
    bad_links = await post(attacker, device, ("rd", before), payload=b"</3/0")
    assert bad_links.code is Code.BAD_REQUEST
    elsewhere = await post(attacker, device, ("bs",), query=("ep=x",), payload=b"")
    assert elsewhere.code is Code.NOT_FOUND
    await still_serving(device, before)
    registration = device.server.registrations.get(EP)
    assert registration is not None and registration.lifetime == 30
    assert not device.server_seen(Updated)


async def test_garbage_datagrams_change_nothing(device: Device) -> None:
    before = registration_id(device)
    rng = random.Random(9)
    valid = Message(
        Type.CON,
        Code.POST,
        0x1234,
        b"tok",
        Options.build(uri_path=("rd",), uri_query=("ep=late",)),
        LINKS,
    ).encode()
    datagrams = [
        b"",
        b"\x40",  # a header cut short
        b"\xff" * 4,  # version 3
        b"\x48\x02\x00\x01",  # token length 8 with no token
        b"\x40\x02\x00\x02\xdd\xff\xff",  # an option running past the end
        b"\x40\x00\x00\x03payload",  # an Empty message with a payload
        b"\x70\x00\x00\x04",  # a RST nobody asked for
        valid[:-5],  # the link payload cut mid-link
        *(rng.randbytes(rng.randrange(1, 300)) for _ in range(200)),
        rng.randbytes(60_000),  # one large datagram
    ]
    answers: list[bytes] = []
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        raw.setblocking(False)
        for data in datagrams:
            raw.sendto(data, device.server.coap_address)
        await asyncio.sleep(0.2)
        while True:
            try:
                answers.append(await asyncio.wait_for(loop.sock_recv(raw, 65535), 0.1))
            except TimeoutError:
                break
    for answer in answers:  # whatever came back is well-formed CoAP: RST or a 4.xx
        message = Message.decode(answer)
        assert message.type is Type.RST or message.code.is_error, message
    await still_serving(device, before)
    assert device.server.registrations.get("late") is None
    # the device can still Update
    device.client.trigger_update()
    await device.wait_server(Updated)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/3/zero", None),
        ("GET", "/3/0/0/0/0", None),
        ("GET", "/70000", None),
        ("GET", "/3/0?format=yaml", None),
        ("GET", "/3/0?timeout=-1", None),
        ("GET", "/3/0?timeout=soon", None),
        ("PUT", "/3/0", b"{not json"),
        ("PUT", "/3/0", b'{"values": {"/3/0/9": "full"}}'),
        ("PUT", "/3/0", b'{"values": {"/4/0/1": 5}}'),
        ("PUT", "/3/0", b'{"values": []}'),
        ("PATCH", "/3/0", b'{"nothing": 1}'),
        ("PUT", "/3/0/9/attributes?pmin=soon", None),
        ("PUT", "/3/0/9/attributes?colour=red", None),
        ("POST", "/3/0/4/execute", b'{"args": "0=\'unterminated"}'),
        ("POST", "/3/0/4/execute", b'{"args": 5}'),
        ("POST", "/composite/read", b'{"paths": ["/3/x"]}'),
        ("POST", "/composite/read", b'{"paths": "/3/0"}'),
        ("POST", "/composite/write", b'{"values": {"/3/0/9": [1, 2]}}'),
        ("GET", "/3/0/discover?depth=9", None),
        ("DELETE", "/3/0/9/observe", None),  # nothing is observed there
    ],
)
async def test_bad_rest_requests_are_400(
    device: Device, rest: httpx.AsyncClient, method: str, url: str, body: bytes | None
) -> None:
    mark = len(device.tap.log)
    response = await rest.request(method, f"/api/clients/{EP}{url}", content=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert device.tap.messages(up=False, since=mark) == []  # nothing went to the device
    assert (await rest.get("/api/clients/nobody/3/0")).status_code == 404
