"""The one-tap link on a phone (360 x 740, real Chromium): open it, tap Accept, call the resident."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from services.adapters.answer_links import AnswerLinks, load_link_key
from tests.browser.conftest import PHONE, assert_accessible, shot
from tests.conftest import System

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_phone_opens_the_link_and_accepts_with_one_tap(system: System, browser: Browser) -> None:
    call_id = (await system.raise_call("b12", note="水漫到门口"))["call_id"]
    page_event = (await system.log.wait_type(call_id, "ResponderAssigned"))[0]
    links = AnswerLinks(load_link_key(system.settings.data_dir), system.settings.public_url)
    url = links.url(call_id, page_event.dispatch_id)

    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = await context.new_page()
    response = await phone.goto(url)
    assert response is not None and response.status == 200
    await expect(phone.locator("#kind")).to_contain_text("水浸")
    await expect(phone.locator("#place")).to_contain_text("胜利街12号")
    await expect(phone.locator("#resident")).to_contain_text("王阿姨")
    await expect(phone.locator("#resident a")).to_have_attribute("href", "tel:+8613800000000")
    await expect(phone.locator("#note")).to_contain_text("水漫到门口")
    await expect(phone.locator("#left b")).not_to_be_empty()
    # Readable at 360 px: nothing is wider than the screen, and the buttons are thumb-sized.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    accept = phone.locator("#accept")
    box = await accept.bounding_box()
    assert box is not None and box["height"] >= 60 and box["width"] >= 300
    await shot(phone, "answer-link-page")
    await assert_accessible(phone, "answer-link-page")
    assert "DispatchAccepted" not in await system.log.types(call_id)  # opening it answered nothing

    await accept.tap()
    await expect(phone.locator("#result")).to_contain_text("已接单")
    await expect(phone.locator("#tel")).to_have_attribute("href", "tel:+8613800000000")
    await shot(phone, "answer-link-accepted")
    await assert_accessible(phone, "answer-link-accepted")
    accepted = await system.log.wait_type(call_id, "DispatchAccepted")
    assert accepted[0].channel == "link" and accepted[0].responder_id == page_event.responder_id
    await context.close()
