"""The live board and the push streams (Server-Sent Events) for responders and supervisors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from events.models import NoteAdded, ResponderAssigned
from services.domain.aggregate import CallState
from services.domain.event_store import StoredEvent
from services.domain.roster import Roster
from services.intake.auth import ANONYMOUS, Principal, auth_on, principal, require_supervisor
from services.intake.deps import deps_of
from services.intake.live import LiveCalls
from services.intake.scope import call_community_id, oversees_person, reads_of, sees
from services.intake.sse import Outbox, sse_response
from services.intake.views import actor_of, call_view, desk_view

router = APIRouter(tags=["live"])


def live_of(request: Request) -> LiveCalls:
    return deps_of(request).live


def board_rows(
    request: Request,
    district: str | None = None,
    who: Principal | None = None,
    community: str | None = None,
) -> list[dict[str, Any]]:
    """Open calls, oldest first: those of ``who``'s communities (a county supervisor: all),
    of one ``community`` or ``district`` when asked."""
    deps = deps_of(request)
    now = deps.clock.now()
    calls = sorted(live_of(request).open.values(), key=lambda s: s.raised.at if s.raised else now)
    return [
        desk_view(state, now, call_community_id(deps, state))
        for state in calls
        if state.is_open
        and state.raised is not None
        and (district is None or state.raised.district_id == district)
        and (who is None or sees(who, deps, state))
        and (community is None or call_community_id(deps, state) == community)
    ]


@router.get("/api/board")
async def board(
    request: Request,
    district: str | None = None,
    community: str | None = Query(default=None, max_length=64),
    who: Principal = Depends(require_supervisor),
) -> dict[str, Any]:
    """The board of ``who``'s communities (a county supervisor: the county's), or of one."""
    reads_of(deps_of(request), who, community)  # 404 unknown to the roster, 403 another's
    live = live_of(request)
    return {"calls": board_rows(request, district, who, community), "seq": live.last_seq}


@router.get("/api/board/stream")
async def board_stream(
    request: Request,
    community: str | None = Query(default=None, max_length=64),
    who: Principal = Depends(require_supervisor),
) -> StreamingResponse:
    """The board's changes as they happen, for ``who``'s communities (or one of them) only."""
    deps = deps_of(request)
    reads_of(deps, who, community)  # 404 unknown to the roster, 403 another's
    live = live_of(request)
    outbox = Outbox()
    outbox.send("snapshot", {"calls": board_rows(request, None, who, community)}, live.last_seq)

    def on_event(item: StoredEvent, state: CallState) -> None:
        if state.raised is None or not sees(who, deps, state):
            return
        if community is not None and call_community_id(deps, state) != community:
            return
        view = desk_view(state, deps.clock.now(), call_community_id(deps, state))
        outbox.send("update", {"event": item.event.type, "call": view}, item.seq)

    return sse_response(request, outbox, live.listen(on_event))


@router.get("/api/responders/{responder_id}/stream")
async def responder_stream(
    responder_id: str, request: Request, who: Principal = Depends(principal)
) -> StreamingResponse:
    if auth_on(request):
        if who is ANONYMOUS:
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        if who.id != responder_id and not (
            who.is_supervisor and oversees_person(who, deps_of(request), responder_id)
        ):
            raise HTTPException(403, "this is another person's stream")
    deps = deps_of(request)
    live = live_of(request)
    outbox = Outbox()
    now = deps.clock.now()
    # Re-sync on every (re)connect: what this person holds now, from the read model.
    held = [s for s in live.open.values() if responder_id in s.assignments and s.raised is not None]
    calls = [responder_call_view(s, now, deps.roster) for s in held]
    outbox.send("snapshot", {"calls": calls}, live.last_seq)
    for state in held:
        if state.assignments[responder_id].status == "paged":
            outbox.send("dispatch", _dispatch_payload(state, responder_id, now, deps.roster), live.last_seq)
    outbox.send("synced", {"calls": len(held)}, live.last_seq)  # the re-sync is complete

    def on_event(item: StoredEvent, state: CallState) -> None:
        if responder_id not in state.assignments or state.raised is None:
            return
        event = item.event
        now = deps.clock.now()
        if isinstance(event, ResponderAssigned) and event.responder_id == responder_id:
            outbox.send("dispatch", _dispatch_payload(state, responder_id, now, deps.roster), item.seq)
        else:
            # ``by``: who acted (a call closed by the desk, not by this person, says so on the page).
            update: dict[str, Any] = {
                "event": event.type,
                "by": actor_of(event),
                "call": responder_call_view(state, now, deps.roster),
            }
            if isinstance(event, NoteAdded):  # a note is for the people on the call: its text goes along
                update["note"] = {"at": event.at.isoformat(), "by": event.by, "text": event.text}
            outbox.send("update", update, item.seq)

    return sse_response(request, outbox, live.listen(on_event))


def responder_call_view(state: CallState, now: Any, roster: Roster) -> dict[str, Any]:
    """A call as the people dispatched to it see it: where (the building's name and address
    from the roster, not its id), who called (name and phone) and what they said."""
    raised = state.raised
    assert raised is not None
    building = roster.building(raised.building_id)
    return {
        **call_view(state, now),
        "building_name": building.name if building else raised.building_id or "",
        "building_address": raised.address or (building.address if building else ""),
        "caller": raised.caller.model_dump(),
        "note": raised.note,
    }


def _dispatch_payload(state: CallState, responder_id: str, now: Any, roster: Roster) -> dict[str, Any]:
    raised = state.raised
    assert raised is not None
    assignment = state.assignments[responder_id]
    return {
        "call": responder_call_view(state, now, roster),
        "dispatch_id": assignment.dispatch_id,
        "level": assignment.level,
        "drill": raised.drill,
        "caller": raised.caller.model_dump(),
        "note": raised.note,
    }
