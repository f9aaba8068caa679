"""Who to page next: a pure function of (call state, roster, availability).

Paging order is roster order. At ``building`` and ``community`` level one person is paged
at a time (the next on decline or ack timeout); at ``district`` and ``professional`` level
everyone is paged at once (the branch secretary brings the team; rescue services all hear
it). A level with nobody left to page and no one engaged on the call escalates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from events import commands as c
from events.models import Level
from services.common.aggregate import ACTIVE, ENGAGED, CallState
from services.common.ids import derive
from services.common.roster import EscalationPolicy, Person, Roster

PagingMode = Literal["sequential", "parallel"]
PAGING_MODE: dict[Level, PagingMode] = {
    "building": "sequential",
    "district": "parallel",
    "community": "sequential",
    "professional": "parallel",
}


@dataclass(frozen=True)
class Availability:
    """Who is away now and who is busy (holds an open call), as the dispatcher sees them."""

    away: frozenset[str] = frozenset()
    busy: frozenset[str] = frozenset()
    on_duty: str | None = None  # the community duty officer holding the desk now


def dispatch_id(call_id: str, level: Level, person_id: str, team_id: str | None = None) -> str:
    return derive(call_id, "dispatch", level, person_id, team_id or "")


def plan(
    state: CallState,
    roster: Roster,
    default_ack_s: float,
    availability: Availability = Availability(),
    policy: EscalationPolicy | None = None,
) -> list[c.Command]:
    """The pages (and possibly one escalation) the call needs now; [] when it waits.

    ``policy`` is the escalation policy the call was raised under (its snapshot version);
    without one, the roster's current policy.
    """
    raised = state.raised
    if raised is None or not state.is_open:
        return []
    policy = policy or roster.escalation
    commands: list[c.Command] = []
    commands += _level_pages(state, roster, policy, default_ack_s, availability)
    commands += _kind_pages(state, roster, policy, default_ack_s, availability)
    return commands


def _level_pages(
    state: CallState,
    roster: Roster,
    policy: EscalationPolicy,
    default_ack_s: float,
    availability: Availability,
) -> list[c.Command]:
    raised = state.raised
    assert raised is not None
    level = state.level
    people = roster.candidates(level, raised.building_id, raised.district_id, raised.device_id)
    if level == "community" and availability.on_duty:
        people = sorted(people, key=lambda p: p.id != availability.on_duty)
    level_assignments = [a for a in state.assignments.values() if a.level == level and a.team_id is None]
    tried = {a.responder_id for a in level_assignments}
    waiting_on = [a for a in level_assignments if a.status in ACTIVE]
    held_elsewhere = {a.responder_id for a in state.assignments.values() if a.status in ACTIVE}
    untried = [
        p
        for p in people
        if p.id not in tried and p.id not in held_elsewhere and p.id not in availability.away
    ]
    untried = _available_first(untried, availability)
    if untried:
        if PAGING_MODE[level] == "parallel":
            return [_assign(state, p, level, policy, default_ack_s) for p in untried]
        if not waiting_on:
            return [_assign(state, untried[0], level, policy, default_ack_s)]
        return []
    if waiting_on or any(a.status in ENGAGED for a in state.assignments.values()):
        return []
    if level == "professional":
        return []
    everyone_away = bool(people) and all(p.id in availability.away for p in people if p.id not in tried)
    return [
        c.Escalate(
            call_id=state.call_id,
            reason="no_one_available" if everyone_away and not tried else "exhausted",
            available_levels=roster.staffed_levels(raised.building_id, raised.district_id, raised.device_id),
        )
    ]


def _kind_pages(
    state: CallState,
    roster: Roster,
    policy: EscalationPolicy,
    default_ack_s: float,
    availability: Availability,
) -> list[c.Command]:
    """Service teams for the call's kind, and professionals at once for fire and medical."""
    raised = state.raised
    assert raised is not None
    pages: list[c.Command] = []
    for team in roster.teams:
        if raised.kind not in team.kinds:
            continue
        for person in team.members:
            if person.id not in state.assignments and person.id not in availability.away:
                pages.append(_assign(state, person, state.level, policy, default_ack_s, team.id))
    if raised.kind in policy.skip_to_professional:
        for person in roster.professional:
            if person.id not in state.assignments and person.id not in availability.away:
                pages.append(_assign(state, person, "professional", policy, default_ack_s))
    return pages


def _available_first(people: list[Person], availability: Availability) -> list[Person]:
    return sorted(people, key=lambda p: p.id in availability.busy)  # stable: roster order kept


def _assign(
    state: CallState,
    person: Person,
    level: Level,
    policy: EscalationPolicy,
    default_ack_s: float,
    team_id: str | None = None,
) -> c.AssignResponder:
    return c.AssignResponder(
        call_id=state.call_id,
        responder_id=person.id,
        responder_name=person.name,
        phone=person.phone,
        level=level,
        dispatch_id=dispatch_id(state.call_id, level, person.id, team_id),
        ack_timeout_s=policy.ack_timeout(level, default_ack_s),
        team_id=team_id,
    )


def duplicate_of(
    state: CallState, open_by_building: dict[str, list[tuple[str, datetime, bool]]], window_s: float
) -> str | None:
    """The open call this newly raised one duplicates (same building, within the window)."""
    raised = state.raised
    if raised is None or not raised.building_id or raised.source == "device":
        return None
    for call_id, raised_at, drill in open_by_building.get(raised.building_id, []):
        if call_id == state.call_id or drill != raised.drill:
            continue
        if 0 <= (raised.at - raised_at).total_seconds() <= window_s:
            return call_id
    return None
