"""Responder statistics and the volunteer points ledger, as answers (pure)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from services.audit.compliance import percentile
from services.audit.projections import AuditState


def responder_stats(state: AuditState) -> list[dict[str, Any]]:
    return [
        {
            "id": person,
            "received": s.received,
            "accepted": s.accepted,
            "declined": s.declined,
            "timed_out": s.timed_out,
            "arrived": s.arrived,
            "median_accept_s": percentile(s.accept_s, 0.5),
            "median_arrive_s": percentile(s.arrive_s, 0.5),
        }
        for person, s in sorted(state.responders.items())
    ]


def quarter(at: datetime) -> str:
    return f"{at.year}-Q{(at.month - 1) // 3 + 1}"


def points(state: AuditState, person: str | None = None) -> dict[str, Any]:
    entries = [e for e in state.points if person is None or e.person_id == person]
    totals: dict[str, dict[str, int]] = {}
    for e in entries:
        by_quarter = totals.setdefault(e.person_id, {})
        by_quarter[quarter(e.at)] = by_quarter.get(quarter(e.at), 0) + e.points
    return {
        "quarterly": [
            {"person_id": pid, "quarter": q, "points": pts}
            for pid, quarters in sorted(totals.items())
            for q, pts in sorted(quarters.items())
        ],
        "ledger": [
            {
                "person_id": e.person_id,
                "call_id": e.call_id,
                "reason": e.reason,
                "points": e.points,
                "at": e.at.isoformat(),
            }
            for e in entries
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
