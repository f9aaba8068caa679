"""Answers coming back through providers: an SMS reply and a voice keypress, signed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.adapters.answer_links import AnswerLinks, load_link_key
from services.adapters.embedded_nats import EmbeddedNats
from services.adapters.signing import sign as webhook_signature
from services.runtime.settings import Settings
from tests.service.conftest import System
from tests.support import bearer, make_settings

SECRET = "inbound-test-secret"  # DISPATCH1310_WEBHOOK_SECRET, the notifier's and the intake's


@pytest.fixture
def system_settings(nats_server: EmbeddedNats, tmp_path: Path) -> Settings:
    """Calls of one building are not merged here: one person is paged for two calls."""
    return make_settings(nats_server.url, tmp_path, merge_window_s=0.001, webhook_secret=SECRET)


async def post_signed(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], secret: str = SECRET, age_s: float = 0
) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    timestamp = str(int(time.time() - age_s))
    headers = {
        "Content-Type": "application/json",
        "X-Dispatch1310-Timestamp": timestamp,
        "X-Dispatch1310-Signature": webhook_signature(secret, timestamp, raw),
    }
    return await http.post(path, content=raw, headers=headers)


async def paged(system: System, person_id: str, phone: str = "13800000000") -> tuple[str, Any]:
    call_id = (await system.raise_call("b12", caller={"name": "王阿姨", "phone": phone}))["call_id"]
    pages = await system.log.wait_type(call_id, "ResponderAssigned")
    page = next((p for p in pages if p.responder_id == person_id), None)
    assert page is not None, [p.responder_id for p in pages]
    return call_id, page


async def test_sms_reply_accepts_the_senders_newest_page(system: System) -> None:
    call_id, page = await paged(system, "g1")
    # g1's phone is 13600000001 in the roster; the provider reports it in E.164
    reply = await post_signed(system.http, "/api/inbound/sms", {"from": "+86 136 0000 0001", "text": " １\n"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"call_id": call_id, "dispatch_id": page.dispatch_id, "answer": "accept"}
    accepted = await system.log.wait_type(call_id, "DispatchAccepted")
    assert [(a.responder_id, a.channel) for a in accepted] == [("g1", "sms")]

    again = await post_signed(system.http, "/api/inbound/sms", {"from": "13600000001", "text": "2"})
    assert again.status_code == 404 and "no page is awaiting" in again.json()["detail"]
    stranger = await post_signed(system.http, "/api/inbound/sms", {"from": "13111111111", "text": "1"})
    assert stranger.status_code == 404 and "nobody in the roster" in stranger.json()["detail"]
    chatter = await post_signed(system.http, "/api/inbound/sms", {"from": "13600000001", "text": "ok"})
    assert chatter.status_code == 422


async def test_sms_reply_answers_the_newest_of_two_pages(system: System) -> None:
    first_call, first = await paged(system, "g1", "13800000001")
    second_call, _ = await paged(system, "g2", "13800000002")  # g1 is busy: the dispatcher pages g2
    assign = await system.http.post(
        f"/api/calls/{second_call}/assign", json={"responder_id": "g1"}, headers=bearer("demo-supervisor")
    )
    assert assign.status_code == 200, assign.text
    pages = await system.log.wait_type(second_call, "ResponderAssigned", count=2)
    second = next(p for p in pages if p.responder_id == "g1")
    assert second.at > first.at
    reply = await post_signed(system.http, "/api/inbound/sms", {"from": "13600000001", "text": "2"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["call_id"] == second_call
    assert [e.channel for e in await system.log.wait_type(second_call, "DispatchDeclined")] == ["sms"]
    assert "DispatchDeclined" not in await system.log.types(first_call)
    older = await post_signed(system.http, "/api/inbound/sms", {"from": "13600000001", "text": "1"})
    assert older.status_code == 200 and older.json()["call_id"] == first_call


async def test_unsigned_or_stale_answers_are_refused(system: System) -> None:
    call_id, _ = await paged(system, "g1")
    sms = {"from": "13600000001", "text": "1"}
    forged = await post_signed(system.http, "/api/inbound/sms", sms, secret="not-the-secret")
    stale = await post_signed(system.http, "/api/inbound/sms", sms, age_s=301)
    bare = await system.http.post("/api/inbound/sms", json=sms)
    garbage = await system.http.post("/api/inbound/voice", content=b"{not json")
    assert [r.status_code for r in (forged, stale, bare, garbage)] == [401, 401, 401, 401]
    assert "DispatchAccepted" not in await system.log.types(call_id)
    signed = await post_signed(system.http, "/api/inbound/sms", sms)  # the same, signed: answers
    assert signed.status_code == 200 and signed.json()["call_id"] == call_id


async def test_voice_keypress_declines_and_an_ended_page_answers_nothing(system: System) -> None:
    call_id, page = await paged(system, "g1")
    links = AnswerLinks(load_link_key(system.settings.data_dir), system.settings.public_url)
    reference = links.token(call_id, page.dispatch_id)

    wrong_key = await post_signed(system.http, "/api/inbound/voice", {"reference": reference, "digits": "9"})
    assert wrong_key.status_code == 422
    declined = await post_signed(system.http, "/api/inbound/voice", {"reference": reference, "digits": "2"})
    assert declined.status_code == 200, declined.text
    assert declined.json() == {"call_id": call_id, "dispatch_id": page.dispatch_id, "answer": "decline"}
    events = await system.log.wait_type(call_id, "DispatchDeclined")
    assert [(e.responder_id, e.channel) for e in events] == [("g1", "voice")]

    late = await post_signed(system.http, "/api/inbound/voice", {"reference": reference, "digits": "1"})
    assert late.status_code == 410
    assert "DispatchAccepted" not in await system.log.types(call_id)
    forged = await post_signed(
        system.http, "/api/inbound/voice", {"reference": reference[:-2] + "xx", "digits": "1"}
    )
    assert forged.status_code == 404
