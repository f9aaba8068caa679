"""A county's figures per community: compliance, responder figures and points read through
the roster, a call stored before counties counted under its building's community (issue 21)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.models import CallEvent, CallResolved, DispatchAccepted, ResponderArrived, ResponderAssigned
from events.reports import points_csv
from services.audit.projections import AuditState, apply
from services.audit.queries import answer
from services.domain.roster import DEMO_ROSTER, load_roster_file
from tests.factories import T0, raised

COUNTY = load_roster_file(DEMO_ROSTER.with_name("demo_county.yaml"))
KNOWN = COUNTY.known_community


def handled(call_id: str, person: str, **where: object) -> list[CallEvent]:
    """A call at ``where``: ``person`` paged, accepts, arrives and resolves it (5 points)."""
    return [
        raised(call_id, **where),
        ResponderAssigned(
            event_id=f"{call_id}-1",
            call_id=call_id,
            at=T0 + timedelta(seconds=5),
            responder_id=person,
            name=person,
            level="building",
            dispatch_id=f"{call_id}-d",
            ack_timeout_s=45,
        ),
        DispatchAccepted(
            event_id=f"{call_id}-2",
            call_id=call_id,
            at=T0 + timedelta(seconds=20),
            responder_id=person,
            dispatch_id=f"{call_id}-d",
        ),
        ResponderArrived(
            event_id=f"{call_id}-3", call_id=call_id, at=T0 + timedelta(seconds=300), responder_id=person
        ),
        CallResolved(event_id=f"{call_id}-4", call_id=call_id, at=T0 + timedelta(seconds=400), by=person),
    ]


def county_state() -> AuditState:
    state = AuditState()
    events = [
        *handled("xf-new", "gx1", building_id="xf-b1", district_id="xf-d1", community_id="xf"),
        *handled("gy-new", "gy1", building_id="gy-b1", district_id="gy-d1", community_id="gy"),
        # Raised before the county roster existed: no community on the call.
        *handled("gy-old", "gy1", building_id="gy-b1", district_id=None),
        *handled("lost-old", "r1", building_id="gone-b9", district_id=None),
        # The county's rescue team, paged on an xf call.
        *handled("xf-r1", "r1", building_id="xf-b1", district_id="xf-d1", community_id="xf"),
    ]
    for seq, event in enumerate(events, start=1):
        apply(state, seq, event)
    return state


def ask(name: str, **params: object) -> Any:
    return answer(county_state(), name, params, T0 + timedelta(hours=1), KNOWN)


def test_an_old_call_counts_under_its_buildings_community_in_the_report() -> None:
    body = ask("report", group_by="community")
    assert {key: group["calls"] for key, group in body["groups"].items()} == {
        "xf": 2,
        "gy": 2,  # the new call and the one stored before counties
        "(unknown)": 1,  # a building this roster does not know
    }
    assert ask("report", communities=["gy"])["calls"] == 2


def test_points_say_their_community_and_a_community_gets_its_own_only() -> None:
    everyone = ask("points")
    assert {(r["person_id"], r["community_id"], r["points"]) for r in everyone["quarterly"]} == {
        ("gx1", "xf", 5),
        ("gy1", "gy", 10),  # 5 on the new call + 5 on the old one
        ("r1", "xf", 5),
        ("r1", None, 5),
    }
    gy = ask("points", communities=["gy"])
    assert {(r["person_id"], r["points"]) for r in gy["quarterly"]} == {("gy1", 10)}
    assert {e["call_id"] for e in gy["ledger"]} == {"gy-new", "gy-old"}
    xf = ask("points", communities=["xf"])
    assert {(r["person_id"], r["points"]) for r in xf["quarterly"]} == {("gx1", 5), ("r1", 5)}
    assert points_csv(xf).splitlines()[:2] == [
        "person_id,community_id,quarter,points",
        "gx1,xf,2026-Q2,5",
    ]


def test_responder_figures_are_per_person_and_community() -> None:
    rows = ask("responders")
    assert [(r["id"], r["community_id"], r["accepted"]) for r in rows] == [
        ("gx1", "xf", 1),
        ("gy1", "gy", 2),
        ("r1", None, 1),
        ("r1", "xf", 1),
    ]
    only_gy = ask("responders", communities=["gy"])
    assert [(r["id"], r["received"], r["median_accept_s"]) for r in only_gy] == [("gy1", 2, 15.0)]
