"""Questions the audit answers over NATS request/reply (``audit.query.<name>``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from events.reports import GROUPS
from events.subjects import AUDIT_QUERY_PREFIX
from services.audit.compliance import parse_utc_offset, report
from services.audit.projections import AuditState, CommunityOf, as_raised
from services.audit.summaries import digest, points, responder_stats

SUBJECT_PREFIX = AUDIT_QUERY_PREFIX


class QueryError(ValueError):
    pass


def _offset(value: Any) -> timedelta:
    if value in (None, ""):
        return timedelta(0)
    try:
        return parse_utc_offset(str(value))
    except ValueError as exc:
        raise QueryError(str(exc)) from None


def _time(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name}: not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise QueryError(f"{name}: give a time zone (e.g. Z or +08:00)")
    return parsed


def _communities(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError("communities: a list of community ids")
    return frozenset(value)


def answer(
    state: AuditState, name: str, params: dict[str, Any], now: datetime, community_of: CommunityOf = as_raised
) -> Any:
    """The answer to query ``name``; ``communities`` (a list of ids) narrows a report, the
    responder figures and the points to those communities' calls, each call's community being
    ``community_of`` its place (the audit passes the current roster's)."""
    communities = _communities(params.get("communities"))
    if name == "report":
        group_by = params.get("group_by") or None
        if group_by is not None and group_by not in GROUPS:
            raise QueryError(f"group_by: one of {', '.join(GROUPS)}")
        return report(
            state.calls.values(),
            now,
            _time(params.get("from"), "from"),
            _time(params.get("to"), "to"),
            group_by,
            bool(params.get("include_drills", False)),
            _offset(params.get("tz")),
            communities,
            community_of,
        )
    if name == "responders":
        return responder_stats(state, community_of, communities)
    if name == "points":
        return points(state, params.get("person_id"), community_of, communities)
    if name == "digest":
        return digest(state)
    raise QueryError(f"unknown query {name!r}")


def encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()
