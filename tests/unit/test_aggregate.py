"""The pure call aggregate: decide/evolve, and a property test over any command sequence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import commands as c
from events.models import STAGES
from services.domain.aggregate import (
    ENGAGED,
    CallNotFound,
    CallState,
    DomainError,
    InvalidTransition,
    NotDispatchedToYou,
    decide,
    evolve,
    fold,
)
from services.domain.ids import SequentialIds
from tests.factories import T0, raised

IDS = SequentialIds()


def opened(call_id: str = "c1") -> CallState:
    return fold(call_id, [raised(call_id)])


def apply(state: CallState, command: c.Command, seconds: float = 1.0) -> CallState:
    for event in decide(state, command, T0 + timedelta(seconds=seconds), IDS):
        state = evolve(state, event)
    return state


def assign(call_id: str, person: str, level: str = "building") -> c.AssignResponder:
    return c.AssignResponder(
        call_id=call_id,
        responder_id=person,
        responder_name=person,
        level=level,
        dispatch_id=f"d-{person}",
        ack_timeout_s=45,
    )


def test_first_assignment_shares_the_contact_and_meets_contact() -> None:
    state = apply(opened(), assign("c1", "g1"))
    assert state.contact is not None and state.contact.responder_id == "g1"
    assert state.met["contact"] == T0 + timedelta(seconds=1)


def test_contact_moves_to_the_next_person_when_the_first_declines() -> None:
    state = apply(opened(), assign("c1", "g1"))
    state = apply(state, c.Decline(call_id="c1", responder_id="g1"))
    events = decide(state, assign("c1", "g2"), T0, IDS)
    assert [e.type for e in events] == ["ResponderAssigned", "ContactShared"]


def test_acting_on_someone_elses_dispatch_is_forbidden() -> None:
    state = apply(opened(), assign("c1", "g1"))
    with pytest.raises(NotDispatchedToYou):
        decide(state, c.Accept(call_id="c1", responder_id="g2"), T0, IDS)


def test_arrive_before_accept_is_an_invalid_transition() -> None:
    state = apply(opened(), assign("c1", "g1"))
    with pytest.raises(InvalidTransition):
        decide(state, c.Arrive(call_id="c1", responder_id="g1"), T0, IDS)


def test_nothing_happens_after_resolve() -> None:
    state = apply(opened(), assign("c1", "g1"))
    state = apply(state, c.Accept(call_id="c1", responder_id="g1"))
    state = apply(state, c.Resolve(call_id="c1", by="g1"))
    for command in (
        c.Arrive(call_id="c1", responder_id="g1"),
        c.Cancel(call_id="c1", by="x"),
        assign("c1", "g2"),
    ):
        with pytest.raises(InvalidTransition):
            decide(state, command, T0, IDS)


def test_unknown_call_is_not_found() -> None:
    with pytest.raises(CallNotFound):
        decide(CallState("nope"), c.Accept(call_id="nope", responder_id="g1"), T0, IDS)


def test_deadline_missed_only_when_due_and_unmet_and_escalates_once() -> None:
    state = opened()
    assert decide(state, c.MissDeadline(call_id="c1", stage="reach"), T0 + timedelta(seconds=179), IDS) == []
    events = decide(state, c.MissDeadline(call_id="c1", stage="reach"), T0 + timedelta(seconds=180.25), IDS)
    assert [e.type for e in events] == ["DeadlineMissed", "EscalationRaised"]
    assert events[0].late_by_ms == 250.0
    assert (events[1].from_level, events[1].to_level) == ("building", "district")
    for event in events:
        state = evolve(state, event)
    assert decide(state, c.MissDeadline(call_id="c1", stage="reach"), T0 + timedelta(seconds=200), IDS) == []


def test_met_stage_never_misses() -> None:
    state = apply(opened(), assign("c1", "g1"))
    assert (
        decide(state, c.MissDeadline(call_id="c1", stage="contact"), T0 + timedelta(seconds=999), IDS) == []
    )


def test_escalation_climbs_one_level_at_a_time() -> None:
    """Levels never jump: a level with nobody to page escalates again, with its own event."""
    state = opened()
    climbed = []
    for _ in range(3):
        (event,) = decide(state, c.Escalate(call_id="c1", reason="no_one_available"), T0, IDS)
        climbed.append((event.from_level, event.to_level))
        state = evolve(state, event)
    assert climbed == [("building", "district"), ("district", "community"), ("community", "professional")]


def test_a_repeated_escalation_from_the_same_level_climbs_once() -> None:
    command = c.Escalate(call_id="c1", reason="manual", from_level="building")
    state = apply(opened(), command)
    assert state.level == "district"
    assert decide(state, command, T0, IDS) == []  # the double click
    onward = c.Escalate(call_id="c1", reason="manual", from_level="district")
    assert decide(state, onward, T0, IDS)[0].to_level == "community"


def test_escalation_at_the_top_is_refused() -> None:
    state = fold("c1", [raised("c1", level="professional")])
    with pytest.raises(InvalidTransition):
        decide(state, c.Escalate(call_id="c1", reason="manual"), T0, IDS)


def test_derived_ids_make_a_repeated_deadline_decision_identical() -> None:
    at = T0 + timedelta(seconds=61)
    first = decide(opened(), c.MissDeadline(call_id="c1", stage="contact"), at, IDS)
    second = decide(opened(), c.MissDeadline(call_id="c1", stage="contact"), at, IDS)
    assert [e.event_id for e in first] == [e.event_id for e in second]


PEOPLE = ["g1", "g2", "v1"]
commands = st.one_of(
    st.builds(lambda p: assign("c1", p), st.sampled_from(PEOPLE)),
    st.builds(lambda p: c.Accept(call_id="c1", responder_id=p), st.sampled_from(PEOPLE)),
    st.builds(lambda p: c.Decline(call_id="c1", responder_id=p), st.sampled_from(PEOPLE)),
    st.builds(lambda p: c.EnRoute(call_id="c1", responder_id=p), st.sampled_from(PEOPLE)),
    st.builds(lambda p: c.Arrive(call_id="c1", responder_id=p), st.sampled_from(PEOPLE)),
    st.builds(lambda p: c.Resolve(call_id="c1", by=p), st.sampled_from(PEOPLE)),
    st.just(c.Cancel(call_id="c1", by="caller")),
    st.builds(lambda p: c.TimeOutDispatch(call_id="c1", dispatch_id=f"d-{p}"), st.sampled_from(PEOPLE)),
    st.builds(lambda s: c.MissDeadline(call_id="c1", stage=s), st.sampled_from(STAGES)),
    st.just(c.Escalate(call_id="c1", reason="manual")),
    st.just(c.AddNote(call_id="c1", by="s1", text="note")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(commands, st.floats(0, 900)), max_size=25))
def test_no_command_sequence_reaches_an_impossible_state(steps: list[tuple[c.Command, float]]) -> None:
    state = opened()
    closed_events = None
    for command, offset in sorted(steps, key=lambda step: step[1]):
        try:
            events = decide(state, command, T0 + timedelta(seconds=offset), IDS)
        except DomainError:
            continue
        if closed_events is not None:
            assert events == [], f"{command} changed a closed call"
        for event in events:
            state = evolve(state, event)
        if not state.is_open and closed_events is None:
            closed_events = state.events
        # onsite never met without reach; reach never without contact
        if "onsite" in state.met:
            assert "reach" in state.met and state.met["reach"] <= state.met["onsite"]
        if "reach" in state.met:
            assert "contact" in state.met
        # a stage met after it was missed was met late, never before its due time
        assert state.raised is not None
        for stage in set(state.met) & set(state.missed):
            assert state.met[stage] >= state.raised.due.of(stage)
        # anyone engaged was assigned first
        for assignment in state.assignments.values():
            if assignment.status in ENGAGED:
                assert assignment.responder_id in PEOPLE
    assert closed_events is None or state.events == closed_events


def test_a_stage_met_late_while_the_clock_was_down_is_still_recorded_without_escalating() -> None:
    state = apply(opened(), assign("c1", "g1"), seconds=75)  # contact due at 60 s, shared at 75 s
    events = decide(state, c.MissDeadline(call_id="c1", stage="contact"), T0 + timedelta(seconds=76), IDS)
    assert [e.type for e in events] == ["DeadlineMissed"]
    state = evolve(state, events[0])
    assert decide(state, c.MissDeadline(call_id="c1", stage="contact"), T0 + timedelta(seconds=77), IDS) == []


def test_the_timers_of_a_call_include_a_stage_met_late_but_not_yet_recorded() -> None:
    from services.deadlines.domain import timers_for

    state = apply(opened(), assign("c1", "g1"), seconds=75)  # contact due at 60 s, met at 75 s
    assert ("stage", "contact") in {(t.kind, t.what) for t in timers_for(state)}
    on_time = apply(opened(), assign("c1", "g1"), seconds=5)
    assert ("stage", "contact") not in {(t.kind, t.what) for t in timers_for(on_time)}


def test_an_act_the_desk_records_for_a_responder_carries_by_and_the_responders_own_does_not() -> None:
    state = apply(apply(opened(), assign("c1", "g1")), assign("c1", "g2"))
    recorded: list[tuple[str, str, str | None]] = []
    for command in (
        c.Accept(call_id="c1", responder_id="g1", by="s1"),
        c.EnRoute(call_id="c1", responder_id="g1", by="s1"),
        c.Arrive(call_id="c1", responder_id="g1", by="s1"),
        c.Decline(call_id="c1", responder_id="g2", by="c3"),
    ):
        events = decide(state, command, T0 + timedelta(seconds=2), IDS)
        recorded += [(e.type, e.responder_id, e.by) for e in events]  # type: ignore[attr-defined]
        for event in events:
            state = evolve(state, event)
    assert recorded == [
        ("DispatchAccepted", "g1", "s1"),
        ("ResponderEnRoute", "g1", "s1"),
        ("ResponderArrived", "g1", "s1"),
        ("DispatchDeclined", "g2", "c3"),
    ]
    own = decide(opened(), assign("c1", "g3"), T0, IDS)
    state = fold("c1", [raised("c1"), *own])
    accepted = decide(state, c.Accept(call_id="c1", responder_id="g3"), T0, IDS)
    assert [getattr(e, "by", "missing") for e in accepted] == [None]
