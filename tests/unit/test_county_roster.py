"""A county roster: communities with their own levels under a county desk, routed purely."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml

from events import commands as c
from services.dispatcher.domain import Availability, plan
from services.domain.aggregate import CallState, decide, evolve
from services.domain.ids import SequentialIds
from services.domain.roster import DEMO_ROSTER, RosterError, load_roster_file, parse_roster
from tests.factories import T0, raised

COUNTY_FILE = DEMO_ROSTER.with_name("demo_county.yaml")
COUNTY = load_roster_file(COUNTY_FILE)
KEY = b"k" * 32
IDS = SequentialIds()


def county_data() -> dict:
    data = yaml.safe_load(COUNTY_FILE.read_text())
    assert isinstance(data, dict)
    return data


def ids(people: list) -> list[str]:
    return [p.id for p in people]


def test_each_building_belongs_to_its_community_and_an_unknown_one_to_the_county_desk() -> None:
    assert COUNTY.is_county
    assert [c.id for c in COUNTY.served] == ["xf", "gy"]
    assert COUNTY.community_of("xf-b1").id == "xf"
    assert COUNTY.community_of("gy-b1").id == "gy"
    assert COUNTY.community_of("nowhere").id == "laifeng"
    assert COUNTY.community_of(None).id == "laifeng"


def test_a_calls_chain_is_its_communitys_levels_then_the_county_professionals() -> None:
    chain = {
        level: ids(COUNTY.candidates(level, "gy-b1", None))
        for level in ("building", "district", "community", "professional")
    }
    assert chain == {"building": ["gy1"], "district": ["py1"], "community": ["cy1"], "professional": ["r1"]}
    # A district-less look at the district level stays within the call's community.
    assert ids(COUNTY.candidates("district", None, None, community_id="xf")) == ["px1"]


def test_an_unknown_building_goes_to_the_county_desk_then_the_professionals() -> None:
    assert COUNTY.staffed_levels("nowhere", None, None, "laifeng") == ("community", "professional")
    assert ids(COUNTY.candidates("community", "nowhere", None, community_id="laifeng")) == ["k1"]
    assert ids(COUNTY.candidates("district", "nowhere", None, community_id="laifeng")) == []


def test_supervisors_are_scoped_to_their_community_county_ones_everywhere() -> None:
    assert COUNTY.supervisor_scopes == {"sx": frozenset({"xf"}), "sy": frozenset({"gy"}), "s0": None}
    assert COUNTY.supervisor_ids == {"sx", "sy", "s0"}
    assert COUNTY.level_of("cy1") == ("community", None, None)
    assert COUNTY.level_of("gx1") == ("building", "xf-d1", "xf-b1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["communities"][1]["districts"][0]["buildings"][0].update(id="xf-b1"),
            "duplicate building id(s): xf-b1",
        ),
        (lambda d: d["communities"][1]["districts"][0].update(id="xf-d1"), "duplicate district id(s): xf-d1"),
        (lambda d: d["communities"][1].update(id="xf"), "duplicate community id(s): xf"),
        (lambda d: d["communities"][1].update(id="laifeng"), "duplicate community id(s): laifeng"),
        (
            lambda d: d["communities"][1]["duty"][0].update(id="cx1"),
            "person id 'cx1' is used for two different people",
        ),
        (
            lambda d: d.update(districts=[{"id": "top", "name": "Top"}]),
            "lists its districts under each of its communities",
        ),
    ],
)
def test_ids_are_unique_across_the_county_and_errors_name_the_duplicate(change, message) -> None:  # type: ignore[no-untyped-def]
    data = county_data()
    change(data)
    with pytest.raises(RosterError, match=re.escape(message)):
        parse_roster(yaml.safe_dump(data, allow_unicode=True))


def test_a_county_without_its_own_desk_gets_an_empty_one() -> None:
    data = county_data()
    del data["county"]
    roster = parse_roster(yaml.safe_dump(data, allow_unicode=True))
    assert roster.desk.id == "county" and roster.desk.duty == ()
    assert roster.staffed_levels("nowhere", None, None, "county") == ("professional",)


def test_a_county_roster_is_sealed_stored_and_read_back_the_same() -> None:
    sealed = COUNTY.sealed(KEY)
    again = parse_roster(sealed.to_json(), "stored")
    assert again.version == sealed.version
    assert again.supervisor_scopes == COUNTY.supervisor_scopes
    assert again.community_of("gy-b1").id == "gy"


def test_a_single_community_roster_is_its_own_desk_and_serves_every_building() -> None:
    one = load_roster_file(None)
    assert not one.is_county and [c.id for c in one.served] == [one.community.id]
    assert one.community_of("b12").id == one.community_of("nowhere").id == one.community.id
    assert one.supervisor_scopes == {p.id: None for p in one.supervisors}


def _page_until_quiet(state: CallState, availability: Availability) -> list[str]:
    """Page level by level (nobody answers) and return everyone paged, in order."""
    order: list[str] = []
    for step in range(20):
        commands = plan(state, COUNTY, 30.0, availability)
        if not commands:
            # Everyone paged at this level timed out: the next plan escalates.
            timed_out = [a for a in state.assignments.values() if a.status == "paged"]
            if not timed_out:
                break
            for a in timed_out:
                state = _apply(
                    state, c.TimeOutDispatch(call_id=state.call_id, dispatch_id=a.dispatch_id), step
                )
            continue
        for command in commands:
            if isinstance(command, c.AssignResponder):
                order.append(command.responder_id)
            state = _apply(state, command, step)
    return order


def _apply(state: CallState, command: c.Command, step: int) -> CallState:
    for event in decide(state, command, T0 + timedelta(seconds=step + 1), IDS):
        state = evolve(state, event)
    return state


def test_plan_pages_the_calls_community_only_then_the_professionals() -> None:
    state = evolve(
        CallState("call-gy"),
        raised(
            "call-gy",
            building_id="gy-b1",
            district_id="gy-d1",
            community_id="gy",
            policy_version=COUNTY.escalation.version,
        ),
    )
    on_duty = Availability(on_duty="k1", on_duty_in={"gy": "cy1", "xf": "cx2"})
    assert _page_until_quiet(state, on_duty) == ["gy1", "py1", "cy1", "r1"]


def test_plan_pages_the_officer_on_duty_in_the_calls_community_first() -> None:
    state = evolve(
        CallState("call-xf"),
        raised("call-xf", building_id="xf-b1", district_id="xf-d1", community_id="xf", level="community"),
    )
    commands = plan(state, COUNTY, 30.0, Availability(on_duty="k1", on_duty_in={"xf": "cx2"}))
    assert [cmd.responder_id for cmd in commands if isinstance(cmd, c.AssignResponder)] == ["cx2"]


def test_plan_sends_a_call_for_an_unknown_building_to_the_county_desk() -> None:
    state = evolve(
        CallState("call-x"),
        raised("call-x", building_id="nowhere", community_id="laifeng", level="community"),
    )
    assert _page_until_quiet(state, Availability(on_duty="k1")) == ["k1", "r1"]


def test_a_call_stored_before_counties_is_routed_by_its_building() -> None:
    state = evolve(CallState("old"), raised("old", building_id="xf-b1"))
    assert state.raised is not None and state.raised.community_id is None
    assert _page_until_quiet(state, Availability()) == ["gx1", "px1", "cx1", "cx2", "r1"]


def test_each_person_has_a_home_community_or_is_shared_by_the_county() -> None:
    homes = {pid: COUNTY.home_of(pid) for pid in ("gx1", "px1", "cx2", "sx", "cy1", "k1", "r1", "s0")}
    assert homes == {
        "gx1": "xf",
        "px1": "xf",
        "cx2": "xf",
        "sx": "xf",
        "cy1": "gy",
        "k1": "laifeng",
        "r1": None,
        "s0": None,
    }


def test_a_call_stored_before_counties_belongs_to_its_buildings_community_if_known() -> None:
    # Kept on the call: that community, whatever its building (a fact of the raise).
    assert COUNTY.known_community("gy", "xf-b1") == "gy"
    # Stored before counties (no community): its building's, else its district's, in this roster.
    assert COUNTY.known_community(None, "xf-b1") == "xf"
    assert COUNTY.known_community(None, "gy-b1", "gy-d1") == "gy"
    assert COUNTY.known_community(None, None, "gy-d1") == "gy"
    # A place the roster does not know stays unknown (reports: "(unknown)").
    assert COUNTY.known_community(None, "nowhere") is None
    assert COUNTY.known_community(None, None) is None
    # One community: every building of the roster is the community's.
    single = load_roster_file(None)
    assert single.known_community(None, "b12") == single.community.id
