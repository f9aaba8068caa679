"""Composition root of the intake service: NATS, store, clock, roster -> FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from services.common.settings import Settings
from services.common.streams import connect, ensure_streams


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.nats_url, "NATS_URL must be set for a service"
        nc = await connect(settings.nats_url, "intake")
        await ensure_streams(nc.jetstream())
        app.state.nc = nc
        try:
            yield
        finally:
            await nc.close()

    app = FastAPI(title="dispatch1310", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run(settings: Settings) -> None:
    config = uvicorn.Config(
        create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning"
    )
    asyncio.run(uvicorn.Server(config).serve())
