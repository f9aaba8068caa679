"""Real headless Chromium (Debian's), driven by Playwright: launching it, screenshots kept in
``test-artifacts/``, and the axe-core check every page passes.

Browser tests share one Chromium (``shared_chromium`` in tests/conftest.py) and so run on the
session's event loop: a module of them marks itself ``asyncio(loop_scope="session")`` and
imports ``browser``, ``nc`` and ``system`` from here (the same fixtures as tests/conftest.py's, on that
loop). ``browser`` closes every context a test opened, so no page outlives its test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client
from playwright.async_api import Browser, Page, async_playwright

from services.adapters.embedded_nats import EmbeddedNats
from services.runtime.settings import Settings
from tests.conftest import System, connected, system_running

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PHONE = {"width": 360, "height": 740}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` installs Debian's chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def assert_accessible(page: Page, name: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation (the full report is
    kept beside the screenshots as ``<name>.axe.json``)."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    violations = results.response["violations"]
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(violations, ensure_ascii=False, indent=1))
    grave = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not grave, grave


@pytest_asyncio.fixture(loop_scope="session")
async def browser(shared_chromium: Browser) -> AsyncIterator[Browser]:
    """The shared Chromium; what the test opened in it is closed after it."""
    try:
        yield shared_chromium
    finally:
        for context in list(shared_chromium.contexts):
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    async with connected(nats_server) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def system(system_settings: Settings, nc: Client) -> AsyncIterator[System]:
    async with system_running(system_settings, nc) as running_system:
        yield running_system
