"""The pages people use (plain HTML + JS served by the intake, no build step) and the small
public look-ups they need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse

from services.intake.auth import Principal, require_supervisor, require_user
from services.intake.deps import deps_of
from services.intake.schemas import CallIdPath

STATIC = Path(__file__).resolve().parent.parent / "static"
I18N = Path(__file__).resolve().parent.parent / "i18n"
LANGUAGES = {"zh-CN", "en"}

router = APIRouter(tags=["pages"])


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8")


@router.get("/", include_in_schema=False)
async def resident_page() -> FileResponse:
    return _page("resident.html")


@router.get("/responder", include_in_schema=False)
async def responder_page() -> FileResponse:
    return _page("responder.html")


@router.get("/board", include_in_schema=False)
async def board_page() -> FileResponse:
    return _page("board.html")


@router.get("/county", include_in_schema=False)
async def county_page() -> FileResponse:
    return _page("county.html")


@router.get("/calls/{call_id}", include_in_schema=False)
async def audit_page(call_id: CallIdPath) -> FileResponse:
    return _page("audit.html")


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> FileResponse:
    """The responder app's service worker (Web Push): served from / so its scope is the app."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


@router.get("/manifest.webmanifest", include_in_schema=False)
async def manifest() -> FileResponse:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(path)


@router.get("/i18n/{lang}.json", include_in_schema=False)
async def texts(lang: str) -> FileResponse:
    if lang not in LANGUAGES:
        raise HTTPException(404, f"no texts for {lang!r}")
    return FileResponse(I18N / f"{lang}.json", media_type="application/json")


@router.get("/api/buildings")
async def buildings(request: Request) -> list[dict[str, Any]]:
    """Public: buildings, their districts and communities by id and name only (for the
    resident's picker)."""
    roster = deps_of(request).roster
    return [
        {
            "id": b.id,
            "name": b.name,
            "district_id": d.id,
            "district_name": d.name,
            "community_id": c.id,
            "community_name": c.name,
        }
        for c in roster.served
        for d in roster.districts_of(c)
        for b in d.buildings
    ]


@router.get("/api/communities")
async def communities(request: Request, who: Principal = Depends(require_supervisor)) -> list[dict[str, Any]]:
    """The communities ``who`` oversees (a county supervisor: all, the county's desk last),
    with how many districts and buildings each has."""
    roster = deps_of(request).roster
    return [
        {
            "id": c.id,
            "name": c.name,
            "districts": len(roster.districts_of(c)),
            "buildings": sum(len(d.buildings) for d in roster.districts_of(c)),
            "county_desk": roster.is_county and c.id == roster.desk.id,
        }
        for c in roster.desks
        if who.communities is None or c.id in who.communities
    ]


@router.get("/api/me")
async def me(request: Request, who: Principal = Depends(require_user)) -> dict[str, Any]:
    """Who the token is, and their status as the desk's board shows it (away, busy while they
    hold a call, available)."""
    deps = deps_of(request)
    book = deps.duty_book
    now = deps.clock.now()
    until = book.away_until(who.id, now)
    return {
        "id": who.id,
        "name": who.name,
        "role": who.role,
        # A supervisor's communities (a county's community supervisor); None: everywhere.
        "communities": sorted(who.communities) if who.communities is not None else None,
        "status": book.status(who.id, now, deps.busy_people()),
        "until": until.isoformat() if until else None,
    }
