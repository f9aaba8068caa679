"""The dispatcher's reactions to call events (an explicit handler table), thin over the domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from nats.aio.client import Client

from events import commands as c
from events.models import CallEvent, CallRaised, DispatchDeclined, DispatchTimedOut, EscalationRaised, Fact
from services.common.aggregate import DomainError
from services.common.calls import Calls
from services.common.duty import DutyBook, on_duty
from services.common.roster_store import RosterHolder
from services.common.settings import Settings
from services.dispatcher.building_calls import CLOSING, BuildingCalls
from services.dispatcher.domain import Availability, plan
from services.dispatcher.open_calls import OpenCalls

log = structlog.get_logger("dispatcher")


class Dispatcher:
    def __init__(self, calls: Calls, rosters: RosterHolder, settings: Settings, nc: Client) -> None:
        self.nc = nc
        self.calls = calls
        self.rosters = rosters
        self.settings = settings
        self.open_calls = OpenCalls()
        self.buildings = BuildingCalls(settings.merge_window_s)
        self.duplicates: dict[str, str | None] = {}  # call -> the call it duplicates, decided in order
        self.duty = DutyBook()
        self.handlers: dict[type[Fact], Callable[[CallEvent, int], Awaitable[None]]] = {
            CallRaised: self.on_raised,
            DispatchDeclined: self.page_next,
            DispatchTimedOut: self.page_next,
            EscalationRaised: self.page_next,
        }

    def on_responder_fact(self, fact: Fact, seq: int = 0) -> None:
        self.duty = self.duty.apply(fact)

    def availability(self) -> Availability:
        now = self.calls.clock.now()
        desk = on_duty(self.rosters.roster.community, self.duty.overrides, now)
        return Availability(
            away=self.duty.away_ids(now),
            busy=self.open_calls.busy(),
            on_duty=desk.on_duty.id if desk.on_duty else None,
        )

    async def handle(self, event: Fact, seq: int = 0) -> None:
        if not isinstance(event, CallEvent):
            return
        if isinstance(event, CLOSING):  # normally seen in stream order already; idempotent
            self.buildings.observe(event)
        handler = self.handlers.get(type(event))
        if handler is not None:
            await handler(event, seq)
        else:
            self.open_calls.apply(event, seq)

    def in_stream_order(self, event: Fact, seq: int = 0) -> None:
        """Fed in stream order, before calls are handled concurrently: which calls are open per
        building, and whether a new call duplicates one of them. Neighbours who tap at the
        same moment thus get one dispatch, not one each."""
        if not isinstance(event, CallEvent):
            return
        primary = self.buildings.observe(event)
        if isinstance(event, CallRaised) and event.call_id not in self.duplicates:
            self.duplicates[event.call_id] = primary

    async def on_raised(self, event: CallEvent, seq: int) -> None:
        assert isinstance(event, CallRaised)
        if event.call_id in self.duplicates:  # decided in stream order
            primary = self.duplicates.pop(event.call_id)
        else:  # a redelivery after its decision was used: decide again
            primary = self.buildings.observe(event)
        if primary is not None and not self.buildings.is_open(primary):
            # Closed since (resolved a moment after this call came in): this call stands alone.
            self.buildings.register(event)
            primary = None
        if primary is not None:
            log.info("call_merged", into=primary)
            await self.calls.execute(c.Merge(call_id=event.call_id, into_call_id=primary))
            return
        await self.page_next(event, seq)

    async def page_next(self, event: CallEvent, seq: int) -> None:
        """Plan on the state folded here (no reload); a stale version just costs one retry."""
        self.open_calls.apply(event, seq)
        known = self.open_calls.known(event.call_id)
        state = known[0] if known else (await self.calls.load(event.call_id))[0]
        if state.raised is None:
            return
        policy = await self.rosters.policy(self.nc, state.raised.policy_version)
        commands = plan(state, self.rosters.roster, self.settings.ack_timeout_s, self.availability(), policy)
        for command in commands:
            try:
                state, appended = await self.calls.execute(command, known)
            except DomainError as exc:
                log.info("command_refused", command=type(command).__name__, reason=str(exc))
                continue
            known = None  # later commands reload: the version moved on
            if appended:
                log.info(
                    "paged", command=type(command).__name__, responder=getattr(command, "responder_id", None)
                )
