"""Who to page: the dispatcher's pure plan over (call state, roster, availability)."""

from __future__ import annotations

from datetime import timedelta

from events import commands as c
from events.models import CallResolved
from services.dispatcher.building_calls import BuildingCalls
from services.dispatcher.domain import Availability, could_page, duplicate_of, plan
from services.domain.aggregate import CallState, decide, evolve, fold
from services.domain.ids import SequentialIds
from services.domain.roster import load_roster_file
from tests.factories import T0, raised

ROSTER = load_roster_file(None)
IDS = SequentialIds()


def run(state: CallState, commands: list[c.Command]) -> CallState:
    for command in commands:
        for event in decide(state, command, T0 + timedelta(seconds=1), IDS):
            state = evolve(state, event)
    return state


def paged(commands: list[c.Command]) -> list[str]:
    return [cmd.responder_id for cmd in commands if isinstance(cmd, c.AssignResponder)]


def test_building_pages_members_then_backups_one_at_a_time() -> None:
    state = fold("c1", [raised("c1", building_id="b12")])
    first = plan(state, ROSTER, 45)
    assert paged(first) == ["g1"]
    state = run(state, first)
    assert plan(state, ROSTER, 45) == []  # waiting on g1
    state = run(state, [c.Decline(call_id="c1", responder_id="g1")])
    state = run(state, plan(state, ROSTER, 45))
    state = run(state, [c.TimeOutDispatch(call_id="c1", dispatch_id=state.assignments["g2"].dispatch_id)])
    assert paged(plan(state, ROSTER, 45)) == ["v1"]


def test_exhausted_building_escalates_and_district_pages_everyone_at_once() -> None:
    state = fold("c1", [raised("c1", building_id="b14")])
    for person in ("g3", "v2"):
        state = run(state, plan(state, ROSTER, 45))
        state = run(state, [c.Decline(call_id="c1", responder_id=person)])
    (escalate,) = plan(state, ROSTER, 45)
    assert isinstance(escalate, c.Escalate) and escalate.reason == "exhausted"
    state = run(state, [escalate])
    assert state.level == "district"
    assert paged(plan(state, ROSTER, 45)) == ["p1", "p2", "p3"]


def test_away_people_are_skipped_and_busy_ones_paged_last() -> None:
    state = fold("c1", [raised("c1", building_id="b12")])
    assert paged(plan(state, ROSTER, 45, Availability(away=frozenset({"g1"})))) == ["g2"]
    assert paged(plan(state, ROSTER, 45, Availability(busy=frozenset({"g1"})))) == ["g2"]


def test_everyone_away_escalates_at_once_with_no_one_available() -> None:
    state = fold("c1", [raised("c1", building_id="b12")])
    (escalate,) = plan(state, ROSTER, 45, Availability(away=frozenset({"g1", "g2", "v1"})))
    assert isinstance(escalate, c.Escalate) and escalate.reason == "no_one_available"


def test_someone_engaged_stops_further_paging() -> None:
    state = fold("c1", [raised("c1", building_id="b12")])
    state = run(state, plan(state, ROSTER, 45))
    state = run(state, [c.Accept(call_id="c1", responder_id="g1")])
    assert plan(state, ROSTER, 45) == []


def test_fire_pages_the_professional_level_at_once_and_dispute_the_mediation_team() -> None:
    fire = fold("c1", [raised("c1", building_id="b12", kind="fire")])
    assert paged(plan(fire, ROSTER, 45)) == ["g1", "r1", "r2"]
    dispute = fold("c2", [raised("c2", building_id="b12", kind="dispute")])
    assert paged(plan(dispute, ROSTER, 45)) == ["g1", "t1"]
    # Away is away at every level: a rescue team off duty and an away mediator are not paged.
    away = Availability(away=frozenset({"r1", "t1"}))
    assert paged(plan(fire, ROSTER, 45, away)) == ["g1", "r2"]
    assert paged(plan(dispute, ROSTER, 45, away)) == ["g1"]


def test_device_calls_page_the_paired_caretakers_first() -> None:
    state = fold("c1", [raised("c1", building_id="b12", source="device", device_id="bracelet-7")])
    assert paged(plan(state, ROSTER, 45)) == ["v7"]


def test_duplicate_within_the_window_same_building_same_drill_flag() -> None:
    state = fold("c2", [raised("c2", at=T0 + timedelta(seconds=30), building_id="b12")])
    open_calls = {"b12": [("c1", T0, False)]}
    assert duplicate_of(state, open_calls, 300) == "c1"
    assert duplicate_of(state, open_calls, 10) is None
    assert duplicate_of(state, {"b12": [("c1", T0, True)]}, 300) is None


def test_duplicates_follow_stream_order_and_a_closed_call_takes_no_more() -> None:
    buildings = BuildingCalls(window_s=300)
    a = raised("a", building_id="b12")
    assert buildings.observe(a) is None  # the first call of the building stands alone
    assert buildings.observe(raised("b", at=T0 + timedelta(seconds=5), building_id="b12")) == "a"
    assert buildings.observe(raised("x", at=T0 + timedelta(seconds=6), building_id="b14")) is None
    buildings.observe(CallResolved(event_id="r", call_id="a", at=T0 + timedelta(seconds=9), by="s1"))
    # A new emergency after the first was resolved is a call of its own, not merged into it.
    assert buildings.observe(raised("c", at=T0 + timedelta(seconds=10), building_id="b12")) is None
    buildings.observe(a)  # a late redelivery of the closed call does not reopen it
    assert not buildings.is_open("a") and buildings.is_open("c")
    assert buildings.observe(raised("d", at=T0 + timedelta(seconds=11), building_id="b12")) == "c"


def test_a_neighbour_stored_second_but_stamped_first_is_still_a_duplicate() -> None:
    """Intake stamps a call when the tap arrives and stores it a moment later: of two taps
    handled at once, the one stored second may carry the earlier time. Stream order decides
    which is the primary; the time only decides whether they are close enough."""
    buildings = BuildingCalls(window_s=300)
    assert (
        buildings.observe(raised("first-stored", at=T0 + timedelta(milliseconds=40), building_id="b12"))
        is None
    )
    assert buildings.observe(raised("second-stored", at=T0, building_id="b12")) == "first-stored"
    assert buildings.observe(raised("long-before", at=T0 - timedelta(seconds=400), building_id="b12")) is None


def test_the_call_keeps_the_policy_it_was_raised_under() -> None:
    from services.domain.roster import EscalationPolicy, LevelPolicy

    state = fold("c1", [raised("c1", building_id="b12", kind="fire")])
    old = EscalationPolicy(
        version="v1", levels=(LevelPolicy(level="building", ack_timeout_s=20),), skip_to_professional=()
    )
    commands = plan(state, ROSTER, 45, policy=old)
    assert paged(commands) == ["g1"]  # v1 did not send fire straight to the professionals
    assert commands[0].ack_timeout_s == 20  # type: ignore[attr-defined]


def test_someone_back_is_looked_at_only_for_calls_they_could_serve() -> None:
    at_b12 = fold("c1", [raised("c1", building_id="b12", district_id="d1")])
    assert could_page(at_b12, ROSTER, "g1")  # the building's grid member
    assert could_page(at_b12, ROSTER, "r1")  # professionals: fire and medical page them at once
    assert not could_page(at_b12, ROSTER, "p4")  # another district's secretary
    assert not could_page(at_b12, ROSTER, "g4")  # another building's grid member
