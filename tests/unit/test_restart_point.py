"""Restart points (issue 20): a follower that folds from its saved restart point, then the
tail, ends in the state a fold from sequence 1 gives, for random histories of calls opening,
changing and closing interleaved, the point saved at any moment (a crash after any number of
further events loses only the saves after it). A damaged, old or foreign point means a fold
from sequence 1."""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from events.models import (
    CallCancelled,
    CallEvent,
    CallMerged,
    CallResolved,
    CallUnmerged,
    ContactShared,
    DeadlineMissed,
    DispatchAccepted,
    NoteAdded,
    NotificationSent,
    ResponderAssigned,
)
from services.adapters.restart_point import (
    RestartPoint,
    decode,
    encode,
    first_open_seq,
    folds,
    start_from,
)
from services.deadlines.domain import timers_for
from services.dispatcher.building_calls import BuildingCalls
from services.dispatcher.open_calls import OpenCalls
from services.domain.clock import ManualClock
from services.domain.event_store import StoredEvent
from services.domain.open_calls import OpenCallStates
from services.intake.live import HISTORY_S, LiveCalls
from tests.factories import T0, raised

STEP = timedelta(minutes=20)  # between events: a history of a few hundred events spans days
PEOPLE = ("p1", "p2", "p3")
CREATED = "2026-06-27T08:00:00+00:00"


@dataclass
class Call:
    call_id: str
    status: str = "open"  # open | merged | closed
    assigned: tuple[str, ...] = ()


def history(ops: list[tuple[int, int, int]]) -> list[StoredEvent]:
    """A stream the services could have written: calls raised, paged, merged and unmerged,
    closed, and a page outcome recorded after a call closed."""
    calls: list[Call] = []
    events: list[CallEvent] = []
    for op, pick, other in ops:
        at = T0 + STEP * len(events)
        seq = len(events) + 1
        live = [c for c in calls if c.status != "closed"]
        opened = [c for c in calls if c.status == "open"]
        closed = [c for c in calls if c.status == "closed"]
        kind = op % 10
        if kind in (0, 9) or not live:
            call = Call(f"c{len(calls)}")
            calls.append(call)
            events.append(raised(call.call_id, at=at, building_id=f"b{pick % 3}", event_id=f"e{seq}"))
            continue
        call = live[pick % len(live)]
        base = {"event_id": f"e{seq}", "call_id": call.call_id, "at": at}
        person = PEOPLE[other % len(PEOPLE)]
        if kind == 1 and call.status == "open":
            call.assigned += (person,)
            events.append(
                ResponderAssigned(
                    **base,
                    responder_id=person,
                    name=person,
                    level="building",
                    dispatch_id=f"d-{call.call_id}-{person}",
                    ack_timeout_s=45,
                )
            )
        elif kind == 2 and call.assigned:
            who = call.assigned[other % len(call.assigned)]
            events.append(DispatchAccepted(**base, responder_id=who, dispatch_id=f"d-{call.call_id}-{who}"))
        elif kind == 3:
            events.append(ContactShared(**base, responder_id=person, name=person))
        elif kind == 4:
            stage = ("contact", "reach", "onsite")[other % 3]
            events.append(DeadlineMissed(**base, stage=stage, due_at=at, late_by_ms=1.0))
        elif kind == 5 and call.status == "open" and len(opened) > 1:
            into = next(c for c in opened if c is not call)
            call.status = "merged"
            events.append(CallMerged(**base, into_call_id=into.call_id))
        elif kind == 6 and call.status == "merged":
            call.status = "open"
            events.append(CallUnmerged(**base, from_call_id="x", reason="closed"))
        elif kind == 7:
            call.status = "closed"
            close = CallResolved(**base, by=person) if other % 2 else CallCancelled(**base, by="caller")
            events.append(close)
        elif kind == 8 and closed:  # a page outcome stored after its call closed
            late = closed[pick % len(closed)]
            events.append(
                NotificationSent(
                    event_id=f"e{seq}",
                    call_id=late.call_id,
                    at=at,
                    responder_id=person,
                    dispatch_id="d",
                    method="sms",
                )
            )
        else:
            events.append(NoteAdded(**base, by="s1", text="n"))
    return [StoredEvent(i + 1, event) for i, event in enumerate(events)]


def through_kv(point: RestartPoint, last_seq: int) -> int:
    """Where a restart folds from, the point having gone through its stored bytes."""
    return start_from(decode(encode(point)), CREATED, last_seq)


ops_strategy = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=120
)


def cut(data: st.DataObject, n: int) -> tuple[int, int]:
    """The position the point was saved at, and a later one the service crashed / restarted at."""
    saved = data.draw(st.integers(0, n), label="saved_at")
    restart = data.draw(st.integers(saved, n), label="restarted_at")
    return saved, restart


# ---------------------------------------------------------------- ordered followers


def fold(items: list[StoredEvent], states: OpenCallStates | None = None) -> OpenCallStates:
    states = states or OpenCallStates()
    for item in items:
        states.apply(item.event, item.seq)
    return states


def resume(items: list[StoredEvent], start: int) -> OpenCallStates:
    """What a ResumingFollower folds from ``start``."""
    states = OpenCallStates()
    for item in items[start - 1 :]:
        if folds(states, item.event):
            states.apply(item.event, item.seq)
    return states


def open_view(states: OpenCallStates) -> dict[str, object]:
    return {call_id: states[call_id] for call_id in states if states[call_id].raised is not None}


@settings(max_examples=300, deadline=None)
@given(ops=ops_strategy, data=st.data())
def test_keeper_from_its_restart_point_has_the_open_calls_and_timers_of_a_fold_from_1(
    ops: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    items = history(ops)
    saved, restarted = cut(data, len(items))
    point = RestartPoint(first_open_seq(fold(items[:saved]), saved + 1), saved, CREATED)
    start = through_kv(point, restarted)
    assert start == point.start_seq

    full, resumed = fold(items), resume(items, start)

    assert dict(resumed) == dict(full)
    timers = {call_id: timers_for(full[call_id]) for call_id in full}
    assert {call_id: timers_for(resumed[call_id]) for call_id in resumed} == timers


@settings(max_examples=200, deadline=None)
@given(ops=ops_strategy, data=st.data())
def test_board_from_its_restart_point_has_the_open_calls_pages_and_day_of_closed_calls(
    ops: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    items = history(ops)
    saved, restarted = cut(data, len(items))
    clock = ManualClock(T0 + STEP * saved)
    before = LiveCalls(clock)
    for item in items[:saved]:
        before.apply(item)
    start_seq = first_open_seq(before.open, saved + 1)
    kept = before.oldest_recent_closed_seq()
    point = RestartPoint(min(start_seq, kept) if kept else start_seq, saved, CREATED)
    start = through_kv(point, restarted)

    clock.set(T0 + STEP * len(items))  # the restart comes later
    full, resumed = LiveCalls(clock), LiveCalls(clock)
    for item in items:
        full.apply(item)
    for item in items[start - 1 :]:
        if folds(resumed.open, item.event):
            resumed.apply(item)

    assert dict(resumed.open) == dict(full.open)
    assert resumed.pages_awaiting(PEOPLE) == full.pages_awaiting(PEOPLE)
    since = clock.now() - timedelta(seconds=HISTORY_S)

    def day(live: LiveCalls) -> list[object]:
        return [s for s in live.closed.values() if s.closed_at is not None and s.closed_at >= since]

    assert day(resumed) == day(full)


# ---------------------------------------------------------------- the dispatcher


@dataclass
class DispatcherMemory:
    calls: OpenCalls
    buildings: BuildingCalls

    @classmethod
    def new(cls) -> DispatcherMemory:
        return cls(OpenCalls(), BuildingCalls(300.0))

    def take(self, item: StoredEvent) -> None:
        self.buildings.observe(item.event)
        self.calls.apply(item.event, item.seq)

    def view(self) -> dict[str, object]:
        return {
            "open": open_view(self.calls.states),
            "busy": self.calls.busy(),
            "paged": sorted(self.calls.paged_pairs()),
            "unheld": sorted(self.calls.unheld()),
            "merged_into": self.calls.merged_into(),
            "by_building": {b: sorted(e) for b, e in self.buildings.by_building.items() if e},
        }


def out_of_order(items: list[StoredEvent], seed: int) -> list[StoredEvent]:
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    return shuffled


@settings(max_examples=300, deadline=None)
@given(ops=ops_strategy, data=st.data())
def test_dispatcher_from_its_restart_point_and_ack_floor_has_the_memory_of_a_fold_from_1(
    ops: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    """The point is saved while events after the ack floor are being handled out of order;
    after the restart the durable delivers everything after the (later) floor, again out of order."""
    items = history(ops)
    floor, floor_at_restart = cut(data, len(items))
    seed = data.draw(st.integers(0, 1000), label="delivery order")
    running = DispatcherMemory.new()
    for item in items[:floor]:
        running.take(item)
    in_flight = data.draw(st.integers(0, len(items) - floor), label="handled past the floor")
    for item in out_of_order(items[floor : floor + in_flight], seed):
        running.calls.apply(item.event, item.seq)
    point = RestartPoint(first_open_seq(running.calls.states, floor + 1), floor, CREATED)
    start = through_kv(point, floor_at_restart)

    full, resumed = DispatcherMemory.new(), DispatcherMemory.new()
    for item in items[:floor_at_restart]:
        full.take(item)
    for item in items[start - 1 : floor_at_restart]:
        if folds(resumed.calls.states, item.event):
            resumed.take(item)
    tail = items[floor_at_restart:]
    for item in tail:  # the in-stream-order hook sees the tail in order
        full.buildings.observe(item.event)
        resumed.buildings.observe(item.event)
    for item in out_of_order(tail, seed + 1):
        full.calls.apply(item.event, item.seq)
        resumed.calls.apply(item.event, item.seq)

    assert resumed.view() == full.view()


# ---------------------------------------------------------------- damaged points


def test_an_event_stored_after_the_point_for_a_call_closed_before_it_is_not_a_new_call() -> None:
    items = history([(0, 0, 0), (7, 0, 1), (0, 0, 0), (8, 0, 0)])  # c0 raised, closed; c1; late page on c0
    assert [i.event.type for i in items] == ["CallRaised", "CallResolved", "CallRaised", "NotificationSent"]
    point = RestartPoint(first_open_seq(fold(items[:3]), 4), 3, CREATED)
    assert point.start_seq == 3
    assert dict(resume(items, point.start_seq)) == dict(fold(items)) and "c0" not in fold(items)


def test_a_point_read_back_is_the_point_saved() -> None:
    point = RestartPoint(17, 40, CREATED)
    assert decode(encode(point)) == point
    assert start_from(decode(encode(point)), CREATED, 40) == 17


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 200), value=st.integers(0, 255))
def test_a_damaged_point_is_never_read_as_another_point(position: int, value: int) -> None:
    point = RestartPoint(1234, 5678, CREATED)
    data = bytearray(encode(point))
    data[position % len(data)] = value
    assert decode(bytes(data)) in (None, point)


def test_a_damaged_old_or_foreign_point_means_a_fold_from_sequence_1() -> None:
    good = encode(RestartPoint(500, 900, CREATED))
    assert start_from(decode(good.replace(b"500", b"501")), CREATED, 1000) == 1  # checksum
    assert start_from(decode(b"\x00garbage"), CREATED, 1000) == 1
    body = {"format": 0, "start_seq": 500, "covered_seq": 900, "stream_created": CREATED}
    old = json.dumps({"body": body, "crc32": zlib.crc32(json.dumps(body, sort_keys=True).encode())})
    assert decode(old.encode()) is None
    assert (
        start_from(RestartPoint(500, 900, "2027-01-01T00:00:00+00:00"), CREATED, 1000) == 1
    )  # stream made again
    assert start_from(RestartPoint(500, 900, CREATED), CREATED, 899) == 1  # ahead of the stream
    assert start_from(RestartPoint(902, 900, CREATED), CREATED, 1000) == 1  # impossible
    assert start_from(None, CREATED, 1000) == 1
