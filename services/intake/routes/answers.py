"""One-tap answer links: ``GET /a/<token>`` shows the page (never answers: link previews and
scanners open links), ``POST /a/<token>`` with ``answer=accept|decline`` answers it. No login:
the signed token is the permission, and only while its page awaits an answer (else 410)."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from services.common.answer_links import LinkTarget
from services.intake.answers import answer_page, awaiting_answer, page_of
from services.intake.deps import IntakeDeps, deps_of
from services.notifier.texts import KIND_TEXT, LEVEL_TEXT

router = APIRouter(tags=["answers"])
CHANNELS = {"link", "push"}  # a push action answers through the link its payload carries


def _target(deps: IntakeDeps, token: str) -> LinkTarget:
    target = deps.links.verify(token) if deps.links else None
    if target is None:
        raise HTTPException(404, "this link is not valid")
    return target


@router.get("/a/{token}", include_in_schema=False)
async def show_page(token: str, request: Request) -> HTMLResponse:
    deps = deps_of(request)
    target = _target(deps, token)
    state, assignment = await page_of(deps, target.call_id, target.dispatch_id)
    raised = state.raised
    assert raised is not None
    building = deps.roster.building(raised.building_id)
    facts: dict[str, Any] = {
        "类型 Kind": KIND_TEXT.get(raised.kind, raised.kind),
        "楼栋 Building": building.name if building else raised.building_id or "",
        "地址 Address": raised.address or (building.address if building else ""),
        "求助人 Resident": f"{raised.caller.name} {raised.caller.phone}".strip(),
        "备注 Note": raised.note,
        "层级 Level": LEVEL_TEXT.get(assignment.level, assignment.level),
        "到达时限 Reach by": raised.due.reach.astimezone().strftime("%H:%M:%S"),
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items() if v
    )
    if awaiting_answer(state, assignment):
        action = html.escape(str(request.url.path))
        body = (
            f'<form method="post" action="{action}">'
            '<button name="answer" value="accept" class="accept">接单 Accept</button>'
            '<button name="answer" value="decline" class="decline">不能去 Decline</button></form>'
        )
        status = 200
    else:
        body = f'<p class="ended">此派单已结束 This page has ended ({html.escape(assignment.status)}).</p>'
        status = 410
    return HTMLResponse(_document(f"<table>{rows}</table>{body}"), status_code=status)


@router.post("/a/{token}", include_in_schema=False)
async def answer(token: str, request: Request) -> HTMLResponse:
    deps = deps_of(request)
    target = _target(deps, token)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    answer = (form.get("answer") or [""])[0]
    channel = (form.get("channel") or ["link"])[0]
    if answer not in ("accept", "decline"):
        raise HTTPException(422, "answer: accept or decline")
    if channel not in CHANNELS:
        raise HTTPException(422, "channel: link or push")
    await answer_page(deps, target.call_id, target.dispatch_id, answer, channel)  # type: ignore[arg-type]
    said = "已接单，请立即前往 Accepted: go now" if answer == "accept" else "已回复不能去 Declined"
    return HTMLResponse(_document(f'<p class="answered {answer}">{said}</p>'))


def _document(body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>1310 派单</title><style>body{font:18px system-ui,sans-serif;margin:1rem;max-width:32rem}"
        "th{text-align:left;padding-right:.5rem;color:#555}button{font-size:1.3rem;padding:1rem;"
        "margin:.5rem .5rem 0 0;min-width:9rem}.accept{background:#0a7d32;color:#fff}"
        ".decline{background:#eee}</style></head><body><h1>1310 派单</h1>" + body + "</body></html>"
    )
