"""A decision stored in part, then overtaken (found by the chaos test: a call escalated
"community -> professional" while already at professional).

The deadline keeper decides [DeadlineMissed, EscalationRaised] on a call; JetStream stores one
message at a time; between the two, the dispatcher escalates the same call because its level ran
out. The keeper's second message must not be appended as decided (a step from a level the call
has left): it decides again on what is stored, and what it still owes is paid from where the
call is now. And a keeper that dies between the two still escalates after a restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from events import codec, subjects
from events import commands as c
from events.models import CallEvent, EscalationRaised
from services.deadlines.domain import command_for, due_now, timers_for
from services.domain.calls import Calls
from services.domain.clock import ManualClock
from services.domain.event_store import InMemoryEventStore, append_one_by_one
from services.domain.ids import SequentialIds
from services.domain.invariants import Limits, Record, check_records
from tests.factories import T0, raised


class OneAtATime(InMemoryEventStore):
    """Stores one message at a time, and runs ``between`` right after a DeadlineMissed."""

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], Awaitable[object]] | None = None
        self.die_after_missed = False

    async def append(self, call_id: str, events: Sequence[CallEvent], expected_version: int) -> int:
        return await append_one_by_one(self._publish, self.load, call_id, events, expected_version)

    async def _publish(self, event: CallEvent, expected: int) -> int:
        version = await InMemoryEventStore.append(self, event.call_id, [event], expected)
        if event.type == "DeadlineMissed":
            if self.die_after_missed:
                self.die_after_missed = False
                raise ConnectionError("killed between two messages")
            if self.between is not None:
                hook, self.between = self.between, None
                await hook()
        return version


async def _call_with_an_unanswered_page(store: OneAtATime, calls: Calls, clock: ManualClock) -> None:
    await calls.execute(c.RaiseCall(**raised("c1").model_dump(exclude={"type", "event_id", "at", "version"})))
    await calls.execute(
        c.AssignResponder(
            call_id="c1",
            responder_id="g1",
            responder_name="g1",
            level="building",
            dispatch_id="d1",
            ack_timeout_s=30,
        )
    )
    clock.set(T0 + timedelta(seconds=180))  # reach is due; g1's page timed out long ago
    await calls.execute(c.TimeOutDispatch(call_id="c1", dispatch_id="d1"))


def _steps(store: InMemoryEventStore) -> list[tuple[str, str, str]]:
    return [
        (e.from_level, e.to_level, e.reason)
        for e in (item.event for item in store._log)
        if isinstance(e, EscalationRaised)
    ]


def _check(store: InMemoryEventStore, clock: ManualClock) -> list[str]:
    records = [
        Record(i.seq, subjects.call_subject(i.event.call_id, i.event.type), codec.encode(i.event))
        for i in store._log
    ]
    report = check_records(records, clock.now(), Limits(notifications=False))
    return [v.invariant for v in report.violations if v.invariant == "one_step"]


async def test_a_half_stored_deadline_decision_overtaken_by_the_dispatcher_climbs_one_step_at_a_time() -> (
    None
):
    clock = ManualClock(T0)
    store = OneAtATime()
    calls = Calls(store, clock, SequentialIds())
    await _call_with_an_unanswered_page(store, calls, clock)
    store.between = lambda: calls.execute(c.Escalate(call_id="c1", reason="exhausted", from_level="building"))
    await calls.execute(c.MissDeadline(call_id="c1", stage="reach"))
    assert _steps(store) == [("building", "district", "exhausted")]  # the climb after the miss pays it
    assert _check(store, clock) == []


async def test_a_keeper_killed_between_the_two_messages_still_escalates_after_a_restart() -> None:
    clock = ManualClock(T0)
    store = OneAtATime()
    calls = Calls(store, clock, SequentialIds())
    await _call_with_an_unanswered_page(store, calls, clock)
    store.die_after_missed = True
    with contextlib.suppress(ConnectionError):
        await calls.execute(c.MissDeadline(call_id="c1", stage="reach"))
    assert _steps(store) == []
    # A restarted keeper folds the call and finds the escalation still owed: it fires at once.
    state, _ = await calls.load("c1")
    for timer in due_now(timers_for(state), clock.now()):
        await calls.execute(command_for(timer))
    assert _steps(store) == [("building", "district", "deadline")]
    assert _check(store, clock) == []


def test_a_retry_is_completed_only_over_its_own_first_events_not_an_equal_id_decided_later() -> None:
    """Found by the chaos test ('district -> community while at community'): the keeper decided
    [DeadlineMissed, EscalationRaised] at t1 and lost the race; another keeper recorded the same
    miss (the same derived id) at t2 without escalating, since the call had climbed meanwhile. The
    first keeper's retry took that miss for its own first message and appended its stale
    escalation. A prefix is the retry's own only when it is the same event, not the same id."""
    from events.models import DeadlineMissed
    from services.domain.event_store import StoredEvent, already_stored

    def missed(at_s: float) -> DeadlineMissed:
        return DeadlineMissed(
            event_id="missed-reach",
            call_id="c1",
            at=T0 + timedelta(seconds=at_s),
            stage="reach",
            due_at=T0,
            late_by_ms=int(at_s * 1000),
        )

    escalation = EscalationRaised(
        event_id="esc",
        call_id="c1",
        at=T0 + timedelta(seconds=1),
        from_level="district",
        to_level="community",
        reason="deadline",
    )
    stored_by_the_other = [StoredEvent(1, raised("c1")), StoredEvent(2, missed(2.0))]
    assert already_stored(stored_by_the_other, [missed(1.0), escalation]) is None  # decide again
    own_prefix = [StoredEvent(1, raised("c1")), StoredEvent(2, missed(1.0))]
    assert already_stored(own_prefix, [missed(1.0), escalation]) == [escalation]  # completed
