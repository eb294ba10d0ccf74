"""The web console in real headless Chromium against a real server and a simulated device.

One walk through what an operator does: the device appears live, /3/0 is read, /1/0/1 is
written, a resource is observed and its values change on the device, Send data arrives, the
Telekom compliance check passes; and the pages whose APIs this server lacks say so, and a
server with a token asks for it.  Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn
from playwright.async_api import Page, expect

from lwm2m.bootstrap.config import ConfigStore, SecurityMode
from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.objects import SimpleObject
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import ObjectTree
from lwm2m.coap.config import EndpointConfig
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.web import EventHub, create_app
from lwm2m.web.bootstrap_api import bootstrap_routes
from lwm2m.web.serving import WebServer
from tests.browser.conftest import UI_WAIT, screenshot

pytestmark = pytest.mark.timeout(60)
expect.set_options(timeout=UI_WAIT)

EP = "urn:imei:490154203237518"
TOKEN = "console-test-token"
FAST = EndpointConfig(ack_timeout=0.3, max_retransmit=2, max_latency=0.5)


@dataclass
class Stack:
    server: LwM2MServer
    web: WebServer

    def device(self) -> tuple[LwM2MClient, ObjectTree]:
        host, port = self.server.coap_address[:2]
        account = ServerAccount(
            short_server_id=1, uri=f"coap://{host}:{port}", lifetime=60, binding="U"
        )
        tree = telekom_device(EP, seed=3, now=time.time(), servers=[account])
        client = LwM2MClient(
            tree,
            EP,
            local_address=("127.0.0.1", 0),
            config=ClientConfig(lwm2m_version="1.1", retry_base=0.2, retry_cap=0.5),
            coap=FAST,
            seed=3,
        )
        return client, tree


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, coap=FAST))
    await server.start()
    web = WebServer(server, host="127.0.0.1", port=0)
    await web.start()
    try:
        yield Stack(server, web)
    finally:
        await asyncio.wait_for(web.stop(), 10)
        await server.stop()


def row(page: Page, path: str) -> object:
    return page.locator(f'tr[data-path="{path}"]')


async def test_operator_walkthrough(stack: Stack, page: Page) -> None:
    await page.goto(stack.web.url + "/")
    await expect(page.locator(".conn")).to_have_text("Live")
    await expect(page.locator("#device-table")).to_contain_text("No devices yet")

    client, tree = stack.device()
    await client.start()
    try:
        # The device appears without a reload.
        device_row = page.locator(f'tr[data-endpoint="{EP}"]')
        await expect(device_row).to_contain_text("Online")
        await expect(device_row).to_contain_text("1.1")
        await expect(device_row).to_contain_text("coap://127.0.0.1:")  # the address object
        await screenshot(page, "01-devices")

        # Its page opens on the Device object; Read /3/0 fills the table from the model.
        await device_row.click()
        await expect(page.locator(".endpoint-title")).to_have_text(EP)
        await expect(page.locator(".panel h2")).to_contain_text("Device")
        await page.select_option("#content-format", "tlv")
        await page.click("#read-instance")
        await expect(page.locator("#response-status")).to_have_text("2.05 Content")
        await expect(page.locator(".response")).to_contain_text("TLV")
        await expect(row(page, "/3/0/0")).to_contain_text("Manufacturer")
        await expect(row(page, "/3/0/0").locator("td.value")).to_have_text("lwm2m project")
        await expect(row(page, "/3/0/9").locator("td.units")).to_have_text("%")

        # Write /1/0/1 (Lifetime) through the dialog; the device has the new value.
        await page.click('[data-path="/1/0"]')
        await row(page, "/1/0/1").get_by_role("button", name="Write").click()
        await page.fill("dialog input[name=value]", "120")
        await page.click("dialog button[type=submit]")
        await expect(page.locator("#response-status")).to_have_text("2.04 Changed")
        server_object = tree.object(1)
        assert isinstance(server_object, SimpleObject)
        assert server_object.get(0, 1) == 120

        # Observe the battery level with pmin 0 (the account's default is 60 s), change it on
        # the device, watch the chart follow.
        await page.click('[data-path="/3/0"]')
        await page.select_option("#content-format", "")
        await row(page, "/3/0/9").get_by_label("More for /3/0/9").click()
        await row(page, "/3/0/9").get_by_role("button", name="Write attributes").click()
        await page.fill("dialog input[name=pmin]", "0")
        await page.fill("dialog input[name=pmax]", "30")
        await page.click("dialog button[type=submit]")
        await expect(page.locator("#response-status")).to_have_text("2.04 Changed")
        await row(page, "/3/0/9").get_by_role("button", name="Observe").click()
        await expect(page.locator("#response-status")).to_have_text("2.05 Content")
        await expect(row(page, "/3/0/9").get_by_role("button", name="Stop")).to_be_visible()
        device_object = tree.object(3)
        assert isinstance(device_object, SimpleObject)
        chart = page.locator('.chart-box[data-path="/3/0/9"]')
        for level in (81, 77, 72, 74, 69):
            device_object.set(0, 9, level)
            await expect(chart.locator(".chart-value")).to_contain_text(str(level))
        await expect(chart).to_contain_text("6 values")
        await expect(row(page, "/3/0/9").locator("td.value")).to_contain_text("69")

        # A Send from the device shows up as Send data and in the log.
        await client.send(["/3/0/9", "/3/0/7"])
        await expect(page.locator(".card", has_text="Send data")).to_contain_text("/3/0/7/0")
        await expect(page.locator("#event-log")).to_contain_text("Send: 1 batch")
        await screenshot(page, "02-device")

        # The Telekom compliance check of the simulated device passes.
        await page.click("a.head-link")
        await expect(page.locator("#compliance-endpoint")).to_have_value(EP)  # and it runs
        report = page.locator("#compliance-report")
        await expect(report.locator(".verdict h2")).to_have_text("Compliant", timeout=20_000)
        await expect(report.locator('tr[data-object="3"]')).to_contain_text("pass")
        await report.locator('tr[data-object="4"]').click()
        await expect(report).to_contain_text("/4/0/0")
        await screenshot(page, "04-compliance")
    finally:
        await client.stop(timeout=2.0)

    # The de-registration reaches the list live, too.
    await page.click('a.nav-link[data-route="devices"]')
    await page.select_option("select[name=status]", "")
    gone = page.locator(f'tr[data-endpoint="{EP}"]')
    await expect(gone).to_contain_text("Left")
    await expect(gone).to_contain_text("compliant")


async def test_security_page_and_a_missing_bootstrap_api(stack: Stack, page: Page) -> None:
    await page.goto(stack.web.url + "/#/security")
    await expect(page.locator(".empty")).to_contain_text("No credentials yet")
    await screenshot(page, "03-security-empty")
    # This server runs no bootstrap service: the page says so instead of failing.
    await page.click('a.nav-link[data-route="bootstrap"]')
    await expect(page.locator("#unavailable")).to_contain_text(
        "Bootstrap configurations are not available on this server"
    )
    await expect(page.get_by_role("button", name="Add configuration")).to_be_hidden()


@contextlib.asynccontextmanager
async def console(
    *, auth: str | None = None, bootstrap: ConfigStore | None = None
) -> AsyncIterator[str]:
    """A console app with options WebServer does not take (a token, the bootstrap API
    mounted beside it); yields its URL."""
    server = LwM2MServer(ServerConfig(host="127.0.0.1", coap_port=0, coap=FAST))
    await server.start()
    hub = EventHub(server)
    app = create_app(server, events=hub, auth=auth)
    if bootstrap is not None:
        app.router.routes[:0] = bootstrap_routes(bootstrap)
    listener = socket.create_server(("127.0.0.1", 0))
    http = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(http.serve(sockets=[listener]))
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        hub.close()
        http.should_exit = True
        await asyncio.wait_for(task, 10)
        await server.stop()


@pytest.fixture
async def guarded_url() -> AsyncIterator[str]:
    """The console of a server started with an API token (what ``--auth TOKEN`` sets)."""
    async with console(auth=TOKEN) as url:
        yield url


async def test_console_asks_for_the_token_once(guarded_url: str, page: Page) -> None:
    await page.goto(guarded_url + "/")
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_contain_text("Sign in")
    await dialog.locator("input[name=token]").fill("wrong")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog).to_contain_text("Sign in")  # asked again: the token was refused
    await screenshot(page, "05-sign-in")
    await dialog.locator("input[name=token]").fill(TOKEN)
    await dialog.locator("button[type=submit]").click()
    await expect(page.locator(".conn")).to_have_text("Live")
    await expect(page.locator("#device-table")).to_contain_text("No devices yet")
    await expect(page.locator("dialog[open]")).to_have_count(0)
    # Kept for the tab: a reload needs no second sign-in.
    await page.reload()
    await expect(page.locator(".conn")).to_have_text("Live")
    await expect(page.locator("dialog[open]")).to_have_count(0)


async def test_bootstrap_configurations_add_edit_delete(page: Page) -> None:
    """Against the bootstrap server's own API, mounted beside the console."""
    store = ConfigStore()
    async with console(bootstrap=store) as url:
        await page.goto(url + "/#/bootstrap")
        await expect(page.locator(".card")).to_contain_text("No bootstrap configurations")
        await page.get_by_role("button", name="Add configuration").click()
        dialog = page.locator("dialog[open]")
        await dialog.locator("input[name=endpoint]").fill(EP)
        await dialog.locator("input[name=uri]").fill("coaps://192.0.2.1:5684")
        await dialog.locator("input[name=identity]").fill("device-1")
        await dialog.locator("input[name=key]").fill("00112233445566778899aabbccddeeff")
        await screenshot(page, "06-bootstrap-edit")
        await dialog.locator("button[type=submit]").click()
        row = page.locator("tbody tr", has_text=EP)
        await expect(row).to_contain_text("coaps://192.0.2.1:5684")
        config = store.get(EP)
        assert config is not None
        (account,) = config.servers
        assert (account.security_mode, account.identity) == (SecurityMode.PSK, "device-1")
        assert account.key == bytes.fromhex("00112233445566778899aabbccddeeff")
        assert "00112233" not in await page.content()  # write-only: it never comes back

        # An edit must give the key again; the server says so when it is left out.
        await row.get_by_role("button", name="Edit").click()
        await dialog.locator("input[name=lifetime]").fill("3600")
        await dialog.locator("button[type=submit]").click()
        await expect(page.locator(".toast-error")).to_contain_text("key")
        await row.get_by_role("button", name="Edit").click()
        await dialog.locator("input[name=lifetime]").fill("3600")
        await dialog.locator("input[name=key]").fill("ffeeddccbbaa99887766554433221100")
        await dialog.locator("button[type=submit]").click()
        await expect(row).to_contain_text("3600 s")
        await screenshot(page, "07-bootstrap")
        config = store.get(EP)
        assert config is not None
        assert config.servers[0].lifetime == 3600

        await row.get_by_role("button", name="Delete").click()
        await page.locator("dialog[open] button[type=submit]").click()
        await expect(page.locator(".card")).to_contain_text("No bootstrap configurations")
        assert store.get(EP) is None
