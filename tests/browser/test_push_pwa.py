"""The responder app as an installable PWA with Web Push, in real headless Chromium: a pushed
page shows as a notification with Accept / Decline, and Accept answers the call (channel push).

Chromium delivers the push through CDP (``ServiceWorker.deliverPushMessage``): the same ``push``
event a push service would wake the worker with. An action button cannot be clicked through
CDP, so the test asks the worker (postMessage) to answer the shown notification through the
same function its action buttons call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from services.adapters.answer_links import AnswerLinks, load_link_key
from services.adapters.embedded_nats import EmbeddedNats
from services.domain.aggregate import fold
from services.domain.roster import load_roster_file
from services.notifier.content import page_content
from services.runtime.settings import Settings, Targets
from tests.conftest import System
from tests.support import make_settings, wait_for

# One Chromium for every browser test, on the session's event loop: tests/chromium.py.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

NOTIFICATIONS = """async (tag) => {
  const registration = await navigator.serviceWorker.ready;
  return (await registration.getNotifications({ tag })).map((n) => ({
    title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
    actions: n.actions.map((a) => [a.action, a.title]), data: n.data,
  }));
}"""

ANSWER = """async ({ tag, answer }) => {
  const registration = await navigator.serviceWorker.ready;
  navigator.serviceWorker.startMessages();
  return await new Promise((resolve) => {
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "answered" && event.data.tag === tag) resolve(event.data.status);
    });
    registration.active.postMessage({ type: "answer", answer, tag });
  });
}"""


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """Human-speed targets: the page stays open while the browser works."""
    return make_settings(nats_server.url, tmp_path, targets=Targets(20, 40, 60))


async def pushed_page(system: System, call_id: str) -> dict[str, Any]:
    """The push payload the notifier would send for the call's first page."""
    [page] = await system.log.wait_type(call_id, "ResponderAssigned")
    state = fold(call_id, [item.event for item in await system.log.of(call_id)])
    links = AnswerLinks(load_link_key(system.settings.data_dir), system.settings.public_url)
    roster = load_roster_file(system.settings.roster_path)
    url = links.url(call_id, page.dispatch_id)
    return page_content(state, page, roster, url).payload()


async def test_a_pushed_page_is_a_notification_whose_accept_answers_the_call(
    system: System, browser: Browser
) -> None:
    base = system.settings.http_url
    manifest = await system.http.get("/manifest.webmanifest")
    assert manifest.json()["start_url"] == "/responder" and manifest.json()["display"] == "standalone"
    worker = await system.http.get("/sw.js")
    assert worker.headers["service-worker-allowed"] == "/"

    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=base)
    page = await context.new_page()
    await page.goto(f"{base}/responder")
    await page.fill("#token", "demo-g1")
    await page.click("button[type=submit]")
    await expect(page.locator("#me")).to_have_text("网格员 杨帆")
    assert (
        await page.evaluate("document.querySelector('link[rel=manifest]').href")
        == f"{base}/manifest.webmanifest"
    )
    # Permission granted: the login registers the worker and subscribes without a prompt (a
    # headless Chromium has no push service to subscribe with: "failed" is what it can say).
    await expect(page.locator("#push-state")).to_have_attribute(
        "data-push-state", re.compile("^(subscribed|failed)$")
    )
    assert (
        await page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.scriptURL)")
        == f"{base}/sw.js"
    )

    cdp = await context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"] if not r["isDeleted"]}
        ),
    )
    await cdp.send("ServiceWorker.enable")
    registration_id = await wait_for(lambda: registrations.get(f"{base}/"), what="the worker's registration")

    call = await system.raise_call("b12", kind="flood", note="水漫进一楼", address="胜利街12号 3单元 101")
    payload = await pushed_page(system, call["call_id"])
    tag = payload["dispatch_id"]
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": base, "registrationId": registration_id, "data": json.dumps(payload, ensure_ascii=False)},
    )
    [shown] = await wait_for(lambda: page.evaluate(NOTIFICATIONS, tag), what="the page's notification")
    assert shown["title"] == "1310 派单 水浸 Flood"
    assert shown["actions"] == [["accept", "接单 Accept"], ["decline", "不能去 Decline"]]
    assert shown["requireInteraction"] is True
    assert "胜利街12号 · 胜利街12号 3单元 101" in shown["body"]  # building and address
    assert f"王阿姨 {payload['caller']['phone']}" in shown["body"] and "水漫进一楼" in shown["body"]
    assert "到达时限 Reach in 0:" in shown["body"]  # the time left to reach the resident
    assert shown["data"]["answer_url"] == payload["answer_url"]

    status = await page.evaluate(ANSWER, {"tag": tag, "answer": "accept"})
    assert status == 200
    [accepted] = await system.log.wait_type(call["call_id"], "DispatchAccepted")
    assert accepted.responder_id == "g1" and accepted.dispatch_id == tag
    assert accepted.channel == "push"
    assert await page.evaluate(NOTIFICATIONS, tag) == []  # answered: the notification is gone
    await context.close()
