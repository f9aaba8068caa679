"""Composition root of the intake service: NATS, store, clock, roster -> FastAPI app."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.aio.client import Client
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events import subjects
from services.adapters.answer_links import AnswerLinks
from services.adapters.follow import StreamFollower
from services.adapters.intake_secrets import token_key
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.roster_store import RosterHolder
from services.domain.calls import Calls
from services.domain.clock import Clock
from services.domain.ids import IdFactory
from services.intake.auth import redact_access_log
from services.intake.deps import IntakeDeps
from services.intake.fast_raise import FastRaise
from services.intake.limits import BodySizeLimit, CallRateLimiter
from services.intake.request_metrics import RequestMetrics
from services.intake.routes import answers, calls, devices, duty, inbound, live, pages, push, reports, system
from services.intake.schemas import ERROR_RESPONSES, json_safe
from services.runtime.bootstrap import bootstrap
from services.runtime.lifeline import STOP_DEADLINE_S, exit_deadline
from services.runtime.settings import Settings

# Routers of the intake, one module per area, in the order their paths are matched.
ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    calls.router,
    live.router,
    reports.router,
    devices.router,
    duty.router,
    pages.router,
    answers.router,
    inbound.router,
    push.router,
)


def create_app(settings: Settings, clock: Clock | None = None, ids: IdFactory | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        deps = await bootstrap("intake", settings, compose, clock=clock, ids=ids, publish_roster=True)
        nc = deps.nc
        assert nc is not None
        app.state.deps = deps
        await deps.live.follow(nc)
        desk_follower = StreamFollower(subjects.RESPONDERS_STREAM, ">", deps.desk.apply)
        await desk_follower.start(nc)
        try:
            yield
        finally:
            await desk_follower.stop()
            await deps.live.close()
            await deps.rosters.close()
            await nc.close()

    app = FastAPI(title="dispatch1310", version="0.1.0", lifespan=lifespan)
    redact_access_log()
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(AllowEveryMethod)
    app.add_middleware(FastRaise)  # POST /api/calls served here: inside the metrics and size limit
    app.add_middleware(BodySizeLimit)
    app.state.rate_limiter = CallRateLimiter(new_phones_per_address=settings.new_phones_per_address)
    app.add_middleware(RequestMetrics)
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    return app


async def compose(
    *,
    settings: Settings,
    nc: Client,
    store: JetStreamEventStore,
    calls: Calls,
    clock: Clock,
    rosters: RosterHolder,
    links: AnswerLinks,
    webhook_secret: str,
) -> IntakeDeps:
    return IntakeDeps(
        settings,
        nc,
        store,
        calls,
        clock,
        rosters,
        webhook_secret,
        token_key=await token_key(nc),
        links=links,
    )


class AllowEveryMethod:
    """A 405's ``Allow`` lists every method of the path (Starlette lists only those of the
    first route matching it: ``OPTIONS /api/roster`` said ``Allow: GET``, not ``GET, POST``).
    The methods are the documented ones (``/openapi.json``), so the two always agree."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._paths: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = self._methods_of(scope["app"], scope["path"])
                if allowed:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", allowed.encode())]}
            await send(message)

        await self.app(scope, receive, send_allow)

    def _methods_of(self, app: FastAPI, path: str) -> str:
        if self._paths is None:
            self._paths = [
                (compile_path(template)[0], ", ".join(sorted(m.upper() for m in operations)))
                for template, operations in app.openapi().get("paths", {}).items()
            ]
        return next((methods for regex, methods in self._paths if regex.match(path)), "")


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the field, like FastAPI's own, but never a 500 for echoing the input back:
    a NaN or a lone surrogate the body carried is shown by name or escaped."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))})


class _Server(uvicorn.Server):
    """Stops on SIGTERM/SIGINT within ``STOP_DEADLINE_S``, open live-board streams or not, and
    says when it accepts connections (``on_started``)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        exit_deadline(STOP_DEADLINE_S)
        super().handle_exit(sig, frame)


def run(settings: Settings, on_started: Callable[[], None] | None = None) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,  # at "warning" it never printed a line, but still cost each request a call
        timeout_graceful_shutdown=2,
    )
    # uvloop, as the other services (services/runtime/service.py): its transports write a
    # response and a NATS publish for less CPU than asyncio's. uvicorn picks uvloop only when
    # it runs the loop itself (``Server.run``), not under ``asyncio.run``.
    server = _Server(config, on_started)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(server.serve())
    else:
        uvloop.run(server.serve())
