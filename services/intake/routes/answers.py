"""One-tap answer links: ``GET /a/<token>`` shows the page (never answers: link previews and
scanners open links), ``POST /a/<token>`` with ``answer=accept|decline`` answers it. No login:
the signed token is the permission, and only while its page awaits an answer (else 410).

Every answer is HTML, errors too (a phone's browser shows it to a person), with the status
codes of the contract, never cached and never sent on as a referrer: the token is a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from services.adapters.answer_links import LinkTarget
from services.intake import answer_html as pages
from services.intake.answers import answer_page, awaiting_answer, page_of
from services.intake.deps import IntakeDeps, deps_of

router = APIRouter(tags=["answers"])
CHANNELS = {"link", "push"}  # a push action answers through the link its payload carries
PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


def _html(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**PRIVATE, **(headers or {})})


def _failed(exc: HTTPException) -> HTMLResponse:
    return _html(pages.error_page(exc.status_code, str(exc.detail)), exc.status_code, exc.headers)


def _target(deps: IntakeDeps, token: str) -> LinkTarget:
    target = deps.links.verify(token) if deps.links else None
    if target is None:
        raise HTTPException(404, "this link is not valid")
    return target


async def _ended(deps: IntakeDeps, target: LinkTarget) -> HTMLResponse:
    state, assignment = await page_of(deps, target.call_id, target.dispatch_id)
    facts = pages.facts_of(state, assignment, deps.roster)
    return _html(pages.ended_page(state, assignment, facts), 410)


@router.get("/a/{token}", include_in_schema=False)
async def show_page(token: str, request: Request) -> HTMLResponse:
    deps = deps_of(request)
    try:
        target = _target(deps, token)
        state, assignment = await page_of(deps, target.call_id, target.dispatch_id)
        if not awaiting_answer(state, assignment):
            return await _ended(deps, target)
    except HTTPException as exc:
        return _failed(exc)
    facts = pages.facts_of(state, assignment, deps.roster)
    return _html(pages.ask_page(facts, deps.clock.now(), request.url.path))


@router.post("/a/{token}", include_in_schema=False)
async def answer(token: str, request: Request) -> HTMLResponse:
    deps = deps_of(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    answer = (form.get("answer") or [""])[0]
    channel = (form.get("channel") or ["link"])[0]
    try:
        target = _target(deps, token)
        if answer not in ("accept", "decline"):
            raise HTTPException(422, "answer: accept or decline")
        if channel not in CHANNELS:
            raise HTTPException(422, "channel: link or push")
        try:
            state = await answer_page(deps, target.call_id, target.dispatch_id, answer, channel)  # type: ignore[arg-type]
        except HTTPException as exc:
            if exc.status_code != 410:
                raise
            return await _ended(deps, target)
    except HTTPException as exc:
        return _failed(exc)
    if answer == "decline":
        return _html(pages.declined_page())
    assignment = state.assignment_by_dispatch(target.dispatch_id)
    assert assignment is not None
    return _html(pages.accepted_page(pages.facts_of(state, assignment, deps.roster)))
