"""The responder page as a grid member sees it at 3 a.m., in real headless Chromium (issue 18):
a card that says where (building name and address), who called (a tel: link) and what they
said, the level and the time left to each stage; a bad token that says so; a "new dispatch"
banner that clears once seen; one's own status as the desk's board shows it; Accept and Decline
that cannot be mistaken for each other; a call the desk closed says so before it goes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Browser, Page, expect

from services.adapters.embedded_nats import EmbeddedNats
from services.domain.roster import DEMO_ROSTER
from services.runtime.settings import Settings, Targets
from tests.browser.conftest import assert_accessible, shot
from tests.conftest import System
from tests.support import bearer, make_settings

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SUPERVISOR = bearer("demo-supervisor")
ADDRESS = "来凤县翔凤镇胜利街12号（农贸市场对面）"
NOTE = "一楼进水，老人腿脚不便"


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """Human-speed targets, and the demo roster with b12's street address."""
    roster = yaml.safe_load(DEMO_ROSTER.read_text(encoding="utf-8"))
    b12 = next(b for d in roster["districts"] for b in d["buildings"] if b["id"] == "b12")
    b12["address"] = ADDRESS
    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    return make_settings(nats_server.url, tmp_path, targets=Targets(20, 40, 60), roster_path=path)


async def board_status(system: System, person_id: str) -> str:
    rows = (await system.http.get("/api/responders", headers=SUPERVISOR)).json()
    status: str = next(r["status"] for r in rows if r["id"] == person_id)
    return status


async def status_follows_the_board(page: Page, system: System, expected: str) -> None:
    await expect(page.locator("#mystatus")).to_have_attribute("data-status", expected, timeout=5000)
    assert await board_status(system, "g1") == expected


async def log_in(page: Page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#login button[type=submit]")


async def box(page: Page, selector: str) -> dict[str, Any]:
    found = await page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)


async def colours(page: Page, selector: str) -> tuple[str, str]:
    return await page.locator(selector).evaluate(
        "n => [getComputedStyle(n).backgroundColor, getComputedStyle(n).color]"
    )


async def test_on_a_phone_a_dispatch_says_where_who_and_how_long_then_the_desk_closes_it(
    system: System, browser: Browser
) -> None:
    base = system.settings.http_url
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(f"{base}/responder")

    # A mistyped token says so, in words, next to the field.
    await log_in(page, "demo-g1-typo")
    error = page.locator("#login-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("令牌无效")
    await expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#desk")).to_be_hidden()
    await assert_accessible(page, "responder-bad-token-phone")

    # Logged in, nothing held: available, as the board says.
    await log_in(page, "demo-g1")
    await expect(page.locator("#me")).to_have_text("网格员 杨帆")
    await expect(error).to_be_hidden()
    await expect(page.locator("#calls")).to_contain_text("暂无任务")
    await status_follows_the_board(page, system, "available")
    await expect(page.locator("#mystatus")).to_have_text("可接单")
    await expect(page.locator("#push-enable")).to_be_visible()  # Web Push stays on offer
    await assert_accessible(page, "responder-idle-phone")
    await shot(page, "responder-idle-phone")

    call_id = (await system.raise_call("b12", note=NOTE))["call_id"]
    card = page.locator(f"[data-call='{call_id}']")
    await expect(card).to_be_visible(timeout=5000)
    banner = page.locator("#alert")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("新的派单")
    await expect(banner).to_contain_text("胜利街12号")
    await shot(page, "responder-phone")

    # Where: the building's name and street address, never its id.
    await expect(card.locator("[data-building-name]")).to_have_text("胜利街12号")
    await expect(card.locator("[data-building-address]")).to_have_text(ADDRESS)
    assert "b12" not in await card.inner_text()
    await expect(card.locator("[data-kind]")).to_have_text("水淹")
    # Who: the resident's name and a tel: link to call them back, and what they said.
    await expect(card.locator("[data-caller-name]")).to_have_text("王阿姨")
    tel = card.locator("a[data-caller-tel]")
    await expect(tel).to_have_attribute("href", "tel:+8613800000000")
    await expect(tel).to_contain_text("13800000000")
    await expect(card.locator("[data-resident-note]")).to_contain_text(NOTE)
    await expect(card.locator("[data-level]")).to_contain_text("楼栋网格")
    # How long: each stage's time left, ticking, and its due time on the clock.
    for stage in ("reach", "onsite"):
        row = card.locator(f"[data-stage={stage}]")
        await expect(row).to_have_attribute("data-state", "running")
        await expect(row.locator(".countdown")).to_have_text(re.compile(r"^剩余 \d+:\d\d$"))
        await expect(row.locator(".due")).to_have_text(re.compile(r"^截止 \d\d:\d\d$"))
    first = await card.locator("[data-stage=onsite] .countdown").inner_text()
    await expect(card.locator("[data-stage=onsite] .countdown")).not_to_have_text(first, timeout=3000)
    await expect(card.locator("[data-stage=contact]")).to_have_attribute(
        "data-state", re.compile("^(met|running)$")
    )

    # Accept and Decline: different colours and words, large, well apart (Accept first).
    accept, decline = "[data-action=accept]", "[data-action=decline]"
    await expect(card.locator(accept)).to_have_text("✓ 接单")
    await expect(card.locator(decline)).to_have_text("✕ 拒绝")
    assert await colours(page, accept) != await colours(page, decline)
    accept_box, decline_box = await box(page, accept), await box(page, decline)
    assert accept_box["height"] >= 64 and decline_box["height"] >= 48
    assert accept_box["width"] >= 300 and decline_box["width"] >= 300  # full width on a phone
    assert decline_box["y"] - (accept_box["y"] + accept_box["height"]) >= 24

    # The banner clears once the card has been on screen (it is, right under it).
    await expect(banner).to_be_hidden(timeout=5000)
    await assert_accessible(page, "responder-dispatch-phone")
    await status_follows_the_board(page, system, "busy")  # paged: the board counts it busy too

    await card.locator(accept).click()
    await expect(card.locator("[data-my-status]")).to_have_attribute("data-my-status", "accepted")
    await expect(card.locator("[data-action=enroute]")).to_be_visible()
    await expect(card.locator(accept)).to_have_count(0)
    await status_follows_the_board(page, system, "busy")
    await expect(page.locator("#mystatus")).to_have_text("忙碌")
    await assert_accessible(page, "responder-accepted-phone")
    await shot(page, "responder-accepted-phone")

    # The desk closes the call: the card says so, and goes when the responder has read it.
    resolved = await system.http.post(f"/api/calls/{call_id}/resolve", json={}, headers=SUPERVISOR)
    assert resolved.status_code == 200, resolved.text
    await expect(card).to_have_attribute("data-closed", "desk", timeout=5000)
    await expect(card).to_contain_text("值班台已结案")
    await expect(card.locator("[data-action]")).to_have_count(0)
    await status_follows_the_board(page, system, "available")
    await assert_accessible(page, "responder-closed-phone")
    await shot(page, "responder-closed-phone")
    await card.locator("[data-dismiss]").click()
    await expect(card).to_have_count(0)
    await expect(page.locator("#calls")).to_contain_text("暂无任务")
    await context.close()


async def test_on_a_desk_in_english_a_stale_token_a_guarded_decline_and_a_false_alarm(
    system: System, browser: Browser
) -> None:
    base = system.settings.http_url
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(f"{base}/responder")
    # A token kept on the device that no longer works: the login form says why it is back.
    await page.evaluate(
        "localStorage.setItem('dispatch1310.token', 'revoked'); localStorage.setItem('dispatch1310.lang', 'en')"
    )
    await page.reload()
    await expect(page.locator("#login-error")).to_contain_text("That token is not valid")
    await expect(page.locator("#login")).to_be_visible()

    await log_in(page, "demo-g1")
    await expect(page.locator("#me")).to_have_text("网格员 杨帆")
    await status_follows_the_board(page, system, "available")
    await expect(page.locator("#calls")).to_contain_text("No calls")
    await assert_accessible(page, "responder-idle-desktop")
    await shot(page, "responder-idle-desktop")

    call_id = (await system.raise_call("b12", note=NOTE, kind="medical"))["call_id"]
    card = page.locator(f"[data-call='{call_id}']")
    await expect(card).to_be_visible(timeout=5000)
    await expect(card.locator("[data-kind]")).to_have_text("Medical")
    await expect(card.locator("[data-building-address]")).to_have_text(ADDRESS)
    await expect(card.locator("[data-level]")).to_contain_text("Building group")
    await expect(card.locator("[data-stage=reach] .countdown")).to_have_text(re.compile(r"^left \d+:\d\d$"))

    # Side by side on a desk, far apart; Accept is the larger.
    accept, decline = "[data-action=accept]", "[data-action=decline]"
    accept_box, decline_box = await box(page, accept), await box(page, decline)
    assert decline_box["x"] - (accept_box["x"] + accept_box["width"]) >= 48
    assert accept_box["width"] > decline_box["width"]
    assert await colours(page, accept) != await colours(page, decline)
    await assert_accessible(page, "responder-dispatch-desktop")
    await shot(page, "responder-desktop")

    # A slip onto Decline asks first; saying no keeps the page ringing for this person.
    questions: list[str] = []

    async def refuse(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", refuse)
    await card.locator(decline).click()
    await expect(card.locator("[data-my-status]")).to_have_attribute("data-my-status", "paged")
    assert questions and "Decline this dispatch?" in questions[0]
    assert "DispatchDeclined" not in await system.log.types(call_id)

    await card.locator(accept).click()
    await expect(card.locator("[data-my-status]")).to_have_attribute("data-my-status", "accepted")
    await expect(page.locator("#alert")).to_be_hidden()
    await status_follows_the_board(page, system, "busy")
    await expect(page.locator("#mystatus")).to_have_text("busy")
    await assert_accessible(page, "responder-accepted-desktop")
    await shot(page, "responder-accepted-desktop")

    closed = await system.http.post(
        f"/api/calls/{call_id}/resolve", json={"outcome": "false_alarm"}, headers=SUPERVISOR
    )
    assert closed.status_code == 200, closed.text
    await expect(card).to_contain_text("Closed by the desk as a false alarm", timeout=5000)
    await status_follows_the_board(page, system, "available")
    await context.close()
