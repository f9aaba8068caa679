"""The timeline audit of one call as a reader sees it (issue 18): steps 1..n, the reader's
language, local times, people by name, no internal field, one A4 page when printed."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from events.commands import RecordNotification
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.domain.calls import Calls
from services.domain.clock import SystemClock
from services.runtime.settings import Settings, Targets
from tests.browser.conftest import assert_accessible, shot
from tests.conftest import System
from tests.support import bearer, make_settings

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
DESK = bearer("demo-supervisor")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    return make_settings(nats_server.url, tmp_path, targets=Targets(60, 120, 300))


async def a_typical_call(system: System) -> tuple[str, list[dict]]:
    """Raised by a resident, paged (push sent, SMS failed), accepted (recorded by the desk for g1), a note, on site, closed."""
    other = await system.raise_call("b21", caller={"name": "陈", "phone": "13800000301"})
    await system.log.wait_type(other["call_id"], "ResponderAssigned")  # the stream moves on
    call_id = (await system.raise_call("b12"))["call_id"]
    page = (await system.log.wait_type(call_id, "ResponderAssigned"))[0]
    calls = Calls(JetStreamEventStore(system.nc), SystemClock())
    for method, error in (("push", None), ("sms", "provider answered 500")):
        notice = RecordNotification(
            call_id=call_id, responder_id="g1", dispatch_id=page.dispatch_id, method=method, error=error
        )
        await calls.execute(notice)
    for path, body, who in (
        ("accept", {"responder_id": "g1"}, DESK),
        ("notes", {"text": "带上沙袋"}, DESK),
        ("arrive", {"responder_id": "g1"}, bearer("demo-g1")),
        ("resolve", {"outcome": "handled"}, DESK),
    ):
        response = await system.http.post(f"/api/calls/{call_id}/{path}", json=body, headers=who)
        assert response.status_code == 200, response.text
    timeline = await system.http.get(f"/api/calls/{call_id}/timeline", headers=DESK)
    assert "caller_secret_sha256" not in timeline.text  # not sent at all, let alone shown
    return call_id, timeline.json()["events"]


async def log_in(page: Page, system: System, call_id: str) -> None:
    await page.goto(f"{system.settings.http_url}/calls/{call_id}")
    await page.fill("#token", "demo-supervisor")
    await page.click("#login button[type=submit]")


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI)


async def test_the_timeline_reads_in_the_readers_language_and_time_and_prints_on_one_page(
    system: System, browser: Browser
) -> None:
    call_id, events = await a_typical_call(system)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Shanghai")
    page = await context.new_page()
    await log_in(page, system, call_id)
    rows = page.locator("#events tr")
    await expect(rows).to_have_count(len(events), timeout=5000)

    # Step numbers 1..n of this call, whatever the stream's sequence numbers are.
    steps = await page.locator("#events tr td:first-child").all_inner_texts()
    assert steps == [str(n) for n in range(1, len(events) + 1)]
    assert events[0]["seq"] > 1  # (the stream's sequence numbers are not the call's steps)

    raised = rows.nth(0)
    await expect(raised.locator("td.event")).to_have_text("发起求助")
    # Local time (Shanghai, UTC+8), and the stage due times too.
    at = local(events[0]["at"])
    await expect(raised.locator("td").nth(1)).to_have_text(at.strftime("%H:%M:%S"))
    due = local(events[0]["data"]["due"]["reach"])
    await expect(raised.locator("td").nth(5)).to_contain_text(f"联系上 {due.strftime('%H:%M:%S')}")
    await expect(raised.locator("td").nth(5)).to_contain_text("胜利街12号")
    await expect(page.locator("#summary-zone")).to_contain_text("UTC+08:00")

    # People by name: the responder, and the desk person who recorded the accept for them.
    accepted = page.locator("#events tr[data-type=DispatchAccepted]")
    await expect(accepted.locator("td").nth(4)).to_have_text("网格员 杨帆 由 社区主任 周主任 代录（值班台）")
    await expect(accepted.locator("td.event")).to_have_text("接受")
    await expect(page.locator("#events tr[data-type=ResponderArrived] td").nth(4)).to_have_text("网格员 杨帆")
    await expect(page.locator("#events tr[data-type=NoteAdded] td").nth(5)).to_have_text("带上沙袋")
    failed = page.locator("#events tr[data-type=NotificationFailed]")
    await expect(failed.locator("td.event")).to_have_text("通知发送失败")
    await expect(failed.locator("td").nth(5)).to_have_text("→ 网格员 杨帆 · 短信 ✗ provider answered 500")
    await expect(failed.locator("td").nth(4)).to_have_text("系统")
    await expect(page.locator("#events tr[data-type=CallResolved] td").nth(5)).to_contain_text("已处置")
    actors = await page.locator("#events tr td:nth-child(5)").all_inner_texts()
    assert not [a for a in actors if re.fullmatch(r"[a-z]\d+", a.split(" ")[0])], actors
    content = await page.content()
    assert "caller_secret_sha256" not in content
    assert "CallRaised" not in await page.locator("#events").inner_text()
    await shot(page, "audit-desktop")
    await assert_accessible(page, "audit-desktop")

    # A typical call fits one A4 page on paper.
    pdf = await page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == 1, f"{pages} A4 pages"
    await page.emulate_media(media="print")
    await shot(page, "audit-print")
    await page.emulate_media(media="screen")

    await page.click("#lang")
    await expect(raised.locator("td.event")).to_have_text("Call raised", timeout=5000)
    await expect(accepted.locator("td").nth(4)).to_have_text("网格员 杨帆 by 社区主任 周主任 (desk)")
    await expect(page.locator("#events tr[data-type=ResponderAssigned] td.event").first).to_have_text("Paged")
    await context.close()


async def test_the_timeline_on_a_phone(system: System, browser: Browser) -> None:
    call_id, events = await a_typical_call(system)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Asia/Shanghai")
    page = await context.new_page()
    await log_in(page, system, call_id)
    rows = page.locator("#events tr")
    await expect(rows).to_have_count(len(events), timeout=5000)
    assert await rows.first.evaluate("n => getComputedStyle(n).display") == "block"  # cards
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await expect(rows.first.locator("td.event")).to_have_text("发起求助")
    finish = local(events[-1]["at"])
    await expect(rows.last.locator("time")).to_have_text(finish.strftime("%H:%M:%S"))
    await shot(page, "audit-phone")
    await assert_accessible(page, "audit-phone")
    await context.close()
