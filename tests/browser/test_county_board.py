"""The county board (issue 21): every community's open calls counted, calls nobody is being
reached on at the top; a community's supervisor sees their community only."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from services.adapters.embedded_nats import EmbeddedNats
from services.domain.roster import DEMO_ROSTER
from services.runtime.settings import Settings, Targets
from tests.browser.conftest import assert_accessible, shot
from tests.conftest import System
from tests.support import bearer, make_settings

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
COUNTY_SUPERVISOR = bearer("demo-s0")


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """The demo county, at human-speed targets (nothing escalates by itself while it clicks)."""
    county = DEMO_ROSTER.with_name("demo_county.yaml")
    return make_settings(nats_server.url, tmp_path, targets=Targets(60, 120, 300), roster_path=county)


async def away(system: System, person_id: str) -> None:
    response = await system.http.post(
        f"/api/responders/{person_id}/availability", json={"status": "away"}, headers=COUNTY_SUPERVISOR
    )
    assert response.status_code == 200, response.text


async def sign_in(page: Page, system: System, token: str) -> None:
    await page.goto(f"{system.settings.http_url}/county")
    await page.fill("#token", token)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#county")).to_be_visible()


async def test_the_county_board_counts_each_community_and_puts_the_unreached_first(
    system: System, browser: Browser
) -> None:
    gy = (await system.raise_call("gy-b1"))["call_id"]
    xf = (await system.raise_call("xf-b1"))["call_id"]
    await system.log.wait_type(gy, "ResponderAssigned")
    await system.log.wait_type(xf, "ResponderAssigned")
    # The county desk's officer and the rescue team away: a call for a building nobody knows
    # reaches nobody, raised last, and still comes first.
    await away(system, "k1")
    await away(system, "r1")
    lost = (await system.raise_call("nowhere-9", caller={"name": "李大爷", "phone": "13800000999"}))[
        "call_id"
    ]
    await system.log.wait_type(lost, "EscalationRaised")

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, system, "demo-s0")
    rows = page.locator("#rows tr")
    await expect(rows).to_have_count(3, timeout=5000)
    await expect(rows.first).to_have_attribute("data-call", lost)
    await expect(rows.first).to_contain_text("来凤县应急值班台")
    await expect(rows.first).to_contain_text("无人接到通知")
    await expect(page.locator(f"tr[data-call='{gy}']")).to_contain_text("绿水社区")
    await expect(page.locator(f"tr[data-call='{gy}']")).to_contain_text("河西3号")

    def count(community: str, what: str):  # type: ignore[no-untyped-def]
        return page.locator(f"tr[data-community='{community}'] [data-count={what}]")

    await expect(count("xf", "open")).to_have_text("1")
    await expect(count("gy", "open")).to_have_text("1")
    await expect(count("gy", "unreached")).to_have_text("0")
    await expect(count("laifeng", "unreached")).to_have_text("1")
    await expect(page.locator("tr[data-community='laifeng']")).to_have_class("unreached")

    # Live: a new call in xf is counted there without a reload.
    await system.raise_call("xf-b2", caller={"name": "张三", "phone": "13800000777"})
    await expect(count("xf", "open")).to_have_text("2", timeout=5000)
    await shot(page, "county-board")
    await assert_accessible(page, "county-board")

    # A community's name opens its own board: its calls, its desk on duty, no other's.
    await page.click("tr[data-community='gy'] a")
    await expect(page).to_have_url(f"{system.settings.http_url}/board?community=gy")
    await expect(page.locator("#board")).to_be_visible()
    await expect(page.locator("#community-name")).to_have_text("绿水社区")
    await expect(page.locator(f"#rows tr[data-call='{gy}']")).to_have_count(1, timeout=5000)
    await expect(page.locator("#rows tr[data-call]")).to_have_count(1)
    await expect(page.locator("#onduty")).to_contain_text("绿水值班员 赵敏")
    await expect(page.locator("#pi-building option[value='xf-b1']")).to_have_count(0)

    # A community's supervisor sees their community only.
    other = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    await sign_in(other, system, "demo-sx")
    await expect(other.locator("#community-rows tr")).to_have_count(1)
    await expect(other.locator("tr[data-community='xf']")).to_be_visible()
    await expect(other.locator("#rows tr")).to_have_count(2, timeout=5000)
    await expect(other.locator(f"tr[data-call='{gy}']")).to_have_count(0)
    await shot(other, "county-board-community-phone")
