"""Notification rules (pure, manual time): who is sent what, when, and when the rules stop."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.models import (
    CallEvent,
    CallResolved,
    DispatchAccepted,
    DispatchDeclined,
    DispatchTimedOut,
    NotificationSent,
    ResponderAssigned,
)
from services.domain.aggregate import fold
from services.domain.roster import Roster, RosterError, load_roster_file, parse_roster
from services.notifier.content import page_content
from services.notifier.rules import plan, recorded_methods, should_send
from services.notifier.texts import sms_text, voice_text
from tests.factories import T0, raised

ROSTER = load_roster_file(None)


def paged(person: str = "g1", ack_timeout_s: float = 45.0) -> ResponderAssigned:
    return ResponderAssigned(
        event_id=f"page-{person}", call_id="c1", at=T0 + timedelta(seconds=1), responder_id=person,
        name=person, level="building", dispatch_id=f"d-{person}", ack_timeout_s=ack_timeout_s,
    )  # fmt: skip


def roster_with(person_fields: dict[str, object], robots: list[dict[str, object]] | None = None) -> Roster:
    data = ROSTER.model_dump(mode="json", exclude_defaults=True)
    building = data["districts"][0]["buildings"][0]
    building["members"][0].update(person_fields)
    if robots is not None:
        data["districts"][0]["robots"] = robots
    return parse_roster(json.dumps(data))


def test_default_rules_push_and_sms_at_once_voice_before_the_page_ends() -> None:
    page = paged("g1")
    steps = plan(page, ROSTER.people["g1"], ROSTER, "b12")
    assert [(s.method, (s.at - page.at).total_seconds()) for s in steps] == [
        ("push", 0),
        ("sms", 0),
        ("voice", 30),  # 60 s by default, but a 45 s page would end first: two thirds of it
    ]
    assert [s.optional for s in steps] == [True, False, False]  # push without a browser: skipped
    long_page = paged("g1", ack_timeout_s=120)
    assert [
        (s.at - long_page.at).total_seconds() for s in plan(long_page, ROSTER.people["g1"], ROSTER, "b12")
    ][-1] == 60


def test_explicit_rules_run_as_written_and_district_robots_see_every_page() -> None:
    roster = roster_with(
        {
            "contact_methods": {"voice": "+8613900000009"},
            "notify": [{"method": "voice", "after_s": 90}, {"method": "sms", "after_s": 10}],
        },
        robots=[
            {"type": "wecom", "url": "https://qyapi.example/robot?key=1"},
            {"type": "dingtalk", "url": "https://oapi.example/robot?access_token=2", "secret": "SEC"},
            {"type": "wecom", "url": "https://qyapi.example/robot?key=3"},
        ],
    )
    person_id = roster.districts[0].buildings[0].members[0].id
    page = paged(person_id)
    steps = plan(page, roster.people[person_id], roster, roster.districts[0].buildings[0].id)
    assert [(s.method, (s.at - page.at).total_seconds(), s.address) for s in steps] == [
        ("wecom-robot", 0, "https://qyapi.example/robot?key=1"),
        ("dingtalk-robot", 0, "https://oapi.example/robot?access_token=2"),
        ("wecom-robot-2", 0, "https://qyapi.example/robot?key=3"),
        ("sms", 10, roster.people[person_id].phone),
        ("voice", 90, "+8613900000009"),
    ]
    assert steps[1].secret == "SEC"


def test_a_rule_without_an_address_is_refused_on_load() -> None:
    with pytest.raises(RosterError, match="notify step 'webhook' has no contact method"):
        roster_with({"notify": [{"method": "webhook"}]})
    with pytest.raises(RosterError, match="robots"):
        roster_with({}, robots=[{"type": "wecom", "url": "not a url"}])


ENDINGS = {
    "accepted": lambda at: DispatchAccepted(
        event_id="a", call_id="c1", at=at, responder_id="g1", dispatch_id="d-g1", channel="sms"
    ),
    "declined": lambda at: DispatchDeclined(
        event_id="n", call_id="c1", at=at, responder_id="g1", dispatch_id="d-g1"
    ),
    "timed_out": lambda at: DispatchTimedOut(
        event_id="t", call_id="c1", at=at, responder_id="g1", dispatch_id="d-g1"
    ),
    "resolved": lambda at: CallResolved(event_id="r", call_id="c1", at=at, by="s1", outcome="handled"),
}


@settings(max_examples=100, deadline=None)
@given(ending=st.sampled_from([None, *ENDINGS]), ended_after_s=st.floats(0, 120))
def test_later_steps_go_only_while_the_page_awaits_its_answer(
    ending: str | None, ended_after_s: float
) -> None:
    """Whatever ends the page, and whenever: the first word always went, and no later step
    is sent once the page ended; while it is open every step goes."""
    page = paged("g1")
    history: list[CallEvent] = [raised("c1"), page]
    if ending is not None:
        history.append(ENDINGS[ending](page.at + timedelta(seconds=ended_after_s)))
    for step in plan(page, ROSTER.people["g1"], ROSTER, "b12"):
        seen = [e for e in history if e.at <= step.at]  # what is stored when the step comes due
        state = fold("c1", seen)
        ended = len(seen) > 2
        assert should_send(step, state, page.dispatch_id) == (step.first_word or not ended)


def test_a_step_is_recorded_once_per_page_and_method() -> None:
    sent = NotificationSent(
        event_id="s", call_id="c1", at=T0, responder_id="g1", dispatch_id="d-g1", method="sms"
    )
    other = NotificationSent(
        event_id="o", call_id="c1", at=T0, responder_id="g2", dispatch_id="d-g2", method="voice"
    )
    assert recorded_methods([sent, other], "d-g1") == {"sms"}


def test_every_channel_says_kind_place_resident_note_level_time_left_and_link() -> None:
    page = paged("g1")
    state = fold("c1", [raised("c1", kind="flood", note="一楼进水", address="胜利街12号"), page])
    content = page_content(state, page, ROSTER, "https://x.example/a/TOKEN")
    text = sms_text([content], T0 + timedelta(seconds=50))
    for fact in (
        "水浸",
        "胜利街12号",
        "王阿姨",
        "13800000000",
        "一楼进水",
        "楼栋级",
        "还剩2分10秒",
        "/a/TOKEN",
    ):
        assert fact in text, fact
    spoken = voice_text(content, T0 + timedelta(seconds=200))
    assert "胜利街12号" in spoken and "已超时20秒" in spoken and "请按1" in spoken
