"""The dispatcher's memory after a restart: open calls (who is busy, where to look again) and
open calls per building (merge window), folded from its restart point (restart_point.py) up to
what its durable consumer has handled; the consumer delivers everything after that again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from nats.aio.client import Client

from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.restart_point import PointKeeper, RestartPoint, first_open_seq, folds, load_start
from services.dispatcher.handlers import Dispatcher

NAME = "dispatcher"
log = structlog.get_logger("dispatcher")


async def rebuild(
    nc: Client,
    store: JetStreamEventStore,
    dispatcher: Dispatcher,
    handled_up_to: Callable[[], Awaitable[int]],
) -> PointKeeper:
    """Fold the dispatcher's memory; returns the keeper of its restart point (saving it now,
    regularly, and on ``stop``)."""
    start, created = await load_start(nc, NAME)
    floor = await handled_up_to()
    folded = 0
    if floor >= start:
        async for item in store.read_all(start, floor):
            if folds(dispatcher.open_calls.states, item.event):
                dispatcher.open_calls.apply(item.event, item.seq)
                dispatcher.buildings.observe(item.event)
                folded += 1
    log.info("memory_rebuilt", start_seq=start, handled_up_to=floor, events=folded)

    async def point() -> RestartPoint:
        # The ack floor first: every call raised up to it is folded in by now (handle folds an
        # event before it is acked); calls raised after it are after the point anyway.
        covered = await handled_up_to()
        return RestartPoint(first_open_seq(dispatcher.open_calls.states, covered + 1), covered, created)

    points = PointKeeper(nc, NAME, point)
    points.start()
    return points
