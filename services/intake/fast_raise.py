"""``POST /api/calls`` without FastAPI's per-request machinery: the intake's hot route.

FastAPI spent about as much CPU on a raise as the raise itself: solving the route's
dependencies (the principal, a header, the body) per request, parsing the body to Python
objects and validating those, validating and encoding the answer again. This route, matched
ahead of the documented one (``routes/calls.py`` ``raise_call``), serves the common request:

- the body validated once, from its bytes (``RaiseCallIn`` through ``TypeAdapter.validate_json``);
- the principal by a direct call (``auth.principal``: an unknown token is the same 401);
- the answer encoded once, as FastAPI's ``JSONResponse`` encodes it.

Whatever it does not take on it hands, body and all, to the documented route through the
router, so every refusal is still FastAPI's own (the same status, the same 422 detail): a
body that fails validation (pydantic's JSON parser is stricter than ``json.loads``: a lone
surrogate, a byte-order mark, ``NaN`` fail here and are judged there), a content type other
than ``application/json``, an ``Idempotency-Key`` over its length. /openapi.json documents the
documented route; this one is left out of it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from services.intake.auth import principal
from services.intake.routes import calls
from services.intake.schemas import RaiseCallIn

RAISE_BODY: TypeAdapter[RaiseCallIn] = TypeAdapter(RaiseCallIn)
HANDED_OVER = "dispatch1310.handed_over"  # in the scope: the documented route answers it


class FastRaise:
    """The ASGI endpoint; ``documented`` is the route it stands in for and hands over to."""

    def __init__(self, documented: APIRoute) -> None:
        self.documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.documented  # what the request metrics and the bearer lookup read
        request = Request(scope, receive)
        body = await request.body()
        raised = _valid_raise(request, body)
        if raised is None:
            scope[HANDED_OVER] = True
            await scope["router"](scope, _replaying(body, receive), send)
            return
        # An HTTPException (401, 403, 422, 429, 503) goes to the app's handler, as FastAPI's.
        who = await principal(request)
        content = await calls.raise_from(request, raised, request.headers.get("idempotency-key"), who)
        response = Response(
            _json(content),
            status_code=201,
            headers={"Location": content["links"]["self"]},
            media_type="application/json",
        )
        await response(scope, receive, send)


class FastRaiseRoute(Route):
    """``POST /api/calls`` served by ``FastRaise``; it steps aside for a request it handed over."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(HANDED_OVER):
            return Match.NONE, {}
        return super().matches(scope)


def fast_raise_route() -> FastRaiseRoute:
    """The route to put ahead of every other (``app.router.routes``)."""
    documented = next(
        route
        for route in calls.router.routes
        if isinstance(route, APIRoute) and route.endpoint is calls.raise_call
    )
    return FastRaiseRoute(documented.path, FastRaise(documented), methods=["POST"], include_in_schema=False)


def _valid_raise(request: Request, body: bytes) -> RaiseCallIn | None:
    """The raise, if this route takes it on: a JSON body that validates, a key within bounds."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return None  # FastAPI reads no content type, or a "+json" one, as JSON too: it judges them
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > calls.IDEMPOTENCY_KEY_MAX:
        return None
    try:
        return RAISE_BODY.validate_json(body)
    except ValidationError:
        return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the documented route: the body already read, then the client's own."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _json(content: dict[str, Any]) -> bytes:
    """As FastAPI's ``JSONResponse`` renders it."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()
