"""libcoap's coap-client-openssl (Debian libcoap3-bin, installed by ``make test``) against our
CoAP-over-TLS server with a pre-shared key (``coaps+tcp://``, RFC 8323)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from lwm2m.coap.stream import ConnectionClosed
from tests.integration.test_coap_tcp import _serve

pytestmark = [pytest.mark.peer, pytest.mark.timeout(60)]

IDENTITY, KEY = "libcoap-device", b"libcoap-secret-1"  # libcoap 4.3.1 takes text keys only


def _client() -> str:
    path = shutil.which("coap-client-openssl")
    if path is None:
        pytest.fail("coap-client-openssl not found: `make test` installs Debian libcoap3-bin")
    return path


async def _run(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        _client(),
        "-B",
        "5",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 20)
    return process.returncode or 0, output.decode(errors="replace")


async def test_coap_client_openssl_over_tls_psk(tmp_path: Path) -> None:
    app, (host, port) = await _serve(psk={IDENTITY: KEY}.get)
    assert app.transport is not None
    base = f"coaps+tcp://{host}:{port}"
    try:
        code, output = await _run("-u", IDENTITY, "-k", KEY.decode(), f"{base}/small")
        assert code == 0 and "hello" in output, output
        body = bytes(range(256)) * 12
        (tmp_path / "body").write_bytes(body)
        code, output = await _run(
            "-u",
            IDENTITY,
            "-k",
            KEY.decode(),
            "-m",
            "put",
            "-f",
            str(tmp_path / "body"),
            f"{base}/store",
        )
        assert code == 0, output
        assert app.stored == body
        closed = lambda: [e for e in app.events if isinstance(e, ConnectionClosed)]  # noqa: E731
        await app.wait_for(lambda: len(closed()) == 2)
        assert {e.peer.identity for e in closed()} == {IDENTITY}  # type: ignore[attr-defined]
        # A wrong key never gets a connection to the core.
        code, output = await _run("-u", IDENTITY, "-k", "wrong-key-wrong!", f"{base}/small")
        assert "hello" not in output
        assert len(closed()) == 2 and not app.transport.peers
    finally:
        app.transport.close()
