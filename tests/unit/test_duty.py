"""Duty rotation, overrides and availability: pure, at the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.models import AvailabilityChanged, DutyOverrideSet
from services.domain.duty import DutyBook, community_order, on_duty
from services.domain.roster import Community, Person, Rotation

START = datetime(2026, 1, 1, tzinfo=UTC)
PEOPLE = tuple(Person(id=f"c{i}", name=f"官{i}", phone=f"1{i}") for i in (1, 2, 3))
DESK = Community(id="jsb", name="精神堡", duty=PEOPLE, rotation=Rotation(start=START, shift_hours=24))


def override(person: str, start: datetime, end: datetime) -> DutyOverrideSet:
    return DutyOverrideSet(
        event_id=f"o-{person}-{start}", at=START, person_id=person, starts=start, ends=end, by="s1"
    )


def test_rotation_takes_turns_in_list_order_from_start() -> None:
    assert on_duty(DESK, (), START).on_duty == PEOPLE[0]
    assert on_duty(DESK, (), START + timedelta(days=1)).on_duty == PEOPLE[1]
    assert on_duty(DESK, (), START + timedelta(days=3, hours=5)).on_duty == PEOPLE[0]


def test_handover_instant_belongs_to_the_next_shift() -> None:
    just_before = on_duty(DESK, (), START + timedelta(days=1) - timedelta(microseconds=1))
    assert just_before.on_duty == PEOPLE[0] and just_before.next == PEOPLE[1]
    assert just_before.handover_at == START + timedelta(days=1)
    at_handover = on_duty(DESK, (), START + timedelta(days=1))
    assert at_handover.on_duty == PEOPLE[1] and at_handover.handover_at == START + timedelta(days=2)


def test_utc_math_ignores_local_daylight_saving() -> None:
    # 2026-03-29 is a DST change in Europe; the rotation counts real hours in UTC.
    day = START + timedelta(days=87)
    assert on_duty(DESK, (), day).handover_at == day + timedelta(days=1)


def test_override_wins_over_the_rotation_and_hands_back() -> None:
    cover = override("c3", START + timedelta(hours=2), START + timedelta(hours=6))
    during = on_duty(DESK, (cover,), START + timedelta(hours=3))
    assert during.on_duty == PEOPLE[2] and during.by_override and during.handover_at == cover.ends
    assert during.next == PEOPLE[0]
    before = on_duty(DESK, (cover,), START + timedelta(hours=1))
    assert before.next == PEOPLE[2] and before.handover_at == cover.starts
    assert on_duty(DESK, (cover,), START + timedelta(hours=6)).on_duty == PEOPLE[0]


def test_community_paging_order_puts_the_officer_on_duty_first() -> None:
    order = community_order(DESK, (), START + timedelta(days=1, hours=1))
    assert [p.id for p in order] == ["c2", "c1", "c3"]


def test_roster_reload_mid_shift_recomputes_from_the_new_list() -> None:
    reloaded = Community(id="jsb", name="精神堡", duty=(PEOPLE[2], PEOPLE[0]), rotation=DESK.rotation)
    assert on_duty(reloaded, (), START + timedelta(days=1, hours=12)).on_duty == PEOPLE[0]


def test_away_until_expires_without_anyone_acting() -> None:
    book = DutyBook().apply(
        AvailabilityChanged(
            event_id="a1",
            at=START,
            responder_id="g1",
            status="away",
            until=START + timedelta(hours=1),
            by="g1",
        )
    )
    assert book.status("g1", START + timedelta(minutes=59), frozenset()) == "away"
    assert book.status("g1", START + timedelta(hours=1), frozenset()) == "available"
    assert book.status("g1", START + timedelta(hours=1), frozenset({"g1"})) == "busy"


def test_an_override_stored_up_to_the_end_of_the_calendar_does_not_break_the_desk() -> None:
    # Stored before the intake bounded desk times (issue 16): the desk and paging must still work.
    forever = override("c3", START, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    desk = on_duty(DESK, (forever,), START + timedelta(hours=1))
    assert desk.on_duty == PEOPLE[2] and desk.by_override
    assert community_order(DESK, (forever,), START + timedelta(hours=1))[0] == PEOPLE[2]
