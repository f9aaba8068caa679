"""The duty desk: availability, who is on duty, overrides, everyone's status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from events.models import AvailabilityChanged, DutyOverrideSet, UtcDatetime
from services.adapters.responder_facts import append_fact
from services.domain.duty import on_duty
from services.domain.event_store import StoreUnavailable
from services.domain.roster import Community, Person
from services.intake.auth import ANONYMOUS, Principal, auth_on, principal, require_supervisor
from services.intake.deps import IntakeDeps, deps_of, unavailable
from services.intake.scope import oversees_person

router = APIRouter(tags=["duty desk"])

# Times at the desk lie within 100 years of now: a shift computed after 9999-12-31 has no date.
HORIZON = timedelta(days=36525)


def _within_horizon(field: str, value: datetime | None, now: datetime) -> None:
    if value is not None and abs(value - now) > HORIZON:
        raise HTTPException(422, f"{field}: must be within 100 years of now")


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["available", "away"]
    until: UtcDatetime | None = None


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    person_id: str = Field(min_length=1, max_length=64)
    starts: UtcDatetime = Field(alias="from")
    ends: UtcDatetime = Field(alias="to")


def _person(p: Person | None) -> dict[str, Any] | None:
    return None if p is None else {"id": p.id, "name": p.name, "phone": p.phone}


def duty_now(deps: IntakeDeps, community: Community | None = None) -> dict[str, Any]:
    """Who holds ``community``'s desk now (default: the county's own, or the one community)."""
    community = community or deps.roster.desk
    desk = on_duty(community, deps.duty_book.overrides, deps.clock.now())
    return {
        "community_id": community.id,
        "on_duty": _person(desk.on_duty),
        "next": _person(desk.next),
        "handover_at": desk.handover_at.isoformat() if desk.handover_at else None,
        "by_override": desk.by_override,
    }


@router.get("/api/duty")
async def get_duty(
    request: Request, community: str | None = Query(default=None, max_length=64)
) -> dict[str, Any]:
    """The desk on duty now: a ``community``'s in a county (default: the county's own desk)."""
    deps = deps_of(request)
    return duty_now(deps, _community(deps, community))


def _community(deps: IntakeDeps, community_id: str | None) -> Community | None:
    if community_id is None:
        return None
    found = deps.roster.community_by_id(community_id)
    if found is None:
        raise HTTPException(404, f"no community {community_id!r} in the roster")
    return found


@router.post("/api/duty/overrides", status_code=201)
async def set_override(
    body: OverrideIn, request: Request, who: Principal = Depends(require_supervisor)
) -> dict[str, Any]:
    deps = deps_of(request)
    desk = next((d for d in deps.roster.desks if any(p.id == body.person_id for p in d.duty)), None)
    if desk is None:
        raise HTTPException(422, f"person_id: {body.person_id!r} is not on the community duty list")
    if who.communities is not None and desk.id not in who.communities:
        raise HTTPException(403, f"{body.person_id!r} is on the duty list of community {desk.id}, not yours")
    if body.ends <= body.starts:
        raise HTTPException(422, "to: must be after from")
    _within_horizon("from", body.starts, deps.clock.now())
    _within_horizon("to", body.ends, deps.clock.now())
    fact = DutyOverrideSet(
        event_id=deps.calls.ids.new(),
        at=deps.clock.now(),
        person_id=body.person_id,
        starts=body.starts,
        ends=body.ends,
        by=who.id,
    )
    await _append(deps, fact)
    return duty_now(deps, desk)


@router.post("/api/responders/{responder_id}/availability")
async def set_availability(
    responder_id: str, body: AvailabilityIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    deps = deps_of(request)
    if responder_id not in deps.roster.people:
        raise HTTPException(404, f"no one with id {responder_id!r} in the roster")
    if auth_on(request):
        if who is ANONYMOUS:
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        if who.id != responder_id and not (who.is_supervisor and oversees_person(who, deps, responder_id)):
            raise HTTPException(403, "only that person or their supervisor sets their availability")
    now = deps.clock.now()
    if body.until is not None and body.until <= now:
        raise HTTPException(422, "until: must be in the future")
    _within_horizon("until", body.until, now)
    fact = AvailabilityChanged(
        event_id=deps.calls.ids.new(),
        at=now,
        responder_id=responder_id,
        status=body.status,
        until=body.until if body.status == "away" else None,
        by=who.id if who is not ANONYMOUS else responder_id,
    )
    await _append(deps, fact)
    await deps.desk.wait_for(fact.event_id)
    return _row(deps, responder_id)


async def _append(deps: IntakeDeps, fact: AvailabilityChanged | DutyOverrideSet) -> None:
    if deps.nc is None:
        raise unavailable()
    try:
        await append_fact(deps.nc, fact)
    except (StoreUnavailable, TimeoutError) as exc:
        raise unavailable(str(exc)) from None


def _row(deps: IntakeDeps, person_id: str, busy: frozenset[str] | None = None) -> dict[str, Any]:
    roster = deps.roster
    now = deps.clock.now()
    book = deps.duty_book
    busy = deps.busy_people() if busy is None else busy
    placed = roster.level_of(person_id)
    until: datetime | None = book.away_until(person_id, now)
    return {
        "id": person_id,
        "name": roster.people[person_id].name,
        "level": placed[0] if placed else None,
        "district_id": placed[1] if placed else None,
        "building_id": placed[2] if placed else None,
        "community_id": roster.home_of(person_id),  # None: shared by the county (professionals, teams)
        "status": book.status(person_id, now, busy),
        "until": until.isoformat() if until else None,
    }


@router.get("/api/responders")
async def list_responders(
    request: Request, who: Principal = Depends(require_supervisor)
) -> list[dict[str, Any]]:
    deps = deps_of(request)
    busy = deps.busy_people()
    supervisors = deps.roster.supervisor_ids
    roster = deps.roster
    shown = [
        pid
        for pid in roster.people
        if pid not in supervisors
        and (who.communities is None or roster.home_of(pid) is None or roster.home_of(pid) in who.communities)
    ]
    return [_row(deps, pid, busy) for pid in shown]
