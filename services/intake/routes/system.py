"""Health, metrics and roster reload."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from services.adapters.roster_store import publish_roster
from services.domain.roster import RosterError, parse_roster
from services.intake import metrics_page
from services.intake.auth import Principal, require_supervisor
from services.intake.deps import deps_of
from services.registry import SERVICES

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    deps = deps_of(request)
    connected = deps.nc is not None and deps.nc.is_connected
    if not connected:
        raise HTTPException(503, "not connected to NATS", headers={"Retry-After": "2"})
    return {"status": "ok", "roster_version": deps.roster.version}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Prometheus text: what every service recorded, and the board and consumers as of now."""
    deps = deps_of(request)
    figures = [
        *metrics_page.board_families(deps.live.open.values()),
        *metrics_page.lag_families(await metrics_page.consumer_lags(deps.nc)),
    ]
    body = metrics_page.render(figures, time.time(), SERVICES)
    return Response(body, media_type=metrics_page.CONTENT_TYPE)


@router.get("/api/roster")
async def get_roster(request: Request, who: Principal = Depends(require_supervisor)) -> dict[str, Any]:
    """The roster without tokens and device secrets; a community supervisor's: the county's
    shared parts and their own communities only."""
    roster = deps_of(request).roster
    # Tokens and device secrets never leave the system.
    public = json.loads(
        json.dumps(roster.model_dump(mode="json", exclude={"devices"})), object_hook=_no_secrets
    )
    if who.communities is not None:
        public["communities"] = [c for c in public["communities"] if c["id"] in who.communities]
    return {"version": roster.version, "roster": public}


def _no_secrets(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("token", "token_sha256", "token_hmac", "secret")}


@router.post("/api/roster")
async def load_roster(request: Request, who: Principal = Depends(require_supervisor)) -> dict[str, Any]:
    """Reload the roster (JSON or YAML body): validated, then shared with every service. The
    county's roster is the county supervisors' to load, not a community's."""
    deps = deps_of(request)
    if who.communities is not None:
        raise HTTPException(403, "a community supervisor does not load the county's roster")
    body = await request.body()
    if len(body) > 2_000_000:
        raise HTTPException(413, "roster larger than 2 MB")
    try:
        roster = parse_roster(body, "request body")
    except RosterError as exc:
        raise HTTPException(422, str(exc)) from None
    if deps.nc is None:
        raise HTTPException(503, "not connected to NATS")
    sealed = await publish_roster(deps.nc, roster)
    deps.rosters.roster = sealed
    return {"version": sealed.version, "districts": len(roster.all_districts), "people": len(roster.people)}
