"""Who may act on which community's calls: a county's desk powers, by community.

A community's supervisors and its officer on duty hold the desk's powers over its calls only;
county supervisors and the county desk's officer everywhere. One community: everyone with the
desk's powers acts on every call (the community is the whole roster).
"""

from __future__ import annotations

from fastapi import HTTPException

from services.domain.aggregate import CallState
from services.intake.auth import ANONYMOUS, Principal
from services.intake.deps import IntakeDeps

__all__ = [
    "call_community_id",
    "covers",
    "desk_covers",
    "desk_covers_community",
    "has_desk_powers",
    "oversees_person",
    "read_scope",
    "reads_of",
    "require_desk_over",
    "require_in_scope",
    "sees",
]


def covers(scope: frozenset[str] | None, community_id: str) -> bool:
    return scope is None or community_id in scope


def call_community_id(deps: IntakeDeps, state: CallState) -> str:
    """The call's community: kept on its raise; a call stored before counties, its building's."""
    raised = state.raised
    assert raised is not None
    return deps.roster.call_community(raised.community_id, raised.building_id, raised.district_id).id


def oversees_person(who: Principal, deps: IntakeDeps, person_id: str) -> bool:
    """Whether a supervisor acts for ``person_id`` (their availability, their stream): a
    county supervisor for everyone, a community's for the people serving in it."""
    if who.communities is None:
        return True
    home = deps.roster.home_of(person_id)
    return home is not None and home in who.communities


def sees(who: Principal, deps: IntakeDeps, state: CallState) -> bool:
    """Whether a supervisor (or the demo desk) sees this call on the board and in lists."""
    return state.raised is not None and covers(who.communities, call_community_id(deps, state))


def desk_covers(deps: IntakeDeps, who: Principal, state: CallState) -> bool:
    """Whether ``who`` holds the desk's powers over this call."""
    return state.raised is not None and desk_covers_community(deps, who, call_community_id(deps, state))


def desk_covers_community(deps: IntakeDeps, who: Principal, community_id: str) -> bool:
    if who is ANONYMOUS:
        return False
    if who.is_supervisor and covers(who.communities, community_id):
        return True
    duty = deps.duty_scope(who.id)
    return duty != frozenset() and covers(duty, community_id)


def has_desk_powers(deps: IntakeDeps, who: Principal) -> bool:
    return who is not ANONYMOUS and (who.is_supervisor or deps.is_duty_officer(who.id))


def refuse_elsewhere(deps: IntakeDeps, state: CallState) -> HTTPException:
    return HTTPException(
        403, f"call {state.call_id} belongs to community {call_community_id(deps, state)}, not yours"
    )


def require_desk_over(deps: IntakeDeps, who: Principal, state: CallState) -> None:
    """403 for the desk's powers used on another community's call (the demo desk, with
    authentication off, acts everywhere)."""
    if who is not ANONYMOUS and not desk_covers(deps, who, state):
        raise refuse_elsewhere(deps, state)


def require_in_scope(deps: IntakeDeps, who: Principal, state: CallState) -> None:
    """403 for someone with the desk's powers elsewhere acting on another community's call,
    unless it was dispatched to them (then they act on it as its responder)."""
    if who is ANONYMOUS or not has_desk_powers(deps, who) or desk_covers(deps, who, state):
        return
    if who.id not in state.assignments:
        raise refuse_elsewhere(deps, state)


def read_scope(deps: IntakeDeps, who: Principal) -> frozenset[str] | None:
    """The communities whose figures (reports, responder figures, points) ``who`` reads: a
    supervisor's (None: a county supervisor, everywhere), the desk the officer on duty holds
    (None: the county's own desk); nobody else reads any."""
    if who.is_supervisor:
        return who.communities
    return deps.duty_scope(who.id) if who is not ANONYMOUS else frozenset()


def reads_of(deps: IntakeDeps, who: Principal, community: str | None) -> frozenset[str] | None:
    """What a read covers: ``community`` when asked (404: not in the roster; 403: not one of
    ``who``'s), else every community ``who`` reads (None: all)."""
    scope = read_scope(deps, who)
    if community is None:
        return scope
    if deps.roster.community_by_id(community) is None:
        raise HTTPException(404, f"no community {community!r} in the roster")
    if not covers(scope, community):
        raise HTTPException(403, f"community {community} is not yours")
    return frozenset({community})
