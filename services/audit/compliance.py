"""The 1310 compliance report, a pure function of the call facts.

Definitions (also in the README):
- Every clock starts when the call was raised (``CallRaised.at``) and stops at the first
  milestone of its stage: contact at the first ``ContactShared``, reach at the first
  ``DispatchAccepted``, onsite at the first ``ResponderArrived``. Closing a call never stops
  a clock: a call resolved without an arrival counts as **missed** onsite.
- A stage is **met** if its milestone came at or before its due time; **missed** if a
  ``DeadlineMissed`` was recorded, the milestone came late, or the call closed (or is still
  open past due) without it. A stage of an open call not yet due is **pending**.
- Percent within target = met / (met + missed). p50/p90/max are seconds from the raise to
  the milestone, over calls that reached it.
- Drills are left out unless asked for; cancelled calls and false alarms are counted apart
  (neither met nor missed); a merged call is counted once, on the call it joined.
- ``desk_confirmed``: of the calls judged, how many had the milestone that stopped the stage's
  clock recorded by the desk for the responder (a supervisor or the duty officer; the event
  carries ``by``): reach via ``DispatchAccepted``, onsite via ``ResponderArrived``. They are
  met or missed like any other; contact is never desk-confirmed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from events.models import STAGES
from events.reports import PERIODS
from services.audit.projections import CallFacts, CommunityOf, as_raised


def stage_outcome(facts: CallFacts, stage: str, now: datetime) -> tuple[str, float | None]:
    """('met'|'missed'|'pending', seconds from raise to milestone or None)."""
    due = facts.due[stage]
    met_at = facts.met_at.get(stage)
    seconds = (met_at - facts.raised_at).total_seconds() if met_at else None
    if met_at is not None and met_at <= due and stage not in facts.missed:
        return "met", seconds
    if met_at is not None or stage in facts.missed:
        return "missed", seconds
    if facts.status != "open" or now > due:
        return "missed", None
    return "pending", None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def parse_utc_offset(value: str) -> timedelta:
    """``+08:00`` -> 8 hours: the community's local time, for day/week/month periods."""
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", value.strip())
    if not match or int(match[2]) > 14 or int(match[3]) > 59:
        raise ValueError(f"tz: a UTC offset such as +08:00, not {value!r}")
    minutes = int(match[2]) * 60 + int(match[3])
    return timedelta(minutes=minutes if match[1] == "+" else -minutes)


def group_key(
    facts: CallFacts,
    group_by: str,
    utc_offset: timedelta = timedelta(0),
    community_of: CommunityOf = as_raised,
) -> str:
    if group_by == "community":
        return community_of(*facts.place) or "(unknown)"
    if group_by == "district":
        return facts.district_id or "(unknown)"
    if group_by == "building":
        return facts.building_id or "(unknown)"
    if group_by == "level":
        return facts.level
    day = (facts.raised_at + utc_offset).date()  # the local calendar day of the raise
    if group_by == "day":
        return day.isoformat()
    if group_by == "week":
        monday = day - timedelta(days=day.weekday())
        return f"week of {monday.isoformat()}"
    return day.strftime("%Y-%m")


def _stages(calls: list[CallFacts], now: datetime) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for stage in STAGES:
        met = missed = pending = desk = 0
        seconds: list[float] = []
        for facts in calls:
            outcome, took = stage_outcome(facts, stage, now)
            met += outcome == "met"
            missed += outcome == "missed"
            pending += outcome == "pending"
            desk += stage in facts.desk_confirmed
            if took is not None:
                seconds.append(took)
        judged = met + missed
        result[stage] = {
            "calls": len(calls),
            "met": met,
            "missed": missed,
            "pending": pending,
            "percent_within_target": round(100 * met / judged, 1) if judged else None,
            "p50_s": percentile(seconds, 0.5),
            "p90_s": percentile(seconds, 0.9),
            "max_s": round(max(seconds), 3) if seconds else None,
            "desk_confirmed": desk,
        }
    return result


def report(
    calls: Iterable[CallFacts],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: str | None = None,
    include_drills: bool = False,
    utc_offset: timedelta = timedelta(0),
    communities: Collection[str] | None = None,
    community_of: CommunityOf = as_raised,
) -> dict[str, Any]:
    """The compliance report; ``communities``: of those communities' calls only (a community
    supervisor's report), None: every call. A call's community is ``community_of`` its place
    (the roster's: a call stored before counties counts under its building's community)."""
    chosen = [
        f
        for f in calls
        if (include_drills or not f.drill)
        and (communities is None or community_of(*f.place) in communities)
        and (start is None or f.raised_at >= start)
        and (end is None or f.raised_at < end)
    ]
    judged = [f for f in chosen if f.status not in ("cancelled", "merged") and f.outcome != "false_alarm"]
    body: dict[str, Any] = {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "include_drills": include_drills,
        "calls": len(judged),
        "cancelled": sum(f.status == "cancelled" for f in chosen),
        "false_alarms": sum(f.outcome == "false_alarm" for f in chosen),
        "merged": sum(f.status == "merged" for f in chosen),
        "drills": sum(f.drill for f in chosen),
        "stages": _stages(judged, now),
    }
    if group_by:
        groups: dict[str, list[CallFacts]] = {}
        for facts in judged:
            groups.setdefault(group_key(facts, group_by, utc_offset, community_of), []).append(facts)
        body["group_by"] = group_by
        if group_by in PERIODS:
            body["utc_offset_minutes"] = int(utc_offset.total_seconds() // 60)
        body["groups"] = {
            key: {"calls": len(items), "stages": _stages(items, now)} for key, items in sorted(groups.items())
        }
    return body
