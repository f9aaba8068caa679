"""The resident's page as a resident at 3 a.m. meets it (issue 18), in real Chromium at a phone's
(390 x 844) and a desk's (1280 x 900) size: who is coming and how to phone them, the contact
following an escalation, 119/120 when nobody answered in time, countdowns that stop when the
call closes and say how it closed, a remembered name and phone, a cancel that asks first, and
a refused input that names its field in the resident's language."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect

from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.streams import connect, ensure_streams
from services.dispatcher.app import build as build_dispatcher
from services.runtime.settings import Targets
from tests.chromium import assert_accessible, shot
from tests.conftest import System
from tests.support import EventLog, bearer, make_settings, running, serving_intake, wait_for

# One system for the whole file (as tests/conftest.py's `system` builds it:
# NATS, the intake and the dispatcher, in-process), so the file stays fast. Each test uses its
# own building and phone, and closes its calls: nothing merges into a call of another test.
# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PHONES_BY_KIND = {"medical": "13800000031", "fire": "13800000032", "flood": "13800000033"}
HUMAN_SPEED = Targets(20, 40, 60)  # a page read and screenshotted takes seconds, not 0.5 s
# Every change of the status line, as the page wrote it (the screen reader's view of it).
RECORD_ANNOUNCEMENTS = """
window.__announced = [];
document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("situation");
  new MutationObserver(() => window.__announced.push(live.textContent))
    .observe(live, { childList: true, characterData: true, subtree: true });
});
"""


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(
    nats_server: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    settings = make_settings(nats_server.url, tmp_path_factory.mktemp("data"), targets=HUMAN_SPEED)
    nc = await connect(nats_server.url, "tests")
    await ensure_streams(nc.jetstream())
    dispatcher = await build_dispatcher(settings)
    try:
        async with serving_intake(settings) as http, running(dispatcher):
            yield System(settings, http, EventLog(JetStreamEventStore(nc)), nc)
    finally:
        await nc.close()


async def resident_page(
    browser: Browser, system: System, viewport: dict[str, int]
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    await page.add_init_script(RECORD_ANNOUNCEMENTS)
    await page.clock.install()  # the page's time runs as usual until the test moves it on
    return context, page


async def tap_help(
    page: Page, base: str, building: str, kind: str = "flood", phone: str = "13800000000"
) -> str:
    await page.goto(f"{base}/?b={building}")
    await expect(page.locator("#building")).to_have_value(building)
    await expect(page.locator("#duty")).not_to_be_empty()
    await page.fill("#name", "王阿姨")
    await page.fill("#phone", phone)
    await page.check(f"input[name=kind][value={kind}]")
    await page.click("#help")
    await expect(page).to_have_url(re.compile(r"[?]call="))
    return page.url.split("call=")[1]


async def act(system: System, page: Page, call_id: str, action: str, token: str, **body: Any) -> None:
    """A responder or the desk acts on the call over HTTP, as their apps do; then the page asks
    for its call at once (its one-second wait moved on), instead of the test waiting for it."""
    response = await system.http.post(f"/api/calls/{call_id}/{action}", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    await next_poll(page)


async def next_poll(page: Page) -> None:
    """The page's clock moves one second on, and the page asks for its call again."""
    watched = page.url.split("call=")[1]
    async with page.expect_response(
        lambda r: r.request.method == "GET" and r.url.endswith(f"/api/calls/{watched}")
    ):
        await page.clock.run_for(1000)


async def close(system: System, call_id: str) -> None:
    """Closed by the desk, so the next test's call in this building is not merged into it."""
    response = await system.http.post(
        f"/api/calls/{call_id}/resolve", json={"outcome": "handled"}, headers=bearer("demo-supervisor")
    )
    assert response.status_code in (200, 409), response.text


async def countdowns(page: Page) -> list[str]:
    return await page.locator("#stages .countdown").all_inner_texts()


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_the_resident_sees_who_is_coming_and_how_the_call_closed(
    system: System, browser: Browser, size: str
) -> None:
    context, page = await resident_page(browser, system, PHONE if size == "phone" else DESKTOP)
    phone = "13800000101" if size == "phone" else "13800000102"
    call_id = await tap_help(page, system.settings.http_url, "b12", phone=phone)
    situation = page.locator("#situation")
    tel = page.locator("#contact a.tel")

    # Raised: the person being called now, by name, one tap from a phone call.
    await expect(situation).to_have_text("正在联系 网格员 杨帆…", timeout=5000)
    await expect(page.locator("#contact-name")).to_have_text("网格员 杨帆")
    await expect(tel).to_have_attribute("href", "tel:13600000001")
    await shot(page, f"resident-raising-{size}")
    await assert_accessible(page, f"resident-raising-{size}")

    await act(system, page, call_id, "accept", "demo-g1")
    await expect(situation).to_have_text("网格员 杨帆 已接单，正在赶来", timeout=5000)
    await expect(tel).to_have_attribute("href", "tel:13600000001")
    await expect(page.locator("[data-stage=onsite]")).to_have_attribute("data-state", "running")
    await shot(page, f"resident-{size}")
    await assert_accessible(page, f"resident-on-the-way-{size}")

    # The page polls every second; the status line (a live region) changes only when what it
    # says changes, so a screen reader hears each change once.
    for _ in range(3):
        await next_poll(page)
    quiet = "n => !n.closest('[aria-live], [role=status], [role=alert]')"
    assert await page.locator("#stages").evaluate(quiet)  # the ticking countdowns are not announced
    announced = await page.evaluate("window.__announced")
    assert announced[-2:] == ["正在联系 网格员 杨帆…", "网格员 杨帆 已接单，正在赶来"], announced
    assert len(announced) == len(set(announced)) <= 3, announced  # maybe "finding someone" first

    # The desk closes it as a false alarm before anyone arrives.
    await act(system, page, call_id, "resolve", "demo-supervisor", outcome="false_alarm")
    await expect(situation).to_have_text("已作为误报关闭", timeout=5000)
    onsite = page.locator("[data-stage=onsite]")
    await expect(onsite).to_have_attribute("data-state", "stopped")
    await expect(onsite.locator(".countdown")).to_have_text("求助已结束")
    at_close = await countdowns(page)
    # Ten minutes later on the page's clock (every due time long past): nothing moved, and no
    # stage turned red after the call ended.
    await page.clock.fast_forward("10:00")
    await page.clock.run_for(2000)  # the page's one-second tick runs twice more
    for n, text in enumerate(at_close):
        await expect(page.locator("#stages .countdown").nth(n)).to_have_text(text)
    await expect(page.locator("#stages [data-state=missed]")).to_have_count(0)
    await expect(situation).to_have_text("已作为误报关闭")
    await expect(page.locator("#cancel")).to_be_hidden()
    await expect(page.locator("#new-call")).to_have_attribute("href", "/?b=b12")
    await shot(page, f"resident-closed-{size}")
    await assert_accessible(page, f"resident-closed-{size}")
    await context.close()


async def test_after_an_escalation_the_contact_is_the_level_now_handling_the_call(
    system: System, browser: Browser
) -> None:
    context, page = await resident_page(browser, system, PHONE)
    call_id = await tap_help(page, system.settings.http_url, "b14", phone="13800000021")
    situation = page.locator("#situation")
    tel = page.locator("#contact a.tel")
    await expect(situation).to_have_text("正在联系 网格员 黄强…", timeout=5000)
    await expect(tel).to_have_attribute("href", "tel:13600000004")

    # 黄强 does not answer; the desk escalates to the district branch, which is paged at once.
    await act(system, page, call_id, "escalate", "demo-supervisor", reason="楼栋无人应答")
    await expect(page.locator("#level")).to_have_text("片区支部", timeout=5000)
    await expect(situation).to_have_text("正在联系 片区第一书记 向书记…", timeout=5000)
    await expect(tel).to_have_attribute("href", "tel:13700000001")
    await expect(page.locator("#contact")).not_to_contain_text("黄强")  # he never answered

    await act(system, page, call_id, "accept", "demo-p2")
    await expect(situation).to_have_text("快速响应队 田队长 已接单，正在赶来", timeout=5000)
    await expect(tel).to_have_attribute("href", "tel:13700000002")
    await act(system, page, call_id, "arrive", "demo-p2")
    await expect(situation).to_have_text("快速响应队 田队长 已到达", timeout=5000)
    await expect(page.locator("[data-stage=onsite]")).to_have_attribute("data-state", "met")
    await shot(page, "resident-escalated-arrived-phone")
    await close(system, call_id)
    await context.close()


@pytest.mark.parametrize(("kind", "number"), [("medical", "急救 120"), ("fire", "火警 119"), ("flood", None)])
async def test_a_fire_or_medical_call_nobody_answered_in_time_shows_119_or_120(
    system: System, browser: Browser, kind: str, number: str | None
) -> None:
    context, page = await resident_page(browser, system, PHONE)
    call_id = await tap_help(page, system.settings.http_url, "b21", kind=kind, phone=PHONES_BY_KIND[kind])
    emergency = page.locator("#emergency")
    await expect(page.locator("#situation")).to_have_text("正在联系 网格员 陈静…", timeout=5000)
    await expect(emergency).to_be_hidden()  # the reach deadline (40 s) is still ahead

    # Nobody answers: the page's clock passes the reach deadline.
    await page.clock.fast_forward("00:41")
    await expect(page.locator("[data-stage=reach]")).to_have_attribute("data-state", "missed", timeout=5000)
    if number is None:
        await expect(page.locator("[data-stage=reach]")).to_have_attribute("data-state", "missed")
        await expect(emergency).to_be_hidden()
    else:
        await expect(emergency).to_be_visible()
        await expect(emergency).to_contain_text("还没有人及时接单")
        shown = emergency.locator("a.tel")
        await expect(shown).to_have_count(1)  # the one service this emergency needs
        await expect(shown).to_have_text(number)
        await expect(shown).to_have_attribute("href", f"tel:{number.split()[-1]}")
        if kind == "medical":
            await shot(page, "resident-emergency-phone")
            await assert_accessible(page, "resident-emergency-phone")
    await close(system, call_id)
    await context.close()


async def test_name_and_phone_are_remembered_and_a_joined_call_says_how_it_closed(
    system: System, browser: Browser
) -> None:
    context, page = await resident_page(browser, system, PHONE)
    base = system.settings.http_url
    first = await tap_help(page, base, "b22", phone="13800000011")
    await expect(page.locator("#situation")).not_to_be_empty(timeout=5000)

    # "New call" keeps the building; name and phone are there already, after a reload too.
    await page.click("#new-call")
    await expect(page).to_have_url(f"{base}/?b=b22")
    await page.reload()
    await expect(page.locator("#building")).to_have_value("b22")
    await expect(page.locator("#name")).to_have_value("王阿姨")
    await expect(page.locator("#phone")).to_have_value("13800000011")

    # One tap: a second call from the same building joins the first one.
    await page.click("#help")
    await expect(page).to_have_url(re.compile(r"[?]call="))
    await expect(page.locator("#merged-note")).to_be_visible(timeout=5000)
    await expect(page.locator("#merged-note")).to_contain_text("合并")
    await act(system, page, first, "resolve", "demo-supervisor", outcome="handled")
    await expect(page.locator("#situation")).to_have_text("已与合并的求助一起解决，求助已结束", timeout=5000)
    await expect(page.locator("#merged-note")).to_be_hidden()
    await context.close()


async def test_cancel_asks_first_and_a_cancelled_call_stops_counting(
    system: System, browser: Browser
) -> None:
    context, page = await resident_page(browser, system, PHONE)
    call_id = await tap_help(page, system.settings.http_url, "b12", phone="13800000041")
    await expect(page.locator("#situation")).to_have_text("正在联系 网格员 杨帆…", timeout=5000)
    asked: list[str] = []

    async def say(answer: bool, dialog: Dialog) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if answer else dialog.dismiss())

    page.once("dialog", lambda d: say(False, d))
    await page.click("#cancel")
    await wait_for(lambda: asked, what="the confirmation")
    assert asked == ["确定要取消这次求助吗？"]
    assert (await system.http.get(f"/api/calls/{call_id}")).json()["status"] == "open"  # not cancelled
    await expect(page.locator("#cancel")).to_be_visible()

    page.once("dialog", lambda d: say(True, d))
    await page.click("#cancel")
    await expect(page.locator("#situation")).to_have_text("求助已取消", timeout=5000)
    assert (await system.http.get(f"/api/calls/{call_id}")).json()["status"] == "cancelled"
    at_close = await countdowns(page)
    await page.clock.fast_forward("10:00")
    await page.clock.run_for(2000)
    for n, text in enumerate(at_close):
        await expect(page.locator("#stages .countdown").nth(n)).to_have_text(text)
    await context.close()


async def test_the_form_checks_the_phone_and_a_refusal_names_the_field(
    system: System, browser: Browser
) -> None:
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    await page.goto(f"{system.settings.http_url}/?b=b12")
    await expect(page.locator("#duty")).not_to_be_empty()
    assert not [m for m in console if "pattern" in m.lower()], console
    phone = page.locator("#phone")
    # Chromium compiles `pattern` with the `v` flag: the attribute must be valid there.
    assert await phone.evaluate("n => { new RegExp(n.pattern, 'v'); return true; }")
    for typed, valid in [("abc", False), ("12 34", False), ("1+23456", False), ("+86 138-0000-0000", True)]:
        await phone.fill(typed)
        assert await phone.evaluate("n => n.validity.valid") is valid, typed

    # Each kind says what it is in words: an icon without an emoji font is only a box.
    for name in ("水淹", "火情", "急病", "老人走失", "纠纷", "其他"):
        await expect(page.get_by_role("radio", name=name)).to_have_count(1)
        await expect(page.locator(".kind-name", has_text=name)).to_be_visible()
    if await page.evaluate("document.documentElement.classList.contains('no-emoji')"):
        await expect(page.locator(".kinds .icon").first).to_be_hidden()
    await shot(page, "resident-form-phone")
    await assert_accessible(page, "resident-form-phone")

    # Sixteen digits pass the shape but are no phone: the server refuses (422), and the page
    # says which field, in the resident's language, and puts the cursor there.
    await page.fill("#name", "王阿姨")
    await phone.fill("1234567890123456")
    await page.click("#help")
    error = page.locator("#raise-error")
    await expect(error).to_contain_text("请检查“电话”后再按一次", timeout=5000)
    await expect(phone).to_be_focused()
    await expect(phone).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, "resident-refused-field-phone")

    await page.click("#lang")
    await expect(page.locator("#help")).to_have_text("Help")
    await page.click("#help")
    await expect(error).to_contain_text("please check “Phone” and press again", timeout=5000)
    await context.close()
