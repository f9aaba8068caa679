"""Responder statistics and the volunteer points ledger, as answers (pure), per community:
a figure belongs to the community of the call it comes from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from services.audit.compliance import percentile
from services.audit.projections import AuditState, CommunityOf, PointsEntry, ResponderStats, as_raised


def responder_stats(
    state: AuditState, community_of: CommunityOf = as_raised, communities: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """A row per person and community they were paged in (the calls' communities, through
    ``community_of``); ``communities``: of those communities' calls only, None: every call."""
    merged: dict[tuple[str, str | None], ResponderStats] = {}
    for (person, place), stats in state.responders.items():
        community = community_of(*place)
        if communities is None or community in communities:
            merged.setdefault((person, community), ResponderStats()).add(stats)
    return [
        {
            "id": person,
            "community_id": community,
            "received": s.received,
            "accepted": s.accepted,
            "declined": s.declined,
            "timed_out": s.timed_out,
            "arrived": s.arrived,
            "median_accept_s": percentile(s.accept_s, 0.5),
            "median_arrive_s": percentile(s.arrive_s, 0.5),
        }
        for (person, community), s in sorted(merged.items(), key=lambda item: (item[0][0], item[0][1] or ""))
    ]


def quarter(at: datetime) -> str:
    return f"{at.year}-Q{(at.month - 1) // 3 + 1}"


def points(
    state: AuditState,
    person: str | None = None,
    community_of: CommunityOf = as_raised,
    communities: Collection[str] | None = None,
) -> dict[str, Any]:
    """The points ledger and the quarterly totals per person and community: a point belongs
    to the community of the call it was earned on (``community_of``); ``communities``: of those
    communities only, None: every community."""
    entries: list[tuple[PointsEntry, str | None]] = []
    for e in state.points:
        facts = state.calls.get(e.call_id)
        community = community_of(*facts.place) if facts is not None else None
        if (person is None or e.person_id == person) and (communities is None or community in communities):
            entries.append((e, community))
    totals: dict[tuple[str, str | None, str], int] = {}
    for e, community in entries:
        key = (e.person_id, community, quarter(e.at))
        totals[key] = totals.get(key, 0) + e.points
    return {
        "quarterly": [
            {"person_id": pid, "community_id": community, "quarter": q, "points": pts}
            for (pid, community, q), pts in sorted(
                totals.items(), key=lambda i: (i[0][0], i[0][1] or "", i[0][2])
            )
        ],
        "ledger": [
            {
                "person_id": e.person_id,
                "community_id": community,
                "call_id": e.call_id,
                "reason": e.reason,
                "points": e.points,
                "at": e.at.isoformat(),
            }
            for e, community in entries
        ],
    }


def digest(state: AuditState) -> dict[str, Any]:
    """Everything the projections hold, in a canonical form, for replay to compare."""
    content = {
        "calls": {cid: facts.to_json() for cid, facts in sorted(state.calls.items())},
        "responders": responder_stats(state),
        "points": points(state)["quarterly"],
        "availability": {
            pid: {"status": f.status, "until": f.until.isoformat() if f.until else None, "by": f.by}
            for pid, f in sorted(state.desk.availability.items())
        },
        "duty_overrides": [
            {"person_id": o.person_id, "from": o.starts.isoformat(), "to": o.ends.isoformat(), "by": o.by}
            for o in state.desk.overrides
        ],
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return {
        "events": state.events,
        "last_seq": state.last_seq,
        "desk_seq": state.desk_seq,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "content": content,
    }
