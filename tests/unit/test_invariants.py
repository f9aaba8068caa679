"""The safety checker finds each kind of violation in a hand-written history (and no false alarm)."""

from __future__ import annotations

from datetime import timedelta

from events import codec, subjects
from events.models import (
    CallCancelled,
    CallEvent,
    CallJoined,
    CallMerged,
    ContactShared,
    DeadlineMissed,
    DispatchAccepted,
    DispatchTimedOut,
    EscalationRaised,
    NotificationSent,
    ResponderAssigned,
)
from services.domain.invariants import Limits, Record, check_records
from tests.factories import T0, raised

QUIET = Limits(slack_s=5, notifications=False)


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def page(call_id: str, person: str, seconds: float, by: str | None = None, level: str = "building"):
    return ResponderAssigned(
        event_id=f"{call_id}-page-{person}-{seconds}",
        call_id=call_id,
        at=at(seconds),
        responder_id=person,
        name=person,
        level=level,
        dispatch_id=f"{call_id}-d-{person}-{seconds}",
        ack_timeout_s=30,
        by=by,
    )


def records(*events: CallEvent, subject_of=None) -> list[Record]:
    return [
        Record(seq, (subject_of or {}).get(seq) or subjects.call_subject(e.call_id, e.type), codec.encode(e))
        for seq, e in enumerate(events, start=1)
    ]


def invariants(events, now_s: float, limits: Limits = QUIET, **kwargs) -> list[str]:
    report = check_records(records(*events, **kwargs), at(now_s), limits)
    return sorted({v.invariant for v in report.violations})


def accepted(call_id: str, person: str, seconds: float):
    return DispatchAccepted(
        event_id=f"{call_id}-acc-{person}",
        call_id=call_id,
        at=at(seconds),
        responder_id=person,
        dispatch_id="x",
    )


def contact(call_id: str, person: str, seconds: float):
    return ContactShared(
        event_id=f"{call_id}-c-{person}", call_id=call_id, at=at(seconds), responder_id=person, name=person
    )


def test_a_call_held_from_the_start_is_clean() -> None:
    history = [raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1), accepted("c1", "g1", 20)]
    history.append(
        DeadlineMissed(event_id="m", call_id="c1", at=at(600), stage="onsite", due_at=at(600), late_by_ms=0)
    )
    assert invariants(history, now_s=590) == []


def test_nobody_paged_after_a_timeout_is_a_gap() -> None:
    timed_out = DispatchTimedOut(event_id="t", call_id="c1", at=at(31), responder_id="g1", dispatch_id="d")
    assert invariants([raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1), timed_out], now_s=50) == [
        "no_paging_gap"
    ]
    assert (
        invariants([raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1), timed_out], now_s=33) == []
    )  # within the slack


def test_a_page_left_unanswered_past_its_ack_timeout_is_a_gap() -> None:
    assert invariants([raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1)], now_s=45) == [
        "no_paging_gap"
    ]


def test_a_level_jump_and_a_second_page_are_found() -> None:
    jump = EscalationRaised(
        event_id="e", call_id="c1", at=at(2), from_level="building", to_level="community", reason="exhausted"
    )
    found = invariants(
        [
            raised("c1"),
            page("c1", "g1", 1),
            contact("c1", "g1", 1),
            jump,
            page("c1", "g1", 3, level="community"),
        ],
        now_s=4,
    )
    assert found == ["one_step", "paged_once"]
    by_hand = [raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1), page("c1", "g1", 3, by="s1")]
    assert invariants(by_hand, now_s=4) == []


def test_a_deadline_that_never_fired_and_one_fired_twice_are_found() -> None:
    held = [raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1), accepted("c1", "g1", 2)]
    assert invariants(held, now_s=620) == ["one_outcome"]  # onsite due at 600, never recorded
    missed = [
        DeadlineMissed(
            event_id=f"m{n}", call_id="c1", at=at(600 + n), stage="onsite", due_at=at(600), late_by_ms=n
        )
        for n in (0, 1)
    ]
    assert invariants(held + missed, now_s=620) == ["one_outcome"]
    assert invariants(held + missed[:1], now_s=620) == []


def test_a_forged_event_is_refused() -> None:
    forged = CallCancelled(event_id="f", call_id="c1", at=at(2), by="caller")
    history = [raised("c1"), page("c1", "g1", 1), forged]
    assert invariants(history, now_s=3, subject_of={3: "calls.c1.ContactShared"}) == ["subject_agrees"]
    assert invariants(history, now_s=3, subject_of={3: "calls.c2.CallCancelled"}) == ["subject_agrees"]


def test_a_merged_call_left_behind_by_a_cancelled_call_is_found() -> None:
    history = [
        raised("c1"),
        page("c1", "g1", 1),
        contact("c1", "g1", 1),
        raised("c2", at=at(2), kind="fire"),
        CallJoined(event_id="j", call_id="c1", at=at(2), joined_call_id="c2", kind="fire"),
        CallMerged(event_id="mg", call_id="c2", at=at(2), into_call_id="c1"),
        CallCancelled(event_id="x", call_id="c1", at=at(3), by="caller"),
    ]
    assert invariants(history, now_s=4) == []  # within the slack
    assert invariants(history, now_s=20) == ["own_close"]


def test_nothing_is_paged_after_a_close() -> None:
    history = [
        raised("c1"),
        page("c1", "g1", 1),
        contact("c1", "g1", 1),
        CallCancelled(event_id="x", call_id="c1", at=at(3), by="caller"),
    ]
    assert invariants([*history, page("c1", "g2", 4)], now_s=5) == ["nothing_after_close"]


def test_every_page_is_delivered_or_dead_lettered() -> None:
    limits = Limits(slack_s=5, delivery_slack_s=30)
    history = [raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1), accepted("c1", "g1", 2)]
    assert invariants(history, now_s=40, limits=limits) == ["page_delivered"]
    sent = NotificationSent(
        event_id="n",
        call_id="c1",
        at=at(1.5),
        responder_id="g1",
        dispatch_id=history[1].dispatch_id,
        method="sms",
    )
    assert invariants([*history, sent], now_s=40, limits=limits) == []


def test_going_away_while_paged_must_decline() -> None:
    report = check_records(
        records(raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1)),
        at(20),
        Limits(slack_s=5, notifications=False),
        {"g1": [(at(5), True)]},
    )
    assert [v.invariant for v in report.violations] == ["away_declined"]


def test_away_and_back_before_the_slack_is_no_violation_but_staying_away_is() -> None:
    history = records(raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 1))
    quiet = Limits(slack_s=5, notifications=False)
    back_soon = {"g1": [(at(5), True), (at(6), False)]}
    assert check_records(history, at(20), quiet, back_soon).violations == []
    back_late = {"g1": [(at(5), True), (at(15), False)]}
    assert [v.invariant for v in check_records(history, at(20), quiet, back_late).violations] == [
        "away_declined"
    ]


def test_a_page_whose_contact_was_never_shown_is_found() -> None:
    """A crash between a page's two appends: paged, but the caller never shown whom to contact."""
    assert invariants([raised("c1"), page("c1", "g1", 1)], now_s=5) == []  # within the slack
    assert invariants([raised("c1"), page("c1", "g1", 1)], now_s=20) == ["contact_shared"]
    mended = [raised("c1"), page("c1", "g1", 1), contact("c1", "g1", 4)]
    assert invariants(mended, now_s=20) == []
