"""Composition root of the deadlines service: NATS, store, clock, roster -> the keeper."""

from __future__ import annotations

import structlog
from nats.aio.client import Client

from events import subjects
from services.common.calls import Calls
from services.common.clock import Clock, SystemClock
from services.common.follow import StreamFollower
from services.common.ids import IdFactory, RandomIds
from services.common.jetstream_store import JetStreamEventStore
from services.common.service import Service, run_service
from services.common.settings import Settings
from services.common.streams import connect, ensure_streams
from services.deadlines.keeper import DeadlineKeeper

log = structlog.get_logger("deadlines")


class DeadlinesService:
    def __init__(self, nc: Client, keeper: DeadlineKeeper) -> None:
        self.nc = nc
        self.keeper = keeper
        self.follower = StreamFollower(subjects.CALLS_STREAM, subjects.CALLS_SUBJECTS, keeper.on_fact)

    async def start(self) -> None:
        # Catch up with every open call first, so overdue deadlines fire once, right away.
        await self.follower.start(self.nc)
        self.keeper.start()
        overdue = self.keeper.sweep()
        log.info(
            "service_started",
            open_calls=len(self.keeper.open),
            timers=len(self.keeper.wheel),
            overdue=overdue,
        )

    async def stop(self) -> None:
        await self.keeper.stop()
        await self.follower.stop()
        await self.nc.close()
        log.info("service_stopped")


async def build(settings: Settings, clock: Clock | None = None, ids: IdFactory | None = None) -> Service:
    assert settings.nats_url, "NATS_URL must be set for a service"
    nc = await connect(settings.nats_url, "deadlines")
    await ensure_streams(nc.jetstream(), settings.replicas)
    calls = Calls(JetStreamEventStore(nc), clock or SystemClock(), ids or RandomIds())
    return DeadlinesService(nc, DeadlineKeeper(calls, settings.sweep_interval_s))


def run(settings: Settings) -> None:
    run_service(lambda: build(settings))
