"""Read views of one call, folded from its stored events (never from write-path memory)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from events.models import (
    LEVELS,
    STAGES,
    CallEvent,
    CallRaised,
    DispatchAccepted,
    DispatchDeclined,
    ResponderArrived,
    ResponderEnRoute,
)
from services.domain.aggregate import ACTIVE, ENGAGED, Assignment, CallState
from services.domain.event_store import StoredEvent

ENVELOPE = {"event_id", "type", "call_id", "at", "version"}
# Stored for the system's own checks, never shown to a reader (the caller's cancel secret).
INTERNAL = {"caller_secret_sha256"}
# A merged call is open to its resident: handled on the call it joined, or about to stand alone.
PUBLIC_STATUS = {
    "new": "open",
    "open": "open",
    "merged": "open",
    "resolved": "resolved",
    "cancelled": "cancelled",
}


def call_view(state: CallState, now: datetime, community_id: str | None = None) -> dict[str, Any]:
    """A call for any reader; ``community_id``: its community when the caller resolved it from
    the roster (a call stored before counties carries none of its own)."""
    raised = state.raised
    assert raised is not None
    stages = {}
    for stage in STAGES:
        due = raised.due.of(stage)
        met = state.met.get(stage)
        stages[stage] = {
            "due_at": due.isoformat(),
            "met_at": met.isoformat() if met else None,
            "missed": stage in state.missed or (met is not None and met > due),
            "remaining_s": None if met or not state.is_open else round((due - now).total_seconds(), 3),
        }
    contact = state.contact
    return {
        "call_id": state.call_id,
        "status": PUBLIC_STATUS.get(state.status, state.status),
        "merged_into": state.merged_into,
        "held": state.held is not None,  # held for the desk's triage (a flood): nobody paged yet
        "level": state.level,
        "kind": raised.kind,
        "source": raised.source,
        "drill": raised.drill,
        "building_id": raised.building_id,
        "district_id": raised.district_id,
        "community_id": community_id or raised.community_id,
        "address": raised.address,
        "raised_at": raised.at.isoformat(),
        "outcome": state.outcome,
        "closed_at": state.closed_at.isoformat() if state.closed_at else None,
        "kinds": sorted(state.kinds),  # its own kind and those of the calls that joined it
        "handling": person_view(handling(state)),
        "contact": None
        if contact is None
        else {"id": contact.responder_id, "name": contact.name, "phone": contact.phone},
        "assignees": [
            {
                "id": a.responder_id,
                "name": a.name,
                "phone": a.phone,
                "level": a.level,
                "status": a.status,
                "dispatch_id": a.dispatch_id,
                "assigned_at": a.assigned_at.isoformat(),
            }
            for a in state.assignments.values()
        ],
        "stages": stages,
        "reach": reach_view(state),
        "unreached": unreached(state),
    }


# How far a person who answered has come, furthest first.
PROGRESS = {"arrived": 0, "enroute": 1, "accepted": 2}


def handling(state: CallState) -> Assignment | None:
    """The one person the resident sees as theirs now: whoever is coming (furthest along
    first, then the first paged), else, on an open call, the first person being paged at the
    level now handling it (or above: professionals paged at once for a fire). Never someone
    who declined or timed out, nor someone still paged at a level the call has left."""
    engaged = [a for a in state.assignments.values() if a.status in ENGAGED]
    if engaged:
        return min(engaged, key=lambda a: (PROGRESS[a.status], a.assigned_at))
    if not state.is_open:
        return None
    floor = LEVELS.index(state.level)
    paged = [a for a in state.assignments.values() if a.status == "paged" and LEVELS.index(a.level) >= floor]
    if not paged:
        return None
    return min(paged, key=lambda a: (a.level != state.level, a.team_id is not None, a.assigned_at))


def person_view(who: Assignment | None) -> dict[str, Any] | None:
    if who is None:
        return None
    return {
        "id": who.responder_id,
        "name": who.name,
        "phone": who.phone,
        "level": who.level,
        "status": who.status,
    }


def desk_view(state: CallState, now: datetime, community_id: str | None = None) -> dict[str, Any]:
    """What the desk sees of a call: the public view, with the caller, their note and when it
    closed (the desk phones the caller back; the public view never carries their phone)."""
    raised = state.raised
    assert raised is not None
    return {
        **call_view(state, now, community_id),
        "caller": raised.caller.model_dump(),
        "note": raised.note,
        "raised_level": raised.level,  # above it now: escalated
        "closed_at": state.closed_at.isoformat() if state.closed_at else None,
    }


def reach_view(state: CallState) -> list[dict[str, Any]]:
    """Who was sent what on which channel, and whether it failed: the latest try of each
    page on each channel, oldest first."""
    notices = sorted(state.notices.values(), key=lambda n: n.at)
    return [
        {
            "responder_id": n.responder_id,
            "dispatch_id": n.dispatch_id,
            "method": n.method,
            "attempt": n.attempt,
            "ok": n.ok,
            "error": n.error or None,
            "at": n.at.isoformat(),
        }
        for n in notices
    ]


def unreached(state: CallState) -> bool:
    """Nobody is being reached: an open call, not held for the desk, with nobody who accepted
    and either nobody paged at all or every page awaiting an answer failed on every channel
    it was tried on. A page not yet reported on by the notifier counts as on its way."""
    if not state.is_open or state.held is not None:
        return False
    active = [a for a in state.assignments.values() if a.status in ACTIVE]
    if any(a.status in ENGAGED for a in active):
        return False
    if not active:
        return True
    for page in active:  # every one of them is awaiting an answer ("paged")
        tried = [
            n
            for n in state.notices.values()
            if n.dispatch_id == page.dispatch_id
            and n.responder_id == page.responder_id
            and "-robot" not in n.method  # a district group saw it: not the person themselves
        ]
        if not tried or any(n.ok for n in tried):
            return False
    return True


# A responder's acts. Their actor is the responder; ``by`` (the timeline's ``recorded_by``) names
# the desk person (a supervisor, the duty officer) who recorded one for them, None otherwise.
RESPONDER_ACTS = (DispatchAccepted, DispatchDeclined, ResponderEnRoute, ResponderArrived)


def actor_of(event: CallEvent) -> str | None:
    if isinstance(event, RESPONDER_ACTS):
        return event.responder_id
    for field in ("by", "responder_id", "raised_by"):
        value = getattr(event, field, None)
        if value:
            return str(value)
    return None


def timeline_view(
    call_id: str, stored: list[StoredEvent], names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Every stored event of one call for a reader: ``step`` counts the call's own events
    (1..n), ``seq`` is the stream's; ``actor_name``/``recorded_by_name`` come from ``names``
    (roster ids to names; the caller's own name for ``caller``). No internal field is sent."""
    start = stored[0].event.at if stored else None
    known = dict(names or {})
    for item in stored:
        if isinstance(item.event, CallRaised) and item.event.caller.name:
            known.setdefault("caller", item.event.caller.name)
    events = []
    for step, item in enumerate(stored, start=1):
        event = item.event
        data = event.model_dump(mode="json", exclude=ENVELOPE | INTERNAL, by_alias=True)
        actor = actor_of(event)
        recorded_by = event.by if isinstance(event, RESPONDER_ACTS) else None
        events.append(
            {
                "step": step,
                "seq": item.seq,
                "type": event.type,
                "at": event.at.isoformat(),
                "elapsed_s": round((event.at - start).total_seconds(), 3) if start else 0.0,
                "actor": actor,
                "actor_name": _name(known, actor),
                "recorded_by": recorded_by,
                "recorded_by_name": _name(known, recorded_by),
                "data": data,
            }
        )
    return {"call_id": call_id, "events": events}


def _name(names: Mapping[str, str], who: str | None) -> str | None:
    if who is None:
        return None
    return names.get(who, who)
