"""The dispatcher's reactions to call events (an explicit handler table), thin over the domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from events import commands as c
from events.models import (
    CallCancelled,
    CallMerged,
    CallRaised,
    CallResolved,
    DispatchDeclined,
    DispatchTimedOut,
    EscalationRaised,
    Fact,
)
from services.common.aggregate import DomainError
from services.common.calls import Calls
from services.common.roster_store import RosterHolder
from services.common.settings import Settings
from services.dispatcher.domain import Availability, duplicate_of, plan
from services.dispatcher.open_calls import OpenCallsByBuilding

log = structlog.get_logger("dispatcher")


class Dispatcher:
    def __init__(
        self,
        calls: Calls,
        rosters: RosterHolder,
        settings: Settings,
        availability: Callable[[], Availability] = Availability,
    ) -> None:
        self.calls = calls
        self.rosters = rosters
        self.settings = settings
        self.availability = availability
        self.open_calls = OpenCallsByBuilding()
        self.handlers: dict[type[Fact], Callable[[Fact], Awaitable[None]]] = {
            CallRaised: self.on_raised,
            DispatchDeclined: self.page_next,
            DispatchTimedOut: self.page_next,
            EscalationRaised: self.page_next,
            CallResolved: self.forget,
            CallCancelled: self.forget,
            CallMerged: self.forget,
        }

    async def handle(self, event: Fact, seq: int = 0) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            await handler(event)

    async def on_raised(self, event: Fact) -> None:
        assert isinstance(event, CallRaised)
        state, _ = await self.calls.load(event.call_id)
        if not state.is_open:
            return
        primary = duplicate_of(state, self.open_calls.by_building, self.settings.merge_window_s)
        if primary is not None:
            log.info("call_merged", into=primary)
            await self.calls.execute(c.Merge(call_id=event.call_id, into_call_id=primary))
            return
        self.open_calls.apply(event)
        await self.page_next(event)

    async def page_next(self, event: Fact) -> None:
        call_id: str = event.call_id  # type: ignore[attr-defined]
        state, _ = await self.calls.load(call_id)
        for command in plan(state, self.rosters.roster, self.settings.ack_timeout_s, self.availability()):
            try:
                state, events = await self.calls.execute(command)
            except DomainError as exc:
                log.info("command_refused", command=type(command).__name__, reason=str(exc))
                continue
            for appended in events:
                log.info("appended", type=appended.type, responder=getattr(appended, "responder_id", None))  # type: ignore[attr-defined]

    async def forget(self, event: Fact) -> None:
        assert isinstance(event, CallResolved | CallCancelled | CallMerged)
        self.open_calls.apply(event)
