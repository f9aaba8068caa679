"""Running a command against one call: load, fold, decide, append; on conflict, again."""

from __future__ import annotations

from events.commands import Command
from events.models import CallEvent
from services.domain.aggregate import CallState, decide, evolve, fold
from services.domain.clock import Clock
from services.domain.event_store import ConcurrencyConflict, EventStore
from services.domain.ids import IdFactory, RandomIds

MAX_ATTEMPTS = 8


class Calls:
    """The write side of calls, shared by every service that changes one."""

    def __init__(self, store: EventStore, clock: Clock, ids: IdFactory | None = None) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids or RandomIds()

    async def load(self, call_id: str) -> tuple[CallState, int]:
        stored, version = await self.store.load(call_id)
        return fold(call_id, (item.event for item in stored)), version

    async def execute(
        self, command: Command, known: tuple[CallState, int] | None = None
    ) -> tuple[CallState, list[CallEvent]]:
        """Decide and append; returns the state after and the events appended ([] = no change).

        ``known`` is a state and version the caller already holds (a brand-new call is
        ``(CallState(id), 0)``): the first attempt decides on it without a reload. Domain
        errors (403/404/409) propagate unchanged; a lost race is retried with the winner's
        events folded in, so the decision is always made on the latest state.
        """
        for attempt in range(MAX_ATTEMPTS):
            if attempt == 0 and known is not None:
                state, version = known
            else:
                state, version = await self.load(command.call_id)
            try:
                state, _, events = await self.apply(state, version, command)
            except ConcurrencyConflict:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                continue
            return state, events
        raise AssertionError("unreachable")

    async def apply(
        self, state: CallState, version: int, command: Command
    ) -> tuple[CallState, int, list[CallEvent]]:
        """Decide on ``state`` (at ``version``) and append once: the state and version after,
        and the events appended. A stale version raises ConcurrencyConflict (no retry here:
        a caller that planned on ``state`` must plan again)."""
        events = decide(state, command, self.clock.now(), self.ids)
        if not events:
            return state, version, []
        version = await self.store.append(command.call_id, events, version)
        for event in events:
            state = evolve(state, event)
        return state, version, events
