"""The one-tap answer link: a phone opens it, sees the page, answers with one tap (real NATS)."""

from __future__ import annotations

import httpx

from events.commands import TimeOutDispatch
from services.adapters.answer_links import AnswerLinks, load_link_key
from services.adapters.jetstream_store import JetStreamEventStore
from services.domain.calls import Calls
from services.domain.clock import SystemClock
from tests.conftest import System


async def _paged(system: System, **fields: object) -> tuple[str, str, str]:
    """A call raised for b12 and its first page: (call id, dispatch id, the link's path)."""
    call_id = (await system.raise_call("b12", note="水漫到门口", **fields))["call_id"]
    page = (await system.log.wait_type(call_id, "ResponderAssigned"))[0]
    links = AnswerLinks(load_link_key(system.settings.data_dir), system.settings.public_url)
    return call_id, page.dispatch_id, f"/a/{links.token(call_id, page.dispatch_id)}"


def _private(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-type"].startswith("text/html")


async def test_opening_the_link_shows_the_page_and_answers_nothing(system: System) -> None:
    call_id, _, path = await _paged(system)
    before = await system.log.types(call_id)
    for _ in range(3):  # a link preview, a scanner, the person: none of them answers
        response = await system.http.get(path)
        assert response.status_code == 200, response.text
    _private(response)
    text = response.text
    for fact in (
        "水浸",
        "胜利街12号",
        "王阿姨",
        'href="tel:+8613800000000"',
        "水漫到门口",
        "楼栋",
        "到达时限",
    ):
        assert fact in text, fact
    assert 'value="accept"' in text and 'value="decline"' in text and 'method="post"' in text
    assert await system.log.types(call_id) == before


async def test_accept_by_link_is_stored_once_and_shows_the_residents_phone(system: System) -> None:
    call_id, dispatch_id, path = await _paged(system)
    response = await system.http.post(path, data={"answer": "accept"})
    assert response.status_code == 200, response.text
    _private(response)
    assert "已接单" in response.text and 'href="tel:+8613800000000"' in response.text
    accepted = await system.log.wait_type(call_id, "DispatchAccepted")
    assert accepted[0].channel == "link" and accepted[0].dispatch_id == dispatch_id
    assert accepted[0].responder_id == "g1"
    stored = await system.log.types(call_id)

    again = await system.http.post(path, data={"answer": "accept"})  # a double tap
    assert again.status_code == 200 and "已接单" in again.text
    assert await system.log.types(call_id) == stored

    declined = await system.http.post(path, data={"answer": "decline"})
    assert declined.status_code == 410
    _private(declined)
    assert "你已接单" in declined.text
    assert await system.log.types(call_id) == stored

    reopened = await system.http.get(path)  # the page ended; who accepted still has the phone
    assert reopened.status_code == 410 and 'href="tel:+8613800000000"' in reopened.text
    assert 'value="accept"' not in reopened.text


async def test_decline_by_link_is_stored_with_its_channel(system: System) -> None:
    call_id, _, path = await _paged(system)
    response = await system.http.post(path, data={"answer": "decline"})
    assert response.status_code == 200 and "不能去" in response.text
    declined = await system.log.wait_type(call_id, "DispatchDeclined")
    assert declined[0].channel == "link"


async def test_an_altered_token_is_a_404_page_in_html(system: System) -> None:
    call_id, _, path = await _paged(system)
    before = await system.log.types(call_id)
    altered = path[:-1] + ("A" if path[-1] != "A" else "B")
    for response in (
        await system.http.get(altered),
        await system.http.post(altered, data={"answer": "accept"}),
        await system.http.get("/a/not-a-token"),
    ):
        assert response.status_code == 404
        _private(response)
        assert "此链接无效" in response.text
    assert await system.log.types(call_id) == before


async def test_a_page_that_timed_out_is_gone(system: System) -> None:
    call_id, dispatch_id, path = await _paged(system)
    calls = Calls(JetStreamEventStore(system.nc), SystemClock())
    await calls.execute(TimeOutDispatch(call_id=call_id, dispatch_id=dispatch_id))
    await system.log.wait_type(call_id, "DispatchTimedOut")
    shown = await system.http.get(path)
    assert shown.status_code == 410 and "超时" in shown.text
    assert "13800000000" not in shown.text  # an ended page no longer gives the resident's phone
    response = await system.http.post(path, data={"answer": "accept"})
    assert response.status_code == 410 and "超时" in response.text
    assert "DispatchAccepted" not in await system.log.types(call_id)


async def test_a_wrong_answer_is_a_422_page(system: System) -> None:
    _, _, path = await _paged(system)
    response = await system.http.post(path, data={"answer": "maybe"})
    assert response.status_code == 422 and "接单" in response.text
    _private(response)
