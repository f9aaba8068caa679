"""Composition root of the deadlines service: NATS, store, clock, roster -> the keeper."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from nats.aio.client import Client

from services.adapters.resuming_follower import ResumingFollower
from services.deadlines.keeper import DeadlineKeeper
from services.domain.calls import Calls
from services.domain.clock import Clock
from services.domain.ids import IdFactory
from services.runtime.bootstrap import bootstrap
from services.runtime.service import Service, run_service
from services.runtime.settings import Settings

log = structlog.get_logger("deadlines")


class DeadlinesService:
    def __init__(self, nc: Client, keeper: DeadlineKeeper) -> None:
        self.nc = nc
        self.keeper = keeper
        # Folds from the oldest open call's first event, not from sequence 1 (restart_point.py).
        self.follower = ResumingFollower("deadlines", keeper.open, keeper.on_fact)

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
    return await bootstrap("deadlines", settings, compose, clock=clock, ids=ids)


async def compose(*, settings: Settings, nc: Client, calls: Calls) -> Service:
    return DeadlinesService(nc, DeadlineKeeper(calls, settings.sweep_interval_s))


def run(settings: Settings, on_started: Callable[[], None] | None = None) -> None:
    run_service(lambda: build(settings), on_started)
