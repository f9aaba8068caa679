"""Answers that come back through a provider: an SMS reply, a key pressed in a voice call.

``POST /api/inbound/sms`` ``{"from", "text"}``: "1" accepts, "2" declines the sender's newest
page still awaiting their answer. ``POST /api/inbound/voice`` ``{"reference", "digits"}``:
``reference`` is the page's answer token (the one in its link), "1" accepts, "2" declines.

Both are signed like the notifier's webhooks: ``X-Dispatch1310-Timestamp`` (unix seconds,
within ``MAX_SKEW_S`` of now) and ``X-Dispatch1310-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">`` with the webhook secret (``DISPATCH1310_WEBHOOK_SECRET``, else the data
dir's: ``bootstrap.webhook_secret``); anything else is 401 before the body is even read as JSON.
The answer itself goes through ``answer_page`` (403/409/410 as for every other way of answering).
"""

from __future__ import annotations

import hmac
import unicodedata
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.adapters.signing import sign
from services.domain.phones import NotAPhone, normalise_phone
from services.domain.roster import Roster
from services.intake.answers import Answer, answer_page, awaiting_answer, page_of
from services.intake.deps import IntakeDeps, deps_of
from services.intake.live import LiveCalls
from services.intake.schemas import ErrorOut

router = APIRouter(tags=["inbound"])

MAX_SKEW_S = 300
ANSWERS: dict[str, Answer] = {"1": "accept", "2": "decline"}


class InboundSms(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from", min_length=1, max_length=64)
    text: str = Field(max_length=1600)


class InboundVoice(BaseModel):
    reference: str = Field(min_length=1, max_length=256)
    digits: str = Field(max_length=32)


class InboundAnswer(BaseModel):
    call_id: str
    dispatch_id: str
    answer: Answer


async def signed_body(request: Request, deps: IntakeDeps) -> bytes:
    """The request's body if it carries a valid, fresh signature; else 401."""
    body = await request.body()
    timestamp = request.headers.get("x-dispatch1310-timestamp", "")
    signature = request.headers.get("x-dispatch1310-signature", "")
    if not timestamp.isdigit() or not signature:
        raise HTTPException(401, "X-Dispatch1310-Timestamp and X-Dispatch1310-Signature are required")
    if abs(deps.clock.now().timestamp() - int(timestamp)) > MAX_SKEW_S:
        raise HTTPException(401, f"the timestamp is more than {MAX_SKEW_S} s away from now")
    if not hmac.compare_digest(signature, sign(deps.webhook_secret, timestamp, body)):
        raise HTTPException(401, "the signature does not match")
    return body


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _answer_of(said: str) -> Answer:
    """'1' or '2', written any width, surrounded by any whitespace."""
    answer = ANSWERS.get(unicodedata.normalize("NFKC", said).strip())
    if answer is None:
        raise HTTPException(422, "reply 1 to accept or 2 to decline")
    return answer


ANSWER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not signed with the webhook secret, or not within 300 s"},
    409: {"model": ErrorOut, "description": "the answer conflicts with the call as it stands"},
    410: {"model": ErrorOut, "description": "the page has ended: nothing was stored"},
}


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post("/api/inbound/voice", response_model=InboundAnswer, openapi_extra=_body_doc(InboundVoice))
async def inbound_voice(request: Request) -> InboundAnswer:
    deps = deps_of(request)
    voice: InboundVoice = _parse(InboundVoice, await signed_body(request, deps))
    answer = _answer_of(voice.digits)
    target = deps.links.verify(voice.reference) if deps.links else None
    if target is None:
        raise HTTPException(404, "no page has this reference")
    await answer_page(deps, target.call_id, target.dispatch_id, answer, "voice")
    return InboundAnswer(call_id=target.call_id, dispatch_id=target.dispatch_id, answer=answer)


@router.post(
    "/api/inbound/sms",
    response_model=InboundAnswer,
    responses=ANSWER_ERRORS,
    openapi_extra=_body_doc(InboundSms),
)
async def inbound_sms(request: Request) -> InboundAnswer:
    deps = deps_of(request)
    sms: InboundSms = _parse(InboundSms, await signed_body(request, deps))
    answer = _answer_of(sms.text)
    try:
        phone = normalise_phone(sms.sender)
    except NotAPhone as exc:
        raise HTTPException(422, f"from: {exc}") from None
    people = people_with_phone(deps.roster, phone)
    if not people:
        raise HTTPException(404, f"nobody in the roster has the phone {phone}")
    live = deps.live
    answered = await _answer_newest(deps, live, people, answer)
    if answered is None and deps.nc is not None and await live.catch_up(deps.nc):
        answered = await _answer_newest(deps, live, people, answer)  # a page stored a moment ago
    if answered is not None:
        return answered
    raise HTTPException(404, f"no page is awaiting an answer from {phone}")


async def _answer_newest(
    deps: IntakeDeps, live: LiveCalls, people: set[str], answer: Answer
) -> InboundAnswer | None:
    """Answer the newest page awaiting any of ``people``; None if there is none. The memory
    may lag behind the stream: the call as stored decides whether a page still awaits."""
    for page in live.pages_awaiting(people):
        state, assignment = await page_of(deps, page.call_id, page.dispatch_id)
        if awaiting_answer(state, assignment):
            await answer_page(deps, page.call_id, page.dispatch_id, answer, "sms")
            return InboundAnswer(call_id=page.call_id, dispatch_id=page.dispatch_id, answer=answer)
    return None


def people_with_phone(roster: Roster, phone: str) -> set[str]:
    """Ids of the people whose phone or SMS number is ``phone`` (canonical form)."""
    found = set()
    for person in roster.people.values():
        for number in (person.phone, person.contact_methods.sms):
            if number and _canonical(number) == phone:
                found.add(person.id)
    return found


def _canonical(number: str) -> str | None:
    try:
        return normalise_phone(number)
    except NotAPhone:
        return None
