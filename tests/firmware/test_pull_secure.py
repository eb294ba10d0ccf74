"""Pull over ``coaps://`` (DTLS-PSK) and ``coaps+tcp://`` (TLS-PSK) from libcoap's
coap-server-openssl (Debian libcoap3-bin, installed by ``make test``): the package is PUT to
the server's dynamic resource first, then downloaded block by block with the device's PSK."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import AsyncIterator

import pytest

from lwm2m.client.firmware.pull import PullSettings
from lwm2m.client.standard.firmware import State, UpdateResult
from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.options import Options
from lwm2m.security.credentials import Psk, Secret
from lwm2m.transport.udp import open_udp_endpoint
from tests.firmware.common import read, status
from tests.firmware.servers import free_port
from tests.firmware.test_pull import FAST, PACKAGE, pull

pytestmark = [pytest.mark.peer, pytest.mark.timeout(60)]

IDENTITY, KEY = b"fw-device", b"firmware-secret1"  # libcoap 4.3.1 takes text keys only


@pytest.fixture
async def libcoap() -> AsyncIterator[int]:
    """coap-server-openssl holding the package at /fw/pkg; yields its plain port (DTLS and
    TLS listen on the next one)."""
    binary = shutil.which("coap-server-openssl")
    if binary is None:
        pytest.fail("coap-server-openssl not found: `make test` installs Debian libcoap3-bin")
    while True:
        port = free_port()
        if port < 65535:
            break
    process = await asyncio.create_subprocess_exec(
        binary,
        "-A",
        "127.0.0.1",
        "-p",
        str(port),
        "-k",
        KEY.decode(),
        "-d",
        "4",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        uploader = await open_udp_endpoint(Endpoint(FAST, random.Random(1)))
        try:
            for _ in range(50):  # until the server listens
                try:
                    response = await uploader.request(
                        ("127.0.0.1", port),
                        Code.PUT,
                        options=Options.build(uri_path=("fw", "pkg")),
                        payload=PACKAGE,
                    )
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            assert response.code in (Code.CREATED, Code.CHANGED), response
        finally:
            uploader.close()
        yield port
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.parametrize("scheme", ["coaps", "coaps+tcp"])
async def test_secure_pull_from_libcoap(libcoap: int, scheme: str) -> None:
    settings = PullSettings(coap=FAST, psk=Psk(IDENTITY, Secret(KEY)), retry_base=0.1)
    tree, updater, firmware = await pull(f"{scheme}://127.0.0.1:{libcoap + 1}/fw/pkg", settings)
    assert status(firmware) == (State.DOWNLOADED, UpdateResult.INITIAL)
    assert read(tree, "/5/0/7") == "2.0.0"
    header, image = updater.slot.image()
    assert image == PACKAGE[header.length :]


async def test_secure_pull_with_a_wrong_key_is_connection_lost(libcoap: int) -> None:
    settings = PullSettings(
        coap=FAST,
        psk=Psk(IDENTITY, Secret(b"wrong-key-wrong!")),
        retry_base=0.1,
        retry_cap=0.2,
        retry_window=1.0,
    )
    _, _, firmware = await pull(f"coaps://127.0.0.1:{libcoap + 1}/fw/pkg", settings)
    assert status(firmware) == (State.IDLE, UpdateResult.CONNECTION_LOST)
