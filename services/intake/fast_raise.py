"""``POST /api/calls`` without FastAPI's per-request machinery: the intake's hot route.

FastAPI spent about as much CPU on a raise as the raise itself: the layers between the
server and the endpoint, solving the route's dependencies (the principal, a header, the body)
per request, parsing the body to Python objects and validating those, validating and encoding
the answer again. This middleware, inside the request metrics and the body size limit (the
two layers a raise needs) and outside the rest, serves the common raise:

- the body validated once, from its bytes (``RaiseCallIn`` through ``TypeAdapter.validate_json``);
- the principal by a direct call (``auth.principal``: an unknown token is the same 401);
- the raise itself (``routes/calls.py`` ``raise_from``, shared with the documented route);
- the answer encoded once, as FastAPI's ``JSONResponse`` encodes it; a refusal
  (``HTTPException``: 401, 403, 422, 429, 503) answered by the app's own handler.

Whatever it does not take on it passes on, body and all, to the documented route
(``raise_call``), so every other refusal is FastAPI's own (the same status, the same 422
detail): a body that fails validation (pydantic's JSON parser is stricter than
``json.loads``: a lone surrogate, a byte-order mark or ``NaN`` fail here and are judged
there), a content type other than ``application/json``, an over-long ``Idempotency-Key``.
/openapi.json documents that route, which stays the contract.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.auth import principal
from services.intake.routes import calls
from services.intake.schemas import RaiseCallIn

RAISE_BODY: TypeAdapter[RaiseCallIn] = TypeAdapter(RaiseCallIn)


class FastRaise:
    """ASGI middleware: ``POST /api/calls`` served here, anything else passed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.documented = next(
            route
            for route in calls.router.routes
            if isinstance(route, APIRoute) and route.endpoint is calls.raise_call
        )
        self.path = self.documented.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.documented  # what the request metrics (and the router) name it
        request = Request(scope, receive)
        body = await request.body()  # over the size limit: BodySizeLimit, outside, answers 413
        raised = _valid_raise(request, body)
        if raised is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        try:
            who = await principal(request)
            content = await calls.raise_from(request, raised, request.headers.get("idempotency-key"), who)
        except HTTPException as exc:
            response = await _handled(request, exc)
        else:
            response = Response(
                _json(content),
                status_code=201,
                headers={"Location": content["links"]["self"]},
                media_type="application/json",
            )
        await response(scope, receive, send)


def _valid_raise(request: Request, body: bytes) -> RaiseCallIn | None:
    """The raise, if this path takes it on: a JSON body that validates, a key within bounds."""
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


async def _handled(request: Request, exc: HTTPException) -> Response:
    """The answer the app's exception handler gives (FastAPI's ``{"detail": ...}``)."""
    handlers = request.app.exception_handlers
    handler = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
    response: Response = await handler(request, exc)
    return response


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
