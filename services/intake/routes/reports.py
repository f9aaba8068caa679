"""Compliance reports, responder statistics and volunteer points, answered by the audit service."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from events.reports import GroupBy, points_csv, report_csv
from events.subjects import AUDIT_QUERY_PREFIX
from services.intake.auth import Principal, require_supervisor
from services.intake.deps import deps_of, unavailable
from services.intake.routes.calls import require_desk
from services.intake.schemas import CSV_RESPONSE
from services.intake.scope import reads_of

router = APIRouter(tags=["reports"])


async def ask_audit(request: Request, name: str, params: dict[str, Any]) -> Any:
    nc = deps_of(request).nc
    if nc is None:
        raise unavailable()
    try:
        msg = await nc.request(f"{AUDIT_QUERY_PREFIX}{name}", json.dumps(params).encode(), timeout=10)
    except (NatsTimeout, NoRespondersError):
        raise unavailable("the audit service is not answering; retry shortly") from None
    body = json.loads(msg.data)
    if not body.get("ok"):
        raise HTTPException(422, body.get("error", "bad query"))
    return body["result"]


@router.get("/api/reports/compliance", response_model=None, responses=CSV_RESPONSE)
async def compliance(
    request: Request,
    start: str | None = Query(default=None, alias="from", description="RFC 3339; calls raised at or after"),
    end: str | None = Query(default=None, alias="to", description="RFC 3339; calls raised before"),
    group_by: GroupBy | None = None,
    include_drills: bool = False,
    tz: str = Query(
        default="+08:00",
        pattern=r"^[+-]\d{2}:\d{2}$",
        description="UTC offset of the community's local time, for day/week/month periods",
    ),
    community: str | None = Query(default=None, max_length=64, description="one community's calls only"),
    format: Literal["json", "csv"] = "json",
    who: Principal = Depends(require_supervisor),
) -> Response | dict[str, Any]:
    params: dict[str, Any] = {
        "from": start,
        "to": end,
        "group_by": group_by,
        "include_drills": include_drills,
        "tz": tz,
    }
    body = await ask_audit(request, "report", scoped(request, who, community, params))
    if format == "csv":
        return PlainTextResponse(report_csv(body), media_type="text/csv")
    return dict(body)


def scoped(request: Request, who: Principal, community: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` narrowed to the communities the read covers: a community supervisor's (or
    officer on duty's) own, or the one ``community`` asked for (404 unknown, 403 not theirs)."""
    covered = reads_of(deps_of(request), who, community)
    return params if covered is None else {**params, "communities": sorted(covered)}


@router.get("/api/reports/responders")
async def responders(
    request: Request,
    community: str | None = Query(default=None, max_length=64, description="one community's calls only"),
    who: Principal = Depends(require_supervisor),
) -> list[dict[str, Any]]:
    """Per person and community (of the calls they were paged for): pages received, answered,
    timed out, arrivals and median times."""
    return list(await ask_audit(request, "responders", scoped(request, who, community, {})))


@router.get("/api/points", response_model=None, responses=CSV_RESPONSE)
async def volunteer_points(
    request: Request,
    person_id: str | None = None,
    community: str | None = Query(default=None, max_length=64, description="one community's points only"),
    format: Literal["json", "csv"] = "json",
    who: Principal = Depends(require_desk),
) -> Response | dict[str, Any]:
    """The points ledger and quarterly totals per person and community (a point belongs to
    the community of the call it was earned on): a supervisor's or the officer on duty's
    communities only."""
    body = await ask_audit(request, "points", scoped(request, who, community, {"person_id": person_id}))
    if format == "csv":
        return PlainTextResponse(points_csv(body), media_type="text/csv")
    return dict(body)
