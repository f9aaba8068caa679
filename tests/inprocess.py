"""An in-process dispatch1310 over fakes: the dispatcher and the deadline keeper on the
in-memory store and a manual clock, with a delivery shim that reorders, duplicates and
redelivers messages and can crash a handler between two appends.

Like eventsourcing's single-threaded runner: deterministic, so hypothesis can drive it and
shrink what it finds. The real server is left to the service and end-to-end tests.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from events import codec, subjects
from events import commands as c
from events.models import AvailabilityChanged, CallEvent
from services.deadlines.domain import command_for, due_now, timers_for
from services.deadlines.keeper import DeadlineKeeper
from services.dispatcher.building_calls import EVENT_TYPES as IN_ORDER_TYPES
from services.dispatcher.handlers import Dispatcher
from services.domain.aggregate import CallState, DomainError
from services.domain.calls import Calls
from services.domain.clock import ManualClock
from services.domain.event_store import (
    ConcurrencyConflict,
    InMemoryEventStore,
    StoredEvent,
    append_one_by_one,
)
from services.domain.ids import SequentialIds
from services.domain.invariants import (
    Limits,
    Record,
    Report,
    check_call,
    check_merged,
    decode_records,
)
from services.domain.roster import EscalationPolicy, Roster, load_roster_file
from services.runtime.settings import Settings, Targets


@functools.cache
def demo_roster() -> Roster:
    return load_roster_file(None)


class Crash(Exception):
    """A handler's process died between two appends (the message was never acked)."""


class FaultyStore(InMemoryEventStore):
    """The in-memory store appending as JetStream does: one message at a time, each expecting
    the version the last left, with a yield between two (so writers interleave), and a crash
    armed for the n-th next message (a prefix of a decision's events stays stored)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_in: int | None = None
        self.published: list[StoredEvent] = []

    async def append(self, call_id: str, events: Sequence[CallEvent], expected_version: int) -> int:
        return await append_one_by_one(self._publish, self.load, call_id, events, expected_version)

    async def _publish(self, event: CallEvent, expected: int) -> int:
        await asyncio.sleep(0)  # another writer may go first
        if self.crash_in is not None:
            self.crash_in -= 1
            if self.crash_in < 0:
                self.crash_in = None
                raise Crash(event.call_id)
        # As JetStream answers one message: a Nats-Msg-Id already stored is acked as the
        # duplicate it is (its own sequence), else a wrong expected sequence is a conflict.
        stored, version = await self.load(event.call_id)
        duplicate = next((item.seq for item in stored if item.event.event_id == event.event_id), None)
        if duplicate is not None:
            return duplicate
        if expected != version:
            raise ConcurrencyConflict(event.call_id, expected, version)
        before = self.last_seq
        version = await super().append(event.call_id, [event], expected)
        self.published.extend(self._log[before:])
        return version


class FixedRosters:
    def __init__(self, roster: Roster) -> None:
        self.roster = roster

    async def policy(self, version: str) -> EscalationPolicy:
        return self.roster.escalation


@dataclass
class Shim:
    """What the dispatcher's durable consumer would deliver, and in which order."""

    pending: list[StoredEvent] = field(default_factory=list)
    delivered: int = 0


class InProcessSystem:
    def __init__(
        self, rng: random.Random, ack_timeout_s: float = 30.0, targets: Targets | None = None
    ) -> None:
        self.rng = rng
        self.clock = ManualClock()
        self.store = FaultyStore()
        self.calls = Calls(self.store, self.clock, SequentialIds("e"))
        self.roster = demo_roster()
        self.settings = Settings(
            targets=targets or Targets(60.0, 180.0, 600.0), ack_timeout_s=ack_timeout_s, merge_window_s=300.0
        )
        self.dispatcher = Dispatcher(self.calls, FixedRosters(self.roster), self.settings)
        self.dispatcher.live = False  # availability is handed over explicitly, see ``set_away``
        self.keeper = DeadlineKeeper(self.calls, sweep_interval_s=3600)
        self.shim = Shim()
        self.kept = 0  # how far the keeper has followed the stream (in order, as an ordered consumer)
        self.raised: list[str] = []
        self.duplicate_rate = 0.2
        self.crash_rate = 0.05
        self.away_log: dict[str, list[tuple[datetime, bool]]] = {}
        self._decoded = Report()  # the messages checked so far: how many, and any undecodable
        self._calls: dict[str, list[tuple[int, CallEvent]]] = {}  # their events, by call
        self._verdicts: dict[str, tuple[object, CallState, Report]] = {}  # each call's last check

    # ------------------------------------------------------------ the stream

    def _take_published(self) -> None:
        for item in self.store.published:
            if type(item.event).__name__ in IN_ORDER_TYPES:
                self.dispatcher.in_stream_order(item.event, item.seq)
            self.shim.pending.append(item)
        self.store.published.clear()

    async def settle(self, beside: asyncio.Task[None] | None = None) -> None:
        """Deliver everything pending: a few at a time concurrently (a fetched batch, or calls in
        different partitions), in a random order, some twice, some handlers crashing mid-way;
        while ``beside`` runs, keep delivering what it appends, concurrently with it."""
        for _ in range(100_000):
            self._take_published()
            self._follow_keeper()
            pending = self.shim.pending
            if not pending:
                if beside is None or beside.done():
                    return
                await asyncio.sleep(0)
                continue
            batch = [
                pending.pop(self.rng.randrange(len(pending)))
                for _ in range(min(len(pending), 1 + self.rng.randrange(3)))
            ]
            pending.extend(
                item for item in batch if self.rng.random() < self.duplicate_rate
            )  # redelivered later
            if self.rng.random() < self.crash_rate:
                self.store.crash_in = self.rng.randrange(4)
            await asyncio.gather(*(self._deliver(item) for item in batch))
            self.store.crash_in = None
        raise AssertionError("the system never settled")

    async def _deliver(self, item: StoredEvent) -> None:
        try:
            await self.dispatcher.handle(item.event, item.seq)
        except Crash:
            self.shim.pending.append(item)  # never acked: redelivered
        self.shim.delivered += 1

    def _follow_keeper(self) -> None:
        log = self.store._log
        while self.kept < len(log):
            item = log[self.kept]
            self.keeper.on_fact(item.event, item.seq)
            self.kept += 1

    # ------------------------------------------------------------ time

    def next_due(self) -> datetime | None:
        dues = [t.due for state in self.keeper.open.values() for t in timers_for(state)]
        return min(dues) if dues else None

    async def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer at its exact due time on the way (a perfect
        timer wheel), and let the system settle after each."""
        target = self.clock.now() + timedelta(seconds=seconds)
        await self.settle()
        while (due := self.next_due()) is not None and due <= target:
            self.clock.set(max(due, self.clock.now()))
            firing = asyncio.create_task(self.fire_due())
            await self.settle(beside=firing)  # the clock races the dispatcher
            await firing
            await self.settle()
        self.clock.set(target)

    async def fire_due(self) -> None:
        now = self.clock.now()
        for state in list(self.keeper.open.values()):
            for timer in due_now(timers_for(state), now):
                await self._run(command_for(timer))

    # ------------------------------------------------------------ what people do

    async def _run(self, command: c.Command) -> bool:
        for _ in range(3):
            if self.rng.random() < self.crash_rate:
                self.store.crash_in = self.rng.randrange(2)
            try:
                await self.calls.execute(command)
                return True
            except DomainError:
                return False
            except Crash:
                continue  # the request failed: the client retries
            finally:
                self.store.crash_in = None
        return False

    async def raise_call(self, building: str | None, kind: str) -> str:
        call_id = f"call{len(self.raised) + 1}"
        now = self.clock.now()
        t = self.settings.targets
        due = {
            "contact": now + timedelta(seconds=t.contact),
            "reach": now + timedelta(seconds=t.reach),
            "onsite": now + timedelta(seconds=t.onsite),
        }
        staffed = self.roster.staffed_levels(building, None)
        command = c.RaiseCall(
            call_id=call_id,
            caller={"name": "居民", "phone": f"1390000{len(self.raised):04d}"},
            building_id=building,
            district_id=district.id if (district := self.roster.district_of(building)) else None,
            kind=kind,
            due=due,
            policy_version=self.roster.escalation.version,
            level=staffed[0] if staffed else "professional",
        )
        while not await self._run(command):
            pass
        self.raised.append(call_id)
        return call_id

    async def state(self, call_id: str) -> CallState:
        return (await self.calls.load(call_id))[0]

    async def answer(self, call_id: str, verb: str) -> None:
        """A paged (or engaged) person on ``call_id`` does ``verb``."""
        state = await self.state(call_id)
        people = sorted(state.assignments)
        if not people:
            return
        person = self.rng.choice(people)
        command_type = {"accept": c.Accept, "decline": c.Decline, "enroute": c.EnRoute, "arrive": c.Arrive}[
            verb
        ]
        await self._run(command_type(call_id=call_id, responder_id=person))

    async def close(self, call_id: str, how: str) -> None:
        if how == "cancel":
            await self._run(c.Cancel(call_id=call_id, by="caller"))
        else:
            await self._run(c.Resolve(call_id=call_id, by="s1", outcome=how, as_responder=False))

    async def escalate(self, call_id: str) -> None:
        state = await self.state(call_id)
        await self._run(c.Escalate(call_id=call_id, reason="manual", by="s1", from_level=state.level))

    async def assign_by_hand(self, call_id: str, person_id: str) -> None:
        """The desk assigns someone (the intake refuses an away person: 409)."""
        if self.dispatcher.duty.is_away(person_id, self.clock.now()):
            return
        person = self.roster.people[person_id]
        state = await self.state(call_id)
        await self._run(
            c.AssignResponder(
                call_id=call_id,
                responder_id=person.id,
                responder_name=person.name,
                phone=person.phone,
                level=state.level,
                dispatch_id=f"manual-{call_id}-{person.id}-{state.events}",
                ack_timeout_s=self.settings.ack_timeout_s,
                by="s1",
            )
        )

    async def set_away(self, person_id: str, away: bool) -> None:
        fact = AvailabilityChanged(
            event_id=f"avail-{person_id}-{self.clock.now().isoformat()}-{away}",
            at=self.clock.now(),
            responder_id=person_id,
            status="away" if away else "available",
            by=person_id,
        )
        self.dispatcher.on_responder_fact(fact)
        self.away_log.setdefault(person_id, []).append((fact.at, away))
        await self.dispatcher.on_availability(fact)

    # ------------------------------------------------------------ the check

    def check(self, slack_s: float = 0.001) -> Report:
        """The safety checker over the whole log as stored (encoded, then decoded by subject).

        Checked after every step, so kept linear: the log is append-only, so each message is
        encoded and decoded once, when first seen; a call's verdict is a pure function of its
        events, the time and the away log, so it is recomputed only when one of these changed.
        """
        log = self.store._log
        fresh = [
            Record(
                item.seq, subjects.call_subject(item.event.call_id, item.event.type), codec.encode(item.event)
            )
            for item in log[self._decoded.events :]
        ]
        for call_id, items in decode_records(fresh, self._decoded).items():
            self._calls.setdefault(call_id, []).extend(items)
        report = Report(events=self._decoded.events, violations=list(self._decoded.violations))
        limits = Limits(slack_s=slack_s, notifications=False)
        now = self.clock.now()
        away_changes = sum(len(changes) for changes in self.away_log.values())
        states: dict[str, CallState] = {}
        for call_id, items in self._calls.items():
            key = (len(items), now, away_changes, limits)
            kept = self._verdicts.get(call_id)
            if kept is None or kept[0] != key:
                verdict = Report()
                kept = self._verdicts[call_id] = (
                    key,
                    check_call(call_id, items, now, limits, verdict, self.away_log),
                    verdict,
                )
            _, states[call_id], verdict = kept
            report.calls += 1
            report.violations.extend(verdict.violations)
            report.attention.extend(verdict.attention)
        return check_merged(states, now, limits, report)
