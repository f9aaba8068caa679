"""The deadline keeper on fakes: its timer wheel on a manual clock fires each stage's
``DeadlineMissed`` at the due time and not a moment before, escalates one level per miss,
never fires for a met stage or a closed call, and two keepers store each miss once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from events import commands as c
from services.deadlines import keeper as keeper_module
from services.deadlines.domain import Timer, timers_for
from services.deadlines.keeper import DeadlineKeeper
from services.deadlines.timer_wheel import TimerWheel
from services.domain.calls import Calls
from services.domain.clock import ManualClock
from services.domain.event_store import InMemoryEventStore
from services.runtime.settings import Targets
from tests.factories import T0, raised
from tests.fakes import FakeSystem

TARGETS = Targets(60, 180, 600)
NEVER_TIMES_OUT = 100_000.0  # pages wait for their answer: only stage deadlines fire


async def test_an_unanswered_call_escalates_building_district_community_at_the_due_times() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    call_id = await system.raise_call("b12")
    raised_at = system.clock.now()
    await system.advance(179.999)
    assert await system.events(call_id, "DeadlineMissed") == []  # not before reach is due
    await system.advance(0.001)
    (reach,) = await system.events(call_id, "DeadlineMissed")
    assert (reach.stage, reach.at, reach.late_by_ms) == ("reach", raised_at + timedelta(seconds=180), 0)
    await system.advance(600 - 180)
    missed = await system.events(call_id, "DeadlineMissed")
    assert [(m.stage, m.at - raised_at) for m in missed] == [
        ("reach", timedelta(seconds=180)),
        ("onsite", timedelta(seconds=600)),
    ]  # contact was met at once: it never fires
    escalations = await system.events(call_id, "EscalationRaised")
    assert [(e.from_level, e.to_level, e.reason) for e in escalations] == [
        ("building", "district", "deadline"),
        ("district", "community", "deadline"),
    ]
    pages = await system.events(call_id, "ResponderAssigned")
    assert [p.level for p in pages] == ["building", "district", "district", "district", "community"]
    # The district was paged when reach was missed, the community when onsite was.
    assert pages[1].at == missed[0].at and pages[4].at == missed[1].at
    stage_timers = [
        t for state in system.keeper.open.values() for t in timers_for(state) if t.kind == "stage"
    ]
    assert stage_timers == []  # fired or met: none left running
    await system.advance(3600)
    assert len(await system.events(call_id, "DeadlineMissed")) == 2


async def test_with_everyone_away_the_call_climbs_at_once_and_misses_contact_at_its_due_time() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    for person in ("g4", "p4", "c1", "c2", "c3", "r1", "r2"):  # b21, its district, and above
        await system.set_away(person)
    call_id = await system.raise_call("b21")
    raised_at = system.clock.now()
    escalations = await system.events(call_id, "EscalationRaised")
    assert [(e.from_level, e.to_level, e.reason) for e in escalations] == [
        ("building", "district", "no_one_available"),
        ("district", "community", "no_one_available"),
        ("community", "professional", "no_one_available"),
    ]  # one step at a time, at once
    assert await system.pages(call_id) == []
    await system.advance(59.999)
    assert await system.events(call_id, "DeadlineMissed") == []
    await system.advance(0.001)
    (contact,) = await system.events(call_id, "DeadlineMissed")
    assert (contact.stage, contact.at) == ("contact", raised_at + timedelta(seconds=60))
    assert len(await system.events(call_id, "EscalationRaised")) == 3  # nothing above the top
    await system.set_away("r1", away=False)  # someone at the top is back: paged at once
    assert await system.pages(call_id) == [("r1", "professional")]
    assert "ContactShared" in await system.types(call_id)


async def test_met_stages_never_fire() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    call_id = await system.raise_call("b21")
    await system.advance(30)
    await system.do(c.Accept(call_id=call_id, responder_id="g4"))
    await system.advance(60)
    await system.do(c.Arrive(call_id=call_id, responder_id="g4"))
    assert system.keeper.wheel.next_due() is None  # every stage met: no timer left
    await system.advance(3600)
    assert system.keeper.sweep() == 0
    assert "DeadlineMissed" not in await system.types(call_id)


async def test_a_late_milestone_still_records_the_miss_at_the_due_time_once() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    call_id = await system.raise_call("b21")
    await system.advance(200)  # reach missed at 180
    await system.do(c.Accept(call_id=call_id, responder_id="g4"))
    await system.advance(3600)
    missed = [m.stage for m in await system.events(call_id, "DeadlineMissed")]
    assert missed == ["reach", "onsite"]


async def test_no_deadline_is_missed_for_a_closed_call() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    call_id = await system.raise_call("b12")
    await system.advance(100)
    await system.do(c.Resolve(call_id=call_id, by="s1", outcome="handled", as_responder=False))
    await system.advance(3600)
    assert "DeadlineMissed" not in await system.types(call_id)
    assert call_id not in system.keeper.open


async def test_two_keepers_record_each_miss_exactly_once() -> None:
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    system.keepers.append(DeadlineKeeper(system.calls, sweep_interval_s=3600))
    call_ids = [await system.raise_call(b) for b in ("b12", "b14", "b21")]
    await system.advance(600)
    for keeper in system.keepers:  # and a sweep beside the timers
        keeper.sweep()
    await system.settle()
    for call_id in call_ids:
        types = await system.types(call_id)
        assert types.count("DeadlineMissed") == 2, types
        assert types.count("EscalationRaised") == 2, types


async def test_overdue_deadlines_fire_at_once_when_a_keeper_starts_late() -> None:
    """A keeper that was down across the due times (killed, or NATS away) catches up with the
    stream and fires what is overdue once, right away, recording how late."""
    system = FakeSystem(targets=TARGETS, ack_timeout_s=NEVER_TIMES_OUT)
    system.keepers.clear()  # the keeper is down
    call_id = await system.raise_call("b12")
    await system.advance(620)
    assert "DeadlineMissed" not in await system.types(call_id)
    restarted = DeadlineKeeper(system.calls, sweep_interval_s=3600)
    async for item in system.store.read_all(1):  # catch up with the stream, as at start-up
        restarted.on_fact(item.event, item.seq)
    system.keepers.append(restarted)
    assert restarted.sweep() == 2  # reach and onsite, overdue
    await system.settle()
    missed = await system.events(call_id, "DeadlineMissed")
    assert sorted(m.stage for m in missed) == ["onsite", "reach"]
    assert {m.late_by_ms for m in missed} == {440_000, 20_000}
    escalations = await system.events(call_id, "EscalationRaised")
    assert [e.to_level for e in escalations] == ["district", "community"]  # one level each
    await system.advance(60)
    assert len(await system.events(call_id, "DeadlineMissed")) == 2


class FlakyStore(InMemoryEventStore):
    """Fails the first append with an error nobody planned for (a leader election, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def append(self, call_id, events, expected_version):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise RuntimeError("no responders available for request")
        return await super().append(call_id, events, expected_version)


async def test_a_firing_that_fails_unexpectedly_is_retried_not_left_to_the_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keeper_module, "RETRY_S", 0.0)  # retry at the next turn of the loop
    store = FlakyStore()
    clock = ManualClock(T0 + timedelta(seconds=70))  # only contact is overdue (60 s)
    raised_event = raised("c1", at=T0)
    version = await InMemoryEventStore.append(store, "c1", [raised_event], 0)
    keeper = DeadlineKeeper(Calls(store, clock), sweep_interval_s=3600)
    keeper.on_fact(raised_event, version)
    assert keeper.wheel.fire_due() == 1
    await keeper.wheel.idle()  # the firing failed and asked to be retried
    for _ in range(5):
        await asyncio.sleep(0)
        await keeper.wheel.idle()
    events, _ = await store.load("c1")
    assert store.failures == 0
    assert [e.event.stage for e in events if e.event.type == "DeadlineMissed"] == ["contact"]  # type: ignore[attr-defined]


async def test_the_running_wheel_fires_what_is_due_and_wakes_for_an_earlier_timer() -> None:
    """The wheel's own loop (as the service runs it): asleep until its earliest timer, woken
    at once by an earlier one, firing each running timer once."""
    clock = ManualClock(T0)
    fired: list[Timer] = []

    async def fire(timer: Timer) -> None:
        fired.append(timer)

    wheel = TimerWheel(clock, fire)
    wheel.start()
    try:
        later = Timer(T0 + timedelta(hours=1), "c1", "stage", "reach")
        wheel.replace_call("c1", [later])
        for _ in range(5):
            await asyncio.sleep(0)
        assert fired == [] and wheel.next_due() == later.due
        now = Timer(T0, "c2", "stage", "contact")
        wheel.replace_call("c2", [now])  # due now: the sleeping loop wakes for it
        for _ in range(5):
            await asyncio.sleep(0)
        await wheel.idle()
        assert fired == [now] and wheel.next_due() == later.due
        wheel.replace_call("c1", [])  # met meanwhile: cancelled
        assert wheel.next_due() is None
    finally:
        await wheel.stop()
