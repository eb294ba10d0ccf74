"""Headless Debian Chromium driven by Playwright, and the stack the console runs against.

Playwright never downloads a browser here: ``make test`` installs Debian's ``chromium`` (the
``browser`` target), and a missing one fails loudly.  Each test gets a fresh profile.
Screenshots go to ``test-artifacts/browser/`` so a person can judge what the console shows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
UI_WAIT = 8_000
"""Milliseconds any console expectation may take (loopback: usually a few)."""


@pytest.fixture
async def browser() -> AsyncIterator[BrowserContext]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="lwm2m-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1440, "height": 900},
                timeout=20_000,
            )
            context.set_default_timeout(UI_WAIT)
            try:
                yield context
            finally:
                await context.close()


@pytest.fixture
async def page(browser: BrowserContext) -> AsyncIterator[Page]:
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # An HTTP error the console handles (a 404 of an API this server lacks) is logged by
    # Chromium as "Failed to load resource"; every other console error is a failure.
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield page
    assert not problems, problems


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


WIDTHS = (390, 1440)
"""A phone and a desktop: every page is checked at both."""


async def assert_fits(page: Page, what: str) -> None:
    """Nothing on the page is wider than the window (a phone user never scrolls sideways)."""
    overflow = await page.evaluate("document.scrollingElement.scrollWidth - innerWidth")
    if overflow <= 0:
        return
    width = page.viewport_size["width"] if page.viewport_size else "?"
    culprits = await page.evaluate(_CULPRITS)
    raise AssertionError(f"{what} at {width} px is {overflow} px too wide: {culprits}")


_CULPRITS = """[...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > innerWidth + 0.5)
  .slice(-5)
  .map((el) => `${el.tagName.toLowerCase()}.${el.className.baseVal ?? el.className}`)"""
"""The innermost elements that reach past the window's right edge."""


async def at_widths(page: Page, name: str, height: int = 900) -> None:
    """Check ``page`` fits at each width of :data:`WIDTHS` and screenshot it there."""
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": height})
        await page.wait_for_timeout(50)  # one layout after the resize
        await assert_fits(page, name)
        await screenshot(page, f"{name}-{width}")
    await page.set_viewport_size({"width": 1440, "height": height})
