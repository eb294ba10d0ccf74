"""Every console page in Chromium at 390 and 1440 px (no sideways scrolling), and a console
that is never silent: operations pending with Cancel, errors with their reason (a device that
is gone, a server that is down), the written value, charts from the server's history after a
reload, observation state from the server after a restart, the CoAP message log, firmware
campaigns created from the console, NIDD and the Network page.  Screenshots in
test-artifacts/browser/ (``*-390.png``, ``*-1440.png``)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from lwm2m.bootstrap.config import ConfigStore
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.config import EndpointConfig
from lwm2m.firmware import FirmwareDelivery, FirmwareRepository
from lwm2m.firmware.campaign import MemoryCampaignStore
from lwm2m.firmware.campaign_runner import CampaignRunner
from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, generate_sims
from lwm2m.network.ue import NetworkConfig
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.storage import SqliteStore
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.web.bootstrap_api import bootstrap_routes
from lwm2m.web.campaign_api import campaign_routes
from lwm2m.web.firmware_api import firmware_routes
from lwm2m.web.serving import WebServer
from tests.browser.conftest import UI_WAIT, assert_fits, at_widths, screenshot

pytestmark = pytest.mark.timeout(90)
expect.set_options(timeout=UI_WAIT)

EP = "urn:imei:490154203237520"
FAST = EndpointConfig(ack_timeout=0.3, max_retransmit=2, max_latency=0.5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def device(coap_port: int, binding: str = "U") -> tuple[LwM2MClient, ObjectTree]:
    account = ServerAccount(
        short_server_id=1, uri=f"coap://127.0.0.1:{coap_port}", lifetime=300, binding=binding
    )
    tree = telekom_device(EP, seed=4, now=time.time(), servers=[account])
    client = LwM2MClient(
        tree,
        EP,
        local_address=("127.0.0.1", 0),
        config=ClientConfig(lwm2m_version="1.1", retry_base=0.2, retry_cap=0.5),
        coap=FAST,
        seed=4,
    )
    return client, tree


@dataclass
class Restartable:
    """A server on fixed ports over one SQLite file: stopped and started again like a
    restarted process, so an open console loses it and finds it again."""

    db: Path
    coap_port: int
    http_port: int
    server: LwM2MServer | None = None
    web: WebServer | None = None
    store: SqliteStore | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def start(self) -> None:
        self.store = SqliteStore(self.db)
        config = ServerConfig(host="127.0.0.1", coap_port=self.coap_port, coap=FAST)
        self.server = LwM2MServer(config, store=self.store)
        await self.server.start()
        self.web = WebServer(self.server, host="127.0.0.1", port=self.http_port)
        await self.web.start()

    async def stop(self) -> None:
        assert self.server is not None and self.web is not None and self.store is not None
        await asyncio.wait_for(self.web.stop(), 10)
        await self.server.stop()
        self.store.close()


@pytest.fixture
async def restartable(tmp_path: Path) -> AsyncIterator[Restartable]:
    stack = Restartable(tmp_path / "server.db", free_port(), free_port())
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


def row(page: Page, path: str) -> object:
    return page.locator(f'tr[data-path="{path}"]')


async def test_device_page_survives_reload_restart_and_a_gone_device(
    restartable: Restartable, page: Page
) -> None:
    client, tree = device(restartable.coap_port)
    await client.start()
    try:
        await page.goto(f"{restartable.url}/#/devices/{EP}")
        await expect(page.locator(".panel h2")).to_contain_text("Device")

        # A Write shows what was written, in the response and in the table.
        await page.click('[data-path="/1/0"]')
        await row(page, "/1/0/1").get_by_role("button", name="Write").click()
        await page.fill("dialog input[name=value]", "240")
        await page.click("dialog button[type=submit]")
        await expect(page.locator("#response-status")).to_have_text("2.04 Changed")
        await expect(page.locator("#written")).to_contain_text("240")
        await expect(row(page, "/1/0/1").locator("td.value")).to_have_text("240")

        # The CoAP messages of a Read, once captured.
        await page.click("#capture")
        await expect(page.locator("#capture")).to_have_text("Stop capture")
        await page.click('[data-path="/3/0"]')
        await page.click("#read-instance")
        await expect(page.locator("#response-status")).to_have_text("2.05 Content")
        log = page.locator("#coap-log")
        await expect(log.locator("tr.msg-out", has_text="GET")).to_have_count(1, timeout=5_000)
        await expect(log.locator("tr.msg-in", has_text="2.05")).to_have_count(1)

        # Observe the battery level (pmin 0); its chart has a value axis in % and times.
        async with httpx.AsyncClient(base_url=restartable.url) as http:
            await http.put(f"/api/clients/{EP}/3/0/9/attributes?pmin=0&pmax=60")
        await row(page, "/3/0/9").get_by_role("button", name="Observe").click()
        await expect(row(page, "/3/0/9").get_by_role("button", name="Stop")).to_be_visible()
        device_object = tree.object(3)
        assert isinstance(device_object, SimpleObject)
        chart = page.locator('.chart-box[data-path="/3/0/9"]')
        for level in (81, 77, 72):
            device_object.set(0, 9, level)
            await expect(chart.locator(".chart-value")).to_contain_text(str(level))
        await expect(chart.locator(".chart-label-y").first).to_contain_text("%")
        await at_widths(page, "10-device")

        # A reload keeps the chart (from the server's history), the observation and the capture.
        await page.reload()
        await expect(chart).to_contain_text("72")
        await expect(chart).to_contain_text("values")
        await expect(row(page, "/3/0/9").get_by_role("button", name="Stop")).to_be_visible()
        await expect(page.locator("#capture")).to_have_text("Stop capture")

        # The server goes away: the console says so, and an operation says why it failed.
        await restartable.stop()
        await expect(page.locator(".conn")).to_have_text("Server unreachable")
        await page.click("#read-instance")
        await expect(page.locator("#response-error")).to_contain_text("Server unreachable")
        await screenshot(page, "11-server-unreachable")

        # Back again (same database): live, and the observation is still the server's.
        await restartable.start()
        await expect(page.locator(".conn")).to_have_text("Live", timeout=15_000)
        await page.click("#read-instance")
        await expect(page.locator("#response-status")).to_have_text("2.05 Content")
        await expect(row(page, "/3/0/9").get_by_role("button", name="Stop")).to_be_visible()
        device_object.set(0, 9, 66)
        await expect(chart.locator(".chart-value")).to_contain_text("66")
    finally:
        await client.stop(timeout=2.0)

    # The device is gone: the failed Read shows the server's reason.
    await page.click("#read-instance")
    await expect(page.locator("#response-status")).to_have_text("HTTP 404")
    await expect(page.locator("#response-error")).to_contain_text("no registration")
    await screenshot(page, "12-device-gone")


@dataclass
class Managed:
    url: str
    server: LwM2MServer
    repository: FirmwareRepository


@pytest.fixture
async def managed() -> AsyncIterator[Managed]:
    """A server with the firmware repository, campaigns and the bootstrap API mounted."""
    repository = FirmwareRepository.temporary()
    delivery = FirmwareDelivery(repository)
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, coap=FAST, resources=(delivery.coap_resource,))
    )
    delivery.attach(server)
    await server.start()
    campaigns = CampaignRunner(delivery, MemoryCampaignStore())
    await campaigns.start()
    web = WebServer(
        server,
        host="127.0.0.1",
        port=0,
        extra_routes=[
            *bootstrap_routes(ConfigStore()),
            *firmware_routes(delivery),
            *campaign_routes(campaigns),
        ],
    )
    await web.start()
    try:
        yield Managed(web.url, server, repository)
    finally:
        await asyncio.wait_for(web.stop(), 10)
        await campaigns.stop()
        await server.stop()


async def test_every_page_fits_390_and_1440(managed: Managed, page: Page) -> None:
    client, _ = device(managed.server.coap_address[1], binding="UQ")
    await client.start()
    try:
        await page.goto(managed.url + "/")
        await expect(page.locator(f'tr[data-endpoint="{EP}"]')).to_contain_text("Online")
        await at_widths(page, "20-devices")

        # Queue mode: the device page says whether the server judges it awake.
        await page.goto(f"{managed.url}/#/devices/{EP}")
        await expect(page.locator("#awake")).to_contain_text("Awake")

        # The compliance deep link runs the check at once.
        await page.goto(f"{managed.url}/#/compliance/{EP}")
        await expect(page.locator("#compliance-report .verdict h2")).to_be_visible(timeout=20_000)
        await at_widths(page, "21-compliance")

        await page.goto(managed.url + "/#/security")
        await expect(page.locator(".empty")).to_contain_text("No credentials yet")
        await at_widths(page, "22-security")

        await page.goto(managed.url + "/#/bootstrap")
        await page.get_by_role("button", name="Add configuration").click()
        await expect(page.locator("dialog[open]")).to_be_visible()
        await at_widths(page, "23-bootstrap-dialog")
        await page.locator("dialog[open] button", has_text="Cancel").click()

        # A campaign from the console: a package of the repository, a target, the pace.
        managed.repository.add_bytes(b"\x00" * 4096, version="2.0.0", model="console-test")
        await page.goto(managed.url + "/#/campaigns")
        await expect(page.locator(".card")).to_contain_text("No campaigns yet")
        await page.click("#new-campaign")
        dialog = page.locator("dialog[open]")
        await expect(dialog.locator("select[name=package]")).to_contain_text("2.0.0")
        await dialog.locator("input[name=name]").fill("console rollout")
        await dialog.locator("textarea[name=endpoints]").fill(EP)
        await dialog.locator("select[name=method]").select_option("push")
        await dialog.locator("input[name=waves]").fill("1")
        await dialog.locator("input[name=concurrency]").fill("2")
        await at_widths(page, "24-campaign-new", height=1100)
        await dialog.locator("button[type=submit]").click()
        await expect(page.locator(".page-head h1")).to_contain_text("Campaign ")
        await expect(page.locator(".campaign-bar")).to_be_visible()
        await expect(page.locator(f'tr[data-endpoint="{EP}"]')).to_be_visible()
        await expect(page.locator(".campaign-summary")).to_contain_text("of 1 finished")
        await at_widths(page, "25-campaign")
        await page.click("text=All campaigns")
        await expect(page.locator("tr[data-campaign]")).to_contain_text("console rollout")
        await at_widths(page, "26-campaigns")
    finally:
        await client.stop(timeout=2.0)


async def test_nidd_network_page(page: Page) -> None:
    """With --nidd at lwm2m network, the Network page shows the emulated network's UEs."""
    sims = generate_sims(2)
    network = NetworkService(Hss(sims), NetworkConfig(), ServiceConfig(at_port=0, t8_port=0))
    await network.start()
    web_port = free_port()
    settings = NiddSettings(
        url=network.t8_url,
        callback_url=f"http://127.0.0.1:{web_port}/t8",
        token="console-nidd-token-0123456789",
    )
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, nidd=settings))
    web = WebServer(server, host="127.0.0.1", port=web_port)
    await web.start()
    await server.start()
    try:
        await page.goto(web.url + "/")
        await expect(page.locator('a.nav-link[data-route="network"]')).to_be_visible()
        await page.click('a.nav-link[data-route="network"]')
        table = page.locator("#ue-table")
        await expect(table).to_contain_text(sims[0].external_id)
        await expect(table.locator("tbody tr")).to_have_count(2)
        await at_widths(page, "27-network")
    finally:
        await server.stop()
        await asyncio.wait_for(web.stop(), 10)
        await network.stop()


async def test_a_server_without_a_network_hides_the_page(page: Page) -> None:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0))
    await server.start()
    web = WebServer(server, host="127.0.0.1", port=0)
    await web.start()
    try:
        await page.goto(web.url + "/#/network")
        await expect(page.locator("#unavailable")).to_contain_text("--nidd")
        await expect(page.locator('a.nav-link[data-route="network"]')).to_be_hidden()
        await assert_fits(page, "network unavailable")
    finally:
        await asyncio.wait_for(web.stop(), 10)
        await server.stop()
