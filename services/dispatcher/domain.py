"""Who to page next: a pure function of (call state, roster, availability).

Paging order is roster order. At ``building`` and ``community`` level one person is paged
at a time (the next on decline or ack timeout); at ``district`` and ``professional`` level
everyone is paged at once (the branch secretary brings the team; rescue services all hear
it). A level with nobody left to page and no one paged or engaged on the call escalates,
one level at a time. Nobody is paged twice for one call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from events import commands as c
from events.models import Level
from services.domain.aggregate import ACTIVE, ENGAGED, CallState
from services.domain.ids import derive
from services.domain.roster import EscalationPolicy, Person, Roster
from services.runtime.settings import Targets

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
    on_duty: str | None = None  # the duty officer holding the (county's) desk now
    # In a county: each community's officer on duty now, by community id.
    on_duty_in: Mapping[str, str] = field(default_factory=dict)

    def officer(self, community_id: str) -> str | None:
        """The officer on duty now at ``community_id``'s desk (one community: ``on_duty``)."""
        return self.on_duty_in.get(community_id, self.on_duty)


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
    if raised is None or not state.is_open or state.held is not None:
        return []  # a held call waits for the desk
    policy = policy or roster.escalation
    commands: list[c.Command] = list(_contact_owed(state))
    commands += _level_pages(state, roster, policy, default_ack_s, availability)
    commands += _kind_pages(state, roster, policy, default_ack_s, availability)
    return commands


def _contact_owed(state: CallState) -> list[c.Command]:
    """Someone is paged but the caller was never shown whom to contact: a page's two appends
    (``ResponderAssigned``, ``ContactShared``) were cut apart by a crash. The first active page
    decided again stores the contact it lost (the aggregate pages nobody twice)."""
    if state.contact is not None:
        return []
    active = (a for a in state.assignments.values() if a.status in ACTIVE)
    first = min(active, key=lambda a: a.assigned_at, default=None)
    if first is None:
        return []
    return [
        c.AssignResponder(
            call_id=state.call_id,
            responder_id=first.responder_id,
            responder_name=first.name,
            phone=first.phone,
            level=first.level,
            dispatch_id=first.dispatch_id,
            ack_timeout_s=first.ack_timeout_s,
            team_id=first.team_id,
        )
    ]


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
    community = roster.call_community(raised.community_id, raised.building_id, raised.district_id)
    people = roster.candidates(level, raised.building_id, raised.district_id, raised.device_id, community.id)
    officer = availability.officer(community.id)
    if level == "community" and officer:
        people = sorted(people, key=lambda p: p.id != officer)
    level_assignments = [a for a in state.assignments.values() if a.level == level and a.team_id is None]
    waiting_on = [a for a in level_assignments if a.status in ACTIVE]
    # Nobody is paged twice for one call (whatever level they were paged at, whatever they
    # answered): only the desk re-assigns someone by hand.
    untried = [p for p in people if p.id not in state.assignments and p.id not in availability.away]
    untried = _available_first(untried, availability)
    if untried:
        if PAGING_MODE[level] == "parallel":
            return [_assign(state, p, level, policy, default_ack_s) for p in untried]
        if not waiting_on:
            return [_assign(state, untried[0], level, policy, default_ack_s)]
        return []
    if waiting_on or any(a.status in ENGAGED for a in state.assignments.values()) or level == "professional":
        return []  # this level is still being paged, someone holds the call, or the top has nobody left
    return [
        c.Escalate(
            call_id=state.call_id,
            reason="exhausted" if level_assignments else "no_one_available",
            from_level=level,
        )
    ]


def _kind_pages(
    state: CallState,
    roster: Roster,
    policy: EscalationPolicy,
    default_ack_s: float,
    availability: Availability,
) -> list[c.Command]:
    """Service teams for the call's kinds, and professionals at once for fire and medical
    (the kinds of calls merged into this one count: a fire joining upgrades the paging)."""
    kinds = state.kinds
    pages: list[c.Command] = []
    for team in roster.teams:
        if not kinds & set(team.kinds):
            continue
        for person in team.members:
            if person.id not in state.assignments and person.id not in availability.away:
                pages.append(_assign(state, person, state.level, policy, default_ack_s, team.id))
    if kinds & set(policy.skip_to_professional):
        for person in roster.professional:
            if person.id not in state.assignments and person.id not in availability.away:
                pages.append(_assign(state, person, "professional", policy, default_ack_s))
    return pages


def could_page(state: CallState, roster: Roster, person_id: str) -> bool:
    """Whether ``plan`` might page ``person_id`` for this call (a cheap superset, from the
    roster: someone who just became available is looked at only for calls they serve)."""
    raised = state.raised
    if raised is None:
        return False
    people = roster.candidates(
        state.level, raised.building_id, raised.district_id, raised.device_id, raised.community_id
    )
    if any(p.id == person_id for p in people) or any(p.id == person_id for p in roster.professional):
        return True
    return any(p.id == person_id for team in roster.teams for p in team.members)


def settle_joined(primary: CallState, now: datetime, targets: Targets) -> list[c.Command]:
    """What the calls merged into ``primary`` need once it has closed: resolved with it when it
    was handled; otherwise (cancelled by its caller, a false alarm) each stands alone again and
    is dispatched on its own, with its stage clock restarted. [] while it is still open."""
    if not primary.is_closed:
        return []
    handled = primary.status == "resolved" and primary.outcome in ("handled", "referred")
    commands: list[c.Command] = []
    for joined in primary.joined:
        if handled:
            commands.append(
                c.ResolveWithJoined(
                    call_id=joined,
                    from_call_id=primary.call_id,
                    by=primary.closed_by or "system",
                    outcome=primary.outcome or "handled",
                )
            )
        else:
            reason = "joined_call_false_alarm" if primary.status == "resolved" else "joined_call_cancelled"
            commands.append(
                c.Unmerge(
                    call_id=joined,
                    from_call_id=primary.call_id,
                    reason=reason,
                    due=targets.due_from(now),
                )
            )
    return commands


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
    """The open call this newly raised one duplicates (same building, within the window).

    Calls are compared in stream order, but their times are stamped when the tap arrives:
    a call stored after another may carry a slightly earlier time, so the window is taken
    either side."""
    raised = state.raised
    if raised is None or not raised.building_id or raised.source == "device":
        return None
    for call_id, raised_at, drill in open_by_building.get(raised.building_id, []):
        if call_id == state.call_id or drill != raised.drill:
            continue
        if abs((raised.at - raised_at).total_seconds()) <= window_s:
            return call_id
    return None
