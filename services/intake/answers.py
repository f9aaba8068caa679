"""Answering a page from outside the responder page: a one-tap link, a push notification's
action, an SMS reply, a voice keypress. Every way goes through the same ``Accept`` /
``Decline`` command as the page's buttons (same 403/409), and records the channel it came by.
"""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException

from events import commands as c
from events.models import AnswerChannel
from services.domain.aggregate import Assignment, CallState
from services.intake.deps import IntakeDeps, execute, load_call

Answer = Literal["accept", "decline"]
ANSWERED = {"accept": ("accepted", "enroute", "arrived"), "decline": ("declined",)}


async def page_of(deps: IntakeDeps, call_id: str, dispatch_id: str) -> tuple[CallState, Assignment]:
    """The call and the page a link names (404: no such page)."""
    state = await load_call(deps, call_id)
    assignment = state.assignment_by_dispatch(dispatch_id)
    if assignment is None:
        raise HTTPException(404, "no such page")
    return state, assignment


def awaiting_answer(state: CallState, assignment: Assignment) -> bool:
    return state.is_open and assignment.status == "paged"


async def answer_page(
    deps: IntakeDeps, call_id: str, dispatch_id: str, answer: Answer, channel: AnswerChannel
) -> CallState:
    """Accept or decline the page ``dispatch_id`` for its person. The same answer again is
    harmless (200, nothing stored); a page that ended otherwise (answered the other way,
    timed out, the call closed) answers nothing: 410."""
    state, assignment = await page_of(deps, call_id, dispatch_id)
    if assignment.status in ANSWERED[answer]:
        return state
    if not awaiting_answer(state, assignment):
        raise HTTPException(410, f"this page has ended ({assignment.status}; call {state.status})")
    command_type = c.Accept if answer == "accept" else c.Decline
    state, _ = await execute(
        deps, command_type(call_id=call_id, responder_id=assignment.responder_id, channel=channel)
    )
    return state
