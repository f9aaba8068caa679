"""Which timers a call has running, and what firing one means: pure functions of its state.

Deadlines are data: ``CallRaised.due`` carries the three stage due times, and every
``ResponderAssigned`` its ack timeout. So the timers of any call can be recomputed from its
events at any time (after a restart, on another instance) and nothing about them needs to
be stored anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from events import commands as c
from events.models import STAGES, Stage
from services.domain.aggregate import CallState

TimerKind = Literal["stage", "ack"]


@dataclass(frozen=True, order=True)
class Timer:
    due: datetime
    call_id: str
    kind: TimerKind
    what: str  # the stage, or the dispatch id

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.kind, self.what)


def timers_for(state: CallState) -> list[Timer]:
    """Every timer running on the call: unmet, unmissed stages and unanswered pages."""
    raised = state.raised
    if raised is None or not state.is_open:
        return []
    timers = [
        Timer(raised.due.of(stage), state.call_id, "stage", stage)
        for stage in STAGES
        if state.held is None  # a held call's clock starts when the desk releases it
        and (
            state.stage_open(stage)
            or state.stage_late_unrecorded(stage)
            or (stage in state.escalation_owed and state.level != "professional")
        )
    ]
    timers += [
        Timer(a.ack_due, state.call_id, "ack", a.dispatch_id)
        for a in state.assignments.values()
        if a.status == "paged"
    ]
    return timers


def command_for(timer: Timer) -> c.Command:
    if timer.kind == "stage":
        stage: Stage = timer.what  # type: ignore[assignment]
        return c.MissDeadline(call_id=timer.call_id, stage=stage)
    return c.TimeOutDispatch(call_id=timer.call_id, dispatch_id=timer.what)


def due_now(timers: list[Timer], now: datetime) -> list[Timer]:
    return [t for t in timers if t.due <= now]
