"""``lwm2m network`` over real loopback sockets: a raw AT client is the modem, httpx is the
SCS/AS, a small HTTP server receives the T8 notifications. The clock runs 60 times faster
than real time, so a 2-minute periodic TAU passes in 2 seconds."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.ue import NetworkConfig

TOKEN = "e2e-token"
WAIT = 15.0
"""Upper bound for anything to arrive (seconds): generous for a busy 2-core machine."""


class Receiver:
    """The SCS/AS's notification endpoint."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def notify(request: Request) -> Response:
            await self.inbox.put(await request.json())
            return Response(status_code=204)

        self._server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=[Route("/notify", notify, methods=["POST"])]),
                log_level="warning",
                lifespan="off",
            )
        )
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/notify"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    async def next(self, key: str) -> dict[str, Any]:
        """The next notification that has ``key``; others before it are skipped."""
        while True:
            body = await asyncio.wait_for(self.inbox.get(), WAIT)
            if key in body:
                return body


class AtClient:
    """A TE talking to the modem: commands wait for their final result code; a "+" line is
    the command's information text if it carries the command's own prefix, a URC if not."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.urcs: asyncio.Queue[str] = asyncio.Queue()
        self._response: asyncio.Queue[str] = asyncio.Queue()
        self._prefix: str | None = None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while line := await self.reader.readline():
            text = line.decode().strip()
            if not text:
                continue
            mine = self._prefix is not None and (text.startswith(self._prefix) or "ERROR" in text)
            if text.startswith("+") and not mine:
                await self.urcs.put(text)
            else:
                await self._response.put(text)

    async def command(self, line: str) -> list[str]:
        """Information text and the final result code of one command."""
        self._prefix = line[2:].split("=", maxsplit=1)[0].split("?", maxsplit=1)[0] + ":"
        self.writer.write(line.encode() + b"\r")
        lines = []
        while True:
            text = await asyncio.wait_for(self._response.get(), WAIT)
            lines.append(text)
            if text == "OK" or "ERROR" in text:
                self._prefix = None
                return lines

    async def urc(self, prefix: str) -> str:
        while True:
            text = await asyncio.wait_for(self.urcs.get(), WAIT)
            if text.startswith(prefix):
                return text

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def service() -> AsyncIterator[NetworkService]:
    config = ServiceConfig(at_port=0, t8_port=0, t8_token=TOKEN, time_scale=60.0)
    running = NetworkService(Hss(generate_sims(2)), NetworkConfig(), config)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


async def test_modem_and_scs_as_through_the_emulated_network(
    service: NetworkService, receiver: Receiver
) -> None:
    sim = next(iter(service.network.hss))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=service.t8_url, headers=headers) as t8:
        identity = {"externalId": sim.external_id, "notificationDestination": receiver.url}
        created = await t8.post("/3gpp-nidd/v1/as/configurations", json=identity)
        assert created.status_code == 201
        config = created.headers["location"]
        assert (await receiver.next("status"))["status"] == "ACTIVE"
        subscription = identity | {
            "monitoringType": "UE_REACHABILITY",
            "reachabilityType": "DATA",
            "maximumNumberOfReports": 5,
        }
        created = await t8.post("/3gpp-monitoring-event/v1/as/subscriptions", json=subscription)
        assert created.status_code == 201

        modem = AtClient(*await asyncio.open_connection(*service.at_address))
        try:
            assert (await modem.command("ATE0"))[-1] == "OK"
            assert await modem.command("AT+CIMI") == [sim.imsi, "OK"]
            for line in (
                "AT+CMEE=1",
                "AT+CEREG=4",
                "AT+CSCON=1",
                "AT+CRTDCP=1",
                'AT+CPSMS=1,,,"10100010","00000000"',
                "AT+CFUN=1",
            ):
                assert await modem.command(line) == ["OK"]
            registered = await modem.urc("+CEREG: 1,")
            assert registered.endswith(',,,"00000000","10100010"')  # PSM: 0 s active, TAU 2 min
            reachable = await receiver.next("monitoringEventReports")
            assert reachable["monitoringEventReports"][0]["monitoringType"] == "UE_REACHABILITY"

            # MO data reaches the SCS/AS as a NiddUplinkDataNotification
            assert await modem.command('AT+CSODCP=0,4,"CAFEBABE",0') == ["OK"]
            uplink = await receiver.next("data")
            assert base64.b64decode(uplink["data"]) == bytes.fromhex("CAFEBABE")
            assert uplink["externalId"] == sim.external_id

            # MT data to a connected UE: delivered at once as +CRTDCP
            data = {"externalId": sim.external_id, "data": base64.b64encode(b"\xbe\xef").decode()}
            sent = await t8.post(f"{config}/downlink-data-deliveries", json=data)
            assert sent.status_code == 200 and sent.json()["deliveryStatus"] == "SUCCESS"
            assert await modem.urc("+CRTDCP") == '+CRTDCP: 0,2,"BEEF"'

            # RAI "no further data": released, and with 0 s active time in PSM at once
            assert await modem.command('AT+CSODCP=0,1,"01",1') == ["OK"]
            await modem.urc("+CSCON: 0")
            sent = await t8.post(f"{config}/downlink-data-deliveries", json=data)
            assert sent.status_code == 201
            assert sent.json()["deliveryStatus"] == "BUFFERING_TEMPORARILY_NOT_REACHABLE"
            # ... delivered at the periodic TAU (2 emulated minutes: 2 real seconds)
            assert await modem.urc("+CRTDCP") == '+CRTDCP: 0,2,"BEEF"'
            report = await receiver.next("deliveryStatus")
            assert report == {
                "niddDownlinkDataTransfer": sent.headers["location"],
                "deliveryStatus": "SUCCESS",
            }
            assert "monitoringEventReports" in await receiver.next("monitoringEventReports")

            # ... or at the next MO data, whichever comes first
            await modem.urc("+CSCON: 0")
            sent = await t8.post(f"{config}/downlink-data-deliveries", json=data)
            assert sent.status_code == 201
            assert await modem.command('AT+CSODCP=0,1,"02"') == ["OK"]
            assert await modem.urc("+CRTDCP") == '+CRTDCP: 0,2,"BEEF"'
            assert (await receiver.next("deliveryStatus"))["deliveryStatus"] == "SUCCESS"

            status = (await t8.get("/api/network")).json()
            ue = next(u for u in status["ues"] if u["sim"]["imsi"] == sim.imsi)
            assert ue["counters"]["moPackets"] == 3 and ue["counters"]["mtDelivered"] == 3
            assert ue["modem"] is not None
            assert (await t8.get("/api/network", headers={"Authorization": "x"})).status_code == 401
        finally:
            await modem.close()
