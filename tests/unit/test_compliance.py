"""The compliance report on a hand-built history with known answers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from events.models import (
    STAGES,
    CallCancelled,
    CallEvent,
    CallMerged,
    CallResolved,
    ContactShared,
    DeadlineMissed,
    DispatchAccepted,
    EscalationRaised,
    ResponderArrived,
    ResponderAssigned,
)
from events.reports import report_csv
from services.audit.compliance import parse_utc_offset, percentile, report
from services.audit.projections import AuditState, apply
from services.audit.summaries import points, responder_stats
from tests.factories import T0, raised


def at(seconds: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(seconds=seconds)


def history() -> list[CallEvent]:
    n = iter(range(1, 1000))
    e = lambda: f"e{next(n)}"  # noqa: E731
    events: list[CallEvent] = []
    # c1: perfect: contact 10 s, reach 60 s, onsite 300 s.
    events += [
        raised("c1", district_id="d1"),
        ResponderAssigned(
            event_id=e(),
            call_id="c1",
            at=at(10),
            responder_id="g1",
            name="g1",
            level="building",
            dispatch_id="d1",
            ack_timeout_s=45,
        ),
        ContactShared(event_id=e(), call_id="c1", at=at(10), responder_id="g1", name="g1"),
        DispatchAccepted(event_id=e(), call_id="c1", at=at(60), responder_id="g1", dispatch_id="d1"),
        ResponderArrived(event_id=e(), call_id="c1", at=at(300), responder_id="g1"),
        CallResolved(event_id=e(), call_id="c1", at=at(400), by="g1"),
    ]
    # c2: contact 30 s, reach missed (accepted at 200 s, late), resolved without arrival -> onsite missed.
    events += [
        raised("c2", district_id="d1"),
        ResponderAssigned(
            event_id=e(),
            call_id="c2",
            at=at(30),
            responder_id="g2",
            name="g2",
            level="building",
            dispatch_id="d2",
            ack_timeout_s=45,
        ),
        ContactShared(event_id=e(), call_id="c2", at=at(30), responder_id="g2", name="g2"),
        DeadlineMissed(event_id=e(), call_id="c2", at=at(180), stage="reach", due_at=at(180), late_by_ms=0),
        EscalationRaised(
            event_id=e(),
            call_id="c2",
            at=at(180),
            from_level="building",
            to_level="district",
            reason="deadline",
        ),
        DispatchAccepted(event_id=e(), call_id="c2", at=at(200), responder_id="g2", dispatch_id="d2"),
        CallResolved(event_id=e(), call_id="c2", at=at(500), by="s1"),
    ]
    # c3: a drill (left out by default); c4 merged into c1; c5 cancelled; c6 false alarm.
    events += [
        raised("c3", drill=True),
        ContactShared(event_id=e(), call_id="c3", at=at(5), responder_id="g1", name="g1"),
    ]
    events += [
        raised("c4", district_id="d1"),
        CallMerged(event_id=e(), call_id="c4", at=at(1), into_call_id="c1"),
    ]
    events += [
        raised("c5", district_id="d2"),
        CallCancelled(event_id=e(), call_id="c5", at=at(20), by="caller"),
    ]
    events += [
        raised("c6", district_id="d2"),
        CallResolved(event_id=e(), call_id="c6", at=at(50), by="s1", outcome="false_alarm"),
    ]
    return events


def folded() -> AuditState:
    state = AuditState()
    for seq, event in enumerate(history(), start=1):
        apply(state, seq, event)
    return state


def test_met_missed_and_the_calls_counted_apart() -> None:
    body = report(folded().calls.values(), now=at(10_000))
    assert (body["calls"], body["cancelled"], body["false_alarms"], body["merged"], body["drills"]) == (
        2,
        1,
        1,
        1,
        0,
    )
    contact, reach, onsite = (body["stages"][s] for s in ("contact", "reach", "onsite"))
    assert (contact["met"], contact["missed"], contact["percent_within_target"]) == (2, 0, 100.0)
    assert (reach["met"], reach["missed"], reach["percent_within_target"]) == (1, 1, 50.0)
    # c2 was resolved without anyone arriving: that is a missed onsite, not a met one.
    assert (onsite["met"], onsite["missed"]) == (1, 1)
    assert (contact["p50_s"], contact["p90_s"], contact["max_s"]) == (20.0, 28.0, 30.0)
    assert reach["p50_s"] == 130.0 and onsite["max_s"] == 300.0


def test_drills_only_when_asked() -> None:
    body = report(folded().calls.values(), now=at(10_000), include_drills=True)
    assert body["calls"] == 3 and body["drills"] == 1
    assert body["stages"]["contact"]["met"] == 3


def test_grouped_by_district_and_level_and_period() -> None:
    calls = folded().calls.values()
    by_district = report(calls, now=at(10_000), group_by="district")["groups"]
    assert set(by_district) == {"d1"} and by_district["d1"]["calls"] == 2
    by_level = report(calls, now=at(10_000), group_by="level")["groups"]
    assert {k: v["calls"] for k, v in by_level.items()} == {"building": 1, "district": 1}
    by_day = report(calls, now=at(10_000), group_by="day")["groups"]
    assert list(by_day) == ["2026-06-27"]


def test_periods_follow_the_communitys_local_day() -> None:
    state = AuditState()
    late_evening_utc = T0.replace(hour=20, minute=30)  # 04:30 the next morning in UTC+8
    apply(state, 1, raised("c1", at=late_evening_utc))
    utc = report(state.calls.values(), now=at(10_000), group_by="day")["groups"]
    local = report(
        state.calls.values(), now=at(10_000), group_by="day", utc_offset=parse_utc_offset("+08:00")
    )["groups"]
    assert list(utc) == ["2026-06-27"] and list(local) == ["2026-06-28"]
    assert parse_utc_offset("-05:30").total_seconds() == -(5 * 3600 + 1800)
    with pytest.raises(ValueError, match="tz"):
        parse_utc_offset("8")


def test_csv_lists_the_calls_counted_apart() -> None:
    rows = report_csv(report(folded().calls.values(), now=at(10_000))).splitlines()
    apart = {row.split(",")[1]: row.split(",")[2] for row in rows[1:5]}
    assert set(apart) == {"cancelled", "false_alarms", "merged", "drills"}


def test_open_call_not_yet_due_is_pending_and_overdue_is_missed() -> None:
    state = AuditState()
    apply(state, 1, raised("c9"))
    early = report(state.calls.values(), now=at(30))["stages"]["contact"]
    assert (early["pending"], early["missed"]) == (1, 0)
    late = report(state.calls.values(), now=at(61))["stages"]["contact"]
    assert (late["pending"], late["missed"]) == (0, 1)


def test_redelivered_event_changes_nothing() -> None:
    state = folded()
    before = report(state.calls.values(), now=at(10_000))
    apply(state, 3, history()[2])
    assert report(state.calls.values(), now=at(10_000)) == before


def test_responder_stats_and_points() -> None:
    state = folded()
    g1 = next(r for r in responder_stats(state) if r["id"] == "g1")
    assert (g1["received"], g1["accepted"], g1["arrived"], g1["median_accept_s"], g1["median_arrive_s"]) == (
        1,
        1,
        1,
        50.0,
        290.0,
    )
    ledger = points(state)
    assert {(r["person_id"], r["points"]) for r in ledger["quarterly"]} == {("g1", 5), ("g2", 1)}


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5 and percentile([], 0.5) is None


def test_csv_has_a_row_per_group_and_stage() -> None:
    text = report_csv(report(folded().calls.values(), now=at(10_000), group_by="district"))
    assert text.splitlines()[0].startswith("group,stage,calls,met,missed")
    assert len(text.splitlines()) == 1 + 4 + 3 + 3  # header, counted apart, all, one district


def desk_history() -> list[CallEvent]:
    """k1: the desk (s1) confirmed reach, the responder their own arrival. k2: own accept, then a
    second accept by the desk (not the milestone), arrival confirmed late by the officer on duty
    (c3). k3: cancelled after a desk accept (counted apart, not judged)."""
    return [
        raised("k1", district_id="d1"),
        DispatchAccepted(
            event_id="k1a", call_id="k1", at=at(60), responder_id="g1", dispatch_id="x1", by="s1"
        ),
        ResponderArrived(event_id="k1b", call_id="k1", at=at(300), responder_id="g1"),
        raised("k2", district_id="d2"),
        DispatchAccepted(event_id="k2a", call_id="k2", at=at(90), responder_id="g2", dispatch_id="x2"),
        DispatchAccepted(
            event_id="k2b", call_id="k2", at=at(95), responder_id="g3", dispatch_id="x3", by="s1"
        ),
        ResponderArrived(event_id="k2c", call_id="k2", at=at(700), responder_id="g2", by="c3"),
        raised("k3", district_id="d1"),
        DispatchAccepted(
            event_id="k3a", call_id="k3", at=at(50), responder_id="g1", dispatch_id="x4", by="s1"
        ),
        CallCancelled(event_id="k3b", call_id="k3", at=at(70), by="caller"),
    ]


def test_milestones_the_desk_confirmed_are_counted_apart() -> None:
    state = AuditState()
    for seq, event in enumerate(desk_history(), start=1):
        apply(state, seq, event)
    body = report(state.calls.values(), now=at(10_000), group_by="district")
    counts = {stage: s["desk_confirmed"] for stage, s in body["stages"].items()}
    assert counts == {"contact": 0, "reach": 1, "onsite": 1}
    # Desk-confirmed milestones still count as met or missed by their time, like any other.
    assert (body["stages"]["reach"]["met"], body["stages"]["onsite"]["missed"]) == (2, 1)
    per_district = {
        key: (g["stages"]["reach"]["desk_confirmed"], g["stages"]["onsite"]["desk_confirmed"])
        for key, g in body["groups"].items()
    }
    assert per_district == {"d1": (1, 0), "d2": (0, 1)}
    rows = list(csv.DictReader(io.StringIO(report_csv(body))))
    by_row = {(r["group"], r["stage"]): r["desk_confirmed"] for r in rows if r["stage"] in STAGES}
    assert by_row[("all", "reach")] == "1" and by_row[("all", "onsite")] == "1"
    assert by_row[("d1", "onsite")] == "0" and by_row[("d2", "onsite")] == "1"
    # The folded facts (the replay digest) carry it too.
    assert state.calls["k2"].to_json()["desk_confirmed"] == ["onsite"]


def test_grouped_by_community_and_a_community_supervisors_report_holds_its_calls_only() -> None:
    state = AuditState()
    calls = (("x1", "xf"), ("x2", "xf"), ("g1", "gy"), ("old", None))
    for seq, (call_id, community) in enumerate(calls, start=1):
        apply(state, seq, raised(call_id, community_id=community))
    by_community = report(state.calls.values(), now=at(10_000), group_by="community")["groups"]
    assert {k: v["calls"] for k, v in by_community.items()} == {"xf": 2, "gy": 1, "(unknown)": 1}
    gy_only = report(state.calls.values(), now=at(10_000), group_by="community", communities={"gy"})
    assert gy_only["calls"] == 1 and list(gy_only["groups"]) == ["gy"]
