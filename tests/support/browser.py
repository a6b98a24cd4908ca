"""A real Chromium through Playwright: the `browser` fixture, and helpers for pages in it
(screenshots to tests/artifacts/, signing in through the real form, console errors).

Chromium comes from the system (Debian's `chromium` package), not from `playwright install`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PASSWORD
from playwright.sync_api import Page, expect, sync_playwright

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Other test processes may share the machine: give slow moments room, fail on real faults.
expect.set_options(timeout=20_000)


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, live_server: str, name: str, password: str = PASSWORD) -> None:
    """Sign `name` in through the real login form and wait until the page says so."""
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    expect(page.locator(".who")).to_have_text(name)


def watch_console(page: Page) -> list[str]:
    """Console errors and failed page scripts: CSP violations show up here."""
    errors: list[str] = []

    def console(message) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
