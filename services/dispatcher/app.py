"""Composition root of the dispatcher: NATS, store, clock, roster -> a durable consumer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from events import subjects
from services.adapters.consumer import subscribe_events
from services.adapters.follow import StreamFollower
from services.adapters.jetstream_store import JetStreamEventStore
from services.adapters.roster_store import RosterHolder
from services.dispatcher import resume
from services.dispatcher.building_calls import EVENT_TYPES as BUILDING_EVENTS
from services.dispatcher.handlers import Dispatcher
from services.domain.calls import Calls
from services.domain.clock import Clock
from services.domain.ids import IdFactory
from services.domain.roster import EscalationPolicy, Roster
from services.runtime.bootstrap import bootstrap
from services.runtime.service import BrokerService, Service, run_service
from services.runtime.settings import Settings

DURABLE = "dispatcher"
PARTITIONS = 16  # calls handled concurrently; events of one call stay in order
WATCHDOG_S = 2.0  # how often calls that could be stalled are looked at again


class BoundRosters:
    """The roster holder with its NATS connection: what the dispatcher's ``Rosters`` port needs."""

    def __init__(self, holder: RosterHolder, nc: Client) -> None:
        self.holder = holder
        self.nc = nc

    @property
    def roster(self) -> Roster:
        return self.holder.roster

    async def policy(self, version: str) -> EscalationPolicy:
        return await self.holder.policy(self.nc, version)


class DispatcherService:
    """The consumer, plus the watchdog that looks again at calls that could be stalled."""

    def __init__(self, consumer: BrokerService, dispatcher: Dispatcher, watchdog_s: float) -> None:
        self.consumer = consumer
        self.dispatcher = dispatcher
        self.watchdog_s = watchdog_s
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._watchdog = asyncio.create_task(self.dispatcher.watch(self.watchdog_s))

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        await self.consumer.stop()


async def build(settings: Settings, clock: Clock | None = None, ids: IdFactory | None = None) -> Service:
    return await bootstrap("dispatcher", settings, compose, clock=clock, ids=ids)


async def compose(
    *, settings: Settings, nc: Client, store: JetStreamEventStore, calls: Calls, rosters: RosterHolder
) -> Service:
    dispatcher = Dispatcher(calls, BoundRosters(rosters, nc), settings)
    # Rebuild the memory of open calls (duplicates, who is busy) from what the durable
    # consumer has already handled; everything after its ack floor it will see again.
    points = await resume.rebuild(nc, store, dispatcher, lambda: acked_floor(nc, DURABLE))
    desk = StreamFollower(subjects.RESPONDERS_STREAM, ">", dispatcher.on_responder_fact)
    await desk.start(nc)
    dispatcher.live = True  # from here on, availability changes are acted on
    events = subscribe_events(
        nc,
        DURABLE,
        dispatcher.handle,
        partitions=PARTITIONS,
        in_stream_order=dict.fromkeys(BUILDING_EVENTS, dispatcher.in_stream_order),
    )
    # Closed in reverse: handlings at work dropped (redelivered) and acks written, then the
    # restart point saved, NATS closed last (no handler still at work meets a closed link).
    consumer = BrokerService(
        DURABLE, events, [nc.close, rosters.close, desk.stop, points.stop, dispatcher.close, events.close]
    )
    return DispatcherService(consumer, dispatcher, WATCHDOG_S)


async def acked_floor(nc: Client, durable: str) -> int:
    """The stream sequence up to which ``durable`` has acknowledged everything (0 if new)."""
    try:
        info = await nc.jetstream().consumer_info(subjects.CALLS_STREAM, durable)
    except NotFoundError:
        return 0
    return int(info.ack_floor.stream_seq) if info.ack_floor else 0


def run(settings: Settings, on_started: Callable[[], None] | None = None) -> None:
    run_service(lambda: build(settings), on_started)
