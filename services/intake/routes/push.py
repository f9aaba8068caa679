"""Web Push sign-up: the VAPID public key for browsers, and each person's subscribed browsers.

``GET /api/push/key`` is public (a browser needs it before it can subscribe). A person adds or
removes their own browsers only: another person's token is 403, none 401.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.adapters.push_subscriptions import PushSubscription, PushSubscriptions
from services.adapters.vapid import VapidKeys, load_vapid
from services.intake.auth import ANONYMOUS, Principal, auth_on, principal
from services.intake.deps import IntakeDeps, deps_of, unavailable

router = APIRouter(tags=["push"])


class Unsubscribe(BaseModel):
    model_config = ConfigDict(extra="ignore")
    endpoint: str = Field(min_length=1, max_length=2048)


def vapid_of(deps: IntakeDeps) -> VapidKeys:
    if deps.vapid is None:
        deps.vapid = load_vapid(deps.settings.data_dir)
    return deps.vapid


async def subscriptions_of(deps: IntakeDeps) -> PushSubscriptions:
    if deps.push_subscriptions is None:
        if deps.nc is None:
            raise unavailable()
        try:
            deps.push_subscriptions = await PushSubscriptions.open(deps.nc)
        except Exception:
            raise unavailable() from None
    return deps.push_subscriptions


def _own(request: Request, who: Principal, person_id: str) -> None:
    """Only the person themselves (with auth off, anyone as the person named)."""
    if who is ANONYMOUS:
        if auth_on(request):
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    elif who.id != person_id:
        raise HTTPException(403, "only that person subscribes their own browsers")
    if person_id not in deps_of(request).roster.people:
        raise HTTPException(404, f"no one with id {person_id!r} in the roster")


@router.get("/api/push/key")
async def push_key(request: Request) -> dict[str, str]:
    return {"public_key": vapid_of(deps_of(request)).public_key}


@router.post("/api/responders/{responder_id}/push-subscriptions", status_code=201)
async def subscribe(
    responder_id: str, body: PushSubscription, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    _own(request, who, responder_id)
    store = await subscriptions_of(deps_of(request))
    try:
        await store.add(responder_id, body)
    except Exception:
        raise unavailable("push subscriptions are unavailable; nothing was stored, retry shortly") from None
    return {"endpoint": body.endpoint}


@router.delete("/api/responders/{responder_id}/push-subscriptions", status_code=204)
async def unsubscribe(
    responder_id: str, body: Unsubscribe, request: Request, who: Principal = Depends(principal)
) -> Response:
    _own(request, who, responder_id)
    store = await subscriptions_of(deps_of(request))
    try:
        await store.remove(responder_id, body.endpoint)
    except Exception:
        raise unavailable("push subscriptions are unavailable; retry shortly") from None
    return Response(status_code=204)
