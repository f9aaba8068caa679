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
from services.intake.schemas import CSV_RESPONSE

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
    if who.communities is not None:  # a community's supervisor: its calls only
        params["communities"] = sorted(who.communities)
    body = await ask_audit(request, "report", params)
    if format == "csv":
        return PlainTextResponse(report_csv(body), media_type="text/csv")
    return dict(body)


@router.get("/api/reports/responders")
async def responders(request: Request, who: Principal = Depends(require_supervisor)) -> list[dict[str, Any]]:
    return list(await ask_audit(request, "responders", {}))


@router.get("/api/points", response_model=None, responses=CSV_RESPONSE)
async def volunteer_points(
    request: Request,
    person_id: str | None = None,
    format: Literal["json", "csv"] = "json",
    who: Principal = Depends(require_supervisor),
) -> Response | dict[str, Any]:
    body = await ask_audit(request, "points", {"person_id": person_id})
    if format == "csv":
        return PlainTextResponse(points_csv(body), media_type="text/csv")
    return dict(body)
