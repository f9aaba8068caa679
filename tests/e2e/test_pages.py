"""The three users in real headless Chromium (Debian's), driven by Playwright (issue 6)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route, expect

from services.adapters.embedded_nats import EmbeddedNats
from services.audit.app import build as build_audit
from services.runtime.settings import Settings, Targets
from tests import chromium
from tests.chromium import shot
from tests.conftest import System
from tests.support import bearer, make_settings, running

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
browser, nc, system = chromium.browser, chromium.nc, chromium.system  # the fixtures, on that loop


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """Human-speed targets: a person clicking through pages takes seconds, not 0.5 s."""
    return make_settings(nats_server.url, tmp_path, targets=Targets(20, 40, 60))


async def test_resident_responder_board_and_audit(system: System, browser: Browser) -> None:
    base = system.settings.http_url
    audit = await build_audit(system.settings)
    async with running(audit):
        context = await browser.new_context(viewport={"width": 420, "height": 900})
        responder = await context.new_page()
        await responder.goto(f"{base}/responder")
        await responder.fill("#token", "demo-g1")
        await responder.click("button[type=submit]")
        await expect(responder.locator("#me")).to_have_text("网格员 杨帆")

        board = await context.new_page()
        await board.goto(f"{base}/board")
        await board.fill("#token", "demo-supervisor")
        await board.click("button[type=submit]")
        await expect(board.locator("#board")).to_be_visible()

        resident = await context.new_page()
        await resident.goto(f"{base}/?b=b12")
        await expect(resident.locator("#building")).to_have_value("b12")
        await resident.fill("#name", "王阿姨")
        await resident.fill("#phone", "13800000000")
        await resident.click("#help")
        await expect(resident.locator("#contact-name")).to_have_text("网格员 杨帆", timeout=5000)
        call_id = resident.url.split("call=")[1]
        await expect(resident.locator("[data-stage=contact]")).to_have_attribute("data-state", "met")
        await expect(resident.locator("[data-stage=reach]")).to_have_attribute("data-state", "running")
        await shot(resident, "resident-raised")

        # The push reaches the responder without a reload.
        card = responder.locator(f"[data-call='{call_id}']")
        await expect(card).to_be_visible(timeout=5000)
        await expect(responder.locator("#alert")).to_be_visible()
        await shot(responder, "responder-dispatch")
        await card.locator("[data-action=accept]").click()
        await expect(card.locator("[data-my-status]")).to_have_attribute("data-my-status", "accepted")
        await card.locator("[data-action=arrive]").click()
        await expect(card.locator("[data-my-status]")).to_have_attribute("data-my-status", "arrived")

        for stage in ("contact", "reach", "onsite"):
            await expect(resident.locator(f"[data-stage={stage}]")).to_have_attribute(
                "data-state", "met", timeout=5000
            )
        await shot(resident, "resident-all-met")

        row = board.locator(f"tr[data-call='{call_id}']")
        await expect(row).to_be_visible(timeout=5000)
        await expect(row.locator("[data-stage=onsite]")).to_have_attribute("data-state", "met")
        await shot(board, "board-open-call")

        await card.locator("[data-action=resolve]").click()
        await expect(row).to_have_count(0, timeout=5000)
        await shot(board, "board-cleared")

        audit_page = await context.new_page()
        await audit_page.goto(f"{base}/calls/{call_id}")
        await expect(audit_page.locator("#events tr")).to_have_count(6, timeout=5000)
        types = await audit_page.locator("#events tr").evaluate_all("rows => rows.map(r => r.dataset.type)")
        assert types == [
            "CallRaised",
            "ResponderAssigned",
            "ContactShared",
            "DispatchAccepted",
            "ResponderArrived",
            "CallResolved",
        ]
        await shot(audit_page, "audit-timeline")

        await resident.click("#lang")
        await expect(resident.locator("[data-stage=onsite] span").first).to_have_text(
            "10 min: someone on site"
        )
        await context.close()


async def test_supervisor_assigns_from_the_board_and_away_changes_the_counts(
    system: System, browser: Browser
) -> None:
    base = system.settings.http_url
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    member = await context.new_page()
    await member.goto(f"{base}/responder")
    await member.fill("#token", "demo-g2")
    await member.click("button[type=submit]")
    await expect(member.locator("#me")).to_have_text("楼栋长 覃军")

    board = await context.new_page()
    await board.goto(f"{base}/board")
    await board.fill("#token", "demo-supervisor")
    await board.click("button[type=submit]")
    counts = board.locator("[data-counts=d1]")
    await expect(counts).to_contain_text("0", timeout=5000)
    before = await counts.inner_text()

    call_id = (await system.raise_call("b12"))["call_id"]
    row = board.locator(f"tr[data-call='{call_id}']")
    await expect(row).to_be_visible(timeout=5000)
    await row.locator("select").select_option("g2")
    await row.locator("[data-assign]").click()
    # The member's page shows the dispatch within a second of the supervisor's click.
    await expect(member.locator(f"[data-call='{call_id}']")).to_be_visible(timeout=1000)
    # A note from the desk reaches the people on the call, text and all.
    note = await system.http.post(
        f"/api/calls/{call_id}/notes", json={"text": "水位上涨，带上沙袋"}, headers=bearer("demo-supervisor")
    )
    assert note.status_code == 200, note.text
    await expect(member.locator(f"[data-call='{call_id}'] [data-note]")).to_contain_text(
        "水位上涨，带上沙袋", timeout=2000
    )
    await shot(board, "board-assign")
    await shot(member, "responder-assigned-by-supervisor")

    await member.select_option("#away-hours", "2")  # away for two hours, back by itself after
    await member.click("#away")
    await expect(member.locator("#mystatus")).to_have_text("暂离")
    await expect(member.locator("#myuntil")).not_to_be_empty()
    rows = (await system.http.get("/api/responders", headers=bearer("demo-supervisor"))).json()
    g2 = next(r for r in rows if r["id"] == "g2")
    assert g2["status"] == "away" and g2["until"] is not None
    await expect(counts).not_to_have_text(before, timeout=5000)
    assert "暂离 1" in await counts.inner_text()
    await context.close()


async def test_the_desk_raises_a_phoned_in_call_notes_escalates_and_closes_a_false_alarm(
    system: System, browser: Browser
) -> None:
    base = system.settings.http_url
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    board = await context.new_page()
    note_text = "老人说门打不开"
    board.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept(note_text)))
    await board.goto(f"{base}/board")
    await board.fill("#token", "demo-supervisor")
    await board.click("button[type=submit]")
    await expect(board.locator("#board")).to_be_visible()

    # An old resident phoned the committee: the desk raises the call for them.
    await board.click("#phonein-open")
    await board.fill("#pi-name", "独居老人")
    await board.fill("#pi-phone", "13800000077")
    await board.select_option("#pi-building", "b12")
    await board.select_option("#pi-kind", "medical")
    await board.click("#phonein-form button[type=submit]")
    row = board.locator("#rows tr").filter(has=board.locator("[data-source=phone]"))
    await expect(row).to_have_count(1, timeout=5000)
    call_id = await row.get_attribute("data-call")
    assert call_id

    await row.locator("[data-action=note]").click()
    await row.locator("[data-action=escalate]").click()
    await expect(row.locator("td.level")).to_contain_text("已升级", timeout=5000)
    await shot(board, "board-desk-actions")
    await row.locator("[data-action=false_alarm]").click()
    await expect(board.locator(f"tr[data-call='{call_id}']")).to_have_count(0, timeout=5000)

    timeline = (
        await system.http.get(f"/api/calls/{call_id}/timeline", headers=bearer("demo-supervisor"))
    ).json()["events"]
    by_type = {e["type"]: e for e in timeline}
    assert by_type["CallRaised"]["data"]["source"] == "phone"
    assert by_type["CallRaised"]["data"]["raised_by"] == "s1"
    assert by_type["NoteAdded"]["data"]["text"] == note_text and by_type["NoteAdded"]["actor"] == "s1"
    manual = [e for e in timeline if e["type"] == "EscalationRaised" and e["data"]["reason"] == "manual"]
    assert manual and manual[0]["actor"] == "s1"
    assert (
        by_type["CallResolved"]["data"]["outcome"] == "false_alarm"
        and by_type["CallResolved"]["actor"] == "s1"
    )
    await context.close()


async def test_the_audit_page_shows_an_accept_the_desk_recorded_for_a_responder(
    system: System, browser: Browser
) -> None:
    base = system.settings.http_url
    call_id = (await system.raise_call("b12"))["call_id"]
    await system.log.wait_type(call_id, "ResponderAssigned")
    supervisor, g1 = bearer("demo-supervisor"), bearer("demo-g1")
    desk = await system.http.post(
        f"/api/calls/{call_id}/accept", json={"responder_id": "g1"}, headers=supervisor
    )
    assert desk.status_code == 200, desk.text
    own = await system.http.post(f"/api/calls/{call_id}/arrive", json={"responder_id": "g1"}, headers=g1)
    assert own.status_code == 200, own.text

    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    await page.goto(f"{base}/calls/{call_id}")
    await page.fill("#token", "demo-supervisor")
    await page.click("button[type=submit]")
    accepted = page.locator("#events tr[data-type=DispatchAccepted]")
    await expect(accepted).to_have_count(1, timeout=5000)
    await expect(accepted.locator("td").nth(4)).to_have_text("网格员 杨帆 由 社区主任 周主任 代录（值班台）")
    arrived = page.locator("#events tr[data-type=ResponderArrived]")
    await expect(arrived.locator("td").nth(4)).to_have_text("网格员 杨帆")
    await shot(page, "audit-desk-recorded")
    await page.click("#lang")
    await expect(accepted.locator("td").nth(4)).to_have_text(
        "网格员 杨帆 by 社区主任 周主任 (desk)", timeout=5000
    )
    await context.close()


async def test_a_refused_raise_is_shown_to_the_resident_with_the_duty_number(
    system: System, browser: Browser
) -> None:
    phone = "13800000088"
    # The same phone has just raised several calls: the next one is slowed down (429).
    for building in ("b12", "b14", "b21", "b22"):
        await system.http.post(
            "/api/calls", json={"caller": {"name": "张", "phone": phone}, "building_id": building}
        )
    context = await browser.new_context(viewport={"width": 420, "height": 900})
    page = await context.new_page()
    await page.goto(f"{system.settings.http_url}/?b=b12")
    await expect(page.locator("#duty")).not_to_be_empty()
    await page.fill("#name", "张")
    await page.fill("#phone", phone)
    await page.click("#help")
    error = page.locator("#raise-error")
    await expect(error).to_be_visible(timeout=5000)
    await expect(error).to_contain_text("求助没有发出")
    await expect(error).to_contain_text("求助次数太多")
    on_duty = (await system.http.get("/api/duty")).json()["on_duty"]
    await expect(error.locator("a.tel")).to_have_attribute("href", f"tel:{on_duty['phone']}")
    await expect(page.locator("#raise")).to_be_visible()  # the form stays, ready for another press
    await shot(page, "resident-refused")
    await context.close()


T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


async def _resident_taps_help(page: Page, base: str, phone: str, stop_clock: bool = False) -> None:
    await page.goto(f"{base}/?b=b12")
    await expect(page.locator("#building")).to_have_value("b12")
    await expect(page.locator("#duty")).not_to_be_empty()
    if stop_clock:  # from here on, the page's time moves only when the test moves it
        await page.clock.pause_at(T0 + timedelta(minutes=1))
    await page.fill("#name", "王阿姨")
    await page.fill("#phone", phone)
    await page.click("#help")


def _unavailable(route: Route) -> Awaitable[None]:
    return route.fulfill(
        status=503,
        content_type="application/json",
        headers={"Retry-After": "2"},
        body='{"detail":"the event store is unavailable; retry shortly"}',
    )


async def test_the_resident_page_retries_a_503_with_the_same_key_until_the_call_is_stored(
    system: System, browser: Browser
) -> None:
    keys: list[str | None] = []

    async def first_two_unavailable(route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) <= 2:
            await _unavailable(route)
        else:
            await route.continue_()

    context = await browser.new_context(viewport={"width": 420, "height": 900})
    page = await context.new_page()
    await page.route("**/api/calls", first_two_unavailable)
    await _resident_taps_help(page, system.settings.http_url, "13800000066")
    retrying = page.locator("#raise-retrying")
    await expect(retrying).to_be_visible(timeout=5000)  # the resident sees it is still trying
    await expect(retrying).to_contain_text("正在自动重新发送")
    await shot(page, "resident-retrying")

    await expect(page.locator("#contact-name")).to_have_text("网格员 杨帆", timeout=15000)
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1, keys
    await expect(retrying).to_be_hidden()
    await expect(page.locator("#raise-error")).to_be_hidden()
    call_id = page.url.split("call=")[1]
    assert (await system.http.get(f"/api/calls/{call_id}")).status_code == 200
    await context.close()


async def test_the_resident_page_keeps_trying_for_30_s_before_it_shows_the_duty_number(
    system: System, browser: Browser
) -> None:
    keys: list[str | None] = []

    async def always_unavailable(route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        await _unavailable(route)

    context = await browser.new_context(viewport={"width": 420, "height": 900})
    page = await context.new_page()
    await page.clock.install(time=T0)  # the page's timers and Date run on a clock the test moves
    await page.route("**/api/calls", always_unavailable)
    await _resident_taps_help(page, system.settings.http_url, "13800000067", stop_clock=True)
    retrying = page.locator("#raise-retrying")
    error = page.locator("#raise-error")
    moved_ms = 0
    while moved_ms <= 60_000:
        # Each try is answered before the clock moves on, so the page's time is the test's.
        await expect(retrying).not_to_have_attribute("data-state", "sending", timeout=5000)
        if await error.is_visible():
            break
        await expect(retrying).to_be_visible()
        await page.clock.run_for(500)
        moved_ms += 500
    assert 30_000 <= moved_ms <= 40_000, f"the page gave up after {moved_ms / 1000} s"
    assert 4 <= len(keys) <= 12, f"{len(keys)} tries in {moved_ms / 1000} s: no backoff?"
    assert keys[0] and len(set(keys)) == 1, keys
    await expect(error).to_contain_text("求助没有发出")
    on_duty = (await system.http.get("/api/duty")).json()["on_duty"]
    await expect(error.locator("a.tel")).to_have_attribute("href", f"tel:{on_duty['phone']}")
    await expect(retrying).to_be_hidden()
    await shot(page, "resident-gave-up")
    await context.close()
