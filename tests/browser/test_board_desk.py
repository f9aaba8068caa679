"""The duty board as the desk uses it at 3 a.m. (issue 18): names, not ids; assign lists filled
on a fresh load; escalated calls marked in text, not colour alone; no escalation above the
professionals; sounds that can be muted; the phone-in form out of the way; the last 24 h of
closed calls with their timelines; cards on a 390 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from events.commands import MissDeadline
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.domain.calls import Calls
from services.domain.clock import ManualClock
from services.runtime.settings import Settings, Targets
from tests.browser.conftest import assert_accessible, shot
from tests.conftest import System
from tests.support import bearer, make_settings

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
DESK = bearer("demo-supervisor")


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """Human-speed targets: no deadline passes by itself while the test clicks."""
    return make_settings(nats_server.url, tmp_path, targets=Targets(60, 120, 300))


PHONES = iter(range(13800000100, 13800000200))


async def raise_call(system: System, building: str, name: str = "王阿姨", **fields: object) -> str:
    """A call from a resident of their own (the same phone many times is slowed down: 429)."""
    caller = {"name": name, "phone": str(next(PHONES))}
    return str((await system.raise_call(building, caller=caller, **fields))["call_id"])


async def escalate_to_the_top(system: System, call_id: str) -> None:
    for level in ("building", "district", "community"):
        response = await system.http.post(
            f"/api/calls/{call_id}/escalate", json={"reason": "test", "from_level": level}, headers=DESK
        )
        assert response.status_code == 200, response.text
    assert response.json()["level"] == "professional"


async def resolve(system: System, call_id: str, outcome: str) -> None:
    response = await system.http.post(
        f"/api/calls/{call_id}/resolve", json={"outcome": outcome}, headers=DESK
    )
    assert response.status_code == 200, response.text


async def open_board(page: Page, system: System) -> None:
    await page.goto(f"{system.settings.http_url}/board")
    await page.fill("#token", "demo-supervisor")
    await page.click("#login button[type=submit]")
    await expect(page.locator("#board")).to_be_visible()


async def sounds(page: Page) -> list[str]:
    return list(await page.evaluate("window.deskSounds"))


async def test_the_desk_board_on_a_desktop(system: System, browser: Browser) -> None:
    waiting = await raise_call(system, "b12")
    top = await raise_call(system, "b21", kind="fire")
    await escalate_to_the_top(system, top)
    handled = await raise_call(system, "b14", kind="medical")
    false_alarm = await raise_call(system, "b22", kind="other")  # not b14: it would join the call there
    await system.log.wait_type(waiting, "ResponderAssigned")
    await resolve(system, handled, "handled")
    await resolve(system, false_alarm, "false_alarm")

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    board = await context.new_page()
    await open_board(board, system)
    row = board.locator(f"tr[data-call='{waiting}']")
    await expect(row).to_be_visible(timeout=5000)
    # The first rendering of the call already lists the people who can be assigned.
    options = await row.locator("select[data-assign-list] option").all_inner_texts()
    assert any(o.startswith("楼栋长 覃军") for o in options), options

    # Names from the catalogue and the roster, never ids.
    await expect(row.locator("td").first).to_contain_text("胜利街12号")
    await expect(row.locator("td.level")).to_have_text("楼栋网格")
    await expect(row.locator("td").nth(1)).to_contain_text("王阿姨")
    await expect(board.locator("[data-counts=d1]")).to_contain_text("胜利街片区:")
    await expect(board.locator("[data-counts=community]")).to_contain_text("社区:")
    counts = await board.locator("#counts").inner_text()
    for raw in ("d1", "d2", "community", "professional", "building"):
        assert raw not in counts, counts

    # The escalated call is marked in words and icon; nobody is above the professionals.
    escalated = board.locator(f"tr[data-call='{top}']")
    await expect(escalated.locator("td.level")).to_contain_text("专业救援")
    await expect(escalated.locator("[data-escalated]")).to_have_text("⬆ 已升级")
    await expect(escalated).to_have_class("escalated")
    await expect(escalated.locator("[data-action=escalate]")).to_have_count(0)
    await expect(row.locator("[data-action=escalate]")).to_be_visible()
    await expect(row.locator("[data-escalated]")).to_have_count(0)

    # The last 24 h of closed calls, each with its timeline.
    closed = board.locator(f"tr[data-closed='{handled}']")
    await expect(closed).to_contain_text("已处置", timeout=5000)
    await expect(closed).to_contain_text("胜利街14号")
    await expect(closed.locator("a[data-timeline]")).to_have_attribute("href", f"/calls/{handled}")
    await expect(board.locator(f"tr[data-closed='{false_alarm}']")).to_contain_text("误报")
    await board.select_option("#h-outcome", "false_alarm")
    await expect(closed).to_have_count(0, timeout=5000)
    await expect(board.locator(f"tr[data-closed='{false_alarm}']")).to_be_visible()
    await board.select_option("#h-outcome", "")
    await board.select_option("#h-kind", "medical")
    await expect(board.locator("#history-rows tr")).to_have_count(1, timeout=5000)
    await expect(closed).to_be_visible()
    await board.select_option("#h-kind", "")
    await board.select_option("#h-district", "d2")
    await expect(board.locator("#history-rows tr")).to_have_count(1, timeout=5000)
    await expect(board.locator(f"tr[data-closed='{false_alarm}']")).to_contain_text("解放路22号")
    await board.select_option("#h-kind", "medical")
    await expect(board.locator("#history-rows tr")).to_have_count(0, timeout=5000)
    await expect(board.locator("#no-history")).to_be_visible()
    await board.select_option("#h-kind", "")
    await board.select_option("#h-district", "")
    await expect(closed).to_be_visible(timeout=5000)
    await shot(board, "board-desktop")
    await assert_accessible(board, "board-desktop")

    # The phone-in form opens over the board: the calls stay where they were.
    before = await row.bounding_box()
    await board.click("#phonein-open")
    await expect(board.locator("#phonein")).to_be_visible()
    after = await row.bounding_box()
    assert before and after and after["y"] == before["y"] and after["y"] < 900
    await assert_accessible(board, "board-phonein")
    await board.click("#phonein-close")
    await expect(board.locator("#phonein")).to_be_hidden()

    # A beep on a new call, an escalation and a missed deadline.
    assert await sounds(board) == []
    fresh = await raise_call(system, "b14", "李")  # no open call there: not merged
    await expect(board.locator(f"tr[data-call='{fresh}']")).to_be_visible(timeout=5000)
    assert await sounds(board) == ["new_call"]
    await board.locator(f"tr[data-call='{fresh}'] [data-action=escalate]").click()
    await expect(board.locator(f"tr[data-call='{fresh}'] [data-escalated]")).to_be_visible(timeout=5000)
    later = ManualClock(datetime.now(UTC) + timedelta(minutes=3))  # past the reach deadline
    await Calls(JetStreamEventStore(system.nc), later).execute(MissDeadline(call_id=waiting, stage="reach"))
    await expect(row.locator("[data-stage=reach]")).to_have_attribute("data-state", "missed", timeout=5000)
    # (the missed deadline escalated the call too: a second escalation beep follows)
    assert (await sounds(board))[:3] == ["new_call", "escalation", "missed"]

    # Muted, and still muted after a reload.
    await board.click("#mute")
    await expect(board.locator("#mute")).to_have_attribute("aria-pressed", "true")
    await board.reload()
    await expect(board.locator("#mute")).to_have_attribute("aria-pressed", "true")
    await expect(board.locator("#mute")).to_contain_text("已静音")
    await expect(row).to_be_visible(timeout=5000)
    assert await row.locator("select[data-assign-list] option").count() > 0  # again, on a reload
    silent = await raise_call(system, "b12", "赵")
    await expect(board.locator(f"tr[data-call='{silent}']")).to_be_visible(timeout=5000)
    assert await sounds(board) == []

    await closed.locator("a[data-timeline]").click()
    await expect(board).to_have_url(f"{system.settings.http_url}/calls/{handled}")
    await expect(board.locator("#events tr").first).to_be_visible(timeout=5000)
    await context.close()


async def test_the_desk_board_on_a_phone(system: System, browser: Browser) -> None:
    top = await raise_call(system, "b21", kind="fire")
    await escalate_to_the_top(system, top)
    waiting = await raise_call(system, "b12")
    done = await raise_call(system, "b14")
    await resolve(system, done, "handled")

    context = await browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    board = await context.new_page()
    await open_board(board, system)
    card = board.locator(f"tr[data-call='{waiting}']")
    await expect(card).to_be_visible(timeout=5000)
    assert await card.evaluate("n => getComputedStyle(n).display") == "block"  # a card, not a table row
    assert await board.evaluate("document.documentElement.scrollWidth") <= 390  # nothing off-screen
    box = await board.locator("#rows tr").first.bounding_box()
    assert box and box["y"] < 844 and box["width"] <= 390  # the first call is on the first screen
    await expect(card.locator("td").first).to_contain_text("胜利街12号")
    assert await card.locator("select[data-assign-list] option").count() > 0
    marked = board.locator(f"tr[data-call='{top}'] [data-escalated]")
    await expect(marked).to_be_visible()
    await expect(marked).to_have_text("⬆ 已升级")
    await expect(board.locator(f"tr[data-closed='{done}'] a[data-timeline]")).to_be_visible(timeout=5000)
    await shot(board, "board-phone")
    await assert_accessible(board, "board-phone")

    await board.click("#lang")
    await expect(card.locator("td.level")).to_have_text("Building group", timeout=5000)
    await expect(board.locator("[data-counts=d1]")).to_contain_text("胜利街片区")
    await expect(board.locator(f"tr[data-closed='{done}']")).to_contain_text("Handled", timeout=5000)
    await shot(board, "board-phone-en")
    await context.close()
