"""The board shows how each page went out, and flags a call nobody is being reached on."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from events.commands import RecordNotification
from services.adapters.jetstream_store import JetStreamEventStore
from services.domain.calls import Calls
from services.domain.clock import SystemClock
from tests.browser.conftest import shot
from tests.conftest import System

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_the_board_shows_a_failed_channel_and_nobody_being_reached(
    system: System, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    board = await context.new_page()
    await board.goto(f"{system.settings.http_url}/board")
    await board.fill("#token", "demo-supervisor")
    await board.click("button[type=submit]")
    await expect(board.locator("#board")).to_be_visible()

    call_id = (await system.raise_call("b12"))["call_id"]
    page = (await system.log.wait_type(call_id, "ResponderAssigned"))[0]
    row = board.locator(f"tr[data-call='{call_id}']")
    flag = row.locator("[data-unreached]")
    await expect(row.locator(f"[data-assignee={page.responder_id}]")).to_be_visible(timeout=5000)
    await expect(flag).to_have_count(0)  # paged, and the notifier has not said how yet

    calls = Calls(JetStreamEventStore(system.nc), SystemClock())

    async def record(method: str, error: str | None = None) -> None:
        await calls.execute(
            RecordNotification(
                call_id=call_id,
                responder_id=page.responder_id,
                dispatch_id=page.dispatch_id,
                method=method,
                error=error,
            )
        )

    await record("push", "no push subscription")
    await record("sms", "provider answered 500")
    sms = row.locator(f"[data-reach='{page.responder_id}:sms']")
    await expect(sms).to_have_attribute("data-ok", "false", timeout=5000)
    await expect(sms).to_contain_text("短信")
    await expect(sms).to_contain_text("provider answered 500")
    await expect(row.locator(f"[data-reach='{page.responder_id}:push']")).to_have_attribute(
        "data-ok", "false"
    )
    await expect(flag).to_have_text("⚠ 无人接到通知")
    assert await flag.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(179, 38, 30)"
    await shot(board, "board-unreached")

    await record("voice")  # the voice call went out: someone is being reached again
    voice = row.locator(f"[data-reach='{page.responder_id}:voice']")
    await expect(voice).to_have_attribute("data-ok", "true", timeout=5000)
    await expect(flag).to_have_count(0)

    await board.click("#lang")
    await expect(sms).to_contain_text("SMS", timeout=5000)
    await context.close()
