"""``lwm2m client --nidd`` holding UDP next to NIDD (``--server``) and SMS through the same
modem (``--sms``): what it refuses before starting, and the three commands as processes on
loopback (``lwm2m network`` with its SMSC, ``lwm2m server --nidd --smpp``, the client), where
the device registers over its Preferred Transport announcing exactly what it holds, is moved
to NIDD and read there, and answers an SMS trigger with an Update."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import httpx
import pytest

from lwm2m.cli.main import main
from tests.nidd.test_cli_nidd import LWM2M, _free_port, _line, _until, processes  # noqa: F401

SERVER_NUMBER = "4930123456"
MODEM = "socket://127.0.0.1:9"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--server", "coap://127.0.0.1:9", "--sms", SERVER_NUMBER], "--sms needs --nidd"),
        (["--server", "coap://127.0.0.1:9", "--binding", "U"], "--binding needs --nidd"),
        (["--nidd", MODEM, "--binding", "UN"], "does not hold UDP (give --server)"),
        (["--nidd", MODEM, "--binding", "NS"], "does not hold SMS (give --sms)"),
        (["--nidd", MODEM, "--binding", "NQ"], "letters of U, N, S"),
        (["--nidd", MODEM, "--sms", "12"], "not an MSISDN"),
        (["--nidd", MODEM, "--preferred-transport", "U"], "not in the binding N"),
        (
            ["--nidd", MODEM, "--server", "coap://127.0.0.1:9", "--binding", "N",
             "--preferred-transport", "U"],
            "not in the binding N",
        ),
        (["--nidd", MODEM, "--server", "coap+tcp://127.0.0.1:9"], "coap:// or coaps://"),
        (
            ["--nidd", MODEM, "--server", "coap://127.0.0.1:9", "--server", "coap://127.0.0.1:8"],
            "one --server",
        ),
        (["--nidd", MODEM, "--state", "x.json"], "--nidd and --state"),
        (["--nidd", MODEM, "--oscore-file", "x"], "--nidd and --oscore-file"),
        (["--nidd", MODEM, "--psk-identity", "me"], "coaps:// --server"),
    ],
)  # fmt: skip
def test_what_the_modem_device_refuses(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["client", *argv]) == 1
    assert message in capsys.readouterr().err


def test_udp_nidd_and_sms_through_the_commands(
    processes: list[subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    deadline = time.monotonic() + 45
    network = subprocess.Popen(
        [*LWM2M, "network", "--sims", "1", "--at-port", "0", "--t8-port", "0",
         "--smpp-port", "0", "--inactivity", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LWM2M_SMPP_ACCOUNTS": "esme:secret"},
    )  # fmt: skip
    processes.append(network)
    banner = _line(network.stdout, r"AT over tcp (\S+):(\d+); T8: (http://[^/]+)/", deadline)
    at_host, at_port, t8_url = banner.group(1), banner.group(2), banner.group(3)
    smpp_port = _line(network.stdout, r"SMSC: SMPP 3.4 over tcp \S+:(\d+)", deadline).group(1)
    [ue] = httpx.get(f"{t8_url}/api/network", timeout=5).json()["ues"]
    external_id, imei, msisdn = (ue["sim"][k] for k in ("externalId", "imei", "msisdn"))

    http_port, coap_port = _free_port(), _free_port(socket.SOCK_DGRAM)
    web = f"http://127.0.0.1:{http_port}"
    server = subprocess.Popen(
        [*LWM2M, "server", "--coap-port", str(coap_port), "--coaps-port",
         str(_free_port(socket.SOCK_DGRAM)), "--tcp-port", "0", "--tls-port", "0",
         "--http-port", str(http_port), "--db", ":memory:",
         "--nidd", t8_url, "--nidd-callback-url", f"{web}/t8",
         "--smpp", f"smpp://esme@127.0.0.1:{smpp_port}", "--smpp-source-addr", SERVER_NUMBER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LWM2M_SMPP_PASSWORD": "secret"},
    )  # fmt: skip
    processes.append(server)
    _line(server.stdout, r"REST API on", deadline)

    with httpx.Client(base_url=web, timeout=20) as api:
        assert api.put(f"/api/nidd/devices/{external_id}").status_code == 201
        _until(
            lambda: api.get(f"/api/nidd/devices/{external_id}").json()["status"] == "active",
            deadline,
            "the NIDD configuration at the SCEF",
        )
        client = subprocess.Popen(
            [*LWM2M, "client", "--nidd", f"socket://{at_host}:{at_port}",
             "--server", f"coap://127.0.0.1:{coap_port}", "--sms", "+" + SERVER_NUMBER,
             "--preferred-transport", "U", "--lifetime", "300", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(client)
        endpoint = f"urn:imei:{imei}"

        def registration() -> dict[str, object] | None:
            answer = api.get(f"/api/clients/{endpoint}")
            return answer.json() if answer.status_code == 200 else None

        registered = _until(registration, deadline, "the registration")
        address = registered["address"]
        assert isinstance(address, dict) and address["transport"] == "U", registered
        assert registered["binding"] == "UNS", registered  # what it holds, all three
        paths = api.get(f"/api/clients/{endpoint}/wake-policy").json()["paths"]
        assert {"channel": "sms", "to": msisdn, "serverInstance": 0} in paths  # AT+CNUM's

        moved = api.post(f"/api/clients/{endpoint}/transport", json={"transport": "N"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["address"] == external_id
        read = api.get(f"/api/clients/{endpoint}/3/0/0")
        assert read.status_code == 200 and "lwm2m project" in read.text, read.text

        before = registration()
        assert before is not None
        woken = api.post(f"/api/clients/{endpoint}/wake", json={"channel": "sms"})
        assert woken.status_code == 200, woken.text
        assert woken.json()["to"] == msisdn
        _until(  # the trigger, SMPP -> SMSC -> +CMT, answered by an Update over NIDD
            lambda: (
                (now := registration()) is not None
                and now["lastSeen"] != before["lastSeen"]
                and now["address"] == {"transport": "N", "secure": False, "address": external_id}
            ),
            deadline,
            "the Update the SMS trigger asked for",
        )

        client.send_signal(signal.SIGTERM)
        assert client.wait(timeout=max(1.0, deadline - time.monotonic())) == 0
