"""Calls: raise, view, timeline, and what responders, residents and supervisors do to one."""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response

from events import commands as c
from events.models import Kind, Level
from services.domain.aggregate import CallState
from services.domain.ids import call_id_for_key, derive, new_call_id
from services.intake.auth import (
    ANONYMOUS,
    Principal,
    acting_responder,
    auth_on,
    principal,
    require_supervisor,
    secret_matches,
    sha256_hex,
)
from services.intake.deps import IntakeDeps, deps_of, execute, load_call, retrying
from services.intake.limits import CallRateLimiter, admit_raise
from services.intake.raising import raise_command
from services.intake.schemas import (
    ActionIn,
    AssignIn,
    CallIdPath,
    CancelIn,
    ErrorOut,
    EscalateIn,
    NoteIn,
    RaiseCallIn,
    ReleaseIn,
    ResolveIn,
)
from services.intake.scope import (
    call_community_id,
    desk_covers,
    desk_covers_community,
    require_desk_over,
    require_in_scope,
    sees,
)
from services.intake.views import PUBLIC_STATUS, call_view, desk_view, timeline_view

IDEMPOTENCY_KEY_MAX = 200

router = APIRouter(
    prefix="/api/calls",
    tags=["calls"],
    responses={
        409: {"model": ErrorOut, "description": "not possible in the call's state (closed, declined)"}
    },
)


@router.post(
    "",
    status_code=201,
    responses={429: {"model": ErrorOut, "description": "too many calls from here (Retry-After)"}},
)
async def raise_call(
    body: RaiseCallIn,
    request: Request,
    response: Response,
    idempotency_key: str | None = Header(default=None, max_length=IDEMPOTENCY_KEY_MAX),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    # What /openapi.json documents (no docstring: it would be the operation's description).
    # The common request is served before it reaches this route, by the FastRaise middleware
    # (services/intake/fast_raise.py), which passes on whatever it does not take on (a body
    # that fails validation, another content type).
    raised = await raise_from(request, body, idempotency_key, who)
    response.headers["Location"] = raised["links"]["self"]
    return raised


async def raise_from(
    request: Request, body: RaiseCallIn, idempotency_key: str | None, who: Principal
) -> dict[str, Any]:
    """The raise itself, once the body is valid and the principal known: the call's view, with
    its secret and links (``links.self`` is its Location)."""
    deps = deps_of(request)
    raised_by = None
    if body.source == "phone":
        if who is ANONYMOUS and auth_on(request):
            raise HTTPException(401, "a phoned-in call is raised by a supervisor or the duty officer")
        if who is not ANONYMOUS and not who.is_supervisor and not deps.is_duty_officer(who.id):
            raise HTTPException(403, "only a supervisor or the duty officer raises a phoned-in call")
        community_id = deps.roster.community_of(body.building_id).id
        if who is not ANONYMOUS and not desk_covers_community(deps, who, community_id):
            raise HTTPException(
                403, f"building {body.building_id!r} is in community {community_id}, not yours"
            )
        raised_by = who.id if who is not ANONYMOUS else "supervisor"
    elif body.source == "device":
        raise HTTPException(422, "source: devices raise calls through /api/alerts/device")
    client = request.client.host if request.client else "unknown"
    # A key is scoped by the caller's phone: two residents whose apps pick the same key raise
    # two calls, and neither gets the other's call or secret.
    scoped_key = f"{body.caller.phone}/{idempotency_key}" if idempotency_key else None
    call_id = call_id_for_key(scoped_key) if scoped_key else new_call_id()
    secret = derive("caller-secret", scoped_key) if scoped_key else secrets.token_urlsafe(18)

    # A fresh random id needs no load: decide on an empty call, append at version 0.
    known = (CallState(call_id), 0)

    async def find_stored() -> CallState | None:
        nonlocal known
        known = await retrying(deps, lambda: deps.calls.load(call_id))
        return known[0] if known[0].status != "new" else None

    limiter: CallRateLimiter = request.app.state.rate_limiter
    admitted = await admit_raise(
        limiter, client, body.caller.phone, scoped_key, deps.clock.now().timestamp(), find_stored
    )
    if isinstance(admitted, CallState):  # a retry of a call already stored: the same answer
        _same_body_or_refuse(body, admitted)
        return _raised(admitted, secret, deps.clock.now())
    if admitted.wait > 0:
        raise HTTPException(
            429,
            "too many calls from here; retry shortly",
            headers={"Retry-After": str(math.ceil(admitted.wait))},
        )
    command = raise_command(
        deps.roster,
        deps.settings.targets,
        deps.clock.now(),
        call_id=call_id,
        caller=body.caller_model(),
        building_id=body.building_id,
        address=body.address,
        kind=body.kind,
        note=body.note,
        drill=body.drill,
        source=body.source,
        raised_by=raised_by,
        caller_secret_sha256=sha256_hex(secret),
        # A flood from one address: stored (201, nothing lost) but held for the desk's triage,
        # never from the desk itself (a supervisor or the officer raising a phoned-in call).
        held="flood" if admitted.held and raised_by is None else None,
        flood=admitted.flood,
        first_of_flood=admitted.first_of_flood,
    )
    stored = False
    try:
        state, events = await execute(deps, command, known)
        stored = True
    finally:
        limiter.settle(admitted, stored)
    if not events:  # a concurrent request with the same key stored the call first
        _same_body_or_refuse(body, state)
    return _raised(state, secret, deps.clock.now())


def _same_body_or_refuse(body: RaiseCallIn, stored: CallState) -> None:
    """An Idempotency-Key names one raise: its retries (the same body once normalised: two
    spellings of one phone are one phone) get the call back; another body is refused, never
    answered with someone else's call."""
    if stored.raised is not None and not body.same_raise(stored.raised):
        raise HTTPException(
            422,
            "idempotency-key: already used for a different call; a new call needs a new key",
        )


def _raised(state: CallState, secret: str, now: datetime) -> dict[str, Any]:
    call_id = state.call_id
    view = call_view(state, now)
    return {**view, "secret": secret, "links": {"page": f"/?call={call_id}", "self": f"/api/calls/{call_id}"}}


async def require_desk(request: Request, who: Principal = Depends(principal)) -> Principal:
    """A supervisor, or the community duty officer on duty now (the contract's desk powers)."""
    if who is not ANONYMOUS and not who.is_supervisor and deps_of(request).is_duty_officer(who.id):
        return who
    return await require_supervisor(request, who)


async def _view(deps: IntakeDeps, call_id: str) -> dict[str, Any]:
    state = await load_call(deps, call_id)
    now = deps.clock.now()
    if state.merged_into is not None:  # handled on the call it joined: who came is shown from there
        primary = await load_call(deps, state.merged_into)
        joined = {
            **call_view(primary, now, call_community_id(deps, primary)),
            "call_id": call_id,
            "merged_into": primary.call_id,
        }
        if state.status == "merged" and primary.is_open:
            return joined
        if state.is_closed:  # resolved with it, or cancelled by its own caller
            closed_at = state.closed_at.isoformat() if state.closed_at else None
            return {
                **joined,
                "status": PUBLIC_STATUS[state.status],
                "outcome": state.outcome,
                "closed_at": closed_at,
            }
    # A merged call whose joined call closed is about to be dispatched on its own: still open.
    return call_view(state, now, call_community_id(deps, state))


HISTORY_SPAN = timedelta(hours=24)


def _moment(text: str, name: str) -> datetime:
    """An RFC 3339 time with its offset (a number or a local time without one is refused)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise HTTPException(422, f"{name}: an RFC 3339 time with an offset, e.g. 2026-06-27T08:00:00+08:00")
    return moment


@router.get("")
async def closed_calls(
    request: Request,
    status: Literal["closed"] = "closed",
    since: str | None = Query(
        default=None,
        description="RFC 3339 with an offset: closed at or after; default 24 h ago",
        json_schema_extra={"format": "date-time"},
    ),
    district: str | None = Query(default=None, max_length=64),
    kind: Kind | None = None,
    outcome: Literal["handled", "false_alarm", "referred", "cancelled"] | None = None,
    who: Principal = Depends(require_supervisor),
) -> dict[str, Any]:
    """The desk's history: calls closed since ``since`` (the last 24 h by default), newest
    first, as the board shows them (with when each closed and how)."""
    deps = deps_of(request)
    now = deps.clock.now()
    start = _moment(since, "since") if since is not None else now - HISTORY_SPAN
    rows = []
    for state in reversed(deps.live.closed.values()):
        raised = state.raised
        if raised is None or state.closed_at is None or state.closed_at < start:
            continue
        how = "cancelled" if state.status == "cancelled" else state.outcome
        if district and raised.district_id != district:
            continue
        if (kind and raised.kind != kind) or (outcome and how != outcome):
            continue
        if not sees(who, deps, state):
            continue
        rows.append(desk_view(state, now, call_community_id(deps, state)))
    rows.sort(key=lambda row: str(row["closed_at"]), reverse=True)
    return {"status": status, "since": start.isoformat(), "calls": rows}


@router.get("/{call_id}")
async def get_call(call_id: CallIdPath, request: Request) -> dict[str, Any]:
    return await _view(deps_of(request), call_id)


@router.get("/{call_id}/timeline")
async def get_timeline(
    call_id: CallIdPath, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    deps = deps_of(request)
    state = await load_call(deps, call_id)
    if auth_on(request) and not (who.is_supervisor and sees(who, deps, state)):
        if who is ANONYMOUS:
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        if who.id not in state.assignments:
            raise HTTPException(403, f"call {call_id} was not dispatched to you")
    stored, _ = await deps.store.load(call_id)
    names = {person_id: person.name for person_id, person in deps.roster.people.items()}
    return timeline_view(call_id, stored, names)


RESPONDER_ACTIONS: dict[str, type[c.ResponderAction]] = {
    "accept": c.Accept,
    "decline": c.Decline,
    "enroute": c.EnRoute,
    "arrive": c.Arrive,
}


def _responder_route(command_type: type[c.ResponderAction]) -> Any:
    async def act(
        call_id: CallIdPath, body: ActionIn, request: Request, who: Principal = Depends(principal)
    ) -> dict[str, Any]:
        deps = deps_of(request)
        named = body.responder_id
        by: str | None = None
        if named and who is not ANONYMOUS and named != who.id and deps.is_duty_officer(who.id):
            responder, by = named, who.id  # the officer on duty holds the desk's powers
        else:
            responder = acting_responder(request, who, named)
            if responder != who.id and who is not ANONYMOUS:
                by = who.id  # a supervisor recording the act for the responder
        if by is not None:  # the desk's powers, over this call's community only
            require_desk_over(deps, who, await load_call(deps, call_id))
        command = command_type(call_id=call_id, responder_id=responder, note=body.note, by=by)
        await execute(deps, command)
        return await _view(deps, call_id)

    return act


for _action, _command_type in RESPONDER_ACTIONS.items():
    router.add_api_route(
        f"/{{call_id}}/{_action}", _responder_route(_command_type), methods=["POST"], name=f"{_action}_call"
    )


@router.post("/{call_id}/resolve")
async def resolve(
    call_id: CallIdPath, body: ResolveIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    deps = deps_of(request)
    state = await load_call(deps, call_id)
    require_in_scope(deps, who, state)
    if desk_covers(deps, who, state):
        command = c.Resolve(
            call_id=call_id, by=who.id, outcome=body.outcome, note=body.note, as_responder=False
        )
    elif who is ANONYMOUS and not auth_on(request) and not body.responder_id:
        command = c.Resolve(
            call_id=call_id, by="supervisor", outcome=body.outcome, note=body.note, as_responder=False
        )
    else:
        if body.outcome != "handled":
            raise HTTPException(403, "only a supervisor or the duty officer closes a call as " + body.outcome)
        responder = acting_responder(request, who, body.responder_id)
        command = c.Resolve(call_id=call_id, by=responder, outcome=body.outcome, note=body.note)
    await execute(deps, command)
    return await _view(deps, call_id)


@router.post("/{call_id}/cancel")
async def cancel(
    call_id: CallIdPath,
    body: CancelIn,
    request: Request,
    x_call_secret: str | None = Header(default=None),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    deps = deps_of(request)
    state = await load_call(deps, call_id)
    raised = state.raised
    assert raised is not None
    supervisor = desk_covers(deps, who, state)
    caller = secret_matches(x_call_secret or body.secret, raised.caller_secret_sha256)
    if not (supervisor or caller or not auth_on(request)):
        raise HTTPException(403, "only the caller (with the call's secret) or a supervisor cancels a call")
    by = who.id if supervisor else "caller"
    await execute(deps, c.Cancel(call_id=call_id, by=by, note=body.note))
    return await _view(deps, call_id)


@router.post("/{call_id}/assign")
async def assign(
    call_id: CallIdPath, body: AssignIn, request: Request, who: Principal = Depends(require_desk)
) -> dict[str, Any]:
    deps = deps_of(request)
    state = await load_call(deps, call_id)
    require_desk_over(deps, who, state)
    person = deps.roster.people.get(body.responder_id)
    if person is None:
        raise HTTPException(422, f"responder_id: no one with id {body.responder_id!r} in the roster")
    if deps.duty_book.is_away(person.id, deps.clock.now()):  # away people are never paged
        raise HTTPException(409, f"{person.name} is away: mark them available first")
    placed = deps.roster.level_of(person.id)
    level: Level = placed[0] if placed else state.level
    command = c.AssignResponder(
        call_id=call_id,
        responder_id=person.id,
        responder_name=person.name,
        phone=person.phone,
        level=level,
        dispatch_id=derive(call_id, "manual", person.id, str(state.events)),
        ack_timeout_s=deps.roster.escalation.ack_timeout(level, deps.settings.ack_timeout_s),
        by=who.id,
        note=body.note,
    )
    await execute(deps, command)
    return await _view(deps, call_id)


@router.post("/{call_id}/escalate")
async def escalate(
    call_id: CallIdPath, body: EscalateIn, request: Request, who: Principal = Depends(require_desk)
) -> dict[str, Any]:
    deps = deps_of(request)
    require_desk_over(deps, who, await load_call(deps, call_id))  # 404 for an unknown call
    await execute(
        deps,
        c.Escalate(
            call_id=call_id,
            reason="manual",
            by=who.id,
            note=body.reason,
            from_level=body.from_level,
        ),
    )
    return await _view(deps, call_id)


@router.post("/{call_id}/release")
async def release(
    call_id: CallIdPath, body: ReleaseIn, request: Request, who: Principal = Depends(require_desk)
) -> dict[str, Any]:
    """Triage: a held call is genuine; dispatch it now, its stage clock started afresh."""
    deps = deps_of(request)
    state = await load_call(deps, call_id)
    require_desk_over(deps, who, state)
    if state.held is None:
        raise HTTPException(409, "this call is not held")
    due = deps.settings.targets.due_from(deps.clock.now())
    await execute(deps, c.Release(call_id=call_id, by=who.id, note=body.note, due=due))
    return await _view(deps, call_id)


@router.post("/{call_id}/notes")
async def add_note(
    call_id: CallIdPath, body: NoteIn, request: Request, who: Principal = Depends(require_desk)
) -> dict[str, Any]:
    deps = deps_of(request)
    require_desk_over(deps, who, await load_call(deps, call_id))
    await execute(deps, c.AddNote(call_id=call_id, by=who.id, text=body.text))
    return await _view(deps, call_id)
