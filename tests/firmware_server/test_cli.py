"""``lwm2m firmware add``/``list`` on a database file, and ``lwm2m server`` serving what they
added: upload over REST, download over CoAP (aiocoap) and HTTP, from the same process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import aiocoap
import httpx
import pytest

from lwm2m.cli.main import main
from lwm2m.storage import SqliteStore
from tests.firmware_server.conftest import PACKAGE
from tests.integration.test_rest_cli import free_tcp_port, free_udp_port

pytestmark = pytest.mark.timeout(60)

SHA = hashlib.sha256(PACKAGE).hexdigest()


def _lines(captured: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.decode().splitlines()]


def test_add_then_list(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    image, signature, db = tmp_path / "fw.bin", tmp_path / "fw.sig", str(tmp_path / "s.db")
    image.write_bytes(PACKAGE)
    signature.write_bytes(b"\x05" * 64)
    add = ["firmware", "add", str(image), "--version", "1.2", "--model", "m1", "--db", db]
    assert main([*add, "--signature", str(signature)]) == 0
    [added] = _lines(capsysbinary.readouterr().out)
    assert added["sha256"] == SHA and added["created"] is True and added["size"] == len(PACKAGE)
    assert main([*add, "--signature", str(signature)]) == 0  # the same again: one package
    assert _lines(capsysbinary.readouterr().out)[0]["created"] is False
    assert main(["firmware", "list", "--db", db]) == 0
    [listed] = _lines(capsysbinary.readouterr().out)
    assert listed["sha256"] == SHA and listed["version"] == "1.2"
    assert (Path(f"{db}.firmware") / SHA).read_bytes() == PACKAGE
    store = SqliteStore(db)
    try:
        [kept] = store.firmware.all()
        assert kept.signature == b"\x05" * 64 and kept.model == "m1"
    finally:
        store.close()


def test_refusals_are_one_line_and_status_1(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    image, empty, db = tmp_path / "fw.bin", tmp_path / "empty.bin", str(tmp_path / "s.db")
    image.write_bytes(PACKAGE)
    empty.write_bytes(b"")
    add = ["firmware", "add", "--model", "m1", "--db", db]
    assert main([*add, str(image), "--version", "1"]) == 0
    capsysbinary.readouterr()
    cases = [
        [*add, str(image), "--version", "2"],  # the same bytes as another version
        [*add, str(empty), "--version", "1"],
        [*add, str(image), "--version", "1", "--max-size", "100"],
        ["firmware", "list", "--db", str(tmp_path / "none.db")],
        ["firmware", "list", "--db", ":memory:"],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        error = capsysbinary.readouterr().err.decode()
        assert error.startswith("lwm2m firmware: ") and error.count("\n") == 1, error
    store = SqliteStore(db)  # a running server holds the file
    try:
        assert main(["firmware", "list", "--db", db]) == 1
        assert "POST /api/firmware" in capsysbinary.readouterr().err.decode()
    finally:
        store.close()


async def test_the_server_command_serves_the_repository(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    http_port, coap_port = free_tcp_port(), free_udp_port()
    command = [
        *(sys.executable, "-m", "lwm2m.cli.main", "server", "--host", "127.0.0.1"),
        *("--db", db, "--coaps-port", "0", "--tcp-port", "0", "--tls-port", "0"),
        *("--coap-port", str(coap_port), "--http-port", str(http_port), "--log-level", "warning"),
        *("--firmware-max-size", "10000"),
        *("--firmware-http-url", f"http://127.0.0.1:{http_port}"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    context = await aiocoap.Context.create_client_context()
    try:
        assert process.stdout is not None
        await asyncio.to_thread(process.stdout.readline)  # the banner: listening
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
            params = {"version": "1", "model": "m"}
            big = await http.post("/api/firmware", params=params, content=b"x" * 10001)
            assert big.status_code == 413
            added = await http.post("/api/firmware", params=params, content=PACKAGE)
            assert added.status_code == 201 and added.json()["sha256"] == SHA
            urls = []
            for scheme in ("coap", "http"):
                answer = await http.post(
                    f"/api/firmware/{SHA}/url", json={"endpoint": "d", "scheme": scheme}
                )
                assert answer.status_code == 201
                urls.append(answer.json()["url"])
            assert urls[0].startswith(f"coap://127.0.0.1:{coap_port}/fw/")
            request = aiocoap.Message(code=aiocoap.GET, uri=urls[0])
            response = await asyncio.wait_for(context.request(request).response, 10)
            assert response.payload == PACKAGE
            assert (await http.get(urls[1])).content == PACKAGE
        process.terminate()
        assert await asyncio.to_thread(process.wait, 10) == 0
    finally:
        await context.shutdown()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert "Traceback" not in stderr, stderr
    assert (Path(f"{db}.firmware") / SHA).read_bytes() == PACKAGE
