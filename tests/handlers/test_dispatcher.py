"""The dispatcher's handlers on fakes (in-memory store, manual clock): who is paged, in which
order, and what a decline, an ack time-out, a merge or someone going away changes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from events import commands as c
from events.models import AvailabilityChanged
from services.dispatcher.handlers import Dispatcher
from services.domain.event_store import InMemoryEventStore, StoredEvent
from services.domain.ids import SequentialIds
from services.runtime.settings import Targets
from tests.fakes import FakeSystem, FixedRosters, ids
from tests.inprocess import Crash, FaultyStore

FAR = Targets(3600, 7200, 10800)  # stage deadlines out of the way: only pages and answers count


async def test_a_call_pages_the_first_member_and_shares_them_as_contact_at_once() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("b12")
    assert await system.pages(call_id) == [("g1", "building")]
    (shared,) = await system.events(call_id, "ContactShared")
    assert shared.responder_id == "g1" and shared.at == system.clock.now()  # contact met at once
    state, _ = await system.calls.load(call_id)
    assert state.level == "building" and state.is_open


async def test_a_decline_pages_the_next_in_roster_order_then_the_backups() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("b12")
    for person in ("g1", "g2"):
        await system.do(c.Decline(call_id=call_id, responder_id=person, note="在外地"))
    assert [p for p, _ in await system.pages(call_id)] == ["g1", "g2", "v1"]  # members, then backups
    # The resident's contact follows the person now paged.
    assert ids(await system.events(call_id, "ContactShared")) == ["g1", "g2", "v1"]


async def test_an_exhausted_building_escalates_to_the_whole_district_at_once() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("b14")
    for person in ("g3", "v2"):
        await system.do(c.Decline(call_id=call_id, responder_id=person))
    (escalation,) = await system.events(call_id, "EscalationRaised")
    assert (escalation.from_level, escalation.to_level, escalation.reason) == (
        "building",
        "district",
        "exhausted",
    )
    assert await system.pages(call_id) == [
        ("g3", "building"),
        ("v2", "building"),
        ("p1", "district"),
        ("p2", "district"),
        ("p3", "district"),
    ]


async def test_an_unknown_building_is_dispatched_at_district_level() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("no-such-building")
    pages = await system.pages(call_id)
    assert pages and {level for _, level in pages} == {"district"}


async def test_an_unanswered_page_times_out_at_the_ack_timeout_and_the_next_is_paged() -> None:
    system = FakeSystem(ack_timeout_s=45)
    call_id = await system.raise_call("b12")
    raised_at = system.clock.now()
    await system.advance(44.999)
    assert [p for p, _ in await system.pages(call_id)] == ["g1"]  # not before the ack timeout
    await system.advance(0.001)
    (timed_out,) = await system.events(call_id, "DispatchTimedOut")
    assert timed_out.responder_id == "g1" and timed_out.at == raised_at + timedelta(seconds=45)
    assert [p for p, _ in await system.pages(call_id)] == ["g1", "g2"]
    # g2 accepts: their ack timer is cancelled, nobody else is paged, nothing else times out.
    await system.do(c.Accept(call_id=call_id, responder_id="g2"))
    await system.advance(120)
    types = await system.types(call_id)
    assert types.count("DispatchTimedOut") == 1 and types.count("ResponderAssigned") == 2, types


async def test_pages_that_all_time_out_climb_the_levels_one_at_a_time() -> None:
    system = FakeSystem(ack_timeout_s=30, targets=FAR)
    call_id = await system.raise_call("b14")
    await system.advance(30 * 2)  # g3, then v2 time out
    await system.advance(30)  # the district (paged at once) times out
    levels = [(e.from_level, e.to_level, e.reason) for e in await system.events(call_id, "EscalationRaised")]
    assert levels == [("building", "district", "exhausted"), ("district", "community", "exhausted")]
    await system.advance(30 * 3)  # the duty officers, one at a time
    escalations = await system.events(call_id, "EscalationRaised")
    assert [e.to_level for e in escalations] == ["district", "community", "professional"]
    top = [p for p, level in await system.pages(call_id) if level == "professional"]
    assert top == ["r1", "r2"]
    await system.advance(600)
    assert len(await system.events(call_id, "EscalationRaised")) == 3  # nothing above the top
    # Nobody was paged twice.
    people = [p for p, _ in await system.pages(call_id)]
    assert len(people) == len(set(people))


async def test_a_second_call_for_the_building_is_merged_and_pages_nobody() -> None:
    system = FakeSystem()
    first = await system.raise_call("b12")
    system.clock.advance(10)
    second = await system.raise_call("b12", caller={"name": "李伯", "phone": "13800000001"})
    (merged,) = await system.events(second, "CallMerged")
    assert merged.into_call_id == first
    assert await system.pages(second) == []
    assert [p for p, _ in await system.pages(first)] == ["g1"]


async def test_a_call_after_the_merge_window_is_its_own_emergency() -> None:
    system = FakeSystem(merge_window_s=300)
    first = await system.raise_call("b12")
    await system.do(c.Accept(call_id=first, responder_id="g1"))
    system.clock.advance(301)
    second = await system.raise_call("b12")
    assert await system.events(second, "CallMerged") == []
    assert [p for p, _ in await system.pages(second)] == ["g2"]  # g1 holds the first call


async def test_a_merged_fire_survives_the_cancel_of_the_call_it_joined() -> None:
    system = FakeSystem(targets=FAR)
    first = await system.raise_call("b12", kind="other")
    system.clock.advance(5)
    fire = await system.raise_call("b12", kind="fire")
    assert (await system.events(fire, "CallMerged"))[0].into_call_id == first
    # The fire joining upgrades the paging of the call it joined: professionals at once.
    assert await system.events(first, "CallJoined")
    assert {p for p, level in await system.pages(first) if level == "professional"} == {"r1", "r2"}

    system.clock.advance(5)
    await system.do(c.Cancel(call_id=first, by="caller"))
    (unmerged,) = await system.events(fire, "CallUnmerged")
    assert unmerged.reason == "joined_call_cancelled"
    assert {p for p, _ in await system.pages(fire)} >= {"g1", "r1", "r2"}  # dispatched on its own
    state, _ = await system.calls.load(fire)
    assert state.is_open and state.merged_into is None
    assert state.raised is not None and state.raised.due.onsite > unmerged.at  # its clock runs again
    await system.do(c.Cancel(call_id=fire, by="caller"))  # its own close
    assert (await system.calls.load(fire))[0].status == "cancelled"


async def test_a_merged_call_is_resolved_with_the_call_it_joined_when_that_is_handled() -> None:
    system = FakeSystem()
    first = await system.raise_call("b14", kind="flood")
    system.clock.advance(5)
    second = await system.raise_call("b14", kind="flood", caller={"name": "邻居", "phone": "13800000009"})
    assert (await system.calls.load(second))[0].merged_into == first
    system.clock.advance(60)
    await system.do(c.Resolve(call_id=first, by="s1", outcome="handled", note="水已排", as_responder=False))
    (closed,) = await system.events(second, "CallResolved")
    assert (closed.by, closed.outcome) == ("s1", "handled")
    assert (await system.calls.load(second))[0].status == "resolved"


async def test_going_away_while_paged_counts_as_a_decline() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("b12")
    await system.set_away("g1")
    (declined,) = await system.events(call_id, "DispatchDeclined")
    assert (declined.responder_id, declined.note) == ("g1", "away")
    assert [p for p, _ in await system.pages(call_id)] == ["g1", "g2"]


async def test_away_people_are_never_paged_and_someone_back_is_paged_at_once() -> None:
    system = FakeSystem()
    for person in ("r1", "r2"):
        await system.set_away(person)
    call_id = await system.raise_call("b22", kind="dispute")  # b22 has nobody: district first
    for level in ("district", "community"):
        await system.do(c.Escalate(call_id=call_id, reason="manual", by="s1", from_level=level))
    escalations = await system.events(call_id, "EscalationRaised")
    assert [(e.from_level, e.to_level) for e in escalations][-1] == ("community", "professional")
    # Everyone at the top is away: nobody is paged there...
    assert [p for p, level in await system.pages(call_id) if level == "professional"] == []
    # ...until one of them is back.
    await system.set_away("r2", away=False)
    assert [p for p, level in await system.pages(call_id) if level == "professional"] == ["r2"]


async def test_a_closed_call_pages_nobody_more() -> None:
    system = FakeSystem(ack_timeout_s=30)
    call_id = await system.raise_call("b12")
    await system.do(c.Cancel(call_id=call_id, by="caller"))
    await system.advance(3600)
    assert [p for p, _ in await system.pages(call_id)] == ["g1"]
    assert "DeadlineMissed" not in await system.types(call_id)
    assert "DispatchTimedOut" not in await system.types(call_id)


async def test_the_watchdog_pages_a_call_whose_delivery_was_lost() -> None:
    system = FakeSystem()
    system.clock.advance(1)
    # The raise is stored but the dispatcher never gets it (a lost delivery).
    call_id = "lost1"
    staffed = system.roster.staffed_levels("b21", None)
    await system.calls.execute(
        c.RaiseCall(
            call_id=call_id,
            caller={"name": "王", "phone": "13800000000"},
            building_id="b21",
            district_id="d2",
            due=system.settings.targets.due_from(system.clock.now()),
            policy_version=system.roster.escalation.version,
            level=staffed[0],
        )
    )
    async for item in system.store.read_all(system.bus.delivered + 1):  # everyone else sees it
        system.bus.delivered = item.seq
        system.dispatcher.open_calls.apply(item.event, item.seq)
    assert await system.pages(call_id) == []
    await system.dispatcher.reconcile()
    assert await system.pages(call_id) == [("g4", "building")]


async def test_fire_pages_the_building_and_every_professional_at_the_same_moment() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("b12", kind="fire")
    pages = await system.events(call_id, "ResponderAssigned")
    assert {(p.responder_id, p.level) for p in pages} == {
        ("g1", "building"),
        ("r1", "professional"),
        ("r2", "professional"),
    }
    assert {p.at for p in pages} == {system.clock.now()}  # all at once, nobody waits for a timeout


async def test_a_dispute_pages_the_mediation_team_beside_the_building() -> None:
    system = FakeSystem()
    call_id = await system.raise_call("b21", kind="dispute")
    pages = await system.events(call_id, "ResponderAssigned")
    assert [(p.responder_id, p.team_id) for p in pages if p.team_id] == [("t1", "mediation")]
    assert ("g4", None) in {(p.responder_id, p.team_id) for p in pages}


async def test_an_away_member_is_skipped_and_a_building_of_away_people_escalates_at_once() -> None:
    system = FakeSystem()
    await system.set_away("g1")
    first = await system.raise_call("b12")
    assert [p for p, _ in await system.pages(first)] == ["g2"]
    for person in ("g3", "v2"):
        await system.set_away(person)
    second = await system.raise_call("b14")
    (escalation,) = await system.events(second, "EscalationRaised")
    assert (escalation.reason, escalation.to_level) == ("no_one_available", "district")
    assert {level for _, level in await system.pages(second)} == {"district"}
    assert {e.at for e in await system.events(second)} == {system.clock.now()}  # without waiting


async def test_away_until_passes_and_the_person_is_paged_again() -> None:
    system = FakeSystem()
    away = AvailabilityChanged(
        event_id="g4-away",
        at=system.clock.now(),
        responder_id="g4",
        status="away",
        until=system.clock.now() + timedelta(minutes=30),
        by="g4",
    )
    system.dispatcher.on_responder_fact(away)
    first = await system.raise_call("b21")
    assert {level for _, level in await system.pages(first)} == {"district"}
    await system.do(c.Resolve(call_id=first, by="s1", outcome="handled", as_responder=False))
    system.clock.advance(30 * 60)
    second = await system.raise_call("b21")
    assert await system.pages(second) == [("g4", "building")]


async def test_held_calls_page_the_duty_officer_once_and_wait_for_the_desk() -> None:
    system = FakeSystem(targets=Targets(60, 180, 600), merge_window_s=0)
    flood = [
        await system.raise_call(b, held="flood", flood="addr-1", first_of_flood=n == 0)
        for n, b in enumerate(("b12", "b14", "b21"))
    ]
    on_duty = system.dispatcher.availability().on_duty
    assert await system.pages(flood[0]) == [(on_duty, "community")]  # told once, on the first
    assert [await system.pages(call_id) for call_id in flood[1:]] == [[], []]
    await system.advance(3600)  # every due time passes: held calls wait for the desk
    for call_id in flood:
        types = await system.types(call_id)
        assert "DeadlineMissed" not in types and "EscalationRaised" not in types, types
    released_at = system.clock.now()
    await system.do(c.Release(call_id=flood[1], by="s1", due=system.settings.targets.due_from(released_at)))
    assert [p for p, _ in await system.pages(flood[1])] == ["g3"]  # dispatched now
    await system.advance(180)
    (missed,) = await system.events(flood[1], "DeadlineMissed")
    assert (missed.stage, missed.at) == ("reach", released_at + timedelta(seconds=180))  # its clock
    await system.do(c.Resolve(call_id=flood[2], by="s1", outcome="false_alarm", as_responder=False))
    assert (await system.calls.load(flood[2]))[0].status == "resolved"


async def test_a_burst_of_neighbours_handled_at_once_is_dispatched_once() -> None:
    """Twelve neighbours tap at the same moment; their calls are handled concurrently (different
    partitions) on a store that appends one message at a time, as JetStream does. Eleven race
    to join the first: none may give up, or the watchdog dispatches it on its own."""
    system = FakeSystem(store=FaultyStore())  # writers interleave between two messages
    call_ids = [await system.raise_call("b14", settle=False) for _ in range(12)]
    raised = [item async for item in system.store.read_all(1)]
    system.bus.delivered = raised[-1].seq
    for item in raised:  # the consumer's in-order hook, then the handlers side by side
        system.dispatcher.in_stream_order(item.event, item.seq)
    outcomes = await asyncio.gather(
        *(system.dispatcher.handle(item.event, item.seq) for item in raised), return_exceptions=True
    )
    failed = [item for item, outcome in zip(raised, outcomes, strict=True) if outcome is not None]
    await system.dispatcher.reconcile()  # the watchdog comes round before any redelivery
    for item in failed:  # then the failed deliveries come again
        await system.dispatcher.handle(item.event, item.seq)
    await system.settle()
    dispatched = [cid for cid in call_ids if await system.pages(cid)]
    assert dispatched == [call_ids[0]], f"{len(dispatched)} calls of one building were dispatched"
    for cid in call_ids[1:]:
        assert (await system.calls.load(cid))[0].merged_into == call_ids[0]


class CountingLoads(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load(self, call_id: str) -> tuple[list[StoredEvent], int]:
        self.loads += 1
        return await super().load(call_id)


async def test_a_fresh_raise_is_paged_without_loading_the_call_from_the_store() -> None:
    """The raise as delivered is the whole call when nothing else was appended: its first page
    is planned on it (one Direct Get less per call on JetStream)."""
    store = CountingLoads()
    system = FakeSystem(store=store)
    call_id = await system.raise_call("b12", settle=False)
    loads = store.loads  # the raise itself (the intake's side of the fake)
    await system.settle()
    assert store.loads == loads
    assert await system.pages(call_id) == [("g1", "building")]


async def test_a_raise_delivered_after_the_call_was_cancelled_pages_nobody() -> None:
    """Deciding on the delivered raise alone must not page on a call that has moved on: the
    append expects the raise's version, is refused, and the page is planned on the call loaded."""
    store = CountingLoads()
    system = FakeSystem(store=store)
    call_id = await system.raise_call("b12", settle=False)
    await system.calls.execute(c.Cancel(call_id=call_id, by="resident"))
    (raised,) = [item async for item in store.read_all() if item.event.type == "CallRaised"]
    await system.dispatcher.handle(raised.event, raised.seq)  # the cancel is not delivered yet
    assert await system.types(call_id) == ["CallRaised", "CallCancelled"]


async def test_a_raise_redelivered_after_its_page_and_a_decline_pages_nobody_twice() -> None:
    """A redelivered raise after a restart (the new memory holds the raise only; the store has
    its page and a decline since): the page decided again on the raise is the one stored, so
    nothing is appended; the decline, delivered next, pages the next person."""
    system = FakeSystem()
    call_id = await system.raise_call("b12")
    await system.calls.execute(c.Decline(call_id=call_id, responder_id="g1"))
    restarted = FakeSystem(store=system.store)
    restarted.calls.ids = SequentialIds("r")  # not the ids the first dispatcher used
    (raised,) = [item async for item in system.store.read_all() if item.event.type == "CallRaised"]
    await restarted.dispatcher.handle(raised.event, raised.seq)
    assert [p for p, _ in await system.pages(call_id)] == ["g1"]
    await restarted.settle()  # every event delivered again, in order
    assert [p for p, _ in await system.pages(call_id)] == ["g1", "g2"]


async def test_a_raise_at_district_level_pages_everyone_planned_on_it() -> None:
    """A call raised at a level that pages everyone at once: the first page is planned on the
    raise as delivered, the others on the call loaded after it; each person once."""
    system = FakeSystem()
    call_id = await system.raise_call("no-such-building")
    pages = await system.pages(call_id)
    assert len(pages) > 1 and {level for _, level in pages} == {"district"}
    assert len({person for person, _ in pages}) == len(pages)


async def _a_page_cut_from_its_contact() -> tuple[FakeSystem, str]:
    """A raise whose first page was stored without its ContactShared: the crash came between."""
    store = FaultyStore()
    system = FakeSystem(store=store)
    call_id = await system.raise_call("b12", settle=False)
    store.crash_in = 1  # ResponderAssigned is stored, ContactShared is lost with the crash
    with contextlib.suppress(Crash):
        await system.settle()
    assert await system.types(call_id) == ["CallRaised", "ResponderAssigned"]
    return system, call_id


async def test_a_crash_between_the_page_and_the_contact_is_mended_by_the_redelivery() -> None:
    """Found with `up` and nats-server killed right after a tap: the grid member was paged but
    the caller was never shown whom to contact (the contact deadline passed, the call escalated).
    A page's two events are stored one by one; when the raise is delivered again (after the
    page it caused), the dispatcher must store the contact the crash lost, and page nobody twice."""
    system, call_id = await _a_page_cut_from_its_contact()
    await system.settle()  # the page is delivered; then JetStream redelivers the unacked raise
    stored, _ = await system.store.load(call_id)
    await system.deliver(stored[0].event, stored[0].seq)
    await system.settle()
    assert await system.pages(call_id) == [("g1", "building")]  # nobody paged twice
    (shared,) = await system.events(call_id, "ContactShared")
    assert shared.responder_id == "g1"


async def test_a_crash_between_the_page_and_the_contact_is_mended_after_a_restart() -> None:
    system, call_id = await _a_page_cut_from_its_contact()
    # The dispatcher restarts: a new memory, every unacked event delivered again.
    system.dispatcher = Dispatcher(system.calls, FixedRosters(system.roster), system.settings)
    system.bus.delivered = 0
    await system.settle()
    assert await system.pages(call_id) == [("g1", "building")]
    (shared,) = await system.events(call_id, "ContactShared")
    assert shared.responder_id == "g1"


async def test_the_watchdog_mends_a_contact_lost_to_a_crash_before_any_redelivery() -> None:
    system, call_id = await _a_page_cut_from_its_contact()
    await system.settle()  # the page is delivered; the raise's redelivery is still 30 s away
    assert await system.events(call_id, "ContactShared") == []
    await system.dispatcher.reconcile()  # the 2 s watchdog
    assert await system.pages(call_id) == [("g1", "building")]
    (shared,) = await system.events(call_id, "ContactShared")
    assert shared.responder_id == "g1"
