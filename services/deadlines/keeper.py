"""The deadline keeper: folds every open call from the stream, keeps its timers, fires them.

A fired timer is a command through the call aggregate (``MissDeadline`` or
``TimeOutDispatch``): it appends only if the stage is still unmet (the page still
unanswered) at that moment, with event ids derived from the call and stage. Two keepers
racing (scale-out, or a sweep beside a timer) therefore store exactly one event.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from events.models import CallEvent, DeadlineMissed, Fact
from services.deadlines.domain import Timer, command_for, due_now, timers_for
from services.deadlines.timer_wheel import TimerWheel
from services.domain.aggregate import DomainError
from services.domain.calls import Calls
from services.domain.open_calls import OpenCallStates
from services.runtime import metrics

log = structlog.get_logger("deadlines")
RETRY_S = 0.5


class DeadlineKeeper:
    def __init__(self, calls: Calls, sweep_interval_s: float) -> None:
        self.calls = calls
        self.sweep_interval_s = sweep_interval_s
        self.open = OpenCallStates()
        self.wheel = TimerWheel(calls.clock, self.fire)
        self._sweeper: asyncio.Task[None] | None = None

    def on_fact(self, fact: Fact, seq: int) -> None:
        """Fold one event of the stream and bring the call's timers up to date."""
        if not isinstance(fact, CallEvent):
            return
        folded = self.open.apply(fact, seq)
        if folded is not None:
            self.wheel.replace_call(fact.call_id, timers_for(folded[1]))

    def start(self) -> None:
        """Begin firing (after catching up with the stream: overdue timers fire at once)."""
        self.wheel.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.wheel.stop()

    async def fire(self, timer: Timer) -> None:
        state = self.open.get(timer.call_id)
        if state is None or timer not in timers_for(state):
            return  # met, answered or closed meanwhile
        with structlog.contextvars.bound_contextvars(call_id=timer.call_id):
            try:
                # Decided on the call as stored now, never on this memory: a follower that missed
                # an event (a consumer recreated after a server restart) would otherwise hold a
                # state older than the version it saw last, and the append's check would pass.
                _, events = await self.calls.execute(command_for(timer))
            except DomainError as exc:
                log.info("timer_refused", kind=timer.kind, what=timer.what, reason=str(exc))
                return
            except Exception as exc:  # store away, a leader election, conflicts that outlasted retries
                log.warning("timer_fire_failed_will_retry", kind=timer.kind, what=timer.what, error=repr(exc))
                self.wheel.retry_later(timer, RETRY_S)
                return
            for event in events:
                if isinstance(event, DeadlineMissed):
                    metrics.deadline_missed(event.stage, (event.at - event.due_at).total_seconds())
                late = getattr(event, "late_by_ms", None)
                log.info("fired", type=type(event).__name__, what=timer.what, late_by_ms=late)

    def sweep(self) -> int:
        """Safety net: fire whatever is overdue on any open call. Returns how many."""
        now = self.calls.clock.now()
        overdue = [timer for state in list(self.open.values()) for timer in due_now(timers_for(state), now)]
        for timer in overdue:
            self.wheel.fire_now(timer)
        return len(overdue)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            fired = self.sweep()
            if fired:
                log.info("sweep_fired", count=fired)
